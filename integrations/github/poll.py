"""Polling a repository: what changed between the items a poll returned and what was seen.

GitHub's issues API gives each item's current state, not what happened to it, so a poll
compares with what the mirror stored and names the change in the words a webhook would
have used. Keys and credits come from `items.py`, so a change seen by webhook and by poll
is applied once and credited once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from integrations.changes import Change, ItemState
from integrations.github.items import item_dedupe_key, merged_credit


class Seen(Protocol):
    """What was stored of an item at the last look (the mirror's row fits)."""

    @property
    def state(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    @property
    def title(self) -> str: ...
    @property
    def labels(self) -> Sequence[str]: ...
    @property
    def people(self) -> Sequence[str]: ...
    @property
    def source_updated_at(self) -> datetime | None: ...


def changes(items: Sequence[ItemState], seen: Mapping[str, Seen], *, now: datetime) -> list[Change]:
    """A Change for every polled item that is new or newer than what was seen (by key);
    `now` dates items that carry no `updated_at`."""
    found = []
    for item in items:
        before = seen.get(item.key)
        if (
            before is not None
            and before.source_updated_at is not None
            and item.updated_at is not None
            and item.updated_at <= before.source_updated_at
        ):
            continue
        action, summary, state_change = _diff(before, item)
        newly_merged = item.state == "merged" and (before is None or before.state != "merged")
        found.append(
            Change(
                source=item.source,
                container=item.container,
                action=action,
                summary=summary,
                occurred_at=item.updated_at or now,
                dedupe_key=item_dedupe_key(item),
                item=item,
                item_key=item.key,
                state_change=state_change,
                credits=merged_credit(item) if newly_merged else (),
            )
        )
    return found


def _diff(before: Seen | None, item: ItemState) -> tuple[str, str, bool]:
    """(action, summary, state change?) of what a poll saw change."""
    if before is None:
        return "opened", "opened" + (f" by {item.author}" if item.author else ""), True
    if before.state != item.state:
        if item.state == "merged":
            return "merged", "merged", True
        if item.closed and not before.closed:
            return "closed", "closed", True
        if before.closed and not item.closed:
            return "reopened", "reopened", True
        return item.state, f"now {item.state}", True
    if before.title != item.title:
        return "edited", f"renamed from “{before.title}”", False
    if sorted(before.labels) != sorted(item.labels):
        return "labeled", "labels: " + (", ".join(item.labels) or "none"), False
    if sorted(before.people) != sorted(item.people):
        return "assigned", "assigned: " + (", ".join(item.people) or "nobody"), False
    return "updated", "updated", False


def cursor(items: Sequence[ItemState]) -> str | None:
    """The `since` for the next poll: the newest `updated_at` seen, None when none was."""
    latest = max((item.updated_at for item in items if item.updated_at), default=None)
    return latest.isoformat() if latest is not None else None
