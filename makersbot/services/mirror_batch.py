"""Changes applied in one transaction: each item locked once, its living message published
once, whatever order the changes came in.

`MirrorService.apply_all` builds a `ChangeBatch` per transaction. Changes are applied sorted
by item (stable, so one item's changes keep their order): the merge does not depend on order
(`item_state.py`), and every worker then locks items in the same order, so two workers
never wait on each other's locks in a circle.

The round trips are per batch, not per change: `prepare` locks the items a repository's or
board's changes touch in one query, and `finish` records the batch's events in one INSERT,
then publishes every changed item's message (one read, one write for all of them), then the
thread replies of the changes seen for the first time, each after its item's message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from integrations.changes import Change, Credit
from makersbot import render_mirror
from makersbot.domain.messages import Message
from makersbot.domain.mirror import ItemView
from makersbot.domain.projects import Verification
from makersbot.outbox import Outbox
from makersbot.services import item_state
from makersbot.services.link_filters import wanted
from makersbot.store import ledger as ledger_store
from makersbot.store import links as link_store
from makersbot.store import mirror as mirror_store
from makersbot.store import people as people_store
from makersbot.store.models import Link, MirroredItem
from makersbot.store.outbox import Desired

log = logging.getLogger(__name__)

View = Callable[[Link, MirroredItem], ItemView]


def item_key_of(link_id: int, item_key: str) -> str:
    """The outbox key of an item's living message."""
    return f"item:{link_id}:{item_key}"


def change_order(change: Change) -> tuple[str, str, str]:
    """Sort key of a change: by item (label renames first in their repository)."""
    item = change.item.key if change.item is not None else (change.item_key or "")
    return (change.source, change.container, item)


