"""People: who a Slack user is across the tools."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Identity:
    """Who a Slack user is across the tools."""

    slack_user_id: str
    council: str | None
    github_login: str | None
    trello_username: str | None
    projects: tuple[str, ...] = field(default_factory=tuple)
