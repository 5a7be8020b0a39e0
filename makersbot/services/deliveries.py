"""Webhook deliveries: verified and stored before the 2xx, then processed from the database.

Nothing acknowledged is lost: a crash after the answer leaves the row to process on restart,
and a delivery seen twice (same X-GitHub-Delivery or Trello action id) is stored once.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlmodel import Session

from integrations.changes import Change, MalformedPayload
from makersbot.db import Database
from makersbot.intake import GroupCommit
from makersbot.services.delivery_sources import (
    Admitted,
    Answer,
    DeliverySource,
    admit,
    json_object,
    scope_answers,
)
from makersbot.services.link_memory import LinkedTargets
from makersbot.services.mirror import MirrorService
from makersbot.store import deliveries as delivery_store
from makersbot.store.models import Delivery, utcnow

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 5
# Times a batch aborted by a deadlock or a serialization failure is tried again together.
CONFLICT_RETRIES = 3
# PostgreSQL's codes for them: deadlock_detected, serialization_failure.
_CONFLICT_CODES = frozenset({"40P01", "40001"})
SUMMARY_EVERY = 1.0  # seconds between board summary rebuilds while deliveries keep coming


class DeliveryService:
    """`POST /github/webhook` and `/trello/webhook`, and the processor that drains them."""

    def __init__(
        self,
        db: Database,
        mirror: MirrorService,
        *,
        sources: Iterable[DeliverySource],
        clock: Clock = utcnow,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.mirror = mirror
        self.sources = {source.name: source for source in sources}
        self.clock = clock
        self._wake = wake or (lambda: None)
        self.linked_targets = LinkedTargets()
        self.intake: GroupCommit[Admitted, Answer] = GroupCommit(
            db, self._store_batch, after_commit=self._wake, single_statement=True
        )

    def accept_github(self, headers: Mapping[str, str], body: bytes) -> Answer:
        """Verify and store one GitHub delivery; the answer for the HTTP route."""
        return self.accept("github", headers, body)

    def accept_trello(
        self, headers: Mapping[str, str], body: bytes, token: str | None = None
    ) -> Answer:
        """Verify and store one Trello delivery (on `/trello/webhook/<token>` when given)."""
        return self.accept("trello", headers, body, token)

    def accept(
        self, name: str, headers: Mapping[str, str], body: bytes, token: str | None = None
    ) -> Answer:
        """Verify and store one delivery from source `name`; the answer for the HTTP route.

        `headers` has lower-case names (HTTP header names are case-insensitive). Which key
        may sign it and what it may change: `delivery_sources.admit`. Returns once the
        delivery is committed; raises `IntakeUnavailable` (a 503) when it could not be.
        """
        # Only a hook id or a link's callback token needs the database: the session is
        # opened on first use, so the other deliveries make no session at all.
        with ExitStack() as stack:

            def session() -> Session:
                if not opened:
                    opened.append(stack.enter_context(self.db.session(read_only=True)))
                return opened[0]

            opened: list[Session] = []
            admitted = admit(session, self.sources[name], headers, body, token)
        if not isinstance(admitted, Admitted):
            return admitted
        return self.intake.submit(admitted)

    def _store_batch(self, connection: Connection, batch: Sequence[Admitted]) -> list[Answer]:
        """A batch of deliveries: the scope of each (from memory, or one query), then one
        INSERT of those in scope, the batch's only write: atomic without a transaction
        around it. A delivery seen before (or twice in the batch) is a duplicate."""
        answers = scope_answers(connection, batch, self.linked_targets)
        now = self.clock()
        rows = [_row(one, now) for one, answer in zip(batch, answers, strict=True) if not answer]
        new = delivery_store.insert_deliveries(connection, deliveries=rows) if rows else set()
        result: list[Answer] = []
        for one, answer in zip(batch, answers, strict=True):
            key = (one.source, _delivery_id(one))
            result.append(answer or ((200, "ok") if key in new else (200, "duplicate")))
            new.discard(key)  # a second copy in the same batch is a duplicate
        return result

    # Processing --------------------------------------------------------------------------

    def process_pending(self, *, batch: int = 50) -> int:
        """Process stored deliveries; returns how many were handled.

        Each claimed batch is applied in one transaction (a few database round trips per
        delivery instead of ten). If anything in it fails, its deliveries are processed one
        by one instead, so one bad delivery never holds back the others.
        """
        handled = 0
        summarised = time.monotonic()
        while True:
            ids = self._claim(batch)
            if not ids:
                self.mirror.flush_summaries()  # what the last batches changed
                return handled
            for start in range(0, len(ids), self._transaction_size):
                chunk = ids[start : start + self._transaction_size]
                if not self._process_together(chunk):
                    for delivery_id in chunk:
                        self._process_one(delivery_id)
            handled += len(ids)
            # A board summary is rebuilt once for many deliveries, and at most every
            # SUMMARY_EVERY while a burst keeps coming: each rebuild is a transaction per
            # link, and each update one more paced call in its channel.
            if time.monotonic() - summarised >= SUMMARY_EVERY:
                self.mirror.flush_summaries()
                summarised = time.monotonic()

    @property
    def _transaction_size(self) -> int:
        # SQLite has one writer: a short transaction lets the web app store deliveries
        # between two of them. PostgreSQL writers only wait for the rows they share.
        return 10 if self.db.is_sqlite else 50

    def _claim(self, batch: int) -> list[int]:
        now = self.clock()
        with self.db.session() as session:
            return delivery_store.claim_deliveries(session, now=now, until=now + LEASE, batch=batch)

    def _process_together(self, ids: list[int]) -> bool:
        """Apply several deliveries in one transaction; False (nothing kept) if it failed.

        Two workers can still meet in a circle of row locks: one batch looked an item up
        before a third transaction created it, and meets it locked by the other worker.
        PostgreSQL then aborts one of the two, and that one is tried again together, after a
        short random pause (`CONFLICT_RETRIES` times), not one delivery at a time.
        """
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                self._apply_together(ids)
                return True
            except Exception as exc:  # a bug, a database hiccup: try them one at a time
                if attempt < CONFLICT_RETRIES and _lock_conflict(exc):
                    log.info(
                        "processing %s deliveries together met another worker's locks (%s); "
                        "trying again",
                        len(ids),
                        type(getattr(exc, "orig", exc)).__name__,
                    )
                    time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
                    continue
                log.warning("processing %s deliveries together failed", len(ids), exc_info=True)
                return False
        return False

    def _apply_together(self, ids: list[int]) -> None:
        with self.db.session() as session:
            changes: list[Change] = []
            for delivery in delivery_store.deliveries_by_id(session, ids=ids):
                if delivery.processed_at is not None:
                    continue  # a redelivered claim that another worker finished
                changes += self._changes_of(delivery)
                delivery.processed_at = self.clock()
                delivery.claimed_until = None
                session.add(delivery)
            self.mirror.apply_all(session, changes)

    def _changes_of(self, delivery: Delivery) -> list[Change]:
        """A delivery's changes; [] (and the reason kept) when its body is malformed."""
        try:
            return self._parse(delivery)
        except MalformedPayload as exc:
            log.warning("delivery %s is malformed: %s", delivery.delivery_id, exc)
            delivery.error = str(exc)[:500]
            return []

    def _process_one(self, delivery_id: int) -> None:
        try:
            with self.db.session() as session:
                delivery = delivery_store.get_delivery(session, delivery_id=delivery_id)
                if delivery is None or delivery.processed_at is not None:
                    return
                self.mirror.apply_all(session, self._changes_of(delivery))
                delivery.processed_at = self.clock()
                delivery.claimed_until = None
                session.add(delivery)
        except Exception as exc:  # a bug or a database hiccup: retry later, then give up
            log.exception("processing delivery %s failed", delivery_id)
            with self.db.session() as session:
                delivery = delivery_store.get_delivery(session, delivery_id=delivery_id)
                if delivery is not None:
                    delivery.attempts += 1
                    delivery.error = f"{type(exc).__name__}: {exc}"[:500]
                    delivery.claimed_until = self.clock() + timedelta(seconds=30)
                    if delivery.attempts >= MAX_ATTEMPTS:
                        delivery.processed_at = self.clock()
                    session.add(delivery)

    def _parse(self, delivery: Delivery) -> list[Change]:
        payload = json_object(delivery.body)
        if payload is None:
            raise MalformedPayload("stored body is not a JSON object")
        return list(self.sources[delivery.source].parse(delivery.event, payload))


def _lock_conflict(exc: BaseException) -> bool:
    """Whether the database aborted the transaction for a lock conflict with another one."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in _CONFLICT_CODES


def _delivery_id(one: Admitted) -> str:
    return one.envelope.delivery_id[:200]


def _row(one: Admitted, now: datetime) -> dict[str, Any]:
    """The delivery table's row for an admitted delivery."""
    return {
        "source": one.source,
        "delivery_id": _delivery_id(one),
        "event": one.envelope.event[:100],
        # Raw text: no second JSON encoding on the path that answers GitHub/Trello.
        "body": one.body.decode("utf-8", "replace"),
        "received_at": now,
        "attempts": 0,
    }
