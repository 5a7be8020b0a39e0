"""The Slack side of verifying a council: a person's confirmed e-mail address.

`users.info` returns `profile.email` only with the `users:read.email` scope, and never for
bots. The address is trusted only for a member of the bot's own workspace (its `team_id`, or
its Enterprise Grid organisation) whose address Slack has confirmed (`is_email_confirmed`):
a guest from another organisation in a shared channel, or an unconfirmed address, proves
nothing about a council.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

log = logging.getLogger(__name__)


class SlackDirectory:
    """Reads confirmed e-mail addresses of the workspace's people."""

    def __init__(self, client: WebClient) -> None:
        self.client = client
        self._team: tuple[str, str] | None = None
        self._lock = threading.Lock()

    def confirmed_email(self, slack_user_id: str) -> str | None:
        """The person's e-mail address when Slack vouches for it, else None (never raises)."""
        try:
            user = self.client.users_info(user=slack_user_id).get("user")
            team, enterprise = self._own_team()
        except (SlackClientError, OSError) as exc:
            log.info("could not read %s's Slack profile: %s", slack_user_id, _reason(exc))
            return None
        if not isinstance(user, dict) or not _trusted(user, team, enterprise):
            return None
        email = (user.get("profile") or {}).get("email")
        return email if isinstance(email, str) and "@" in email else None

    def _own_team(self) -> tuple[str, str]:
        # auth.test once per process: the workspace (and organisation) the bot is installed in.
        with self._lock:
            if self._team is None:
                answer = self.client.auth_test()
                self._team = (
                    str(answer.get("team_id") or ""),
                    str(answer.get("enterprise_id") or ""),
                )
            return self._team


def _trusted(user: dict[str, Any], team: str, enterprise: str) -> bool:
    if user.get("is_bot") or user.get("deleted") or user.get("is_app_user"):
        return False
    if user.get("is_email_confirmed") is not True:
        return False
    if team and user.get("team_id") == team:
        return True
    grid = user.get("enterprise_user") or {}
    return bool(enterprise) and isinstance(grid, dict) and grid.get("enterprise_id") == enterprise


def _reason(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    error = response.get("error") if response is not None else None
    return str(error or type(exc).__name__)
