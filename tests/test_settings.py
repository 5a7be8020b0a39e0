"""Settings and `makersbot check`: defaults, one clear line per bad variable, secrets hidden."""

from __future__ import annotations

import pytest

from makersbot.cli import main
from makersbot.settings import ConfigError, Settings, load_settings
from tests.fakes.slack import FakeSlack


def test_defaults_match_the_design() -> None:
    settings = load_settings()
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.github_api_url == "https://api.github.com"
    assert settings.trello_api_url == "https://api.trello.com/1"
    assert settings.database_url == "sqlite:///makersbot.db"
    assert settings.port == 3000
    assert settings.digest_schedule == "0 9 * * MON"
    assert settings.digest_timezone == "Europe/London"
    assert settings.digest_holidays == "england-and-wales"
    assert settings.poll_interval == 300
    assert settings.slack_channel_pace == 1.0
    assert (settings.log_level, settings.log_format) == ("INFO", "text")
    assert not settings.slack_enabled and not settings.github_enabled
    assert not settings.trello_enabled and settings.admins == frozenset()


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PORT", "eighty", "PORT:"),
        ("DIGEST_SCHEDULE", "every monday", "DIGEST_SCHEDULE: expects a cron expression"),
        ("DIGEST_TIMEZONE", "Mars/Olympus", "DIGEST_TIMEZONE: expects an IANA time zone"),
        ("DIGEST_HOLIDAYS", "wales", "DIGEST_HOLIDAYS:"),
        ("MAKERS_ADMINS", "U123ABC,bob", "MAKERS_ADMINS: expects comma-separated Slack user IDs"),
        ("SLACK_BOT_TOKEN", "xoxp-user-token-123", "SLACK_BOT_TOKEN: expects a bot token"),
        ("SLACK_APP_TOKEN", "xoxb-123", "SLACK_APP_TOKEN: expects an app-level token"),
        ("SLACK_API_URL", "slack-gov.com/api", "SLACK_API_URL: expects an http(s):// URL"),
        ("DATABASE_URL", "mysql://x/y", "DATABASE_URL: expects a SQLAlchemy URL"),
        ("POLL_INTERVAL", "1", "POLL_INTERVAL:"),
        ("SLACK_SIGNING_SECRET", "changeme", "SLACK_SIGNING_SECRET: is a placeholder"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT:"),
        ("SLACK_CHANNEL_PACE", "fast", "SLACK_CHANNEL_PACE: expects seconds between posts"),
        ("SLACK_CHANNEL_PACE", "-1", "SLACK_CHANNEL_PACE: expects seconds between posts"),
        ("SLACK_CHANNEL_PACE", "nan", "SLACK_CHANNEL_PACE: expects seconds between posts"),
        ("SLACK_CHANNEL_PACE", "inf", "SLACK_CHANNEL_PACE: expects seconds between posts"),
    ],
)
def test_malformed_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert str(error.value).startswith(expected)
    if name.endswith(("TOKEN", "SECRET")):
        assert value not in str(error.value)


def test_normalised_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_API_URL", "https://slack-gov.com/api")
    monkeypatch.setenv("GITHUB_API_URL", "https://ghe.example.gov.uk/api/v3/")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db/makers")
    monkeypatch.setenv("PUBLIC_URL", "https://makers.example.gov.uk/")
    monkeypatch.setenv("MAKERS_ADMINS", " U0AAA , W0BBB ")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = load_settings()
    assert settings.slack_api_url == "https://slack-gov.com/api/"
    assert settings.github_api_url == "https://ghe.example.gov.uk/api/v3"
    assert settings.database_url == "postgresql+psycopg://u:p@db/makers"
    assert settings.trello_callback_url == "https://makers.example.gov.uk/trello/webhook"
    assert settings.admins == frozenset({"U0AAA", "W0BBB"})
    assert settings.log_level == "DEBUG"


def test_channel_pace_takes_fractions_and_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    for value, expected in (("0.05", 0.05), ("0", 0.0), (" 2 ", 2.0)):
        monkeypatch.setenv("SLACK_CHANNEL_PACE", value)
        assert load_settings().slack_channel_pace == expected


def test_bad_channel_pace_stops_start_up_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SLACK_CHANNEL_PACE", "one second")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("makersbot: configuration error: SLACK_CHANNEL_PACE:")
    assert len(err.strip().splitlines()) == 1


def test_dotenv_file_is_read(tmp_path: object) -> None:
    from pathlib import Path

    Path(".env").write_text("PORT=4123\nDIGEST_CHANNEL=#makers\n")
    settings = Settings()
    assert settings.port == 4123 and settings.digest_channel == "#makers"


def test_check_masks_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], fake_slack: FakeSlack
) -> None:
    monkeypatch.setenv("SLACK_API_URL", fake_slack.base_url)  # check calls auth.test
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret-token")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing-very-secret")
    monkeypatch.setenv("DATABASE_URL", "postgresql://bot:hunter2@db.internal/makers")
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert "very-secret" not in out and "hunter2" not in out
    assert "SLACK_BOT_TOKEN" in out and "set (hidden)" in out
    assert "postgresql+psycopg://bot:***@db.internal/makers" in out
    assert "HTTP (POST /slack/events)" in out


def test_check_fails_naming_the_missing_signing_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-abc")
    assert main(["check"]) == 2
    assert "SLACK_SIGNING_SECRET: required in HTTP mode" in capsys.readouterr().err


def test_bad_variable_stops_every_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PORT", "99999")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("makersbot: configuration error: PORT:")
    assert len(err.strip().splitlines()) == 1


def test_socket_mode_needs_no_signing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-abc")
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-abc")
    settings = load_settings()
    settings.require_http_mode()
    assert settings.socket_mode


def test_cron_sunday_may_be_7_or_0(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("0 9 * * 7", "0 9 * * 0", "30 8 * * MON-FRI"):
        monkeypatch.setenv("DIGEST_SCHEDULE", value)
        assert load_settings().digest_schedule == value


def test_every_setting_is_documented() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    example = (root / ".env.example").read_text(encoding="utf-8")
    readme = (root / "README.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"{name.upper()}=" in example, f"{name.upper()} is missing from .env.example"
        assert f"`{name.upper()}`" in readme, f"{name.upper()} is missing from README.md"
