"""The mirror: applies GitHub and Trello changes to mirrored items and their living messages.

Changes come from stored webhook deliveries (services/deliveries.py) and from polls
(services/polling.py) with the same dedupe keys. Applying a change is idempotent: an item seen
by webhook and by poll changes once.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlmodel import Session

from integrations.changes import Change, Credit
from makersbot import render_mirror
from makersbot.db import Database
from makersbot.domain.messages import Message
from makersbot.domain.mirror import ItemView, LinkView
from makersbot.domain.projects import Verification
from makersbot.outbox import Outbox
from makersbot.services import item_state
from makersbot.services.link_filters import wanted
from makersbot.store import ledger as ledger_store
from makersbot.store import links as link_store
from makersbot.store import mirror as mirror_store
from makersbot.store import people as people_store
from makersbot.store.models import Link, MirroredItem, utcnow

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def item_key_of(link_id: int, item_key: str) -> str:
    return f"item:{link_id}:{item_key}"


def summary_key(link_id: int) -> str:
    return f"link:{link_id}:summary"


class MirrorService:
    """Applies changes, publishes living messages, thread replies and board summaries."""

    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        *,
        clock: Clock = utcnow,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.clock = clock
        # Links whose board summary needs republishing (set by apply, cleared by flush).
        self._dirty_links: set[int] = set()
        self._dirty_lock = threading.Lock()

    # Applying ----------------------------------------------------------------------------

    def apply(self, session: Session, change: Change) -> None:
        """Apply one change to every link that mirrors its repo or board."""
        links = link_store.links_to(session, source=change.source, target=change.container)
        if not links:
            log.debug("no link for %s %s", change.source, change.container)
        for credit in change.credits:
            self._credit(session, links[0] if links else None, change, credit)
        for link in links:
            if change.label_rename is not None:
                self._rename_label(session, link, *change.label_rename)
            elif change.item is not None or change.item_key is not None:
                self._apply_to_item(session, link, change)

    def _credit(self, session: Session, link: Link | None, change: Change, credit: Credit) -> None:
        github = credit.login if change.source == "github" else None
        trello = credit.login if change.source == "trello" else None
        person = people_store.person_by_login(session, github=github, trello=trello)
        ledger_store.add_ledger_entry(
            session,
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

    def _apply_to_item(self, session: Session, link: Link, change: Change) -> None:
        assert link.id is not None
        key = change.item.key if change.item is not None else str(change.item_key)
        row = self._locked_row(session, link, key, change)
        if row is None:
            return  # a new item the link's filters leave out
        item_state.merge_change(row, change)
        first_time = mirror_store.record_event(
            session,
            event={
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
        )
        session.add(row)
        session.flush()
        self._publish_item(session, link, row, change, first_time)

    def _locked_row(
        self, session: Session, link: Link, key: str, change: Change
    ) -> MirroredItem | None:
        """The item's row, locked for this transaction; created when the change brings in a
        new item; None for an item the link does not mirror."""
        assert link.id is not None
        row = mirror_store.locked_item(session, link_id=link.id, item_key=key)
        if row is not None:
            return row
        item = change.item
        if item is None or not wanted(link.filters, item):
            return None
        new = MirroredItem(
            link_id=link.id, item_key=key, kind=item.kind, created_at=change.occurred_at
        )
        mirror_store.add_item(session, item=new)  # or another worker just did
        return mirror_store.locked_item(session, link_id=link.id, item_key=key)

    def _publish_item(
        self, session: Session, link: Link, row: MirroredItem, change: Change, first_time: bool
    ) -> None:
        """Update the item's living message; a first-seen state change or comment also gets
        a reply in its thread."""
        assert link.id is not None
        project_channel = link_store.link_channel(session, link=link)
        if project_channel is None:
            return
        message_key = item_key_of(link.id, row.item_key)
        self.outbox.publish(
            session,
            key=message_key,
            channel=project_channel,
            message=render_mirror.item_message(_view(link, row)),
        )
        threads = bool(link.filters.get("threads", True))
        if first_time and threads and (change.state_change or change.comment):
            note = render_mirror.thread_note(change.summary, comment=change.comment)
            self._add_note(session, message_key, project_channel, change, note)
        self._mark_dirty(link.id)

    def _mark_dirty(self, link_id: int) -> None:
        with self._dirty_lock:
            self._dirty_links.add(link_id)

    def _add_note(
        self, session: Session, message_key: str, channel: str, change: Change, note: Message
    ) -> None:
        """A reply in the item's thread. Changes that come before the last reply was sent
        join it, so a burst of changes is one reply, not one post each; when the joined
        reply would pass Slack's limits, the note starts a reply of its own instead."""
        key = f"{message_key}:{change.dedupe_key}:{change.action}"
        pending = mirror_store.unsent_reply(session, thread_key=message_key)
        if pending is not None:
            joined = render_mirror.join_notes(pending.text, note)
            if joined is not None:
                note, key = joined, pending.key
        self.outbox.publish(session, key=key, channel=channel, message=note, thread_key=message_key)

    def flush_summaries(self) -> int:
        """Publish the board summaries of links changed since the last flush, once each."""
        with self._dirty_lock:
            link_ids, self._dirty_links = self._dirty_links, set()
        for link_id in sorted(link_ids):
            # One transaction per link: another worker's summary of the same link waits
            # for this one (and reads what it committed) instead of overwriting it.
            with self.db.session() as session:
                link = mirror_store.locked_link(session, link_id=link_id)
                if link is not None:
                    self.publish_summary(session, link)
        return len(link_ids)

    def _rename_label(self, session: Session, link: Link, old: str, new: str | None) -> None:
        """A label renamed or deleted in a repository: the items that have it change, but
        only those already shown in the channel get their message edited; the others are
        counted in the board summary and never posted because of a label."""
        assert link.id is not None
        rows = mirror_store.locked_link_items(session, link_id=link.id)
        changed = [row for row in rows if item_state.rename_label(row, old, new)]
        if not changed:
            return
        for row in changed:
            session.add(row)
        channel = link_store.link_channel(session, link=link)
        if channel is not None:
            keys = [item_key_of(link.id, row.item_key) for row in changed]
            shown = mirror_store.published_keys(session, keys=keys)
            for key, row in zip(keys, changed, strict=True):
                if key in shown:
                    message = render_mirror.item_message(_view(link, row))
                    self.outbox.publish(session, key=key, channel=channel, message=message)
        self._mark_dirty(link.id)

    def publish_summary(self, session: Session, link: Link) -> None:
        """Post or update the pinned board summary of a link."""
        assert link.id is not None
        channel = link_store.link_channel(session, link=link)
        if channel is None:
            return
        rows = mirror_store.link_items(session, link_id=link.id, include_deleted=False)
        recent = sorted(
            (r for r in rows if r.last_change_at is not None),
            key=lambda r: (r.last_change_at or self.clock(), r.item_key),
            reverse=True,
        )[:5]
        view = LinkView(
            source=link.source,
            name=link.target_name or link.target,
            url=link.url,
            counts=_counts(link.source, rows),
            recent=tuple(_view(link, r) for r in recent),
            polling=link.webhook_id is None,
        )
        self.outbox.publish(
            session,
            key=summary_key(link.id),
            channel=channel,
            message=render_mirror.board_summary(view),
            pin=True,
        )


def _view(link: Link, row: MirroredItem) -> ItemView:
    return ItemView(
        source=link.source,
        kind=row.kind,
        number=row.number,
        title=row.title,
        url=row.url,
        state=row.state,
        closed=row.closed,
        deleted=row.deleted,
        container_name=link.target_name or link.target,
        labels=tuple(row.labels),
        people=tuple(row.people),
        due=row.due,
        comments=row.comments,
        last_change=row.last_change,
        last_change_at=row.last_change_at,
    )


def _counts(source: str, rows: Sequence[MirroredItem]) -> tuple[tuple[str, int], ...]:
    if source == "github":
        counter = Counter(r.state for r in rows)
        order = ["open", "draft", "merged", "closed"]
        return tuple((state, counter[state]) for state in order if counter[state])
    counter = Counter("archived" if r.closed else (r.state or "unknown list") for r in rows)
    return tuple(counter.most_common(8))
