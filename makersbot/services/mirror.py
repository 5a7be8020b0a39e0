"""The mirror: applies GitHub and Trello changes to mirrored items and their living messages.

Changes come from stored webhook deliveries (services/deliveries.py) and from polls
(services/links.py) with the same dedupe keys. Applying a change is idempotent: an item seen
by webhook and by poll changes once.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from integrations.changes import Change, ItemState
from integrations.github.items import item_dedupe_key
from makersbot import render_mirror
from makersbot.db import Database
from makersbot.domain.messages import Message
from makersbot.domain.mirror import ItemView, LinkView
from makersbot.domain.projects import LedgerKind
from makersbot.outbox import Outbox
from makersbot.store import ledger as ledger_store
from makersbot.store import mirror as mirror_store
from makersbot.store import people as people_store
from makersbot.store import rows
from makersbot.store.models import Link, MirroredItem, MirrorEvent, SlackMessage, utcnow

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
        links = session.exec(
            select(Link).where(Link.source == change.source, Link.target == change.container)
        ).all()
        if not links:
            log.debug("no link for %s %s", change.source, change.container)
        for credit in change.credits:
            self._credit(session, links[0] if links else None, change, credit)
        for link in links:
            if change.label_rename is not None:
                self._rename_label(session, link, *change.label_rename)
            elif change.item is not None or change.item_key is not None:
                self._apply_to_item(session, link, change)

    def _credit(self, session: Session, link: Link | None, change: Change, credit: Any) -> None:
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
            ),
        )

    def _apply_to_item(self, session: Session, link: Link, change: Change) -> None:
        assert link.id is not None
        key = change.item.key if change.item is not None else str(change.item_key)
        row = mirror_store.mirrored_item(session, link_id=link.id, item_key=key)
        item = change.item
        if row is None and (item is None or not self.wanted(link, item, None)):
            return
        if row is None:
            assert item is not None
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
        first_time = rows.insert_ignore(
            session,
            MirrorEvent,
            {
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
            conflict=["dedupe_key"],
        )
        if first_time and (row.last_change_at is None or change.occurred_at >= row.last_change_at):
            row.last_change = change.summary[:500]
            row.last_change_at = change.occurred_at
        session.add(row)
        session.flush()
        project_channel = self._channel(session, link)
        if project_channel is None:
            return
        message_key = item_key_of(link.id, key)
        self.outbox.publish(
            session,
            key=message_key,
            channel=project_channel,
            message=render_mirror.item_message(self._view(link, row)),
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
        pending = session.exec(
            select(SlackMessage)
            .where(
                SlackMessage.thread_key == message_key,
                col(SlackMessage.ts).is_(None),
                col(SlackMessage.claimed_until).is_(None),
            )
            .order_by(col(SlackMessage.id).desc())
        ).first()
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
                link = session.get(Link, link_id)
                if link is not None:
                    self.publish_summary(session, link)
        return len(link_ids)

    def wanted(self, link: Link, item: ItemState, row: MirroredItem | None) -> bool:
        """The link's filters: bots, labels to include or exclude, Trello lists to watch."""
        filters = link.filters
        if item.author_is_bot and not filters.get("bots", False):
            return False
        labels = {label.lower() for label in (row.labels if row else item.labels)}
        include = {label.lower() for label in filters.get("labels", [])}
        exclude = {label.lower() for label in filters.get("exclude_labels", [])}
        if include and not labels & include:
            return False
        if labels & exclude:
            return False
        lists = {name.lower() for name in filters.get("lists", [])}
        return not (lists and item.source == "trello" and item.state.lower() not in lists)

    def _rename_label(self, session: Session, link: Link, old: str, new: str | None) -> None:
        rows = session.exec(select(MirroredItem).where(MirroredItem.link_id == link.id)).all()
        channel = self._channel(session, link)
        for row in rows:
            if old not in row.labels:
                continue
            kept = [label for label in row.labels if label != old]
            row.labels = kept if new is None else [*kept, new]
            session.add(row)
            if channel and link.id is not None:
                self.outbox.publish(
                    session,
                    key=item_key_of(link.id, row.item_key),
                    channel=channel,
                    message=render_mirror.item_message(self._view(link, row)),
                )

    def _channel(self, session: Session, link: Link) -> str | None:
        from makersbot.store.models import Project

        project = session.get(Project, link.project_id)
        return project.channel_id if project else None

    # Views -------------------------------------------------------------------------------

    def _view(self, link: Link, row: MirroredItem) -> ItemView:
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

    def publish_summary(self, session: Session, link: Link) -> None:
        """Post or update the pinned board summary of a link."""
        assert link.id is not None
        channel = self._channel(session, link)
        if channel is None:
            return
        rows = session.exec(
            select(MirroredItem).where(
                MirroredItem.link_id == link.id, col(MirroredItem.deleted).is_(False)
            )
        ).all()
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
            recent=tuple(self._view(link, r) for r in recent),
            polling=link.webhook_id is None,
        )
        self.outbox.publish(
            session,
            key=summary_key(link.id),
            channel=channel,
            message=render_mirror.board_summary(view),
            pin=True,
        )

    # Polling -----------------------------------------------------------------------------

    def changes_from_poll(
        self, session: Session, link: Link, items: Sequence[ItemState]
    ) -> list[Change]:
        """Turn polled GitHub items into Changes, by comparing with what is stored."""
        changes = []
        for item in items:
            row = mirror_store.mirrored_item(session, link_id=link.id or 0, item_key=item.key)
            if (
                row is not None
                and row.source_updated_at is not None
                and item.updated_at is not None
                and item.updated_at <= row.source_updated_at
            ):
                continue
            action, summary, state_change = _diff(row, item)
            credits: tuple[Any, ...] = ()
            if (
                item.state == "merged"
                and item.author
                and not item.author_is_bot
                and (row is None or row.state != "merged")
            ):
                from integrations.changes import Credit

                credits = (
                    Credit(
                        kind=LedgerKind.GIVE.value,
                        source="github:pr_merged",
                        login=item.author,
                        dedupe_key=f"github:pr_merged:{item.container}#{item.number}",
                        description=f"merged {item.container}#{item.number}",
                    ),
                )
            changes.append(
                Change(
                    source=item.source,
                    container=item.container,
                    action=action,
                    summary=summary,
                    occurred_at=item.updated_at or self.clock(),
                    dedupe_key=item_dedupe_key(item),
                    item=item,
                    item_key=item.key,
                    state_change=state_change,
                    credits=credits,
                )
            )
        return changes


def _diff(row: MirroredItem | None, item: ItemState) -> tuple[str, str, bool]:
    """Name what a poll saw change, in the words a webhook would have used."""
    if row is None:
        return "opened", "opened" + (f" by {item.author}" if item.author else ""), True
    if row.state != item.state:
        if item.state == "merged":
            return "merged", "merged", True
        if item.closed and not row.closed:
            return "closed", "closed", True
        if row.closed and not item.closed:
            return "reopened", "reopened", True
        return item.state, f"now {item.state}", True
    if row.title != item.title:
        return "edited", f"renamed from “{row.title}”", False
    if sorted(row.labels) != sorted(item.labels):
        return "labeled", "labels: " + (", ".join(item.labels) or "none"), False
    if sorted(row.people) != sorted(item.people):
        return "assigned", "assigned: " + (", ".join(item.people) or "nobody"), False
    return "updated", "updated", False


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
