"""The give/take ledger. Session first, keyword-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, select

from makersbot.store import people
from makersbot.store.models import (
    LedgerEntry,
)
from makersbot.store.rows import insert_ignore


@dataclass(frozen=True)
class NewEntry:
    """What a service knows about one act of giving or taking.

    `recorded_by` is who wrote it down (a Slack user id, or the tool: "github", "trello") and
    `verification` how it was checked (domain.projects.Verification): the digest's audit trail.
    """

    kind: str
    source: str
    dedupe_key: str
    occurred_at: datetime
    project_id: int | None = None
    person_id: int | None = None
    council_code: str | None = None
    github_login: str | None = None
    trello_username: str | None = None
    description: str = ""
    recorded_by: str = ""
    verification: str = ""


def add_ledger_entry(session: Session, *, entry: NewEntry) -> bool:
    """Write one ledger entry once; False when its dedupe key was already recorded."""
    values = {
        "kind": entry.kind,
        "source": entry.source,
        "dedupe_key": entry.dedupe_key,
        "occurred_at": entry.occurred_at,
        "project_id": entry.project_id,
        "person_id": entry.person_id,
        "council_code": entry.council_code,
        "github_login": entry.github_login,
        "trello_username": entry.trello_username,
        "description": entry.description[:500],
        "recorded_by": entry.recorded_by[:40],
        "verification": entry.verification[:20],
        # An unverified council's entry waits out of the league (store/people.py).
        "unverified": people.entry_unverified(
            session, person_id=entry.person_id, council_code=entry.council_code
        ),
    }
    return insert_ignore(session, LedgerEntry, values, conflict=["dedupe_key"])


def counted() -> ColumnElement[bool]:
    """The condition every count of the ledger adds: entries that were undone do not count."""
    return col(LedgerEntry.voided_at).is_(None)


def entry_by_key(session: Session, *, dedupe_key: str) -> LedgerEntry | None:
    return session.exec(select(LedgerEntry).where(LedgerEntry.dedupe_key == dedupe_key)).first()


def get_entry(session: Session, *, entry_id: int) -> LedgerEntry | None:
    return session.get(LedgerEntry, entry_id)


def latest_entry(session: Session, *, source: str, recorded_by: str) -> LedgerEntry | None:
    """The newest entry of `source` someone recorded that still counts."""
    return session.exec(
        select(LedgerEntry)
        .where(
            LedgerEntry.source == source,
            LedgerEntry.recorded_by == recorded_by,
            counted(),
        )
        .order_by(col(LedgerEntry.occurred_at).desc(), col(LedgerEntry.id).desc())
    ).first()


def recorded_since(
    session: Session, *, source: str, person_id: int, since: datetime
) -> list[datetime]:
    """When a person recorded entries of `source` since `since`, oldest first.

    Undone entries are included: undoing gives no slot back, so recording and undoing
    cannot flood a channel with announcements.
    """
    rows = session.exec(
        select(LedgerEntry.occurred_at)
        .where(
            LedgerEntry.source == source,
            LedgerEntry.person_id == person_id,
            col(LedgerEntry.occurred_at) > since,
        )
        .order_by(col(LedgerEntry.occurred_at))
    ).all()
    return list(rows)


def void_entry(session: Session, *, entry: LedgerEntry, by: str, at: datetime) -> None:
    """Undo an entry: it keeps its row for the audit trail and stops counting anywhere."""
    entry.voided_at = at
    entry.voided_by = by[:40]
    session.add(entry)
