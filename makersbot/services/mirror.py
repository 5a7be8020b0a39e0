"""The mirror: applies GitHub and Trello changes to mirrored items and their living messages.

Webhook deliveries are stored first (`accept_*`), then processed from the database
(`process_pending`); polls produce the same `Change`s with the same dedupe keys. Applying a
change is idempotent: an item seen by webhook and by poll changes once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from integrations.events import Change, ItemState, MalformedPayload
from integrations.github import item_dedupe_key
from makersbot import render_mirror, store
from makersbot.db import Database
from makersbot.domain import Message
from makersbot.intake import DeliveryIntake
from makersbot.models import (
    Delivery,
    LedgerKind,
    Link,
    MirroredItem,
    MirrorEvent,
    SlackMessage,
    utcnow,
)
from makersbot.outbox import Outbox
from makersbot.render_mirror import ItemView, LinkView

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Parser = Callable[[str, dict[str, Any]], list[Change]]

# GitHub events worth storing; everything else is acknowledged and dropped.
GITHUB_EVENTS = {"issues", "pull_request", "issue_comment", "pull_request_review", "label", "fork"}
LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 5


def item_key_of(link_id: int, item_key: str) -> str:
    return f"item:{link_id}:{item_key}"


def summary_key(link_id: int) -> str:
    return f"link:{link_id}:summary"


class MirrorService:
    """Stores deliveries, applies changes, publishes living messages and board summaries."""

    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        *,
        github_secret: str | None,
        trello_secret: str | None,
        trello_callback_url: str | None,
        parse_github: Parser,
        parse_trello: Callable[[dict[str, Any]], list[Change]],
        verify_github: Callable[[str, bytes, str | None], bool],
        verify_trello: Callable[[str, bytes, str, str | None], bool],
        clock: Clock = utcnow,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.github_secret = github_secret
        self.trello_secret = trello_secret
        self.trello_callback_url = trello_callback_url
        self.parse_github = parse_github
        self.parse_trello = parse_trello
        self.verify_github = verify_github
        self.verify_trello = verify_trello
        self.clock = clock
        self._wake = wake or (lambda: None)
        self.intake = DeliveryIntake(db, on_stored=self._wake)
        # Links whose board summary needs republishing (set by apply, cleared by flush).
        self._dirty_links: set[int] = set()
        self._dirty_lock = threading.Lock()

    # Ingest ------------------------------------------------------------------------------

    def accept_github(self, headers: Mapping[str, str], body: bytes) -> tuple[int, str]:
        """Verify and store one GitHub delivery; the answer for the HTTP route.

        `headers` has lower-case names (HTTP header names are case-insensitive).
        """
        if self.github_secret is None:
            return 401, "GitHub webhooks are not configured here (GITHUB_WEBHOOK_SECRET)"
        if not self.verify_github(self.github_secret, body, headers.get("x-hub-signature-256")):
            return 401, "bad or missing X-Hub-Signature-256"
        event = headers.get("x-github-event")
        if not event:
            return 400, "missing X-GitHub-Event header"
        payload = _json_object(body)
        if payload is None:
            return 400, "body is not a JSON object"
        if event == "ping":
            return 200, "pong"
        if event not in GITHUB_EVENTS:
            log.debug("ignored GitHub event %s", event)
            return 200, "ignored"
        try:
            self.parse_github(event, payload)
        except MalformedPayload as exc:
            log.info("refused a malformed GitHub %s delivery: %s", event, exc)
            return 400, f"malformed payload: {exc}"
        delivery_id = headers.get("x-github-delivery") or hashlib.sha256(body).hexdigest()
        return self._store("github", delivery_id, event, body)

    def accept_trello(self, headers: Mapping[str, str], body: bytes) -> tuple[int, str]:
        """Verify and store one Trello delivery; the answer for the HTTP route."""
        if self.trello_secret is None or self.trello_callback_url is None:
            return 401, "Trello webhooks are not configured here (TRELLO_API_SECRET, PUBLIC_URL)"
        signature = headers.get("x-trello-webhook")
        if not self.verify_trello(self.trello_secret, body, self.trello_callback_url, signature):
            return 401, "bad or missing X-Trello-Webhook"
        payload = _json_object(body)
        if payload is None:
            return 400, "body is not a JSON object"
        action = payload.get("action")
        if not isinstance(action, dict) or not action.get("id"):
            return 400, "missing action.id"
        try:
            self.parse_trello(payload)
        except MalformedPayload as exc:
            log.info("refused a malformed Trello delivery: %s", exc)
            return 400, f"malformed payload: {exc}"
        return self._store("trello", str(action["id"]), str(action.get("type", "")), body)

    def _store(self, source: str, delivery_id: str, event: str, body: bytes) -> tuple[int, str]:
        new = self.intake.store(
            {
                "source": source,
                "delivery_id": delivery_id[:200],
                "event": event[:100],
                # Raw text: no second JSON encoding on the path that answers GitHub/Trello.
                "body": body.decode("utf-8", "replace"),
                "received_at": self.clock(),
                "attempts": 0,
            }
        )
        return (200, "ok") if new else (200, "duplicate")

    # Processing --------------------------------------------------------------------------

    def process_pending(self, *, batch: int = 50) -> int:
        """Process stored deliveries; returns how many were handled."""
        handled = 0
        while True:
            ids = self._claim(batch)
            if not ids:
                return handled
            for delivery_id in ids:
                self._process_one(delivery_id)
                handled += 1
            # One summary update per batch, not one per delivery.
            self.flush_summaries()

    def _claim(self, batch: int) -> list[int]:
        now = self.clock()
        with self.db.session() as session:
            stmt = (
                select(Delivery)
                .where(col(Delivery.processed_at).is_(None))
                .where(
                    (col(Delivery.claimed_until).is_(None)) | (col(Delivery.claimed_until) < now)
                )
                .order_by(col(Delivery.id))
                .limit(batch)
            )
            if self.db.is_postgres:
                stmt = stmt.with_for_update(skip_locked=True)
            rows = session.exec(stmt).all()
            for row in rows:
                row.claimed_until = now + LEASE
                session.add(row)
            return [row.id for row in rows if row.id is not None]

    def _process_one(self, delivery_id: int) -> None:
        try:
            with self.db.session() as session:
                delivery = session.get(Delivery, delivery_id)
                if delivery is None or delivery.processed_at is not None:
                    return
                try:
                    changes = self._parse(delivery)
                except MalformedPayload as exc:
                    log.warning("delivery %s is malformed: %s", delivery.delivery_id, exc)
                    delivery.error = str(exc)[:500]
                    changes = []
                for change in changes:
                    self.apply(session, change)
                delivery.processed_at = self.clock()
                delivery.claimed_until = None
                session.add(delivery)
        except Exception as exc:  # a bug or a database hiccup: retry later, then give up
            log.exception("processing delivery %s failed", delivery_id)
            with self.db.session() as session:
                delivery = session.get(Delivery, delivery_id)
                if delivery is not None:
                    delivery.attempts += 1
                    delivery.error = f"{type(exc).__name__}: {exc}"[:500]
                    delivery.claimed_until = self.clock() + timedelta(seconds=30)
                    if delivery.attempts >= MAX_ATTEMPTS:
                        delivery.processed_at = self.clock()
                    session.add(delivery)

    def _parse(self, delivery: Delivery) -> list[Change]:
        payload = _json_object(delivery.body)
        if payload is None:
            raise MalformedPayload("stored body is not a JSON object")
        if delivery.source == "github":
            return list(self.parse_github(delivery.event, payload))
        return list(self.parse_trello(payload))

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
        person = store.person_by_login(session, github=github, trello=trello)
        store.add_ledger_entry(
            session,
            entry=store.NewEntry(
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
        row = session.exec(
            select(MirroredItem).where(
                MirroredItem.link_id == link.id, MirroredItem.item_key == key
            )
        ).first()
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
        first_time = store.insert_ignore(
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
        from makersbot.models import Project

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
            row = session.exec(
                select(MirroredItem).where(
                    MirroredItem.link_id == link.id, MirroredItem.item_key == item.key
                )
            ).first()
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
                from integrations.events import Credit

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


def _json_object(body: bytes | str) -> dict[str, Any] | None:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None
