"""What /healthz reports from the database. Session first, keyword-only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from makersbot.store.models import SchedulerRun


def last_scheduler_run(session: Session) -> datetime | None:
    """When any scheduled job last completed, or None before the first run (the row that
    records when the bot was installed is not a run)."""
    return session.exec(
        select(func.max(SchedulerRun.ran_at)).where(col(SchedulerRun.job) != "installed")
    ).one()
