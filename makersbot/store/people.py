"""People and the councils they belong to. Session first, keyword-only."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, or_, update
from sqlmodel import Session, col, select

from makersbot import councils as register
from makersbot.store.models import (
    Council,
    LedgerEntry,
    Person,
    Project,
    utcnow,
)
from makersbot.store.rows import insert_ignore


def get_person(session: Session, *, slack_user_id: str) -> Person | None:
    return session.exec(select(Person).where(Person.slack_user_id == slack_user_id)).first()


def ensure_person(session: Session, *, slack_user_id: str, display_name: str = "") -> Person:
    """The person behind a Slack user, created on first contact."""
    insert_ignore(
        session,
        Person,
        {"slack_user_id": slack_user_id, "display_name": display_name, "created_at": utcnow()},
        conflict=["slack_user_id"],
    )
    person = get_person(session, slack_user_id=slack_user_id)
    assert person is not None
    if display_name and person.display_name != display_name:
        person.display_name = display_name
        session.add(person)
    return person


def person_by_login(
    session: Session, *, github: str | None = None, trello: str | None = None
) -> Person | None:
    if github is not None:
        return session.exec(
            select(Person).where(func.lower(Person.github_login) == github.lower())
        ).first()
    if trello is not None:
        return session.exec(
            select(Person).where(func.lower(Person.trello_username) == trello.lower())
        ).first()
    return None


def ensure_council(session: Session, *, council: register.Council) -> Council:
    """The council's row, copied from the register the first time it is used."""
    insert_ignore(
        session,
        Council,
        {
            "code": council.code,
            "name": council.name,
            "short_name": council.short_name,
            "nation": council.nation,
            "created_at": utcnow(),
        },
        conflict=["code"],
    )
    row = session.get(Council, council.code)
    assert row is not None
    return row


def councils_by_code(session: Session, *, codes: Iterable[str]) -> dict[str, Council]:
    wanted = set(codes)
    if not wanted:
        return {}
    rows = session.exec(select(Council).where(col(Council.code).in_(wanted))).all()
    return {row.code: row for row in rows}


def attribute_past_entries(session: Session, *, person: Person) -> int:
    """Give a person's unattributed ledger entries to their council; returns how many."""
    if person.council_code is None:
        return 0
    who: list[Any] = [col(LedgerEntry.person_id) == person.id]
    if person.github_login:
        who.append(func.lower(LedgerEntry.github_login) == person.github_login.lower())
    if person.trello_username:
        who.append(func.lower(LedgerEntry.trello_username) == person.trello_username.lower())
    result = session.execute(
        update(LedgerEntry)
        .where(col(LedgerEntry.council_code).is_(None), or_(*who))
        .values(council_code=person.council_code, person_id=person.id)
    )
    session.execute(
        update(Project)
        .where(col(Project.created_by_id) == person.id, col(Project.lead_council_code).is_(None))
        .values(lead_council_code=person.council_code, revision=col(Project.revision) + 1)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def proven_login(session: Session, *, slack_user_id: str, source: str) -> str | None:
    """The GitHub login or Trello username this person has proven they own, if any."""
    person = get_person(session, slack_user_id=slack_user_id)
    if person is None:
        return None
    if source == "github":
        return person.github_login if person.github_verified_at is not None else None
    return person.trello_username if person.trello_verified_at is not None else None
