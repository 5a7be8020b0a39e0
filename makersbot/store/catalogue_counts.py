"""The catalogue's counts: CHAOSS diversity, gives and takes per period, councils' projects.

Session first, keyword-only; counts only, never a person. Every query is counted in the
database and reads one of the ledger's covering indexes (see `LedgerEntry`), so its cost
follows the projects or councils asked about, not the whole history.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, func, literal, or_
from sqlmodel import Session, col

from makersbot.domain.projects import Role
from makersbot.store.catalogue import chunks, columns, private_project_ids, public_only
from makersbot.store.models import LedgerEntry, Membership, Person, Project


def counted() -> ColumnElement[bool]:
    """Entries the public league counts, as the weekly digest does: not undone, and not
    waiting for their council to be verified."""
    return and_(col(LedgerEntry.voided_at).is_(None), ~col(LedgerEntry.unverified))


def council_project_counts(
    session: Session, *, before: datetime
) -> dict[str, tuple[int, int, int]]:
    """{council code: (public projects it leads, makes, only reuses)} as they stood at `before`.

    Counted in the database, one row per council: "makes" includes the projects it leads;
    "reuses" counts projects it adopted and does not also make.
    """
    lead = case((col(Project.lead_council_code).is_not(None), 1), else_=0)
    leads = columns(
        col(Project.lead_council_code).label("code"),
        col(Project.id).label("pid"),
        lead.label("is_lead"),
        lead.label("is_maker"),
    ).where(
        public_only(), col(Project.lead_council_code).is_not(None), col(Project.created_at) < before
    )
    maker = case((col(Membership.role) == Role.ADOPTER.value, 0), else_=1)
    members = (
        columns(
            col(Person.council_code).label("code"),
            col(Membership.project_id).label("pid"),
            literal(0).label("is_lead"),
            maker.label("is_maker"),
        )
        .join(Person, col(Person.id) == Membership.person_id)
        .join(Project, col(Project.id) == Membership.project_id)
        .where(
            public_only(), col(Person.council_code).is_not(None), col(Membership.joined_at) < before
        )
    )
    roles = leads.union_all(members).subquery("roles")
    per_project = (
        columns(
            roles.c.code,
            func.max(roles.c.is_lead).label("led"),
            func.max(roles.c.is_maker).label("made"),
        )
        .group_by(roles.c.code, roles.c.pid)
        .subquery("per_project")
    )
    rows = session.execute(
        columns(
            per_project.c.code,
            func.sum(per_project.c.led),
            func.sum(per_project.c.made),
            func.sum(1 - per_project.c.made),
        ).group_by(per_project.c.code)
    ).all()
    return {str(code): (int(led), int(made), int(reused)) for code, led, made, reused in rows}


def organisational_diversity(
    session: Session, *, project_ids: Sequence[int], since: datetime
) -> dict[int, tuple[int, int, int, int]]:
    """CHAOSS organisational diversity per project, computed in the database:
    {project id: (contributing councils, of which first gave at or after `since`,
    elephant factor, attributed gives)}. Projects nobody gave to are absent.

    The elephant factor counts, councils ranked by gives, those needed before half of the
    gives is reached: a council whose gives *before* it sum to less than half is needed.
    Unattributed gives (no council known yet) are left out.
    """
    entry = LedgerEntry
    per = (
        columns(
            col(entry.project_id).label("pid"),
            col(entry.council_code).label("code"),
            func.count().label("n"),
            case((func.min(entry.occurred_at) >= since, 1), else_=0).label("new"),
        )
        .where(col(entry.kind) == "give", col(entry.council_code).is_not(None), counted())
        .group_by(col(entry.project_id), col(entry.council_code))
    )
    found: dict[int, tuple[int, int, int, int]] = {}
    for batch in chunks(project_ids):
        councils = per.where(col(entry.project_id).in_(batch)).subquery("per")
        running = func.sum(councils.c.n).over(
            partition_by=councils.c.pid,
            order_by=(councils.c.n.desc(), councils.c.code),
            rows=(None, 0),
        )
        total = func.sum(councils.c.n).over(partition_by=councils.c.pid)
        ranked = columns(
            councils.c.pid,
            councils.c.n,
            councils.c.new,
            running.label("running"),
            total.label("total"),
        ).subquery("ranked")
        needed = case((2 * (ranked.c.running - ranked.c.n) < ranked.c.total, 1), else_=0)
        for pid, contributing, new, gives, factor in session.execute(
            columns(
                ranked.c.pid,
                func.count(),
                func.sum(ranked.c.new),
                func.max(ranked.c.total),
                func.sum(needed),
            ).group_by(ranked.c.pid)
        ).all():
            found[int(pid)] = (int(contributing), int(new), int(factor), int(gives))
    return found


def bucket_counts(
    session: Session,
    *,
    bounds: Sequence[datetime],
    project_id: int | None = None,
    council_code: str | None = None,
) -> list[tuple[int, int]]:
    """(gives, takes) of a project's or a council's ledger entries in each period
    [bounds[i], bounds[i+1]); the last period runs on to now. Counted in the database, one
    row per kind. A council's counts leave private projects out."""
    occurred = col(LedgerEntry.occurred_at)
    edges = [*bounds, None]
    sums = [
        func.sum(case((and_(occurred >= lo, occurred < hi) if hi else occurred >= lo, 1), else_=0))
        for lo, hi in zip(edges[:-1], edges[1:], strict=True)
    ]
    stmt = columns(col(LedgerEntry.kind), *sums).where(occurred >= bounds[0], counted())
    if project_id is not None:
        stmt = stmt.where(col(LedgerEntry.project_id) == project_id)
    if council_code is not None:
        stmt = stmt.where(col(LedgerEntry.council_code) == council_code)
        private = private_project_ids(session)
        if private:
            stmt = stmt.where(
                or_(
                    col(LedgerEntry.project_id).is_(None),
                    col(LedgerEntry.project_id).not_in(private),
                )
            )
    counts = {str(kind): [int(n or 0) for n in row] for kind, *row in session.execute(
        stmt.group_by(col(LedgerEntry.kind))
    ).all()}  # fmt: skip
    zero = [0] * len(bounds)
    return list(zip(counts.get("give", zero), counts.get("take", zero), strict=True))


