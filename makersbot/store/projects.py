"""Projects, their members and their updates. Session first, keyword-only."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, delete, func, or_
from sqlmodel import Session, col, select

from makersbot.domain.projects import Role
from makersbot.store.models import (
    Council,
    Membership,
    Person,
    Project,
    ProjectUpdate,
    utcnow,
)
from makersbot.store.rows import insert_ignore

_CHANNEL_MENTION = re.compile(r"^<#(?P<id>[CG][A-Z0-9]+)(?:\|(?P<name>[^>]*))?>$")


def get_project(session: Session, *, project_id: int) -> Project:
    """The project with this id; it must exist."""
    project = session.get(Project, project_id)
    assert project is not None
    return project


def add_project(
    session: Session,
    *,
    slug: str,
    name: str,
    description: str,
    lead_council_code: str | None,
    created_by_id: int | None,
    at: datetime,
) -> Project:
    """A new project in its first phase, flushed so that it has an id."""
    project = Project(
        slug=slug,
        name=name,
        description=description,
        lead_council_code=lead_council_code,
        created_by_id=created_by_id,
        created_at=at,
        updated_at=at,
        phase_changed_at=at,
    )
    session.add(project)
    session.flush()
    return project


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


def _load(session: Session, ids: Sequence[int]) -> list[Project]:
    """Projects by id, in the order of `ids`."""
    rows = {p.id: p for p in session.exec(select(Project).where(col(Project.id).in_(ids))).all()}
    return [rows[i] for i in ids if i in rows]


def project_texts(session: Session) -> list[tuple[int, str, str, datetime]]:
    """(id, name, description, created at) of every project: what look-alikes compare."""
    rows = session.execute(
        select(
            col(Project.id), col(Project.name), col(Project.description), col(Project.created_at)
        ).order_by(col(Project.id))
    ).all()
    return [(int(i), str(n), str(d or ""), at) for i, n, d, at in rows]


def texts_version(session: Session) -> tuple[int, int, int]:
    """Changes whenever a project is added, removed, renamed or redescribed: what a cached
    look-alike index compares."""
    row = session.execute(
        select(
            func.count(),
            func.coalesce(func.max(Project.id), 0),
            func.coalesce(
                func.sum(func.length(Project.name) + func.length(Project.description)), 0
            ),
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


def projects_by_id(session: Session, *, ids: Sequence[int]) -> list[Project]:
    """Projects by id, in the order of `ids` (missing ones left out)."""
    return _load(session, ids) if ids else []


def project_in_channel(session: Session, *, channel_id: str) -> Project | None:
    return session.exec(select(Project).where(Project.channel_id == channel_id)).first()


def search_projects(
    session: Session, *, words: Sequence[str], limit: int
) -> tuple[list[Project], int]:
    """Projects whose name, slug, description, lead council or members' councils contain
    every word; newest first."""
    stmt = select(Project)
    count_stmt = select(func.count()).select_from(Project)
    for word in words:
        pattern = f"%{word.lower()}%"
        council_named = or_(
            func.lower(Council.name).like(pattern), func.lower(Council.code) == word.lower()
        )
        council_hit = (
            select(Membership.project_id)
            .join(Person, col(Person.id) == Membership.person_id)
            .join(Council, col(Council.code) == Person.council_code)
            .where(council_named)
        )
        # The lead council counts even when nobody from it is a member any more.
        lead_hit = select(Council.code).where(council_named)
        condition = or_(
            func.lower(Project.name).like(pattern),
            func.lower(Project.slug).like(pattern),
            func.lower(Project.description).like(pattern),
            col(Project.id).in_(council_hit),
            col(Project.lead_council_code).in_(lead_hit),
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


_CATALOGUE_VERSION = select(
    func.count(), func.coalesce(func.sum(Project.revision), 0), func.max(Project.id)
)


def catalogue_version(connection: Connection) -> tuple[int, int, int]:
    """Changes whenever any project card could look different (count, revisions, newest).

    Read on a Core connection (`Database.single_read`): it is one statement, run often.
    """
    row = connection.execute(_CATALOGUE_VERSION).one()
    return int(row[0]), int(row[1]), int(row[2] or 0)


def revisions(session: Session) -> list[tuple[int, str, int]]:
    """(id, slug, revision) of every project: what cached cards are checked against."""
    rows = session.exec(select(Project.id, Project.slug, Project.revision)).all()
    return [(int(i or 0), slug, int(rev or 0)) for i, slug, rev in rows]


def makers_by_project(session: Session, *, project_ids: Sequence[int]) -> dict[int, set[str]]:
    """Slack user ids of each project's members other than adopters."""
    rows = session.exec(
        select(Membership.project_id, Person.slack_user_id)
        .join(Person, col(Person.id) == Membership.person_id)
        .where(col(Membership.project_id).in_(project_ids), Membership.role != Role.ADOPTER.value)
    ).all()
    makers: dict[int, set[str]] = {}
    for project_id, slack_user_id in rows:
        makers.setdefault(project_id, set()).add(slack_user_id)
    return makers


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


def leads(session: Session, *, project_id: int) -> list[str]:
    """Slack user ids of a project's leads, longest-serving first."""
    rows = session.exec(
        select(Person.slack_user_id)
        .join(Membership, col(Membership.person_id) == Person.id)
        .where(Membership.project_id == project_id, Membership.role == Role.LEAD.value)
        .order_by(col(Membership.joined_at), col(Membership.id))
    ).all()
    return list(rows)


def members(session: Session, *, project_id: int) -> list[tuple[Membership, Person]]:
    """Every membership of a project with its person, earliest first."""
    rows = session.exec(
        select(Membership, Person)
        .join(Person, col(Person.id) == Membership.person_id)
        .where(Membership.project_id == project_id)
        .order_by(col(Membership.joined_at), col(Membership.id))
    ).all()
    return [(m, p) for m, p in rows]


def started_since(session: Session, *, person_id: int, since: datetime) -> list[datetime]:
    """When a person started projects since `since`, oldest first."""
    rows = session.exec(
        select(Project.created_at)
        .where(Project.created_by_id == person_id, col(Project.created_at) > since)
        .order_by(col(Project.created_at))
    ).all()
    return list(rows)


def project_channels(session: Session) -> tuple[frozenset[str], frozenset[str]]:
    """The ids and names of every channel a project already has: never another's to take."""
    rows = session.exec(
        select(Project.channel_id, Project.channel_name).where(col(Project.channel_id).is_not(None))
    ).all()
    ids = frozenset(str(i) for i, _ in rows if i)
    names = frozenset(str(n) for _, n in rows if n)
    return ids, names
