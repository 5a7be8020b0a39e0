"""Store functions: the only code that queries the database. Session first, keyword-only."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel, col, select

from makersbot import councils as register
from makersbot.domain.projects import Role
from makersbot.store.models import (
    Council,
    LedgerEntry,
    Membership,
    MirroredItem,
    Person,
    Project,
    ProjectUpdate,
    SeenRequest,
    utcnow,
)

_CHANNEL_MENTION = re.compile(r"^<#(?P<id>[CG][A-Z0-9]+)(?:\|(?P<name>[^>]*))?>$")


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


# People and councils ---------------------------------------------------------------------


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


# Projects --------------------------------------------------------------------------------


def project_by_slug(session: Session, *, slug: str) -> Project | None:
    return session.exec(select(Project).where(Project.slug == slug)).first()


def find_project(session: Session, *, ref: str) -> Project | None:
    """A project by slug, name (any case), channel id, `#makers-slug` or channel mention."""
    ref = ref.strip()
    mention = _CHANNEL_MENTION.match(ref)
    if mention:
        found = session.exec(select(Project).where(Project.channel_id == mention["id"])).first()
        if found or not mention["name"]:
            return found
        ref = mention["name"]
    if re.fullmatch(r"[CG][A-Z0-9]{6,}", ref):
        found = session.exec(select(Project).where(Project.channel_id == ref)).first()
        if found:
            return found
    lowered = ref.lower().lstrip("#")
    candidates = [lowered]
    if lowered.startswith("makers-"):
        candidates.append(lowered.removeprefix("makers-"))
    for candidate in candidates:
        found = session.exec(
            select(Project).where(
                or_(
                    col(Project.slug) == candidate,
                    func.lower(Project.name) == candidate,
                    col(Project.channel_name) == candidate,
                )
            )
        ).first()
        if found:
            return found
    return None


def project_in_channel(session: Session, *, channel_id: str) -> Project | None:
    return session.exec(select(Project).where(Project.channel_id == channel_id)).first()


def search_projects(
    session: Session, *, words: Sequence[str], limit: int
) -> tuple[list[Project], int]:
    """Projects whose name, slug, description or councils contain every word; newest first."""
    stmt = select(Project)
    count_stmt = select(func.count()).select_from(Project)
    for word in words:
        pattern = f"%{word.lower()}%"
        council_hit = (
            select(Membership.project_id)
            .join(Person, col(Person.id) == Membership.person_id)
            .join(Council, col(Council.code) == Person.council_code)
            .where(
                or_(
                    func.lower(Council.name).like(pattern), func.lower(Council.code) == word.lower()
                )
            )
        )
        condition = or_(
            func.lower(Project.name).like(pattern),
            func.lower(Project.slug).like(pattern),
            func.lower(Project.description).like(pattern),
            col(Project.id).in_(council_hit),
        )
        stmt = stmt.where(condition)
        count_stmt = count_stmt.where(condition)
    total = session.exec(count_stmt).one()
    rows = session.exec(
        stmt.order_by(col(Project.updated_at).desc(), col(Project.id).desc()).limit(limit)
    ).all()
    return list(rows), int(total)


def projects_of(session: Session, *, person_id: int) -> list[Project]:
    """Projects a person is a member of, most recently active first."""
    return list(
        session.exec(
            select(Project)
            .join(Membership, col(Membership.project_id) == Project.id)
            .where(Membership.person_id == person_id)
            .order_by(col(Project.updated_at).desc())
        ).all()
    )


def member_councils(
    session: Session, *, project_ids: Sequence[int]
) -> list[tuple[int, str, str | None]]:
    """(project id, role, council code) of every membership: only what cards show, no objects."""
    if not project_ids:
        return []
    rows = session.exec(
        select(Membership.project_id, Membership.role, Person.council_code)
        .join(Person, col(Person.id) == Membership.person_id)
        .where(col(Membership.project_id).in_(project_ids))
        .order_by(col(Membership.joined_at), col(Membership.id))
    ).all()
    return [(int(p), str(r), c) for p, r, c in rows]


def membership(session: Session, *, project_id: int, person_id: int) -> Membership | None:
    return session.exec(
        select(Membership).where(
            Membership.project_id == project_id, Membership.person_id == person_id
        )
    ).first()


def add_membership(session: Session, *, project_id: int, person_id: int, role: Role) -> bool:
    """Add a member; False when they already were one."""
    return insert_ignore(
        session,
        Membership,
        {
            "project_id": project_id,
            "person_id": person_id,
            "role": role.value,
            "joined_at": utcnow(),
        },
        conflict=["project_id", "person_id"],
    )


def remove_membership(session: Session, *, project_id: int, person_id: int) -> bool:
    result = session.execute(
        delete(Membership).where(
            col(Membership.project_id) == project_id, col(Membership.person_id) == person_id
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def touch_project(session: Session, *, project: Project, at: datetime | None = None) -> None:
    """Mark a project changed: its activity time, and the revision cached cards compare."""
    project.updated_at = at or utcnow()
    project.revision = (project.revision or 0) + 1
    session.add(project)


def catalogue_version(session: Session) -> tuple[int, int, int]:
    """Changes whenever any project card could look different (count, revisions, newest)."""
    row = session.exec(
        select(func.count(), func.coalesce(func.sum(Project.revision), 0), func.max(Project.id))
    ).one()
    return int(row[0]), int(row[1]), int(row[2] or 0)


def record_update(
    session: Session,
    *,
    project_id: int,
    kind: str,
    value: str,
    person_id: int | None,
    at: datetime,
) -> None:
    session.add(
        ProjectUpdate(project_id=project_id, kind=kind, value=value, person_id=person_id, at=at)
    )


# Mirror ----------------------------------------------------------------------------------


def mirrored_item(session: Session, *, link_id: int, item_key: str) -> MirroredItem | None:
    """One item of one link, by its key (`github:owner/repo#42`, `trello:<card id>`)."""
    return session.exec(
        select(MirroredItem).where(
            MirroredItem.link_id == link_id, MirroredItem.item_key == item_key
        )
    ).first()


# Ledger ----------------------------------------------------------------------------------


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
    }
    return insert_ignore(session, LedgerEntry, values, conflict=["dedupe_key"])


def ledger_entries(session: Session, *, project_id: int | None = None) -> list[LedgerEntry]:
    stmt = select(LedgerEntry).order_by(col(LedgerEntry.occurred_at), col(LedgerEntry.id))
    if project_id is not None:
        stmt = stmt.where(LedgerEntry.project_id == project_id)
    return list(session.exec(stmt).all())