def ledger_totals(
    session: Session, *, start: datetime, end: datetime
) -> dict[tuple[str, str], int]:
    """{(council code, kind): entries} over [start, end), for the kinds give and take,
    private projects' entries left out.

    One pass over the period's range of the ledger's period index, which holds every column
    asked about (ix_ledger_period), grouped by council and kind. Counting council by council
    on the (council_code, kind, occurred_at) index read every counted row from the table as
    well, for `voided_at`: 150-170 ms for a quarter of the catalogue benchmark's network on
    SQLite, against 45 ms here. Private projects are few: their entries are counted on
    their own (through the project index) and subtracted.
    """
    window = and_(col(LedgerEntry.occurred_at) >= start, col(LedgerEntry.occurred_at) < end)
    group = (col(LedgerEntry.council_code), col(LedgerEntry.kind))
    totals: dict[tuple[str, str], int] = {
        (str(code), str(kind)): int(n)
        for code, kind, n in session.execute(
            columns(*group, func.count())
            .where(window, counted(), col(LedgerEntry.council_code).is_not(None))
            .group_by(*group)
        ).all()
        if kind in ("give", "take")
    }
    private = private_project_ids(session)
    if private:
        for code, kind, n in session.execute(
            columns(*group, func.count())
            .where(
                window,
                counted(),
                col(LedgerEntry.council_code).is_not(None),
                col(LedgerEntry.project_id).in_(private),
            )
            .group_by(*group)
        ).all():
            key = (str(code), str(kind))
            totals[key] = totals.get(key, 0) - int(n)
    return {key: n for key, n in totals.items() if n > 0}
