"""What `makersbot check` looks at beyond each setting on its own.

Settings validates every variable by itself; an integration configured by halves (a Trello
key without its token, a webhook secret without the URL webhooks are added for) is valid
variable by variable, yet does not do what its maintainer meant. `half_configured` names
those, and `slack_identity` asks Slack who the bot token belongs to (`slack_auth` says whether
Slack refused it, for `serve`, `worker` and /healthz).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from makersbot.settings import Settings


def package_version() -> str:
    """The installed makersbot version (from the package metadata)."""
    try:
        return version("makersbot")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def half_configured(settings: Settings) -> list[str]:
    """One sentence per integration that is set up by halves: what is missing and its effect."""
    return _integrations(settings) + _public_url(settings) + _slack(settings)


def _integrations(s: Settings) -> list[str]:
    warnings: list[str] = []
    if s.trello_api_key and not s.trello_token:
        warnings.append("TRELLO_API_KEY is set without TRELLO_TOKEN: Trello stays off.")
    if s.trello_token and not s.trello_api_key:
        warnings.append("TRELLO_TOKEN is set without TRELLO_API_KEY: Trello stays off.")
    if s.trello_api_secret and not s.trello_enabled:
        warnings.append(
            "TRELLO_API_SECRET is set but Trello is off (it needs TRELLO_API_KEY and "
            "TRELLO_TOKEN): the secret is not used."
        )
    if s.github_webhook_secret and not s.github_enabled:
        warnings.append(
            "GITHUB_WEBHOOK_SECRET is set without GITHUB_TOKEN: GitHub linking is off, so "
            "no repository can be linked and webhook deliveries show nothing."
        )
    return warnings


def _public_url(s: Settings) -> list[str]:
    warnings: list[str] = []
    if not s.public_url:
        if s.trello_api_secret and s.trello_enabled:
            warnings.append(
                "TRELLO_API_SECRET is set without PUBLIC_URL: Trello signs each delivery with "
                "the callback URL, so every delivery is refused; boards are polled instead."
            )
        if s.github_webhook_secret and s.github_enabled:
            warnings.append(
                "GITHUB_WEBHOOK_SECRET is set without PUBLIC_URL: the bot cannot add webhooks "
                "to repositories it links (ones added by hand still work); it polls instead."
            )
    else:
        if s.public_url.startswith("http://"):
            warnings.append(
                "PUBLIC_URL starts with http://: Slack, GitHub and Trello should be given an "
                "https:// URL (put a reverse proxy with a certificate in front)."
            )
        if (s.github_enabled or s.trello_enabled) and not (
            s.github_webhook_secret or s.trello_api_secret
        ):
            warnings.append(
                "PUBLIC_URL is set but neither GITHUB_WEBHOOK_SECRET nor TRELLO_API_SECRET: "
                "no webhooks are added, so linked repositories and boards are polled."
            )
    return warnings


def _slack(s: Settings) -> list[str]:
    warnings: list[str] = []
    if not s.slack_bot_token:
        present = [
            name
            for name, value in (
                ("SLACK_SIGNING_SECRET", s.slack_signing_secret),
                ("SLACK_APP_TOKEN", s.slack_app_token),
            )
            if value
        ]
        if present:
            warnings.append(
                f"{' and '.join(present)} set without SLACK_BOT_TOKEN: "
                "`makersbot run` starts the offline console, not Slack."
            )
    return warnings


@dataclass(frozen=True)
class SlackAuth:
    """What `auth.test` said of the bot token. `line` is one line for people, never the token.

    `rejected`: Slack answered and refused the token (wrong, revoked, app uninstalled);
    neither `ok` nor `rejected`: Slack could not be asked (network, 5xx, 429).
    """

    ok: bool
    rejected: bool
    line: str


def slack_identity(settings: Settings, timeout: float = 10.0) -> tuple[bool, str]:
    """Call `auth.test` with the bot token: (True, who the bot is) or (False, one-line error).

    Neither line ever contains the token.
    """
    auth = slack_auth(settings, timeout)
    return auth.ok, auth.line


def slack_auth(settings: Settings, timeout: float = 10.0) -> SlackAuth:
    """Ask Slack (`auth.test`, one try) whether it accepts SLACK_BOT_TOKEN."""
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    token = settings.secret("slack_bot_token")
    if token is None:
        return SlackAuth(False, True, "SLACK_BOT_TOKEN is not set.")
    url = settings.slack_api_url
    # One try, and slack_sdk's own log lines kept out of the report: the line returned
    # says what went wrong.
    quiet = logging.getLogger("makersbot.preflight.slack_sdk")
    quiet.setLevel(logging.CRITICAL)
    client = WebClient(
        token=token, base_url=url, timeout=int(timeout), logger=quiet, retry_handlers=[]
    )
    try:
        answer = client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error")
        if exc.response.status_code != 200:
            return SlackAuth(
                False,
                False,
                f"Slack answered HTTP {exc.response.status_code} ({error}) at {url}: "
                "try again in a minute.",
            )
        hint = {
            "invalid_auth": "the token is wrong or was revoked",
            "not_authed": "no token was sent",
            "account_inactive": "the app was uninstalled or its workspace deleted",
            "token_revoked": "the token was revoked: reinstall the app",
            "token_expired": "the token expired: turn off token rotation or refresh it",
        }.get(str(error), "")
        reason = f"{error} ({hint})" if hint else str(error)
        return SlackAuth(False, True, f"Slack refused SLACK_BOT_TOKEN at {url}: {reason}.")
    except Exception as exc:  # noqa: BLE001 - any network failure is one line for the operator
        return SlackAuth(False, False, f"Cannot reach Slack at {url}: {_reason(exc)}.")
    team = answer.get("team") or "?"
    return SlackAuth(
        True,
        False,
        f"Slack: signed in to {team} ({answer.get('team_id')}, {answer.get('url')}) "
        f"as @{answer.get('user')} ({answer.get('user_id')}).",
    )


def _reason(exc: Exception) -> str:
    """The innermost cause of a network error, without URLs' query strings or headers."""
    reason = getattr(exc, "reason", None)
    return str(reason or exc) or type(exc).__name__
