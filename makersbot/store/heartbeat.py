"""Heartbeats of the processes doing background work. Session first, keyword-only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from makersbot.store.models import WorkerHeartbeat


def beat(
    session: Session,
    *,
    process: str,
    at: datetime,
    slack_checked_at: datetime | None = None,
    slack_rejected: str | None = None,
) -> None:
    """Record that `process` is alive at `at`, and what Slack said at its last token check
    (`slack_checked_at` None: no check since the last beat, keep the recorded one)."""
    row = session.get(WorkerHeartbeat, process)
    if row is None:
        row = WorkerHeartbeat(process=process, started_at=at, beat_at=at)
    row.beat_at = at
    if slack_checked_at is not None:
        row.slack_checked_at = slack_checked_at
        row.slack_rejected = slack_rejected[:300] if slack_rejected else None
    session.add(row)


def forget(session: Session, *, process: str) -> None:
    """A process that stops cleanly takes its heartbeat with it."""
    session.execute(delete(WorkerHeartbeat).where(col(WorkerHeartbeat.process) == process))


def last_beat(session: Session) -> datetime | None:
    """The most recent heartbeat of any process, or None when none ever beat."""
    return session.exec(select(func.max(WorkerHeartbeat.beat_at))).one()


def token_rejection(session: Session, *, since: datetime) -> str | None:
    """What Slack said of the token at the latest check by a process alive since `since`,
    when it refused it; None when it accepted it, or nobody has checked."""
    row = session.exec(
        select(WorkerHeartbeat)
        .where(
            col(WorkerHeartbeat.beat_at) >= since,
            col(WorkerHeartbeat.slack_checked_at).is_not(None),
        )
        .order_by(col(WorkerHeartbeat.slack_checked_at).desc())
        .limit(1)
    ).first()
    return row.slack_rejected if row is not None else None
