"""Webhook deliveries: stored before they are acknowledged, claimed for processing. Session
first, keyword-only."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from makersbot.store.models import Delivery


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert_deliveries(
    connection: Connection, *, deliveries: Sequence[dict[str, Any]]
) -> set[tuple[str, str]]:
    """Insert many deliveries in one round trip, on the intake's Core connection (no ORM
    session); returns the (source, delivery id) of those that were new (a redelivery
    meets the unique key and is skipped).

    One statement with a parameter list rather than a statement with the rows in it: the
    SQL is then the same for any number of rows, built and compiled once, and the driver
    still sends the rows together (SQLAlchemy's "insertmanyvalues").
    """
    if not deliveries:
        return set()
    stmt = _insert_ignoring_duplicates(connection.dialect.name)
    inserted = connection.execute(stmt, list(deliveries))
    return {(str(source), str(delivery_id)) for source, delivery_id in inserted}


@functools.cache
def _insert_ignoring_duplicates(dialect: str) -> Any:
    table = Delivery.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(table)
        .on_conflict_do_nothing(index_elements=["source", "delivery_id"])
        .returning(table.c.source, table.c.delivery_id)
    )


def claim_deliveries(session: Session, *, now: datetime, until: datetime, batch: int) -> list[int]:
    """Claim up to `batch` unprocessed deliveries nobody holds, oldest first, until `until`.

    On PostgreSQL the rows are locked with SKIP LOCKED, so two processes never claim the same
    delivery.
    """
    stmt = (
        select(Delivery)
        .where(col(Delivery.processed_at).is_(None))
        .where((col(Delivery.claimed_until).is_(None)) | (col(Delivery.claimed_until) < now))
        .order_by(col(Delivery.id))
        .limit(batch)
    )
    if _postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    claimed = session.exec(stmt).all()
    for row in claimed:
        row.claimed_until = until
        session.add(row)
    return [row.id for row in claimed if row.id is not None]


def get_delivery(session: Session, *, delivery_id: int) -> Delivery | None:
    return session.get(Delivery, delivery_id)


def deliveries_by_id(session: Session, *, ids: Sequence[int]) -> list[Delivery]:
    """Deliveries by row id, in id order (the order they were stored)."""
    query = select(Delivery).where(col(Delivery.id).in_(list(ids))).order_by(col(Delivery.id))
    return list(session.exec(query).all())


def release_claims(session: Session) -> int:
    """Free the claim on every unprocessed delivery: for a single process starting up."""
    result = session.execute(
        update(Delivery).where(col(Delivery.processed_at).is_(None)).values(claimed_until=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
