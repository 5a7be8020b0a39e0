"""An item's state as a merge of the changes seen, the same whatever order they come in.

Webhook deliveries are processed by several workers at once, GitHub and Trello may deliver
out of order, and a poll may see a change after a webhook of a later one. So nothing here
asks "what arrived last": every field keeps the *source clock* of the change that set it,
and a change sets a field only when its clock is newer. A clock is a string that sorts in
time order, `"<UTC time, microseconds>|<tie-break>"`:

- GitHub sends the whole issue or pull request after each change: a *snapshot* whose clock
  is its `updated_at`, tie-broken by a fingerprint of its content (comment count first),
  so two snapshots of the same second settle the same way in any order, and a webhook and
  a poll of the same state agree. Comment counts come from the snapshot, so an older
  delivery never puts back an older count. Deleted or transferred stays so.
- Trello sends only what an action changed: each field an action names (name, list,
  archived, due, deleted) is set with the action's clock, `date` tie-broken by the action
  id. Labels and members are sets of marks (`[clock, present]` per element, the newest
  mark wins); comments are the set of comment actions seen, counted, never incremented.
- A full snapshot from the REST API (the first look at a repository or board) sets every
  field with its own clock, and its comment count becomes the base that later comments add
  to.

The functions here are pure: they change the row object they are given (in the caller's
transaction, under the row's lock) and touch nothing else.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from integrations.changes import Change, ItemState
from makersbot.store.models import MirroredItem

# Trello actions whose (partial) item state tells each field; see trello parse_action.
_CLOSES = frozenset({"archived", "unarchived", "deleted"})
_MEMBER_SETS = {"labeled": "labels", "unlabeled": "labels", "assigned": "people"}
_MEMBER_SETS["unassigned"] = "people"
_ADDS = frozenset({"labeled", "assigned"})
_RESTORES = frozenset({"opened", "moved_in"})  # a card (back) on the board


def stamp(moment: datetime) -> str:
    """A time as a fixed-width UTC string that sorts in time order."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def change_clock(change: Change) -> str:
    """The clock of a change: when it happened, tie-broken by its stable id."""
    return f"{stamp(change.occurred_at)}|{change.dedupe_key}"


def snapshot_clock(item: ItemState, fallback: datetime) -> str:
    """The clock of a full item state: its `updated_at`, tie-broken by its content."""
    content = json.dumps(
        [
            item.title,
            item.url,
            item.number,
            item.state,
            item.closed,
            sorted(item.labels),
            sorted(item.people),
            item.author,
            item.kind,
            item.due.isoformat() if item.due else None,
        ]
    )
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()[:16]
    comments = item.comments if item.comments is not None else 0
    return f"{stamp(item.updated_at or fallback)}|{comments:010d}.{digest}"


class _Merge:
    """Copies of a row's clocks and marks while a change is merged in; `done` writes them
    back as new objects (SQLAlchemy does not see changes made inside a JSON value)."""

    def __init__(self, row: MirroredItem) -> None:
        self.row = row
        self.clocks: dict[str, str] = dict(row.clocks or {})
        self.marks: dict[str, dict[str, list[Any]]] = {
            name: dict(values) for name, values in (row.marks or {}).items()
        }

    def set(self, field: str, value: object, clock: str) -> None:
        """Set `field` unless a newer (or the same) change already set it."""
        if clock > self.clocks.get(field, ""):
            setattr(self.row, field, value)
            self.clocks[field] = clock

    def mark(self, kind: str, element: str, present: bool, clock: str) -> None:
        """Add or remove one element of a set (labels, people, comments): newest mark wins."""
        if kind not in self.marks and kind in ("labels", "people"):
            # A row stored before it had marks: what it shows is the oldest knowledge.
            self.marks[kind] = {name: ["", True] for name in getattr(self.row, kind)}
        marks = self.marks.setdefault(kind, {})
        if clock > str(marks.get(element, ["", False])[0]):
            marks[element] = [clock, present]

    def members(self, kind: str) -> list[str]:
        return sorted(name for name, (_, present) in self.marks.get(kind, {}).items() if present)

    def done(self) -> None:
        row = self.row
        if "labels" in self.marks:
            row.labels = self.members("labels")
        if "people" in self.marks:
            row.people = self.members("people")
        base_clock = self.clocks.get("comments", "")
        comments = self.marks.get("comments", {})
        row.comments = row.comments_base + sum(
            1 for clock, present in comments.values() if present and clock > base_clock
        )
        row.clocks = self.clocks
        row.marks = self.marks


