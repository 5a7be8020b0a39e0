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

from integrations.changes import Change, Credit, ItemState
from makersbot import render_mirror
from makersbot.db import Database
from makersbot.domain.messages import Message
from makersbot.domain.mirror import ItemView, LinkView
from makersbot.domain.projects import Verification
from makersbot.outbox import Outbox
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
        if not links:  # nobody links it (any more): no ledger entry, no post
            log.debug("no link for %s %s", change.source, change.container)
            return
        for credit in change.credits:
            self._credit(session, links[0], change, credit)
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
        row = self._updated_row(session, link, key, change)
        if row is None:
            return  # a new item the link's filters leave out
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
        if first_time and (row.last_change_at is None or change.occurred_at >= row.last_change_at):
            row.last_change = change.summary[:500]
            row.last_change_at = change.occurred_at
        session.add(row)
        session.flush()
        self._publish_item(session, link, row, change, first_time)

    def _updated_row(
        self, session: Session, link: Link, key: str, change: Change
    ) -> MirroredItem | None:
        """The item's row with the change merged in (not yet saved); None for an item the
        link does not mirror and whose change does not bring it in."""
        assert link.id is not None
        row = mirror_store.mirrored_item(session, link_id=link.id, item_key=key)
        item = change.item
        if row is None:
            if item is None or not wanted(link.filters, item):
                return None
            row = MirroredItem(
                link_id=link.id, item_key=key, kind=item.kind, created_at=change.occurred_at
            )
        if item is not None:
            _merge(row, item, change)
        if change.deleted:
            row.deleted = True
        if item is not None and item.comments is not None:
            row.comments = item.comments
        elif change.comment_delta:
            row.comments += change.comment_delta
        return row

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
        with self._dirty_lock:
            self._dirty_links.add(link.id)

    def _add_note(
        self, session: Session, message_key: str, channel: str, change: Change, note: Message
    ) -> None:
        """A reply in the item's thread. Changes that come before the last reply was sent
        join it, so a burst of changes is one reply, not one post each."""
        pending = mirror_store.unsent_reply(session, thread_key=message_key)
        if pending is not None:
            note = render_mirror.join_notes(pending.text, note)
            key = pending.key
        else:
            key = f"{message_key}:{change.dedupe_key}:{change.action}"
        self.outbox.publish(session, key=key, channel=channel, message=note, thread_key=message_key)

    def flush_summaries(self) -> int:
        """Publish the board summaries of links changed since the last flush, once each."""
        with self._dirty_lock:
            link_ids, self._dirty_links = self._dirty_links, set()
        if not link_ids:
            return 0
        with self.db.session() as session:
            for link_id in link_ids:
                link = link_store.get_link(session, link_id=link_id)
                if link is not None:
                    self.publish_summary(session, link)
        return len(link_ids)

    def _rename_label(self, session: Session, link: Link, old: str, new: str | None) -> None:
        assert link.id is not None
        rows = mirror_store.link_items(session, link_id=link.id)
        channel = link_store.link_channel(session, link=link)
        for row in rows:
            if old not in row.labels:
                continue
            kept = [label for label in row.labels if label != old]
            row.labels = kept if new is None else [*kept, new]
            session.add(row)
            if channel:
                self.outbox.publish(
                    session,
                    key=item_key_of(link.id, row.item_key),
                    channel=channel,
                    message=render_mirror.item_message(_view(link, row)),
                )

    def publish_summary(self, session: Session, link: Link) -> None:
        """Post or update the pinned board summary of a link."""
        assert link.id is not None
        channel = link_store.link_channel(session, link=link)
        if channel is None:
            return
        rows = mirror_store.link_items(session, link_id=link.id, include_deleted=False)
        recent = sorted(
            (r for r in rows if r.last_change_at is not None),
            key=lambda r: r.last_change_at or self.clock(),
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


def _merge(row: MirroredItem, item: ItemState, change: Change) -> None:
    """Copy an item's state onto its row, unless the row already has a newer state."""
    newer = (
        row.source_updated_at is None
        or item.updated_at is None
        or item.updated_at >= row.source_updated_at
    )
    if item.source == "trello":
        # Trello sends only what changed: keep what we know and apply the deltas. A late,
        # older action (a retry) must not put back an old name, list or archive state.
        if newer:
            row.title = item.title or row.title
            row.url = item.url or row.url
            row.number = item.number if item.number is not None else row.number
            if item.state:
                row.state = item.state
            if change.action in ("archived", "unarchived"):
                row.closed = change.action == "archived"
        if change.action == "labeled":
            row.labels = sorted(set(row.labels) | set(item.labels))
        elif change.action == "unlabeled":
            row.labels = [label for label in row.labels if label not in item.labels]
        elif change.action == "assigned":
            row.people = sorted(set(row.people) | set(item.people))
        elif change.action == "unassigned":
            row.people = [p for p in row.people if p not in item.people]
        if change.action == "due_changed":
            row.due = item.due
        if change.action == "moved_in":
            row.deleted = False
    elif newer:
        row.title, row.url, row.number = item.title, item.url, item.number
        row.state, row.closed = item.state, item.closed
        row.labels, row.people = list(item.labels), list(item.people)
        row.author, row.kind = item.author, item.kind
    if newer and item.updated_at is not None:
        row.source_updated_at = item.updated_at


def _counts(source: str, rows: Sequence[MirroredItem]) -> tuple[tuple[str, int], ...]:
    if source == "github":
        counter = Counter(r.state for r in rows)
        order = ["open", "draft", "merged", "closed"]
        return tuple((state, counter[state]) for state in order if counter[state])
    counter = Counter("archived" if r.closed else (r.state or "unknown list") for r in rows)
    return tuple(counter.most_common(8))
