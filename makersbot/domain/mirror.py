"""What the mirror shows: one item's living message and one linked repo or board."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ItemView:
    """What a living message shows about one item."""

    source: str  # github or trello
    kind: str  # issue, pr, card
    number: int | None
    title: str
    url: str
    state: str  # open/closed/merged/draft, or the Trello list name
    closed: bool
    deleted: bool
    container_name: str
    labels: tuple[str, ...]
    people: tuple[str, ...]
    due: datetime | None
    comments: int
    last_change: str
    last_change_at: datetime | None


@dataclass(frozen=True)
class LinkView:
    """What a board summary shows about one linked repo or board."""

    source: str
    name: str
    url: str
    counts: tuple[tuple[str, int], ...]  # (state or list name, count), in display order
    recent: tuple[ItemView, ...]
    polling: bool
