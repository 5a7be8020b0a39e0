"""Projects as the digest reads them: new, changed phase, quiet, welcoming help, busy this week.

Bounded by time like the ledger queries (`store/digest.py`): the period, four weeks for
staleness, and the mirrored items still open. These return rows or one-row records
(`ProjectRef`, `WaitingReview`); `services/digest_content.py` builds the digests from them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, cast, exists, func, or_
from sqlmodel import Session, col, select

from makersbot.domain.digest import WEEK, Period, ProjectRef, WaitingReview
from makersbot.domain.projects import Phase, Role
from makersbot.store.digest import CHUNK, chunks, columns, council_names
from makersbot.store.models import (
    LedgerEntry,
    Link,
    Membership,
    MirroredItem,
    MirrorEvent,
    Person,
    Project,
    ProjectUpdate,
)

CANDIDATES = 200  # open, welcoming items considered for ideas
WHOLE_TABLE = 2 * CHUNK  # project refs asked for more ids than this read the whole table

EventCount = tuple[int, str, str, int]  # (project id, item kind, action, count)


@dataclass(frozen=True)
class OpenItem:
    """An open issue or card whose labels or list may welcome help."""

    project_id: int
    project: str  # project name
    kind: str
    title: str
    url: str
    number: int | None
    state: str
    labels: list[str]


def project_refs(session: Session, *, ids: Iterable[int]) -> dict[int, ProjectRef]:
    """Projects by id, with their lead council's name."""
    wanted = set(ids)
    query = columns(
        col(Project.id),
        col(Project.name),
        col(Project.slug),
        col(Project.phase),
        col(Project.channel_id),
        col(Project.lead_council_code),
    )
    rows: list[Any] = []
    if len(wanted) > WHOLE_TABLE:
        # Most projects (every channel with news): one pass over the table costs less than
        # many IN lists.
        rows = [r for r in session.execute(query).all() if r[0] in wanted]
    else:
        for batch in chunks(sorted(wanted)):
            rows += session.execute(query.where(col(Project.id).in_(batch))).all()
    names = council_names(session, codes={lead for *_, lead in rows if lead})
    return {
        project_id: ProjectRef(
            id=project_id,
            name=name,
            slug=slug,
            phase=phase,
            channel_id=channel_id,
            lead_council=names.get(lead) if lead else None,
        )
        for project_id, name, slug, phase, channel_id, lead in rows
    }


def new_project_ids(session: Session, *, period: Period) -> list[int]:
    """Projects created in the period, oldest first."""
    rows = session.execute(
        select(col(Project.id))
        .where(col(Project.created_at) >= period.start, col(Project.created_at) < period.end)
        .order_by(col(Project.created_at), col(Project.id))
    ).all()
    return [i for (i,) in rows]


def phase_updates(session: Session, *, period: Period) -> list[tuple[int, str, datetime]]:
    """(project id, phase, at) of every phase change in the period, in order."""
    rows = session.execute(
        select(col(ProjectUpdate.project_id), col(ProjectUpdate.value), col(ProjectUpdate.at))
        .where(
            col(ProjectUpdate.kind) == "phase",
            col(ProjectUpdate.at) >= period.start,
            col(ProjectUpdate.at) < period.end,
        )
        .order_by(col(ProjectUpdate.at), col(ProjectUpdate.id))
    ).all()
    return [(project_id, value, at) for project_id, value, at in rows]


def open_items_welcoming_help(session: Session) -> list[OpenItem]:
    """Open issues and cards of active projects that look like they welcome help.

    The SQL filter is loose (a LIKE on the labels' JSON and the list name) so that it can use
    no parser; the caller decides with the exact rule. Most recently active first.
    """
    labels = func.lower(cast(col(MirroredItem.labels), String))
    list_name = func.lower(col(MirroredItem.state))
    rows = session.execute(
        columns(
            col(MirroredItem.kind),
            col(MirroredItem.title),
            col(MirroredItem.url),
            col(MirroredItem.number),
            col(MirroredItem.state),
            col(MirroredItem.labels),
            col(Link.project_id),
            col(Project.name),
        )
        .join(Link, col(Link.id) == col(MirroredItem.link_id))
        .join(Project, col(Project.id) == col(Link.project_id))
        .where(
            col(MirroredItem.closed).is_(False),
            col(MirroredItem.deleted).is_(False),
            col(MirroredItem.kind).in_(("issue", "card")),
            col(Project.phase) != Phase.RETIRED.value,
            or_(
                labels.like("%help%wanted%"),
                labels.like("%good%first%"),
                labels.like("%up%for%grabs%"),
                list_name.like("%help%"),
                list_name.like("%grabs%"),
                list_name.like("%good%first%"),
            ),
        )
        .order_by(
            func.coalesce(col(MirroredItem.last_change_at), col(MirroredItem.created_at)).desc(),
            col(MirroredItem.id).desc(),
        )
        .limit(CANDIDATES)
    ).all()
    return [
        OpenItem(project_id, name, kind, title, url, number, state or "", item_labels or [])
        for kind, title, url, number, state, item_labels, project_id, name in rows
    ]


