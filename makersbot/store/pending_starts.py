"""Starts held back because they look like an existing project (issue 10, item 4). Session
first, keyword-only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from makersbot.store.models import PendingStart


def keep_pending_start(
    session: Session, *, token: str, slack_user_id: str, name: str, description: str, at: datetime
) -> None:
    """Keep a start that waits for its starter's *Start mine anyway*."""
    session.add(
        PendingStart(
            token=token,
            slack_user_id=slack_user_id,
            name=name[:200],
            description=description,
            created_at=at,
        )
    )


def claim_pending_start(
    session: Session, *, token: str, slack_user_id: str, since: datetime, at: datetime
) -> PendingStart | None:
    """Use a held-back start once: only its starter, only if it is newer than `since` and
    unused. One UPDATE decides, so two clicks (or two processes) cannot both start it."""
    result = session.execute(
        update(PendingStart)
        .where(
            col(PendingStart.token) == token,
            col(PendingStart.slack_user_id) == slack_user_id,
            col(PendingStart.used_at).is_(None),
            col(PendingStart.created_at) >= since,
        )
        .values(used_at=at)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    return session.exec(select(PendingStart).where(PendingStart.token == token)).first()


def release_pending_start(session: Session, *, token: str) -> None:
    """Make a held-back start usable again (the start it led to was refused)."""
    session.execute(
        update(PendingStart).where(col(PendingStart.token) == token).values(used_at=None)
    )


def prune_pending_starts(session: Session, *, before: datetime) -> int:
    """Forget held-back starts made before `before`; how many."""
    result = session.execute(delete(PendingStart).where(col(PendingStart.created_at) < before))
    return int(result.rowcount)  # type: ignore[attr-defined]
