"""Deleting rows that have served their purpose, a bounded batch at a time.

Session first, keyword-only. Each function deletes at most `limit` of the oldest matching rows
and returns how many it deleted; `makersbot/retention.py` calls it in its own short
transaction until a batch comes back short, so no prune holds a lock for long.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, or_, true
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from makersbot.store.models import (
    Delivery,
    MirrorEvent,
    SeenRequest,
    SlackMessage,
    WorkerHeartbeat,
)


def _delete_batch(session: Session, model: type[Any], key: Any, *where: Any, limit: int) -> int:
    """DELETE … WHERE key IN (SELECT key … ORDER BY key LIMIT n): the portable bounded delete."""
    batch = select(key).where(*where).order_by(key).limit(limit)
    result = session.execute(delete(model).where(key.in_(batch)))
    return int(result.rowcount)  # type: ignore[attr-defined]


def prune_deliveries(session: Session, *, before: datetime, limit: int) -> int:
    """Processed deliveries (done, or given up on) processed before `before`; pending ones stay."""
    return _delete_batch(
        session, Delivery, col(Delivery.id), col(Delivery.processed_at) < before, limit=limit
    )


def prune_mirror_events(session: Session, *, before: datetime, limit: int) -> int:
    """Mirror events that happened before `before`."""
    return _delete_batch(
        session,
        MirrorEvent,
        col(MirrorEvent.id),
        col(MirrorEvent.occurred_at) < before,
        limit=limit,
    )


def prune_seen_requests(session: Session, *, before: datetime, limit: int) -> int:
    """Slack request keys seen before `before` (Slack retries within minutes)."""
    return _delete_batch(
        session, SeenRequest, col(SeenRequest.key), col(SeenRequest.seen_at) < before, limit=limit
    )


def prune_sent_messages(
    session: Session, *, before: datetime, limit: int, living_prefixes: tuple[str, ...]
) -> int:
    """Outbox rows of one-off posts that Slack has and nobody will edit again, last changed
    before `before`: thread replies, announcements, digests.

    Kept whatever their age: messages still to send, pinned ones (project cards, board
    summaries), living messages (top-level rows whose key starts with `living_prefixes`:
    an item's message is edited whenever the item changes, and its `ts` is how), and any row
    that an unsent reply needs as its thread parent.
    """
    reply = aliased(SlackMessage)
    waiting_reply = exists().where(
        col(reply.thread_key) == col(SlackMessage.key),
        col(reply.version) > col(reply.sent_version),
    )
    not_living = [~col(SlackMessage.key).startswith(prefix) for prefix in living_prefixes]
    return _delete_batch(
        session,
        SlackMessage,
        col(SlackMessage.id),
        col(SlackMessage.updated_at) < before,
        col(SlackMessage.version) <= col(SlackMessage.sent_version),
        col(SlackMessage.pin).is_(False),
        or_(col(SlackMessage.thread_key).is_not(None), and_(true(), *not_living)),
        ~waiting_reply,
        limit=limit,
    )


def prune_heartbeats(session: Session, *, before: datetime) -> int:
    """Heartbeats of processes gone since before `before` (a handful of rows at most)."""
    result = session.execute(delete(WorkerHeartbeat).where(col(WorkerHeartbeat.beat_at) < before))
    return int(result.rowcount)  # type: ignore[attr-defined]
