"""The queries behind the digest: they fill the data shapes of `render_digest`.

Every query is bounded by time: the period and the one before it for the league, four weeks
for staleness, eight weeks for the chart. The ledger's `(occurred_at)` and
`(council_code, occurred_at)` indexes serve them, so the cost of a digest follows the week's
entries, not the whole history. Nothing here renders or talks to Slack.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, String, and_, cast, exists, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from makersbot.domain.digest import (
    GIVE_SOURCES,
    TAKE_SOURCES,
    WEEK,
    ChartRow,
    CouncilTally,
    GiveBack,
    HubDigest,
    LiveProject,
    Opportunity,
    Period,
    PhaseChange,
    ProjectDigest,
    ProjectRef,
    StaleProject,
    WaitingReview,
)
from makersbot.domain.projects import LedgerKind, Phase, Role
from makersbot.store.models import (
    Council,
    LedgerEntry,
    Link,
    Membership,
    MirroredItem,
    MirrorEvent,
    Person,
    Project,
    ProjectUpdate,
)


def columns(*items: Any) -> Select[Any]:
    """A SELECT of several columns (sqlmodel's typed `select` takes at most four)."""
    return sa_select(*items)


# Queries --------------------------------------------------------------------------------


def council_names(session: Session, codes: set[str]) -> dict[str, str]:
    """Short names of councils by code (the code itself when a council row is missing)."""
    if not codes:
        return {}
    rows = session.execute(
        select(col(Council.code), col(Council.short_name)).where(col(Council.code).in_(codes))
    ).all()
    names = {code: short or code for code, short in rows}
    return {code: names.get(code, code) for code in codes}


def _ledger_counts(session: Session, start: datetime, end: datetime) -> list[Any]:
    """(council_code, kind, source, count) over [start, end): the occurred_at index bounds it."""
    return list(
        session.execute(
            select(
                col(LedgerEntry.council_code),
                col(LedgerEntry.kind),
                col(LedgerEntry.source),
                func.count(),
            )
            .where(col(LedgerEntry.occurred_at) >= start, col(LedgerEntry.occurred_at) < end)
            .where(~col(LedgerEntry.unverified))  # unverified councils wait: waiting_entries
            .group_by(col(LedgerEntry.council_code), col(LedgerEntry.kind), col(LedgerEntry.source))
        ).all()
    )


def league(session: Session, period: Period) -> tuple[list[CouncilTally], int]:
    """Every council active in the period, with its previous 7 days; and unattributed gives."""
    now: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
    unattributed = 0
    for code, kind, source, n in _ledger_counts(session, period.start, period.end):
        if code is None:
            # Left out of the league until `iam` maps the person; counted for the summary.
            unattributed += int(n) if kind == LedgerKind.GIVE.value else 0
        else:
            now[code][(kind, source)] = int(n)
    before: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for code, kind, _, n in _ledger_counts(session, period.previous_start, period.start):
        if code in now:
            before[code][kind] += int(n)
    names = council_names(session, set(now))
    tallies = [
        CouncilTally(
            code=code,
            name=names[code],
            gives=_ordered(counts, LedgerKind.GIVE.value, GIVE_SOURCES),
            takes=_ordered(counts, LedgerKind.TAKE.value, TAKE_SOURCES),
            gave_before=before[code][LedgerKind.GIVE.value],
            took_before=before[code][LedgerKind.TAKE.value],
        )
        for code, counts in now.items()
    ]
    tallies.sort(key=lambda t: (-t.gave, -t.took, t.name.lower(), t.code))
    return tallies, unattributed


def _ordered(
    counts: dict[tuple[str, str], int], kind: str, known: dict[str, tuple[str, str]]
) -> tuple[tuple[str, int], ...]:
    mine = {source: n for (k, source), n in counts.items() if k == kind and n}
    other = sum(n for source, n in mine.items() if source not in known)
    ordered = [(source, mine[source]) for source in known if source in mine]
    if other:
        ordered.append(("other", other))
    return tuple(ordered)


def waiting_entries(session: Session, period: Period) -> int:
    """Entries of the period that wait for their person's council to be verified."""
    return int(
        session.execute(
            select(func.count()).where(
                col(LedgerEntry.occurred_at) >= period.start,
                col(LedgerEntry.occurred_at) < period.end,
                col(LedgerEntry.unverified),
            )
        ).scalar_one()
    )


def first_time_givers(session: Session, period: Period) -> list[str]:
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
            ~col(entry.unverified),
        )
        .distinct()
    )
    gave_before = exists().where(
        earlier.c.council_code == col(Council.code),
        earlier.c.occurred_at < period.start,
        earlier.c.kind == LedgerKind.GIVE.value,
        ~earlier.c.unverified,
    )
    rows = session.execute(
        select(col(Council.code)).where(col(Council.code).in_(gave_now), ~gave_before)
    ).all()
    return sorted(code for (code,) in rows)


