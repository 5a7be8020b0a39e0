"""The give/take ledger. Session first, keyword-only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from makersbot.store import people
from makersbot.store.models import (
    LedgerEntry,
)
from makersbot.store.rows import insert_ignore


@dataclass(frozen=True)
class NewEntry:
    """What a service knows about one act of giving or taking."""

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
        # An unverified council's entry waits out of the league (store/people.py).
        "unverified": people.entry_unverified(
            session, person_id=entry.person_id, council_code=entry.council_code
        ),
    }
    return insert_ignore(session, LedgerEntry, values, conflict=["dedupe_key"])
