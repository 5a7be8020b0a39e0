"""Plain data passed from services to renderers. Frozen; no database or Slack types."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ProjectCard:
    """Everything a project card or catalogue line shows."""

    id: int
    slug: str
    name: str
    description: str
    phase: str
    lead_council: str | None
    makers: tuple[str, ...]
    adopters: tuple[str, ...]
    status_text: str
    status_at: datetime | None
    channel_id: str | None
    member_count: int
    links: tuple[tuple[str, str], ...] = ()
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Identity:
    """Who a Slack user is across the tools."""

    slack_user_id: str
    council: str | None
    github_login: str | None
    trello_username: str | None
    projects: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Message:
    """A rendered Slack message: `text` is the fallback for notifications and screen readers."""

    text: str
    blocks: list[dict[str, object]] = field(default_factory=list)

    def as_kwargs(self) -> dict[str, object]:
        """Arguments for chat.postMessage / respond / ack."""
        kwargs: dict[str, object] = {"text": self.text}
        if self.blocks:
            kwargs["blocks"] = self.blocks
        return kwargs
