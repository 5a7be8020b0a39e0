"""Every query of the public catalogue. Session first, keyword-only.

The queries select councils, projects, counts and times, never a person's name, login or
address: the pages and feeds built on them are public. Private projects are filtered here
(`visibility = 'private'`), so no caller can forget to.

Costs, on 5,000 projects and 1,000,000 ledger entries (bench/catalogue.py): a project's
latest entry is one step down the `(project_id, occurred_at)` index. The counts over the
ledger live in `store/catalogue_counts.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from makersbot.domain.catalogue import PRIVATE, PUBLIC, VISIBILITIES
from makersbot.domain.projects import Role
from makersbot.store.models import (
    Council,
    LedgerEntry,
    Link,
    Membership,
    MirrorEvent,
    Person,
    Project,
    ProjectUpdate,
)

_CHUNK = 900  # ids per IN (...): well under every database's parameter limit


def columns(*items: Any) -> Select[Any]:
    """A SELECT of several columns (sqlmodel's typed `select` takes at most four)."""
    return sa_select(*items)


def chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    batch: list[int] = []
    for i in ids:
        batch.append(i)
        if len(batch) == _CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def public_only() -> Any:
    # Fails closed: only a project marked public is shown, whatever else the column holds.
    return col(Project.visibility) == PUBLIC


# Activity ------------------------------------------------------------------------------


def last_activity(
    session: Session, *, project_ids: Sequence[int] | None = None
) -> dict[int, datetime]:
    """When each project last showed a sign of life, public or private alike.

    The latest of: a change to the project itself (join, phase, status, adopt: `updated_at`),
    a ledger entry for it (a merged PR, a review, a gift), or a mirrored GitHub/Trello event.
    All projects when `project_ids` is None. Shared with the forgotten-project reminders.
    """
    stmt = columns(col(Project.id), _latest(session))
    batches: list[list[int] | None] = [None] if project_ids is None else list(chunks(project_ids))
    found: dict[int, datetime] = {}
    for batch in batches:
        query = stmt if batch is None else stmt.where(col(Project.id).in_(batch))
        found.update((int(pid), at) for pid, at in session.execute(query).all())
    return found


def _public_ids(words: Sequence[str], phase: str | None, council_code: str | None) -> Select[Any]:
    """SELECT project.id of public projects in a phase, involving a council, with every word."""
    stmt: Select[Any] = columns(col(Project.id)).where(public_only())
    if phase:
        stmt = stmt.where(col(Project.phase) == phase)
    if council_code:
        stmt = stmt.where(
            or_(
                col(Project.lead_council_code) == council_code,
                col(Project.id).in_(
                    select(Membership.project_id)
                    .join(Person, col(Person.id) == Membership.person_id)
                    .where(col(Person.council_code) == council_code)
                ),
            )
        )
    for word in words:
        lowered = word.lower()
        councils = select(Council.code).where(
            or_(
                func.lower(Council.name).contains(lowered, autoescape=True),
                func.lower(Council.code) == lowered,
            )
        )
        involved = (
            select(Membership.project_id)
            .join(Person, col(Person.id) == Membership.person_id)
            .where(col(Person.council_code).in_(councils))
        )
        stmt = stmt.where(
            or_(
                func.lower(Project.name).contains(lowered, autoescape=True),
                func.lower(Project.slug).contains(lowered, autoescape=True),
                func.lower(Project.description).contains(lowered, autoescape=True),
                col(Project.lead_council_code).in_(councils),
                col(Project.id).in_(involved),
            )
        )
    return stmt


def public_project_ids(
    session: Session,
    *,
    words: Sequence[str] = (),
    phase: str | None = None,
    council_code: str | None = None,
) -> list[int]:
    """Ids of public projects in a phase, involving a council, matching every word.

    A word matches the name, slug or description, or the name or code of a council that
    leads, makes or reuses the project.
    """
    stmt = _public_ids(words, phase, council_code)
    return [int(i) for (i,) in session.execute(stmt).all() if i is not None]


def _latest(session: Session) -> Any:
    """A project's last activity as one SQL expression (see `last_activity`)."""
    entry = (
        select(func.max(LedgerEntry.occurred_at))
        .where(col(LedgerEntry.project_id) == Project.id)
        .scalar_subquery()
    )
    event = (
        select(func.max(MirrorEvent.occurred_at))
        .where(col(MirrorEvent.project_id) == Project.id)
        .scalar_subquery()
    )
    updated = col(Project.updated_at)
    # PostgreSQL's GREATEST; SQLite's max() with several arguments is the same function.
    latest = func.greatest if session.get_bind().dialect.name == "postgresql" else func.max
    return latest(updated, func.coalesce(entry, updated), func.coalesce(event, updated))


def public_page_by_activity(
    session: Session,
    *,
    words: Sequence[str] = (),
    phase: str | None = None,
    council_code: str | None = None,
    offset: int = 0,
    limit: int = 20,
) -> tuple[list[tuple[int, datetime]], int]:
    """One page of the matching public projects, most recently active first, as
    (id, last activity); and how many match in all. The database sorts: only the page's
    rows come back."""
    matching = _public_ids(words, phase, council_code).subquery("matching")
    total = session.execute(columns(func.count()).select_from(matching)).scalar_one()
    latest = _latest(session).label("latest")
    rows = session.execute(
        columns(col(Project.id), latest)
        .where(col(Project.id).in_(select(matching.c.id)))
        .order_by(latest.desc(), col(Project.id).desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return [(int(pid), at) for pid, at in rows], int(total)


def public_project_by_slug(session: Session, *, slug: str) -> Project | None:
    """A public project by its slug; None for a private or unknown one."""
    return session.exec(select(Project).where(col(Project.slug) == slug, public_only())).first()


def public_projects(session: Session, *, ids: Sequence[int]) -> list[Project]:
    """Public projects by id, in no particular order."""
    found: list[Project] = []
    for batch in chunks(ids):
        found.extend(session.exec(select(Project).where(col(Project.id).in_(batch), public_only())))
    return found


def public_projects_by_slug(
    session: Session, *, offset: int, limit: int
) -> tuple[list[Project], int]:
    """One page of public projects in slug order, and how many there are in all."""
    total = session.exec(select(func.count()).select_from(Project).where(public_only())).one()
    page = session.exec(
        select(Project).where(public_only()).order_by(col(Project.slug)).offset(offset).limit(limit)
    ).all()
    return list(page), int(total)


def private_project_ids(session: Session) -> list[int]:
    return [
        int(i)
        for i in session.exec(select(Project.id).where(col(Project.visibility) == PRIVATE))
        if i is not None
    ]


def set_visibility(session: Session, *, project: Project, visibility: str) -> bool:
    """Make a project public or private; False when it already was. Bumps its revision so
    cached cards and catalogue pages see the change at once."""
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {VISIBILITIES}, not {visibility!r}")
    if (project.visibility or PUBLIC) == visibility:
        return False
    project.visibility = visibility
    project.revision = (project.revision or 0) + 1
    session.add(project)
    return True


def catalogue_stamp(session: Session) -> tuple[int, ...]:
    """Changes whenever a public page could look different: projects (count, revisions,
    newest), the newest ledger entry and the newest mirrored event. Each part is one index
    step or one pass over the project table."""
    projects = session.execute(
        columns(func.count(), func.coalesce(func.sum(Project.revision), 0), func.max(Project.id))
    ).one()
    entry = session.exec(select(func.max(LedgerEntry.id))).one()
    event = session.exec(select(func.max(MirrorEvent.id))).one()
    return (*(int(v or 0) for v in projects), int(entry or 0), int(event or 0))


# Councils and links --------------------------------------------------------------------


def council_roles(
    session: Session, *, project_ids: Sequence[int] | None = None, before: datetime | None = None
) -> list[tuple[int, str, str]]:
    """(project id, council code, role) for public projects: the lead council ("lead"), and
    the council of every member ("maker", or "adopter" for a council that reuses it). Only
    members whose council is known count. `before` keeps what existed by then."""
    lead = select(Project.id, Project.lead_council_code).where(
        public_only(), col(Project.lead_council_code).is_not(None)
    )
    members = (
        select(Membership.project_id, Person.council_code, Membership.role)
        .join(Person, col(Person.id) == Membership.person_id)
        .join(Project, col(Project.id) == Membership.project_id)
        .where(public_only(), col(Person.council_code).is_not(None))
    )
    if before is not None:
        lead = lead.where(col(Project.created_at) < before)
        members = members.where(col(Membership.joined_at) < before)
    rows: list[tuple[int, str, str]] = []
    batches: list[list[int] | None] = [None] if project_ids is None else list(chunks(project_ids))
    for batch in batches:
        lead_q = lead if batch is None else lead.where(col(Project.id).in_(batch))
        member_q = members if batch is None else members.where(col(Project.id).in_(batch))
        rows.extend((int(p or 0), str(c), Role.LEAD.value) for p, c in session.exec(lead_q))
        # "lead" is the project's lead council; a member in the lead role makes it.
        rows.extend(
            (int(p), str(c), Role.MAKER.value if r == Role.LEAD.value else str(r))
            for p, c, r in session.exec(member_q)
        )
    return rows


def involved_councils(session: Session) -> set[str]:
    """Codes of councils that lead, make or reuse at least one public project."""
    leads = select(Project.lead_council_code).where(
        public_only(), col(Project.lead_council_code).is_not(None)
    )
    members = (
        select(Person.council_code)
        .join(Membership, col(Membership.person_id) == Person.id)
        .join(Project, col(Project.id) == Membership.project_id)
        .where(public_only(), col(Person.council_code).is_not(None))
    )
    rows = session.execute(leads.union(members)).all()
    return {str(code) for (code,) in rows if code}


def councils(session: Session, *, codes: Iterable[str] | None = None) -> list[Council]:
    """Council rows by code; every council the bot has seen when `codes` is None."""
    stmt = select(Council)
    if codes is not None:
        wanted = sorted(set(codes))
        if not wanted:
            return []
        stmt = stmt.where(col(Council.code).in_(wanted))
    return list(session.exec(stmt.order_by(col(Council.short_name))).all())


def public_links(
    session: Session, *, project_ids: Sequence[int]
) -> list[tuple[int, str, str, str]]:
    """(project id, source, name, url) of each linked repository and board.

    A GitHub repository owned by a person's own account ("alice/bins") is left out: its
    address would publish that person's GitHub login.
    """
    rows: list[tuple[int, str, str, str]] = []
    for batch in chunks(project_ids):
        rows.extend(
            (int(p), str(s), str(n or t), str(u or ""))
            for p, s, t, n, u in session.execute(
                columns(
                    col(Link.project_id),
                    col(Link.source),
                    col(Link.target),
                    col(Link.target_name),
                    col(Link.url),
                )
                .where(col(Link.project_id).in_(batch))
                .order_by(col(Link.project_id), col(Link.source), col(Link.id))
            ).all()
        )
    owners = {name.split("/", 1)[0].lower() for _, source, name, _ in rows if source == "github"}
    personal = _known_logins(session, owners)
    return [
        row
        for row in rows
        if not (row[1] == "github" and row[2].split("/", 1)[0].lower() in personal)
    ]


def _known_logins(session: Session, logins: set[str]) -> set[str]:
    if not logins:
        return set()
    found = session.exec(
        select(func.lower(Person.github_login)).where(
            func.lower(Person.github_login).in_(sorted(logins))
        )
    ).all()
    return {str(login) for login in found if login}


# Updates and the ledger ----------------------------------------------------------------


def project_updates(
    session: Session, *, project_id: int, limit: int = 200
) -> list[tuple[str, str, datetime]]:
    """(kind, value, at) of a project's phase changes and status lines, newest first."""
    rows = session.exec(
        select(ProjectUpdate.kind, ProjectUpdate.value, ProjectUpdate.at)
        .where(col(ProjectUpdate.project_id) == project_id)
        .order_by(col(ProjectUpdate.at).desc(), col(ProjectUpdate.id).desc())
        .limit(limit)
    ).all()
    return [(str(k), str(v), at) for k, v, at in rows]