def chart_rows(session: Session, *, end: datetime, weeks: int = 8, top: int = 12) -> list[ChartRow]:
    """Gives and takes per council over the `weeks` before `end`: the most active `top`."""
    entry = LedgerEntry
    rows = session.execute(
        select(col(entry.council_code), col(entry.kind), func.count())
        .where(
            col(entry.occurred_at) >= end - weeks * WEEK,
            col(entry.occurred_at) < end,
            col(entry.council_code).is_not(None),
            ~col(entry.unverified),
        )
        .group_by(col(entry.council_code), col(entry.kind))
    ).all()
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for code, kind, count in rows:
        totals[str(code)][str(kind)] += int(count)
    names = council_names(session, set(totals))
    ranked = sorted(
        totals.items(),
        key=lambda kv: (-kv[1]["give"], -(kv[1]["give"] + kv[1]["take"]), names[kv[0]]),
    )
    return [
        ChartRow(council=names[code], gave=counts["give"], took=counts["take"])
        for code, counts in ranked[:top]
    ]


def build_hub(session: Session, period: Period) -> HubDigest:
    """Everything the hub digest shows for a period."""
    tallies, unattributed = league(session, period)
    names = {t.code: t.name for t in tallies}
    changes, live = phase_changes(session, period)
    return HubDigest(
        period=period,
        councils=tuple(tallies),
        first_time=tuple(sorted(names[c] for c in first_time_givers(session, period))),
        unattributed_gives=unattributed,
        unverified=waiting_entries(session, period),
        new_projects=tuple(new_projects(session, period)),
        phase_changes=tuple(changes),
        live=tuple(live),
        give_back=tuple(give_back(session, tallies)),
        stale=tuple(stale_projects(session, period)),
    )


# Projects -------------------------------------------------------------------------------

STALE_AFTER = timedelta(days=28)
MAX_GIVE_BACK = 25  # councils offered ideas; a few each
IDEAS_EACH = 3
CANDIDATES = 200  # open, welcoming items considered for ideas
CHUNK = 500  # ids per IN (…) list: far below SQLite's variable limit
_WELCOME_LABELS = re.compile(r"^(good first issues?|help wanted|up for grabs)$")
_WELCOME_LIST = re.compile(r"help\s*wanted|up\s*for\s*grabs|good\s*first")
OPENED = {"opened", "created"}
CARD_DONE = {"completed", "done"}


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    batch: list[int] = []
    for value in ids:
        batch.append(value)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def project_refs(session: Session, ids: Iterable[int]) -> dict[int, ProjectRef]:
    """Projects by id, with their lead council's name."""
    rows: list[Any] = []
    for batch in _chunks(sorted(set(ids))):
        rows += session.execute(
            columns(
                col(Project.id),
                col(Project.name),
                col(Project.slug),
                col(Project.phase),
                col(Project.channel_id),
                col(Project.lead_council_code),
            ).where(col(Project.id).in_(batch))
        ).all()
    names = council_names(session, {r.lead_council_code for r in rows if r.lead_council_code})
    return {
        r.id: ProjectRef(
            id=r.id,
            name=r.name,
            slug=r.slug,
            phase=r.phase,
            channel_id=r.channel_id,
            lead_council=names.get(r.lead_council_code) if r.lead_council_code else None,
        )
        for r in rows
    }


def new_projects(session: Session, period: Period) -> list[ProjectRef]:
    ids = session.execute(
        select(col(Project.id))
        .where(col(Project.created_at) >= period.start, col(Project.created_at) < period.end)
        .order_by(col(Project.created_at), col(Project.id))
    ).all()
    refs = project_refs(session, (i for (i,) in ids))
    return [refs[i] for (i,) in ids if i in refs]


