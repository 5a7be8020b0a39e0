"""Configuration: every environment variable of DESIGN.md, validated once at start-up.

Nothing reads the environment at import time: `load_settings()` builds one `Settings`
object that the composition root hands down.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from makersbot.calendar import standard_crontab

HolidayCalendar = Literal["england-and-wales", "scotland", "northern-ireland", "none"]

# Values people paste from examples; refusing them beats failing later with a 401 from Slack.
_PLACEHOLDERS = {"changeme", "change-me", "xoxb-your-token", "xapp-your-token", "secret", "..."}
_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
MIN_EVENTS_DAYS = 35


class ConfigError(Exception):
    """A missing or malformed setting, worded for the person starting the bot."""


class Settings(BaseSettings):
    """The bot's configuration, read from the environment and an optional `.env` file."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_channel_pace: float = 1.0
    github_token: SecretStr | None = None
    github_webhook_secret: SecretStr | None = None
    github_api_url: str = "https://api.github.com"
    # OAuth app (or GitHub App) client id for the device flow that proves a GitHub login; not a
    # secret. The device flow is served by GITHUB_OAUTH_URL, derived from GITHUB_API_URL.
    github_oauth_client_id: str | None = None
    github_oauth_url: str | None = None
    trello_api_key: SecretStr | None = None
    trello_token: SecretStr | None = None
    trello_api_secret: SecretStr | None = None
    trello_api_url: str = "https://api.trello.com/1"
    database_url: str = "sqlite:///makersbot.db"
    public_url: str | None = None
    port: int = Field(default=3000, ge=1, le=65535)
    digest_schedule: str = "0 9 * * MON"
    digest_timezone: str = "Europe/London"
    digest_channel: str | None = None
    digest_holidays: HolidayCalendar = "england-and-wales"
    poll_interval: int = Field(default=300, ge=10)
    makers_admins: str = ""
    makers_gave_daily_cap: int = Field(default=10, ge=0)
    makers_start_daily_cap: int = Field(default=5, ge=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    public_catalogue: Literal["on", "off"] = "on"
    # Days to keep rows that only served their moment (0 keeps them for ever): see README,
    # "Keeping the database small". The ledger and the items' current state are never pruned.
    retention_deliveries_days: int = Field(default=14, ge=0)
    retention_events_days: int = 90
    retention_request_keys_days: int = Field(default=7, ge=0)
    retention_sent_messages_days: int = Field(default=30, ge=0)
    # /healthz answers 503 when the oldest due message waits longer than this, or when no
    # `serve`/`worker` process has beaten its heartbeat for this long.
    health_outbox_late_seconds: int = Field(default=300, ge=10)
    health_worker_stale_seconds: int = Field(default=60, ge=5)

    @field_validator(
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "github_token",
        "github_webhook_secret",
        "trello_api_key",
        "trello_token",
        "trello_api_secret",
        "github_oauth_client_id",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return None
            if value.lower() in _PLACEHOLDERS:
                raise ValueError("is a placeholder; set the real value or leave it unset")
        return value

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("expects a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("expects an app-level token starting with xapp-")
        return value

    @field_validator(
        "slack_api_url", "github_api_url", "github_oauth_url", "trello_api_url", "public_url"
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("expects an http(s):// URL")
        return value

    @field_validator("slack_channel_pace", mode="before")
    @classmethod
    def _pace(cls, value: Any) -> Any:
        # Parsed here, not by pydantic, so that every bad value gets the same plain line.
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = math.nan
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError("expects seconds between posts to one channel, a number ≥ 0 like 1.0")
        return seconds

    @field_validator("retention_events_days")
    @classmethod
    def _events_days(cls, value: int) -> int:
        # The project digests look back four weeks for quiet projects, plus the week itself.
        if value != 0 and value < MIN_EVENTS_DAYS:
            raise ValueError(
                f"expects 0 (keep for ever) or at least {MIN_EVENTS_DAYS} days: the project "
                "digests read five weeks of mirror events"
            )
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _slack_url_slash(cls, value: str) -> str:
        # slack_sdk joins base_url and the method name by plain concatenation.
        return value if value.endswith("/") else value + "/"

    @field_validator("github_api_url", "github_oauth_url", "trello_api_url", "public_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if value.startswith(("postgresql://", "postgres://")):
            # psycopg 3 is the driver we ship; plain URLs from hosting platforms mean it.
            value = "postgresql+psycopg://" + value.split("://", 1)[1]
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", value):
            raise ValueError("expects a SQLAlchemy URL: sqlite:///file.db or postgresql://…")
        return value

    @field_validator("digest_schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            CronTrigger.from_crontab(standard_crontab(value))
        except ValueError as exc:
            raise ValueError(f"expects a cron expression like '0 9 * * MON' ({exc})") from None
        return value

    @field_validator("digest_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("expects an IANA time zone such as Europe/London") from None
        return value

    @field_validator("makers_admins")
    @classmethod
    def _admins(cls, value: str) -> str:
        ids = [part.strip() for part in value.split(",") if part.strip()]
        bad = [i for i in ids if not _SLACK_USER_ID.match(i)]
        if bad:
            raise ValueError(
                f"expects comma-separated Slack user IDs like U012ABCDEF, not {bad[0]}"
            )
        return ",".join(ids)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    # Derived views -----------------------------------------------------------------------

    @property
    def admins(self) -> frozenset[str]:
        """Slack user IDs allowed admin commands."""
        return frozenset(i for i in self.makers_admins.split(",") if i)

    @property
    def slack_enabled(self) -> bool:
        return self.slack_bot_token is not None

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def github_enabled(self) -> bool:
        return self.github_token is not None

    @property
    def trello_enabled(self) -> bool:
        return self.trello_api_key is not None and self.trello_token is not None

    @property
    def trello_callback_url(self) -> str | None:
        return f"{self.public_url}/trello/webhook" if self.public_url else None

    def secret(self, name: str) -> str | None:
        """The plain value of a secret setting, for the one place that needs it."""
        value = getattr(self, name)
        return value.get_secret_value() if isinstance(value, SecretStr) else None

    def require_http_mode(self) -> None:
        """Refuse to serve Slack over HTTP without the signing secret."""
        if self.slack_bot_token is None:
            raise ConfigError("SLACK_BOT_TOKEN: required to serve Slack (expects xoxb-…)")
        if self.slack_signing_secret is None and not self.socket_mode:
            raise ConfigError(
                "SLACK_SIGNING_SECRET: required in HTTP mode (Slack app → Basic Information)"
            )

    def describe(self) -> list[tuple[str, str]]:
        """Every setting with secrets masked, for `makersbot check`."""
        rows: list[tuple[str, str]] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                shown = "set (hidden)"
            elif name == "database_url":
                shown = mask_url(value)
            elif value is None or value == "":
                shown = "unset"
            else:
                shown = str(value)
            rows.append((name.upper(), shown))
        return rows


def mask_url(url: str) -> str:
    """Hide a password inside a database URL."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def load_settings(**overrides: Any) -> Settings:
    """Build Settings from the environment, turning validation errors into one clear line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            name = str(error["loc"][0]).upper() if error["loc"] else "configuration"
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"{name}: {message}")
        raise ConfigError("; ".join(lines)) from None
