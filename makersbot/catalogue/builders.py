"""View models of the catalogue: store rows in, frozen domain objects out.

Each builder takes an open session and a `Scope` (register, time zone, now) and returns
what one page or feed shows. No HTML, no HTTP, no person.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from math import ceil
from zoneinfo import ZoneInfo

from sqlmodel import Session

from makersbot.catalogue import metrics
from makersbot.catalogue.text import public_text
from makersbot.councils import CouncilRegister
from makersbot.domain.catalogue import (
    CataloguePage,
    CouncilPage,
    CouncilRef,
    Dated,
    Diversity,
    LeagueRow,
    LinkRef,
    Period,
    ProjectPage,
    ProjectSummary,
)
from makersbot.domain.projects import Role
from makersbot.store import catalogue as store
from makersbot.store import catalogue_counts as ledger_counts
from makersbot.store.models import Project

ACTIVITY_MONTHS = 12
COUNCIL_QUARTERS = 8
MAKER_ROLES = (Role.LEAD.value, Role.MAKER.value)


@dataclass(frozen=True)
class Scope:
    """What every builder needs besides the session."""

    register: CouncilRegister
    zone: ZoneInfo
    now: datetime


# Councils ------------------------------------------------------------------------------


def council_refs(session: Session, scope: Scope, codes: Iterable[str]) -> dict[str, CouncilRef]:
    """Councils by code: names from the database, GSS code and nation from the register."""
    refs: dict[str, CouncilRef] = {}
    for row in store.councils(session, codes=codes):
        known = scope.register.get(row.code)
        refs[row.code] = CouncilRef(
            code=row.code,
            name=row.name,
            short_name=row.short_name or row.name,
            gss_code=known.gss_code if known else "",
            nation=row.nation or (known.nation if known else ""),
        )
    return refs


def canonical_code(scope: Scope, text: str) -> str | None:
    """The register code for a register code or a GSS code typed in any case."""
    wanted = text.strip().upper()
    if scope.register.get(wanted) is not None:
        return wanted
    for council in scope.register:
        if council.gss_code.upper() == wanted:
            return council.code
    return None


def filter_councils(session: Session, scope: Scope) -> list[CouncilRef]:
    """Councils involved in at least one public project, by name: the filter's choices."""
    refs = council_refs(session, scope, store.involved_councils(session))
    return sorted(refs.values(), key=lambda c: c.short_name.lower())


# Projects ------------------------------------------------------------------------------


def summaries(
    session: Session,
    scope: Scope,
    projects: Sequence[Project],
    activity: dict[int, datetime] | None = None,
) -> list[ProjectSummary]:
    """Catalogue lines for projects, in the order given, with three queries whatever their
    number (councils, links, and last activity unless it is passed in)."""
    ids = [p.id for p in projects if p.id is not None]
    if activity is None:
        activity = store.last_activity(session, project_ids=ids)
    roles = store.council_roles(session, project_ids=ids)
    refs = council_refs(
        session,
        scope,
        {c for _, c, _ in roles} | {p.lead_council_code for p in projects if p.lead_council_code},
    )
    makers: dict[int, list[str]] = defaultdict(list)
    adopters: dict[int, list[str]] = defaultdict(list)
    for pid, code, role in roles:
        bucket = makers if role in MAKER_ROLES else adopters
        if code not in bucket[pid]:
            bucket[pid].append(code)
    links: dict[int, list[LinkRef]] = defaultdict(list)
    for pid, source, name, url in store.public_links(session, project_ids=ids):
        links[pid].append(LinkRef(source=source, name=name, url=url))
    result = []
    for project in projects:
        assert project.id is not None
        lead = project.lead_council_code
        made = sorted(
            makers[project.id], key=lambda c: (c != lead, refs[c].short_name if c in refs else c)
        )
        result.append(
            ProjectSummary(
                slug=project.slug,
                name=project.name,
                description=public_text(project.description),
                phase=project.phase,
                lead=refs.get(lead) if lead else None,
                makers=tuple(refs[c] for c in made if c in refs),
                reusers=tuple(refs[c] for c in adopters[project.id] if c in refs and c not in made),
                last_activity=activity.get(project.id, project.updated_at),
                links=tuple(links[project.id]),
                created_at=project.created_at,
            )
        )
    return result


def _name(refs: dict[str, CouncilRef], code: str) -> str:
    return refs[code].short_name if code in refs else code


