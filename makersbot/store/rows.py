"""Rows written once: an insert that a unique key decides, and Slack request keys seen."""

from __future__ import annotations

import functools
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
    The statement is built once per table and conflict key, the values passed when it runs:
    building it anew (`.values(**values)`) was a tenth of a worker's CPU per delivery
    (three of these for each).
    """
    stmt = _insert_ignoring(session.get_bind().dialect.name, model, tuple(conflict))
    return session.execute(stmt, values).first() is not None


def insert_ignoring_all(
    session: Session,
    model: type[SQLModel],
    values: Sequence[dict[str, Any]],
    *,
    conflict: Sequence[str],
) -> list[Any]:
    """`insert_ignore` for many rows with the same keys, in one round trip (SQLAlchemy's
    "insertmanyvalues"); the first conflict column of each row that was new."""
    if not values:
        return []
    stmt = _insert_ignoring(session.get_bind().dialect.name, model, tuple(conflict))
    return list(session.execute(stmt, list(values)).scalars())


@functools.cache
def _insert_ignoring(dialect: str, model: type[SQLModel], conflict: tuple[str, ...]) -> Any:
    table = model.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=list(conflict))
        # RETURNING, not rowcount: psycopg reports -1 rows for ON CONFLICT DO NOTHING.
        .returning(table.c[conflict[0]])
    )


def claim_request(session: Session, *, key: str) -> bool:
    """Record a Slack request key (trigger_id, event_id); False when it was seen before."""
    return insert_ignore(session, SeenRequest, {"key": key, "seen_at": utcnow()}, conflict=["key"])
