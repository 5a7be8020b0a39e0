"""Mirrored items, their events, and the thread replies waiting to be sent. Session first,
keyword-only."""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from makersbot.store import rows
from makersbot.store.models import Link, MirroredItem, MirrorEvent, SlackMessage, StaleSummary

# Keys per IN (...) list: well under SQLite's limit on bound parameters.
_CHUNK = 500


def mirrored_item(session: Session, *, link_id: int, item_key: str) -> MirroredItem | None:
    """One item of one link, by its key (`github:owner/repo#42`, `trello:<card id>`)."""
    return session.exec(
        select(MirroredItem).where(
            MirroredItem.link_id == link_id, MirroredItem.item_key == item_key
        )
    ).first()


def locked_item(session: Session, *, link_id: int, item_key: str) -> MirroredItem | None:
    """One item, locked until the transaction ends, and read afresh.

    Two workers changing the same item wait for each other here (`SELECT … FOR UPDATE` on
    PostgreSQL; on SQLite the transaction already holds the database's write lock), so
    neither merges into a state the other is about to replace.
    """
    return session.exec(
        select(MirroredItem)
        .where(MirroredItem.link_id == link_id, MirroredItem.item_key == item_key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def locked_items(session: Session, *, link_id: int, item_keys: Sequence[str]) -> list[MirroredItem]:
    """The items of one link with these keys that exist, locked in key order and read
    afresh: one query instead of one `locked_item` each. Every worker locks a batch's items
    in this order, so two of them never wait on each other in a circle."""
    found: list[MirroredItem] = []
    keys = sorted(set(item_keys))
    for start in range(0, len(keys), _CHUNK):
        params = {"link_id": link_id, "keys": keys[start : start + _CHUNK]}
        found += session.exec(_locked_items_query(), params=params).all()
    return found


@functools.cache
def _locked_items_query() -> SelectOfScalar[MirroredItem]:
    # Built once, run for every batch (see store/outbox.py's _NOW).
    return (
        select(MirroredItem)
        .where(
            MirroredItem.link_id == bindparam("link_id"),
            col(MirroredItem.item_key).in_(bindparam("keys", expanding=True)),
        )
        .order_by(col(MirroredItem.item_key))
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def add_item(session: Session, *, item: MirroredItem) -> None:
    """Insert a new item unless another transaction has just inserted the same one."""
    values = item.model_dump(exclude={"id"})
    rows.insert_ignore(session, MirroredItem, values, conflict=["link_id", "item_key"])


def locked_link_items(session: Session, *, link_id: int) -> list[MirroredItem]:
    """Every item of a link, locked in id order (so two lockers never deadlock)."""
    return list(
        session.exec(
            select(MirroredItem)
            .where(MirroredItem.link_id == link_id)
            .order_by(col(MirroredItem.id))
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
    )


def locked_link(session: Session, *, link_id: int) -> Link | None:
    """A link, locked until the transaction ends: one board summary is built at a time, so
    the last one written was built from every change committed before it."""
    return session.exec(
        select(Link)
        .where(Link.id == link_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def mark_summaries_stale(session: Session, *, link_ids: Collection[int], now: datetime) -> None:
    """Note, at the end of the transaction that changed their items, that these links' board
    summaries must be rebuilt. A mark already there is updated, not skipped: its row then
    stays locked until this transaction commits, so a flush that takes the mark waits for
    these changes to be visible to it."""
    if not link_ids:
        return
    values = [{"link_id": link_id, "marked_at": now} for link_id in sorted(link_ids)]
    session.execute(_mark_stale(session.get_bind().dialect.name), values)


_STALE = StaleSummary.__table__  # type: ignore[attr-defined]  # Core: no ORM bookkeeping


@functools.cache
def _mark_stale(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(_STALE)
    return stmt.on_conflict_do_update(
        index_elements=["link_id"], set_={"marked_at": stmt.excluded.marked_at}
    )


def next_stale_summary(session: Session, *, skip: Collection[int] = ()) -> int | None:
    """The first link whose summary is marked stale, apart from `skip`; nothing locked."""
    first = select(_STALE.c.link_id).order_by(_STALE.c.link_id).limit(1)
    if skip:
        first = first.where(_STALE.c.link_id.not_in(sorted(skip)))
    found = session.execute(first).scalar_one_or_none()
    return int(found) if found is not None else None


def take_stale_summary(session: Session, *, link_id: int) -> None:
    """Delete a link's mark in this transaction (it is back if the transaction fails).
    Waits for a batch that holds the mark, so the summary built after it sees its changes."""
    session.execute(delete(_STALE).where(_STALE.c.link_id == link_id))


def published_keys(session: Session, *, keys: Sequence[str]) -> set[str]:
    """Which of these outbox keys have a message (posted, or waiting to be posted)."""
    found: set[str] = set()
    for start in range(0, len(keys), _CHUNK):
        chunk = list(keys[start : start + _CHUNK])
        found.update(
            session.exec(select(SlackMessage.key).where(col(SlackMessage.key).in_(chunk))).all()
        )
    return found


def state_counts(session: Session, *, link_id: int) -> list[tuple[str, bool, int]]:
    """(state, closed, how many) of a link's items that are not deleted, by state: a
    board summary counts them without loading every item."""
    query = (
        select(MirroredItem.state, MirroredItem.closed, func.count())
        .where(MirroredItem.link_id == link_id, col(MirroredItem.deleted).is_(False))
        .group_by(col(MirroredItem.state), col(MirroredItem.closed))
        .order_by(col(MirroredItem.state), col(MirroredItem.closed))
    )
    return [(state, bool(closed), int(n)) for state, closed, n in session.exec(query)]


def recent_items(session: Session, *, link_id: int, limit: int) -> list[MirroredItem]:
    """A link's `limit` items changed last (deleted ones left out), newest first."""
    query = (
        select(MirroredItem)
        .where(
            MirroredItem.link_id == link_id,
            col(MirroredItem.deleted).is_(False),
            col(MirroredItem.last_change_at).is_not(None),
        )
        .order_by(col(MirroredItem.last_change_at).desc(), col(MirroredItem.item_key).desc())
        .limit(limit)
    )
    return list(session.exec(query).all())


def record_events(session: Session, *, events: Sequence[dict[str, Any]]) -> set[str]:
    """Keep applied changes for the digests, in one statement; returns the dedupe keys that
    were new. A key seen before (the same change by webhook and by poll, or a redelivery),
    or given twice, is kept once. Every event has the same keys."""
    if not events:
        return set()
    new: set[str] = set()
    for start in range(0, len(events), _CHUNK):
        new.update(
            rows.insert_ignoring_all(
                session, MirrorEvent, events[start : start + _CHUNK], conflict=["dedupe_key"]
            )
        )
    return new


def unsent_reply(session: Session, *, thread_key: str) -> SlackMessage | None:
    """The newest reply in an item's thread that the sender has not claimed or sent yet."""
    return session.exec(
        select(SlackMessage)
        .where(
            SlackMessage.thread_key == thread_key,
            col(SlackMessage.ts).is_(None),
            col(SlackMessage.claimed_until).is_(None),
        )
        .order_by(col(SlackMessage.id).desc())
    ).first()