def catalogue_page(
    session: Session,
    scope: Scope,
    *,
    words: Sequence[str] = (),
    phase: str | None = None,
    council: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> CataloguePage:
    """The public projects matching the filters, most recently active first, one page."""

    def fetch(number: int) -> tuple[list[tuple[int, datetime]], int]:
        return store.public_page_by_activity(
            session,
            words=words,
            phase=phase,
            council_code=council,
            offset=(number - 1) * per_page,
            limit=per_page,
        )

    rows, total = fetch(page)
    pages = max(1, ceil(total / per_page))
    if page > pages:  # past the end: show the last page
        page = pages
        rows, total = fetch(page)
    activity = dict(rows)
    by_id = {p.id: p for p in store.public_projects(session, ids=list(activity))}
    projects = [by_id[i] for i, _ in rows if i in by_id]
    return CataloguePage(
        projects=tuple(summaries(session, scope, projects, activity)),
        total=total,
        page=page,
        pages=pages,
        per_page=per_page,
    )


def diversities(session: Session, scope: Scope, project_ids: Sequence[int]) -> dict[int, Diversity]:
    """CHAOSS organisational diversity of each project, this quarter."""
    period = metrics.quarter_of(scope.now, scope.zone)
    figures = ledger_counts.organisational_diversity(
        session, project_ids=project_ids, since=period.start
    )
    return {pid: metrics.diversity(figures.get(pid), period) for pid in project_ids}


def project_page(session: Session, scope: Scope, slug: str) -> ProjectPage | None:
    """Everything on a public project's page; None when there is no such public project."""
    project = store.public_project_by_slug(session, slug=slug)
    if project is None or project.id is None:
        return None
    summary = summaries(session, scope, [project])[0]
    updates = store.project_updates(session, project_id=project.id)
    phases = [Dated(text="started", at=project.created_at)] + [
        Dated(text=value, at=at) for kind, value, at in reversed(updates) if kind == "phase"
    ]
    statuses = tuple(
        Dated(text=public_text(value), at=at) for kind, value, at in updates if kind == "status"
    )[:20]
    months = metrics.last_months(scope.now, scope.zone, ACTIVITY_MONTHS)
    counts = ledger_counts.bucket_counts(
        session, bounds=[start for _, start in months], project_id=project.id
    )
    return ProjectPage(
        summary=summary,
        phases=tuple(phases),
        statuses=statuses,
        activity=metrics.buckets(counts, months),
        diversity=diversities(session, scope, [project.id])[project.id],
        channel_id=project.channel_id,
        channel_name=project.channel_name,
    )


def feed_page(
    session: Session, scope: Scope, *, page: int, per_page: int
) -> tuple[list[tuple[ProjectSummary, Diversity]], int, int]:
    """One page of every public project for /catalogue.json, in slug order (stable while a
    client walks the pages); the total and the page count."""
    chosen, total = store.public_projects_by_slug(
        session, offset=(page - 1) * per_page, limit=per_page
    )
    pages = max(1, ceil(total / per_page))
    lines = summaries(session, scope, chosen)
    metrics_by_id = diversities(session, scope, [p.id for p in chosen if p.id is not None])
    return (
        [(line, metrics_by_id[p.id]) for line, p in zip(lines, chosen, strict=True) if p.id],
        total,
        pages,
    )


# Councils' pages and the league --------------------------------------------------------


def council_page(session: Session, scope: Scope, code: str) -> CouncilPage | None:
    """A council's projects and its gives and takes per quarter; None for an unknown one."""
    refs = council_refs(session, scope, [code])
    if code not in refs:
        return None
    ids = store.public_project_ids(session, council_code=code)
    roles = store.council_roles(session, project_ids=ids)
    projects = store.public_projects(session, ids=ids)
    lines = {line.slug: line for line in summaries(session, scope, projects)}
    by_id = {p.id: p.slug for p in projects}
    leads = {pid for pid, c, r in roles if c == code and r == Role.LEAD.value}
    makes = {pid for pid, c, r in roles if c == code and r in MAKER_ROLES} - leads
    reuses = {pid for pid, c, r in roles if c == code and r == Role.ADOPTER.value}
    reuses -= leads | makes

    def ordered(pids: set[int]) -> tuple[ProjectSummary, ...]:
        chosen = [lines[by_id[p]] for p in pids if p in by_id]
        return tuple(sorted(chosen, key=lambda s: s.last_activity, reverse=True))

    quarters = metrics.last_quarters(scope.now, scope.zone, COUNCIL_QUARTERS)
    counts = ledger_counts.bucket_counts(
        session, bounds=[q.start for q in quarters], council_code=code
    )
    return CouncilPage(
        council=refs[code],
        leads=ordered(leads),
        makes=ordered(makes),
        reuses=ordered(reuses),
        activity=metrics.buckets(counts, [(metrics.quarter_label(q), q.start) for q in quarters]),
    )


def league(
    session: Session,
    scope: Scope,
    period: Period,
    projects: dict[str, tuple[int, int, int]] | None = None,
) -> list[LeagueRow]:
    """Per council, in a period: gives, takes, and the public projects it led, made and
    reused by the period's end (`store.council_project_counts`, computed here unless the
    caller kept it). Councils with nothing to show are left out."""
    totals = ledger_counts.ledger_totals(session, start=period.start, end=period.end)
    if projects is None:
        projects = ledger_counts.council_project_counts(session, before=period.end)
    codes = {c for c, _ in totals} | set(projects)
    refs = council_refs(session, scope, codes)
    rows = []
    for code in codes:
        if code not in refs:
            continue
        led, made, reused = projects.get(code, (0, 0, 0))
        rows.append(
            LeagueRow(
                council=refs[code],
                period=period.key,
                gives=totals.get((code, "give"), 0),
                takes=totals.get((code, "take"), 0),
                projects_led=led,
                projects_made=made,
                projects_reused=reused,
            )
        )
    rows.sort(key=lambda r: (-r.gives, -r.takes, -r.projects_made, r.council.short_name.lower()))
    return rows