def phase_changes(session: Session, period: Period) -> tuple[list[PhaseChange], list[LiveProject]]:
    """Projects whose phase changed in the period; those that reached Live, with adopters."""
    rows = session.execute(
        select(col(ProjectUpdate.project_id), col(ProjectUpdate.value), col(ProjectUpdate.at))
        .where(
            col(ProjectUpdate.kind) == "phase",
            col(ProjectUpdate.at) >= period.start,
            col(ProjectUpdate.at) < period.end,
        )
        .order_by(col(ProjectUpdate.at), col(ProjectUpdate.id))
    ).all()
    latest: dict[int, tuple[str, datetime]] = {}
    went_live: set[int] = set()
    for project_id, value, at in rows:
        latest[project_id] = (value, at)
        if value == Phase.LIVE.value:
            went_live.add(project_id)
    refs = project_refs(session, latest)
    adopters = _adopters(session, went_live, before=period.end)
    live = [LiveProject(refs[i], tuple(adopters.get(i, ()))) for i in latest if i in went_live]
    changes = [
        PhaseChange(refs[i], value, at)
        for i, (value, at) in latest.items()
        if i not in went_live and i in refs
    ]
    return changes, live


def _adopters(session: Session, project_ids: set[int], *, before: datetime) -> dict[int, list[str]]:
    """Councils that took (adopted or forked) each project, by name, earliest first."""
    found: dict[int, list[str]] = defaultdict(list)
    rows: list[Any] = []
    for batch in _chunks(sorted(project_ids)):
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
            )
            .group_by(col(LedgerEntry.project_id), col(LedgerEntry.council_code))
        ).all()
    names = council_names(session, {r[1] for r in rows})
    for project_id, code, _ in sorted(rows, key=lambda r: (r[2], r[1])):
        found[project_id].append(names[code])
    return found


def _welcome(kind: str, labels: Sequence[str], state: str) -> str | None:
    """Why an open item welcomes help (its label or list), or None."""
    for label in labels:
        if _WELCOME_LABELS.match(" ".join(re.split(r"[\s_-]+", str(label).lower()))):
            return str(label)
    if kind == "card" and _WELCOME_LIST.search(state.lower()):
        return state
    return None


def give_back(session: Session, tallies: Sequence[CouncilTally]) -> list[GiveBack]:
    """A few open, welcoming items for each council that took more than it gave.

    Items from projects the council took from come first; the rest are the most recently
    active welcoming items anywhere, offered in turn so that councils see different ones.
    """
    takers = sorted(
        (t for t in tallies if t.took > t.gave), key=lambda t: (t.gave - t.took, t.name)
    )[:MAX_GIVE_BACK]
    if not takers:
        return []
    labels = func.lower(cast(col(MirroredItem.labels), String))
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
                func.lower(col(MirroredItem.state)).like("%help%"),
                func.lower(col(MirroredItem.state)).like("%grabs%"),
                func.lower(col(MirroredItem.state)).like("%good%first%"),
            ),
        )
        .order_by(
            func.coalesce(col(MirroredItem.last_change_at), col(MirroredItem.created_at)).desc(),
            col(MirroredItem.id).desc(),
        )
        .limit(CANDIDATES)
    ).all()
    items: list[tuple[int, Opportunity]] = []
    for kind, title, url, number, state, item_labels, project_id, name in rows:
        why = _welcome(kind, item_labels or [], state or "")
        if why is not None:
            items.append((project_id, Opportunity(title, url, name, why, number)))
    if not items:
        return []
    took_from: dict[str, set[int]] = defaultdict(set)
    codes = [t.code for t in takers]
    for batch in _chunks(sorted({p for p, _ in items})):
        for code, project_id in session.execute(
            select(col(LedgerEntry.council_code), col(LedgerEntry.project_id))
            .where(
                col(LedgerEntry.project_id).in_(batch),
                col(LedgerEntry.council_code).in_(codes),
                col(LedgerEntry.kind) == LedgerKind.TAKE.value,
            )
            .distinct()
        ).all():
            took_from[code].add(project_id)
    ideas: list[GiveBack] = []
    for n, taker in enumerate(takers):
        own = [item for p, item in items if p in took_from[taker.code]]
        others = [item for p, item in items if p not in took_from[taker.code]]
        start = (n * IDEAS_EACH) % len(others) if others else 0
        chosen = (own + others[start:] + others[:start])[:IDEAS_EACH]
        ideas.append(GiveBack(taker.name, tuple(chosen)))
    return ideas


def _active_projects(session: Session, since: datetime, end: datetime) -> set[int]:
    """Projects with a ledger entry, update or mirror event in [since, end)."""
    active: set[int] = set()
    for column, at in (
        (col(LedgerEntry.project_id), col(LedgerEntry.occurred_at)),
        (col(ProjectUpdate.project_id), col(ProjectUpdate.at)),
        (col(MirrorEvent.project_id), col(MirrorEvent.occurred_at)),
    ):
        rows = session.execute(
            select(column).where(col(at) >= since, col(at) < end).distinct()
        ).all()
        active.update(r[0] for r in rows if r[0] is not None)
    return active


