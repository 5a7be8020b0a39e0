"""Stored webhook deliveries. Session first, keyword-only."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import Session, col

from makersbot.store.models import Delivery


def release_claims(session: Session) -> int:
    """Free the claim on every unprocessed delivery: for a single process starting up."""
    result = session.execute(
        update(Delivery).where(col(Delivery.processed_at).is_(None)).values(claimed_until=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
