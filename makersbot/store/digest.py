"""The ledger as the digest reads it: counts per council, first gives, takes per project.

Every query is bounded by time: the period and the one before it for the league, eight weeks
for the chart. The ledger's `(occurred_at)` and `(council_code, occurred_at)` indexes serve
them, so the cost of a digest follows the week's entries, not the whole history. These return
rows; `services/digest_content.py` turns them into the digest's domain objects.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from makersbot.domain.digest import Period
from makersbot.domain.projects import LedgerKind
from makersbot.store.models import Council, LedgerEntry

CHUNK = 500  # ids per IN (…) list: far below SQLite's variable limit

LedgerCount = tuple[str | None, str, str, int]  # (council code, kind, source, count)


def columns(*items: Any) -> Select[Any]:
    """A SELECT of several columns (sqlmodel's typed `select` takes at most four)."""
    return sa_select(*items)


def chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    """`ids` in lists of at most CHUNK, for IN (…) clauses."""
    batch: list[int] = []
    for value in ids:
        batch.append(value)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def council_names(session: Session, *, codes: set[str]) -> dict[str, str]:
    """Short names of councils by code (the code itself when a council row is missing)."""
    if not codes:
        return {}
    rows = session.execute(
        select(col(Council.code), col(Council.short_name)).where(col(Council.code).in_(codes))
    ).all()
    names = {code: short or code for code, short in rows}
    return {code: names.get(code, code) for code in codes}


def ledger_counts(session: Session, *, start: datetime, end: datetime) -> list[LedgerCount]:
    """(council_code, kind, source, count) over [start, end): the occurred_at index bounds it."""
    return [
        (code, kind, source, int(n))
        for code, kind, source, n in session.execute(
            select(
                col(LedgerEntry.council_code),
                col(LedgerEntry.kind),
                col(LedgerEntry.source),
                func.count(),
            )
            .where(col(LedgerEntry.occurred_at) >= start, col(LedgerEntry.occurred_at) < end)
            .where(col(LedgerEntry.voided_at).is_(None))  # undone entries do not count
            .where(~col(LedgerEntry.unverified))  # unverified councils wait: waiting_entries
            .group_by(col(LedgerEntry.council_code), col(LedgerEntry.kind), col(LedgerEntry.source))
        ).all()
    ]


def first_time_givers(session: Session, *, period: Period) -> list[str]:
    """Codes of councils whose first-ever give falls in the period.

    Among the councils that gave in the period, those with no give before it: the NOT EXISTS
    probe walks the (council_code, occurred_at) index from the oldest entry and stops at the
    first give, so it costs a few index steps per council, whatever the history.
    """
    entry = LedgerEntry
    earlier = LedgerEntry.__table__.alias("earlier")  # type: ignore[attr-defined]
    gave_now = (
        select(col(entry.council_code))
        .where(
            col(entry.kind) == LedgerKind.GIVE.value,
            col(entry.occurred_at) >= period.start,
            col(entry.occurred_at) < period.end,
            col(entry.council_code).is_not(None),
            col(entry.voided_at).is_(None),
            ~col(entry.unverified),
        )
        .distinct()
    )
    gave_before = exists().where(
        earlier.c.council_code == col(Council.code),
        earlier.c.occurred_at < period.start,
        earlier.c.kind == LedgerKind.GIVE.value,
        earlier.c.voided_at.is_(None),
        ~earlier.c.unverified,
    )
    rows = session.execute(
        select(col(Council.code)).where(col(Council.code).in_(gave_now), ~gave_before)
    ).all()
    return sorted(code for (code,) in rows)


def council_totals(
    session: Session, *, start: datetime, end: datetime
) -> dict[str, dict[str, int]]:
    """Entries of each (attributed) council by kind over [start, end); missing kinds are 0."""
    entry = LedgerEntry
    rows = session.execute(
        select(col(entry.council_code), col(entry.kind), func.count())
        .where(
            col(entry.occurred_at) >= start,
            col(entry.occurred_at) < end,
            col(entry.council_code).is_not(None),
            col(entry.voided_at).is_(None),
            ~col(entry.unverified),
        )
        .group_by(col(entry.council_code), col(entry.kind))
    ).all()
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for code, kind, count in rows:
        totals[str(code)][str(kind)] += int(count)
    return totals


def adopters(session: Session, *, project_ids: set[int], before: datetime) -> dict[int, list[str]]:
    """Councils that took (adopted or forked) each project, by name, earliest first."""
    found: dict[int, list[str]] = defaultdict(list)
    rows: list[Any] = []
    for batch in chunks(sorted(project_ids)):
        rows += session.execute(
            select(
                col(LedgerEntry.project_id),
                col(LedgerEntry.council_code),
                func.min(col(LedgerEntry.occurred_at)),
            )
            .where(
                col(LedgerEntry.project_id).in_(batch),
                col(LedgerEntry.kind) == LedgerKind.TAKE.value,
                col(LedgerEntry.council_code).is_not(None),
                col(LedgerEntry.occurred_at) < before,
                col(LedgerEntry.voided_at).is_(None),
            )
            .group_by(col(LedgerEntry.project_id), col(LedgerEntry.council_code))
        ).all()
    names = council_names(session, codes={r[1] for r in rows})
    for project_id, code, _ in sorted(rows, key=lambda r: (r[2], r[1])):
        found[project_id].append(names[code])
    return found


def taken_from(
    session: Session, *, project_ids: Iterable[int], codes: list[str]
) -> dict[str, set[int]]:
    """For each of `codes`, which of `project_ids` it ever took from."""
    found: dict[str, set[int]] = defaultdict(set)
    for batch in chunks(sorted(set(project_ids))):
        for code, project_id in session.execute(
            select(col(LedgerEntry.council_code), col(LedgerEntry.project_id))
            .where(
                col(LedgerEntry.project_id).in_(batch),
                col(LedgerEntry.council_code).in_(codes),
                col(LedgerEntry.kind) == LedgerKind.TAKE.value,
                col(LedgerEntry.voided_at).is_(None),
            )
            .distinct()
        ).all():
            found[code].add(project_id)
    return found


def project_gives(session: Session, *, period: Period) -> dict[int, dict[str | None, int]]:
    """Gives to each project in the period, by council code (None: not linked to one yet)."""
    gives: dict[int, dict[str | None, int]] = defaultdict(dict)
    for project_id, code, n in session.execute(
        select(col(LedgerEntry.project_id), col(LedgerEntry.council_code), func.count())
        .where(
            col(LedgerEntry.occurred_at) >= period.start,
            col(LedgerEntry.occurred_at) < period.end,
            col(LedgerEntry.kind) == LedgerKind.GIVE.value,
            col(LedgerEntry.project_id).is_not(None),
            col(LedgerEntry.voided_at).is_(None),
            ~col(LedgerEntry.unverified),
        )
        .group_by(col(LedgerEntry.project_id), col(LedgerEntry.council_code))
    ).all():
        gives[project_id][code] = int(n)
    return gives


def waiting_entries(session: Session, *, period: Period) -> int:
    """Entries of the period that wait for their person's council to be verified."""
    return int(
        session.execute(
            select(func.count()).where(
                col(LedgerEntry.occurred_at) >= period.start,
                col(LedgerEntry.occurred_at) < period.end,
                col(LedgerEntry.unverified),
                col(LedgerEntry.voided_at).is_(None),
            )
        ).scalar_one()
    )
