"""What /healthz reports from the database. Session first, keyword-only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from makersbot.store.models import OutboxGate, SchedulerRun, SlackMessage


def last_scheduler_run(session: Session) -> datetime | None:
    """When any scheduled job last completed, or None before the first run (the row that
    records when the bot was installed is not a run)."""
    return session.exec(
        select(func.max(SchedulerRun.ran_at)).where(col(SchedulerRun.job) != "installed")
    ).one()


def oldest_due_message(session: Session, *, now: datetime) -> datetime | None:
    """When the longest-waiting message that is due now last changed; None when none is due.

    A message waiting out a `Retry-After` or a back-off is not due, so it does not count
    until its time comes; nor does one in a parked channel (/healthz reports those apart).
    """
    parked = select(OutboxGate.name).where(col(OutboxGate.parked_at).is_not(None))
    return session.exec(
        select(func.min(SlackMessage.updated_at)).where(
            col(SlackMessage.version) > col(SlackMessage.sent_version),
            col(SlackMessage.next_attempt_at) <= now,
            col(SlackMessage.channel).not_in(parked),
        )
    ).one()