class ChangeBatch:
    """The changes of one transaction. `apply` each change, then `finish` once."""

    def __init__(self, session: Session, outbox: Outbox, view: View) -> None:
        self.session = session
        self.outbox = outbox
        self.view = view
        self._links: dict[tuple[str, str], list[Link]] = {}
        self._channels: dict[int, str | None] = {}
        self._rows: dict[tuple[int, str], MirroredItem] = {}  # locked by this transaction
        self._looked_up: set[tuple[int, str]] = set()  # by `prepare`, found or not
        self._touched: dict[tuple[int, str], Link] = {}
        self._events: list[_Event] = []  # recorded by `finish`
        self.dirty_links: set[int] = set()

    def prepare(self, changes: Iterable[Change]) -> None:
        """Lock the rows of the items that `changes` (in `sorted_changes` order) touch and
        that exist: one query per repository or board and link, in the order `apply` would
        meet them. Items not found here are created, or locked, as `apply` meets them."""
        keys: dict[tuple[str, str], list[str]] = {}
        for change in changes:
            if change.label_rename is None and (change.item or change.item_key) is not None:
                keys.setdefault((change.source, change.container), []).append(_key_of(change))
        with self.session.no_autoflush:
            for (source, container), item_keys in keys.items():
                for link in self._links_to(source, container):
                    assert link.id is not None
                    found = mirror_store.locked_items(
                        self.session, link_id=link.id, item_keys=item_keys
                    )
                    self._rows.update(((link.id, row.item_key), row) for row in found)
                    self._looked_up.update((link.id, key) for key in item_keys)

    def apply(self, change: Change) -> None:
        """Apply one change to every link that mirrors its repository or board."""
        # Changed rows are written once, when the batch finishes, not before every query.
        with self.session.no_autoflush:
            links = self._links_to(change.source, change.container)
            if not links:  # nobody links it (any more): no ledger entry, no post
                log.debug("no link for %s %s", change.source, change.container)
                return
            for credit in change.credits:
                self._credit(links[0], change, credit)
            for link in links:
                if change.label_rename is not None:
                    self._rename_label(link, *change.label_rename)
                elif change.item is not None or change.item_key is not None:
                    self._apply_to_item(link, change)

    def finish(self) -> None:
        """Record the events, then publish the living message of every item the batch
        changed, once each, then the thread replies of the changes seen for the first time
        (after their item's message, so a parent is never queued after its replies)."""
        new = mirror_store.record_events(self.session, events=[e.row for e in self._events])
        messages = [
            message
            for (link_id, key), link in self._touched.items()
            if (message := self._message(link, self._rows[link_id, key])) is not None
        ]
        self.outbox.publish_all(self.session, messages)
        for event in self._events:
            first_time = event.row["dedupe_key"] in new
            new.discard(event.row["dedupe_key"])  # a change twice in the batch: once
            if first_time and event.note is not None:
                self._add_note(event.link, event.item, event.change, event.note)
        self._events.clear()
        self._touched.clear()
        self.session.flush()

    # -------------------------------------------------------------------------------------

    def _links_to(self, source: str, container: str) -> list[Link]:
        if (source, container) not in self._links:
            found = link_store.links_to(self.session, source=source, target=container)
            self._links[source, container] = found
        return self._links[source, container]

    def _channel(self, link: Link) -> str | None:
        assert link.id is not None
        if link.id not in self._channels:
            self._channels[link.id] = link_store.link_channel(self.session, link=link)
        return self._channels[link.id]

    def _credit(self, link: Link | None, change: Change, credit: Credit) -> None:
        github = credit.login if change.source == "github" else None
        trello = credit.login if change.source == "trello" else None
        person = people_store.person_by_login(self.session, github=github, trello=trello)
        ledger_store.add_ledger_entry(
            self.session,
            entry=ledger_store.NewEntry(
                kind=credit.kind,
                source=credit.source,
                dedupe_key=credit.dedupe_key,
                occurred_at=change.occurred_at,
                project_id=link.project_id if link else None,
                person_id=person.id if person else None,
                council_code=person.council_code if person else None,
                github_login=github,
                trello_username=trello,
                description=credit.description,
                recorded_by=change.source,
                verification=Verification.WEBHOOK.value,
            ),
        )

    def _apply_to_item(self, link: Link, change: Change) -> None:
        assert link.id is not None
        key = _key_of(change)
        row = self._locked_row(link, key, change)
        if row is None:
            return  # a new item the link's filters leave out
        item_state.merge_change(row, change)
        threads = bool(link.filters.get("threads", True))
        wants_note = threads and (change.state_change or change.comment)
        self._events.append(
            _Event(
                row={
                    "project_id": link.project_id,
                    "link_id": link.id,
                    "item_key": key,
                    "kind": row.kind,
                    "action": change.action[:40],
                    "actor": change.actor,
                    "summary": change.summary[:500],
                    "destination": change.destination[:200] if change.destination else None,
                    "done": change.done,
                    "occurred_at": change.occurred_at,
                    "dedupe_key": f"{link.id}:{change.dedupe_key}"[:300],
                },
                link=link,
                item=row,
                change=change,
                note=(
                    render_mirror.thread_note(change.summary, comment=change.comment)
                    if wants_note
                    else None
                ),
            )
        )
        self.session.add(row)
        self._touched[link.id, key] = link
        self.dirty_links.add(link.id)

    def _locked_row(self, link: Link, key: str, change: Change) -> MirroredItem | None:
        """The item's row, locked for this transaction; created when the change brings in a
        new item; None for an item the link does not mirror."""
        assert link.id is not None
        row = self._rows.get((link.id, key))
        if row is None and (link.id, key) not in self._looked_up:
            row = mirror_store.locked_item(self.session, link_id=link.id, item_key=key)
        if row is None:
            item = change.item
            if item is None or not wanted(link.filters, item):
                return None
            new = MirroredItem(
                link_id=link.id, item_key=key, kind=item.kind, created_at=change.occurred_at
            )
            mirror_store.add_item(self.session, item=new)  # or another worker just did
            row = mirror_store.locked_item(self.session, link_id=link.id, item_key=key)
        if row is not None:
            self._rows[link.id, key] = row
        return row

    def _message(self, link: Link, row: MirroredItem) -> Desired | None:
        """The item's living message as the outbox stores it; None without a channel."""
        assert link.id is not None
        channel = self._channel(link)
        if channel is None:
            return None
        message = render_mirror.item_message(self.view(link, row))
        key = item_key_of(link.id, row.item_key)
        return Desired(key, channel, message.text, message.blocks or None)

    def _add_note(self, link: Link, row: MirroredItem, change: Change, note: Message) -> None:
        """A reply in the item's thread. Changes that come before the last reply was sent
        join it, so a burst of changes is one reply, not one post each; when the joined
        reply would pass Slack's limits, the note starts a reply of its own instead."""
        assert link.id is not None
        channel = self._channel(link)
        if channel is None:
            return
        message_key = item_key_of(link.id, row.item_key)
        key = f"{message_key}:{change.dedupe_key}:{change.action}"
        pending = mirror_store.unsent_reply(self.session, thread_key=message_key)
        if pending is not None:
            joined = render_mirror.join_notes(pending.text, note)
            if joined is not None:
                note, key = joined, pending.key
        self.outbox.publish(
            self.session, key=key, channel=channel, message=note, thread_key=message_key
        )

    def _rename_label(self, link: Link, old: str, new: str | None) -> None:
        """A label renamed or deleted in a repository: the items that have it change, but
        only those already shown in the channel get their message edited; the others are
        counted in the board summary and never posted because of a label."""
        assert link.id is not None
        rows = mirror_store.locked_link_items(self.session, link_id=link.id)
        for row in rows:
            self._rows[link.id, row.item_key] = row
        changed = [row for row in rows if item_state.rename_label(row, old, new)]
        if not changed:
            return
        self.dirty_links.add(link.id)
        keys = [item_key_of(link.id, row.item_key) for row in changed]
        shown = mirror_store.published_keys(self.session, keys=keys)
        for key, row in zip(keys, changed, strict=True):
            self.session.add(row)
            if key in shown:
                self._touched[link.id, row.item_key] = link


@dataclass(frozen=True)
class _Event:
    """A change applied to an item: its `mirror_event` row, and its thread reply if the
    link wants one (posted only when the row is new: not for a redelivery or a poll)."""

    row: dict[str, Any]
    link: Link
    item: MirroredItem
    change: Change
    note: Message | None


def _key_of(change: Change) -> str:
    return change.item.key if change.item is not None else str(change.item_key)


def sorted_changes(changes: Iterable[Change]) -> list[Change]:
    """Changes in the order a batch applies them (see the module docstring)."""
    return sorted(changes, key=change_order)