def stale_project_ids(session: Session, *, since: datetime, end: datetime) -> set[int]:
    """Projects, not retired, neither created nor updated since `since`, with no ledger
    entry, update or mirror event in [since, end).

    One probe of each table's (project_id, time) index per project, that stops at the first
    act: the cost follows the projects, not the four weeks of entries.
    """
    acted = [
        exists().where(project_id == col(Project.id), at >= since, at < end)
        for project_id, at in (
            (col(LedgerEntry.project_id), col(LedgerEntry.occurred_at)),
            (col(ProjectUpdate.project_id), col(ProjectUpdate.at)),
            (col(MirrorEvent.project_id), col(MirrorEvent.occurred_at)),
        )
    ]
    rows = session.execute(
        select(col(Project.id)).where(
            col(Project.phase) != Phase.RETIRED.value,
            col(Project.created_at) < since,
            col(Project.updated_at) < since,
            *(~act for act in acted),
        )
    ).all()
    return {i for (i,) in rows}


def project_leads(session: Session, *, project_ids: set[int]) -> dict[int, list[str]]:
    """Slack user ids of each project's leads, in the order they joined."""
    leads: dict[int, list[str]] = defaultdict(list)
    for batch in chunks(sorted(project_ids)):
        for project_id, user_id in session.execute(
            select(col(Membership.project_id), col(Person.slack_user_id))
            .join(Person, col(Person.id) == col(Membership.person_id))
            .where(col(Membership.project_id).in_(batch), col(Membership.role) == Role.LEAD.value)
            .order_by(col(Membership.joined_at))
        ).all():
            leads[project_id].append(user_id)
    return leads


def event_counts(session: Session, *, period: Period) -> list[EventCount]:
    """Mirror events in the period by project, item kind and action; card moves left out."""
    return [
        (project_id, kind, action, int(n))
        for project_id, kind, action, n in session.execute(
            select(
                col(MirrorEvent.project_id),
                col(MirrorEvent.kind),
                col(MirrorEvent.action),
                func.count(),
            )
            .where(*_in_period(period), ~_card_move())
            .group_by(col(MirrorEvent.project_id), col(MirrorEvent.kind), col(MirrorEvent.action))
        ).all()
    ]


def cards_moved_to_done(session: Session, *, period: Period) -> dict[int, int]:
    """Cards moved into a list named like Done in the period, by project.

    Whether a move reached a done list is decided when the event is recorded and stored
    with it (`MirrorEvent.done`).
    """
    return {
        project_id: int(n)
        for project_id, n in session.execute(
            select(col(MirrorEvent.project_id), func.count())
            .where(*_in_period(period), _card_move(), col(MirrorEvent.done))
            .group_by(col(MirrorEvent.project_id))
        ).all()
    }


def _in_period(period: Period) -> tuple[Any, ...]:
    return (
        col(MirrorEvent.occurred_at) >= period.start,
        col(MirrorEvent.occurred_at) < period.end,
    )


def _card_move() -> Any:
    return and_(col(MirrorEvent.kind) == "card", col(MirrorEvent.action) == "moved")


def waiting_reviews(session: Session, *, period: Period) -> dict[int, list[WaitingReview]]:
    """Open pull requests first seen over a week ago that nobody has touched for a week."""
    week_ago = period.end - WEEK
    found: dict[int, list[WaitingReview]] = defaultdict(list)
    for project_id, title, url, number, created in session.execute(
        columns(
            col(Link.project_id),
            col(MirroredItem.title),
            col(MirroredItem.url),
            col(MirroredItem.number),
            col(MirroredItem.created_at),
        )
        .join(Link, col(Link.id) == col(MirroredItem.link_id))
        .where(
            col(MirroredItem.kind) == "pr",
            col(MirroredItem.state) == "open",
            col(MirroredItem.closed).is_(False),
            col(MirroredItem.deleted).is_(False),
            col(MirroredItem.created_at) < week_ago,
            func.coalesce(col(MirroredItem.last_change_at), col(MirroredItem.created_at))
            < week_ago,
        )
        .order_by(col(MirroredItem.created_at))
    ).all():
        found[project_id].append(WaitingReview(title, url, number, created))
    return found


def project_updates(session: Session, *, period: Period) -> list[tuple[int, str, str]]:
    """(project id, kind, value) of every phase and status update in the period, in order."""
    return [
        (int(project_id), str(kind), str(value))
        for project_id, kind, value in session.execute(
            select(col(ProjectUpdate.project_id), col(ProjectUpdate.kind), col(ProjectUpdate.value))
            .where(col(ProjectUpdate.at) >= period.start, col(ProjectUpdate.at) < period.end)
            .order_by(col(ProjectUpdate.at), col(ProjectUpdate.id))
        ).all()
    ]


def adoptions(session: Session, *, period: Period) -> list[tuple[int, str]]:
    """(project id, council code) of every adoption in the period, in order."""
    return [
        (int(project_id), str(code))
        for project_id, code in session.execute(
            select(col(LedgerEntry.project_id), col(LedgerEntry.council_code))
            .where(
                col(LedgerEntry.occurred_at) >= period.start,
                col(LedgerEntry.occurred_at) < period.end,
                col(LedgerEntry.source) == "adopt",
                col(LedgerEntry.project_id).is_not(None),
                col(LedgerEntry.council_code).is_not(None),
                col(LedgerEntry.voided_at).is_(None),
            )
            .order_by(col(LedgerEntry.occurred_at), col(LedgerEntry.id))
        ).all()
    ]
