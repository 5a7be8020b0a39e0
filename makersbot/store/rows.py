"""Rows written once: an insert that a unique key decides, and Slack request keys seen."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel

from makersbot.store.models import (
    SeenRequest,
    utcnow,
)


def insert_ignore(
    session: Session, model: type[SQLModel], values: dict[str, Any], *, conflict: Sequence[str]
) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when the row is new.

    A unique constraint decides, so two processes racing for the same key agree on one winner.
    """
    dialect = session.get_bind().dialect.name
    table = model.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=list(conflict))
        # RETURNING, not rowcount: psycopg reports -1 rows for ON CONFLICT DO NOTHING.
        .returning(table.c[conflict[0]])
    )
    return session.execute(stmt).first() is not None


def claim_request(session: Session, *, key: str) -> bool:
    """Record a Slack request key (trigger_id, event_id); False when it was seen before."""
    return insert_ignore(session, SeenRequest, {"key": key, "seen_at": utcnow()}, conflict=["key"])
