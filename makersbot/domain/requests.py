"""What every service shares: the acting person and the error for expected user mistakes."""

from __future__ import annotations

from dataclasses import dataclass


class UserError(Exception):
    """An expected mistake or refusal, worded for the person (mrkdwn, already escaped)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Actor:
    """Who asked, and where."""

    slack_user_id: str
    display_name: str = ""
    channel_id: str = ""
    is_admin: bool = False
    request_key: str = ""  # trigger_id or similar: unique per request


@dataclass(frozen=True)
class Outcome:
    """A service's answer to the person: a short reply in plain words (mrkdwn)."""

    reply: str