def stale_projects(session: Session, period: Period) -> list[StaleProject]:
    """Projects, not retired, with no activity of any kind for four weeks, with their leads."""
    since = period.end - STALE_AFTER
    quiet = session.execute(
        select(col(Project.id)).where(
            col(Project.phase) != Phase.RETIRED.value,
            col(Project.created_at) < since,
            col(Project.updated_at) < since,
        )
    ).all()
    ids = {i for (i,) in quiet} - _active_projects(session, since, period.end)
    leads: dict[int, list[str]] = defaultdict(list)
    for batch in _chunks(sorted(ids)):
        for project_id, user_id in session.execute(
            select(col(Membership.project_id), col(Person.slack_user_id))
            .join(Person, col(Person.id) == col(Membership.person_id))
            .where(col(Membership.project_id).in_(batch), col(Membership.role) == Role.LEAD.value)
            .order_by(col(Membership.joined_at))
        ).all():
            leads[project_id].append(user_id)
    refs = project_refs(session, ids)
    return sorted(
        (StaleProject(refs[i], tuple(leads[i])) for i in ids if i in refs),
        key=lambda s: s.project.name.lower(),
    )


def project_digests(session: Session, period: Period) -> list[ProjectDigest]:
    """The week of every project with a channel and something to say."""
    in_period = (
        col(MirrorEvent.occurred_at) >= period.start,
        col(MirrorEvent.occurred_at) < period.end,
    )
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    card_move = and_(col(MirrorEvent.kind) == "card", col(MirrorEvent.action) == "moved")
    for project_id, kind, action, n in session.execute(
        select(
            col(MirrorEvent.project_id),
            col(MirrorEvent.kind),
            col(MirrorEvent.action),
            func.count(),
        )
        .where(*in_period, ~card_move)
        .group_by(col(MirrorEvent.project_id), col(MirrorEvent.kind), col(MirrorEvent.action))
    ).all():
        counts[project_id][_event_bucket(kind, action)] += int(n)
    # A card is done when it moves into a list named like Done (stored with the event).
    for project_id, n in session.execute(
        select(col(MirrorEvent.project_id), func.count())
        .where(*in_period, card_move, col(MirrorEvent.done))
        .group_by(col(MirrorEvent.project_id))
    ).all():
        counts[project_id]["card_done"] += int(n)
    gives: dict[int, dict[str | None, int]] = defaultdict(dict)
    for project_id, code, n in session.execute(
        select(col(LedgerEntry.project_id), col(LedgerEntry.council_code), func.count())
        .where(
            col(LedgerEntry.occurred_at) >= period.start,
            col(LedgerEntry.occurred_at) < period.end,
            col(LedgerEntry.kind) == LedgerKind.GIVE.value,
            col(LedgerEntry.project_id).is_not(None),
            ~col(LedgerEntry.unverified),
        )
        .group_by(col(LedgerEntry.project_id), col(LedgerEntry.council_code))
    ).all():
        gives[project_id][code] = int(n)
    waiting = _waiting_reviews(session, period)
    ids = set(counts) | set(gives) | set(waiting)
    refs = project_refs(session, ids)
    names = council_names(session, {c for g in gives.values() for c in g if c})
    digests = []
    for project_id in ids:
        ref = refs.get(project_id)
        if ref is None or ref.channel_id is None:
            continue
        c, g = counts.get(project_id, {}), gives.get(project_id, {})
        contributors = sorted(
            ((names[code], n) for code, n in g.items() if code), key=lambda x: (-x[1], x[0])
        )
        digest = ProjectDigest(
            period=period,
            project=ref,
            opened=c.get("opened", 0),
            closed=c.get("closed", 0),
            merged=c.get("merged", 0),
            cards_done=c.get("card_done", 0),
            contributors=tuple(contributors),
            unattributed=g.get(None, 0),
            waiting=tuple(waiting.get(project_id, ())),
        )
        if digest.has_news:
            digests.append(digest)
    return sorted(digests, key=lambda d: (d.project.name.lower(), d.project.id))


def _event_bucket(kind: str, action: str) -> str:
    if action in OPENED:
        return "opened"
    if kind == "card":
        return "card_done" if action in CARD_DONE else "other"
    return action if action in ("closed", "merged") else "other"


def _waiting_reviews(session: Session, period: Period) -> dict[int, list[WaitingReview]]:
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