def merge_change(row: MirroredItem, change: Change) -> None:
    """Merge one change into an item's row, whatever was merged before or comes after."""
    merge = _Merge(row)
    item = change.item
    if item is not None and item.source == "github":
        _snapshot(merge, item, snapshot_clock(item, change.occurred_at))
    elif item is not None:
        _trello_action(merge, item, change)
    clock = change_clock(change)
    if change.deleted:
        merge.set("deleted", True, clock)
    if change.comment_delta and (item is None or item.comments is None):
        # The source gave no total: count the comment itself, once, by its stable id.
        merge.mark("comments", change.dedupe_key, True, clock)
    # The last change in words: the newest, tie-broken by what it says.
    merge.set("last_change", change.summary[:500], f"{clock}|{change.action}|{change.summary}")
    row.last_change_at = _time_of(merge.clocks["last_change"])
    if item is not None and item.updated_at is not None:
        newest = max(filter(None, (row.source_updated_at, item.updated_at)))
        row.source_updated_at = newest
    row.created_at = min(filter(None, (row.created_at, change.occurred_at)))
    merge.done()


def merge_snapshot(row: MirroredItem, item: ItemState, fallback: datetime) -> None:
    """Merge a full item state read from the source's API (a first look)."""
    merge = _Merge(row)
    clock = snapshot_clock(item, fallback)
    _snapshot(merge, item, clock)
    if item.source == "trello":
        # Later actions add and remove labels and members one by one: start the sets here.
        for kind, names in (("labels", item.labels), ("people", item.people)):
            for name in names:
                merge.mark(kind, name, True, clock)
        merge.set("due", item.due, clock)
    if item.updated_at is not None:
        row.source_updated_at = max(filter(None, (row.source_updated_at, item.updated_at)))
    merge.done()


def rename_label(row: MirroredItem, old: str, new: str | None) -> bool:
    """A label renamed (`new`) or deleted (None) in the repository; False if `row` lacks it."""
    if old not in row.labels:
        return False
    kept = [label for label in row.labels if label != old]
    row.labels = kept if new is None or new in kept else [*kept, new]
    marks = row.marks or {}
    if old in marks.get("labels", {}):
        labels = dict(marks["labels"])
        mark = labels.pop(old)
        if new is not None:
            labels[new] = mark
        row.marks = {**marks, "labels": labels}
    return True


def _snapshot(merge: _Merge, item: ItemState, clock: str) -> None:
    """Every field of a full state, each kept only if this state is the newest to set it."""
    fields: Iterable[tuple[str, object]] = (
        ("title", item.title),
        ("url", item.url),
        ("number", item.number),
        ("state", item.state),
        ("closed", item.closed),
        ("kind", item.kind),
        ("author", item.author),
    )
    for field, value in fields:
        merge.set(field, value, clock)
    if item.source == "github":
        merge.set("labels", list(item.labels), clock)
        merge.set("people", list(item.people), clock)
    if item.comments is not None and clock > merge.clocks.get("comments", ""):
        merge.row.comments_base = item.comments
        merge.clocks["comments"] = clock


def _trello_action(merge: _Merge, item: ItemState, change: Change) -> None:
    """The fields a Trello action tells (conventions in integrations.trello.webhook)."""
    clock = change_clock(change)
    action = change.action
    if item.title:  # every action carries the card's name at its time (deleteCard: none)
        merge.set("title", item.title, clock)
    if item.url:
        merge.set("url", item.url, clock)
    if item.number is not None:
        merge.set("number", item.number, clock)
    merge.set("kind", item.kind, clock)
    if item.state:
        merge.set("state", item.state, clock)
    if action in _CLOSES:
        merge.set("closed", item.closed, clock)
    if action in _RESTORES:
        merge.set("deleted", False, clock)
    if action == "due_changed":
        merge.set("due", item.due, clock)
    kind = _MEMBER_SETS.get(action)
    if kind is not None:
        for name in item.labels if kind == "labels" else item.people:
            merge.mark(kind, name, action in _ADDS, clock)


def _time_of(clock: str) -> datetime:
    return datetime.strptime(clock.split("|", 1)[0], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
