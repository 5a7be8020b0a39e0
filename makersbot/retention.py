"""Retention: the scheduler's job that deletes rows which have served their purpose.

What is pruned, after how many days (settings, README "Keeping the database small"):

- processed webhook deliveries, RETENTION_DELIVERIES_DAYS (14): GitHub and Trello redeliver
  within hours, and a delivery id dedupes only while its row is kept;
- mirror events, RETENTION_EVENTS_DAYS (90, at least 35): the project digests count a week of
  them and look back four weeks for quiet projects; 90 days keeps `makersbot digest --week`
  right for the last quarter;
- Slack request keys seen, RETENTION_REQUEST_KEYS_DAYS (7): Slack retries within minutes;
- sent one-off outbox rows, RETENTION_SENT_MESSAGES_DAYS (30): thread replies, announcements
  and digests are never edited once Slack has them.

Never pruned: the ledger (gives and takes), projects, people, links, the current state of
every mirrored item and its living message, project cards and board summaries, digest claims.
0 days keeps a kind of row for ever.

Deletes go in batches of `batch` rows, each in its own short transaction, with a pause between
them, so a first prune of a large database never holds the SQLite write lock (or PostgreSQL
row locks) for long. Any number of processes may run it: a delete of rows already gone does
nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from makersbot.db import Database
from makersbot.settings import Settings
from makersbot.store import retention as store
from makersbot.store.models import utcnow

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# Outbox rows whose key starts so are living messages, edited for as long as their item lives
# (`services/mirror.py`, item_key_of): never pruned, unless they are thread replies.
LIVING_PREFIXES = ("item:",)
# Heartbeats of processes that died without removing theirs.
HEARTBEAT_DAYS = 1
# How often the worker runs it: cheap when there is nothing to delete (indexed ranges).
PRUNE_EVERY_SECONDS = 600.0


@dataclass(frozen=True)
class RetentionPeriods:
    """Days to keep each kind of row; 0 keeps it for ever."""

    deliveries_days: int = 14
    events_days: int = 90
    request_keys_days: int = 7
    sent_messages_days: int = 30

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPeriods:
        return cls(
            deliveries_days=settings.retention_deliveries_days,
            events_days=settings.retention_events_days,
            request_keys_days=settings.retention_request_keys_days,
            sent_messages_days=settings.retention_sent_messages_days,
        )


Pruner = Callable[[Session, datetime, int], int]


class Retention:
    """Prunes every kind of row past its period; `prune()` is one run."""

    def __init__(
        self,
        db: Database,
        periods: RetentionPeriods,
        *,
        clock: Clock = utcnow,
        batch: int = 1000,
        pause: float = 0.05,
    ) -> None:
        self.db = db
        self.periods = periods
        self.clock = clock
        self.batch = batch
        self.pause = pause

    def prune(self) -> dict[str, int]:
        """Delete what is past its period; how many rows of each kind went."""
        now = self.clock()
        p = self.periods
        jobs: list[tuple[str, int, Pruner]] = [
            ("deliveries", p.deliveries_days, _deliveries),
            ("mirror events", p.events_days, _events),
            ("request keys", p.request_keys_days, _requests),
            ("sent messages", p.sent_messages_days, _messages),
            ("heartbeats", HEARTBEAT_DAYS, _heartbeats),
        ]
        counts: dict[str, int] = {}
        for name, days, prune in jobs:
            if days > 0:
                counts[name] = self._in_batches(prune, now - timedelta(days=days))
        pruned = {name: n for name, n in counts.items() if n}
        if pruned:
            log.info("pruned %s", ", ".join(f"{n} {name}" for name, n in pruned.items()))
        return counts

    def _in_batches(self, prune: Pruner, before: datetime) -> int:
        total = 0
        while True:
            with self.db.session() as session:
                deleted = prune(session, before, self.batch)
            total += deleted
            if deleted < self.batch:
                return total
            time.sleep(self.pause)  # let the writers waiting for the lock go first


def _deliveries(session: Session, before: datetime, limit: int) -> int:
    return store.prune_deliveries(session, before=before, limit=limit)


def _events(session: Session, before: datetime, limit: int) -> int:
    return store.prune_mirror_events(session, before=before, limit=limit)


def _requests(session: Session, before: datetime, limit: int) -> int:
    return store.prune_seen_requests(session, before=before, limit=limit)


def _messages(session: Session, before: datetime, limit: int) -> int:
    return store.prune_sent_messages(
        session, before=before, limit=limit, living_prefixes=LIVING_PREFIXES
    )


def _heartbeats(session: Session, before: datetime, limit: int) -> int:
    return store.prune_heartbeats(session, before=before)
