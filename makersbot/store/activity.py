"""A project's activity, defined once, and its quiet spells. Session first, keyword-only.

Activity is anything people or tools did to a project: it was started, someone reported a
status, a phase or a lead (`project_update`), someone joined or adopted it (`membership`),
a council gave to it or took from it (`ledger_entry`, undone entries too: someone acted), or
a mirrored issue, pull request or card changed (`mirror_event`). `_activity` is that
definition as one query; everything here asks it, with a time or project filter pushed into
each part so that the indexes on project and time do the work.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Subquery, exists, func, union_all, update
from sqlmodel import Session, col, select

from makersbot.domain.projects import Phase
from makersbot.store.models import (
    LedgerEntry,
    Membership,
    MirrorEvent,
    Project,
    ProjectUpdate,
    QuietSpell,
)
from makersbot.store.rows import insert_ignore

BATCH = 500  # project ids per IN (...)


def _sources() -> list[tuple[Any, Any]]:
    """(project id, time) of each kind of act on a project."""
    return [
        (col(Project.id), col(Project.created_at)),
        (col(ProjectUpdate.project_id), col(ProjectUpdate.at)),
        (col(Membership.project_id), col(Membership.joined_at)),
        (col(LedgerEntry.project_id), col(LedgerEntry.occurred_at)),
        (col(MirrorEvent.project_id), col(MirrorEvent.occurred_at)),
    ]


def _activity(
    *, since: datetime | None = None, project_ids: Iterable[int] | None = None
) -> Subquery:
    """(project_id, at) of every act on a project, optionally since a time or for some ids."""
    ids = sorted(set(project_ids)) if project_ids is not None else None
    parts = []
    for project_id, at in _sources():
        part = select(project_id.label("project_id"), at.label("at")).where(project_id.is_not(None))
        if since is not None:
            part = part.where(at >= since)
        if ids is not None:
            part = part.where(project_id.in_(ids))
        parts.append(part)
    return union_all(*parts).subquery("activity")


def last_activity(session: Session, *, project_ids: Iterable[int]) -> dict[int, datetime]:
    """When each project last saw activity (every project has one: its start)."""
    found: dict[int, datetime] = {}
    ids = sorted(set(project_ids))
    for first in range(0, len(ids), BATCH):
        activity = _activity(project_ids=ids[first : first + BATCH])
        rows = session.execute(
            select(activity.c.project_id, func.max(activity.c.at)).group_by(activity.c.project_id)
        ).all()
        found.update({int(project_id): at for project_id, at in rows})
    return found


def quiet_projects(session: Session, *, before: datetime) -> list[tuple[int, datetime]]:
    """(project id, last activity) of every project, not retired, with no activity since
    `before`; the longest quiet first."""
    # One index probe per project and kind of act, on each table's (project_id, time)
    # index, that stops at the first act since `before`: the cost follows the projects, not
    # the weeks of activity since `before`.
    acted = [
        exists().where(project_id == col(Project.id), at >= before)
        for project_id, at in _sources()[1:]  # the project's own start: created_at below
    ]
    candidates = {
        int(i)
        for (i,) in session.execute(
            select(col(Project.id)).where(
                col(Project.phase) != Phase.RETIRED.value,
                col(Project.created_at) < before,
                *(~act for act in acted),
            )
        ).all()
    }
    last = last_activity(session, project_ids=candidates)
    return sorted(last.items(), key=lambda item: (item[1], item[0]))


# Quiet spells ---------------------------------------------------------------------------


def record_spell(session: Session, *, project_id: int, quiet_since: datetime, at: datetime) -> bool:
    """Record a project's quiet spell; False when it was recorded before (asked already)."""
    return insert_ignore(
        session,
        QuietSpell,
        {"project_id": project_id, "quiet_since": quiet_since, "flagged_at": at},
        conflict=["project_id", "quiet_since"],
    )


def open_spells(
    session: Session, *, project_ids: Iterable[int] | None = None
) -> dict[int, datetime]:
    """The latest unresolved quiet spell of each project (of `project_ids` when given)."""
    query = select(col(QuietSpell.project_id), func.max(col(QuietSpell.quiet_since))).where(
        col(QuietSpell.resumed_at).is_(None)
    )
    if project_ids is not None:
        ids = sorted(set(project_ids))
        if not ids:
            return {}
        query = query.where(col(QuietSpell.project_id).in_(ids))
    rows = session.execute(query.group_by(col(QuietSpell.project_id))).all()
    return {int(project_id): since for project_id, since in rows}


def quiet_flags(session: Session, *, project_ids: Iterable[int]) -> dict[int, datetime]:
    """Projects to show as quiet: a spell was recorded and nothing has happened since.

    Read by every card, so it asks the small spell table first and the activity only for
    the projects that have a spell.
    """
    spells = open_spells(session, project_ids=project_ids)
    if not spells:
        return {}
    last = last_activity(session, project_ids=spells)
    return {
        project_id: since
        for project_id, since in spells.items()
        if project_id in last and last[project_id] <= since
    }


def resume_spells(session: Session, *, project_ids: Iterable[int], at: datetime) -> None:
    """Mark the open spells of these projects as over (activity came back)."""
    ids = sorted(set(project_ids))
    if ids:
        session.execute(
            update(QuietSpell)
            .where(col(QuietSpell.project_id).in_(ids), col(QuietSpell.resumed_at).is_(None))
            .values(resumed_at=at)
        )
