"""People and the councils they belong to. Session first, keyword-only."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
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
    """The person credited with a GitHub login or Trello username: one who proved it, or
    whom an admin confirmed. A typed claim credits nobody."""
    tool, login = ("github", github) if github is not None else ("trello", trello)
    if login is None:
        return None
    holder = login_holder(session, tool=tool, login=login)
    return holder if holder is not None and login_verified(holder, tool) else None


def login_holder(session: Session, *, tool: str, login: str) -> Person | None:
    """Whoever holds a login, proven or only claimed (logins are unique, in any case)."""
    column = Person.github_login if tool == "github" else Person.trello_username
    return session.exec(select(Person).where(func.lower(column) == login.lower())).first()


def login_of(person: Person, tool: str) -> str | None:
    return person.github_login if tool == "github" else person.trello_username


def login_verified(person: Person, tool: str) -> bool:
    """True when the person's login for `tool` was proven or confirmed by an admin."""
    at = person.github_verified_at if tool == "github" else person.trello_verified_at
    return login_of(person, tool) is not None and at is not None


def set_login(
    session: Session,
    *,
    person: Person,
    tool: str,
    login: str | None,
    verified_at: datetime | None = None,
    verified_by: str | None = None,
) -> None:
    """Set (or clear, with None) a person's login and how it was verified (None: a claim)."""
    if tool == "github":
        person.github_login, person.github_verified_at = login, verified_at
        person.github_verified_by = verified_by
    else:
        person.trello_username, person.trello_verified_at = login, verified_at
        person.trello_verified_by = verified_by
    session.add(person)
    session.flush()  # logins are unique: the next holder's write must see this one


def person_named(session: Session, *, name: str) -> Person | None:
    """The one person whose Slack display name is `name` (any case), else None."""
    rows = session.exec(
        select(Person).where(func.lower(Person.display_name) == name.lower()).limit(2)
    ).all()
    return rows[0] if len(rows) == 1 else None


def set_council(
    session: Session,
    *,
    person: Person,
    code: str | None,
    verified_at: datetime | None = None,
    verified_by: str | None = None,
) -> None:
    """Set a person's council: verified when `verified_at` is given, else a claim."""
    person.council_code = code
    person.council_verified_at = verified_at if code is not None else None
    person.council_verified_by = verified_by if code is not None else None
    session.add(person)
    session.flush()


def claimants(session: Session, *, council_code: str) -> list[Person]:
    """People who say they are with a council that nobody has verified for them."""
    return list(
        session.exec(
            select(Person)
            .where(
                Person.council_code == council_code,
                col(Person.council_verified_at).is_(None),
            )
            .order_by(col(Person.id))
        ).all()
    )


def unverified_people(session: Session) -> list[Person]:
    """Everyone whose council is not verified (with or without a claim), oldest first."""
    return list(
        session.exec(
            select(Person).where(col(Person.council_verified_at).is_(None)).order_by(col(Person.id))
        ).all()
    )


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


def council_verified(person: Person) -> bool:
    """True when the person's council was verified (e-mail, a vouch or an admin)."""
    return person.council_code is not None and person.council_verified_at is not None


def entry_unverified(session: Session, *, person_id: int | None, council_code: str | None) -> bool:
    """Whether a new ledger entry must wait out of the league: its council is its person's
    unverified claim. Entries of no council, or of no person, are not marked."""
    if person_id is None or council_code is None:
        return False
    person = session.get(Person, person_id)
    return person is not None and not (
        council_verified(person) and person.council_code == council_code
    )


@dataclass(frozen=True)
class Settled:
    """What settling a person's entries did: entries newly given to their council, and how
    many of the person's entries joined the league (their council was verified)."""

    attributed: int
    counted: int


def attribute_past_entries(session: Session, *, person: Person) -> Settled:
    """Bring a person's ledger entries in line with their council.

    Entries of nobody's council that are theirs (by person, or by a login they proved) go to
    their council; entries that waited for an unverified claim follow the claim, and join the
    league when the council is verified. Their projects without a lead council get theirs.
    """
    if person.council_code is None or person.id is None:
        return Settled(0, 0)
    waits = not council_verified(person)
    who: list[Any] = [col(LedgerEntry.person_id) == person.id]
    for tool, column in (
        ("github", LedgerEntry.github_login),
        ("trello", LedgerEntry.trello_username),
    ):
        login = login_of(person, tool)
        if login and login_verified(person, tool):
            who.append(func.lower(column) == login.lower())
    attributed = _rowcount(
        session.execute(
            update(LedgerEntry)
            .where(col(LedgerEntry.council_code).is_(None), or_(*who))
            .values(council_code=person.council_code, person_id=person.id, unverified=waits)
        )
    )
    followed = _rowcount(
        session.execute(
            update(LedgerEntry)
            .where(col(LedgerEntry.person_id) == person.id, col(LedgerEntry.unverified))
            .values(council_code=person.council_code, unverified=waits)
        )
    )
    session.execute(
        update(Project)
        .where(col(Project.created_by_id) == person.id, col(Project.lead_council_code).is_(None))
        .values(lead_council_code=person.council_code, revision=col(Project.revision) + 1)
    )
    return Settled(attributed, 0 if waits else attributed + followed)


def move_login_entries(session: Session, *, person: Person, tool: str, login: str) -> int:
    """Credit everything the tool recorded under `login` to `person` (and their council),
    whoever it was credited to before: the login is theirs."""
    column = LedgerEntry.github_login if tool == "github" else LedgerEntry.trello_username
    return _rowcount(
        session.execute(
            update(LedgerEntry)
            .where(func.lower(column) == login.lower())
            .values(
                person_id=person.id,
                council_code=person.council_code,
                unverified=person.council_code is not None and not council_verified(person),
            )
        )
    )


def uncredit_login_entries(session: Session, *, person: Person, tool: str, login: str) -> int:
    """Take back from `person` what the tool recorded under a login that is not theirs: the
    entries wait, unattributed, for whoever proves it."""
    column = LedgerEntry.github_login if tool == "github" else LedgerEntry.trello_username
    return _rowcount(
        session.execute(
            update(LedgerEntry)
            .where(func.lower(column) == login.lower(), col(LedgerEntry.person_id) == person.id)
            .values(person_id=None, council_code=None, unverified=False)
        )
    )


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


def proven_login(session: Session, *, slack_user_id: str, source: str) -> str | None:
    """The GitHub login or Trello username this person has proven they own, if any."""
    person = get_person(session, slack_user_id=slack_user_id)
    if person is None:
        return None
    if source == "github":
        return person.github_login if person.github_verified_at is not None else None
    return person.trello_username if person.trello_verified_at is not None else None
