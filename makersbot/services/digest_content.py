"""What the digests say: the domain objects of `domain/digest.py`, built from the store's rows.

The queries are in `store/digest.py` and `store/digest_projects.py`; here are the rules that
turn their rows into a week: the league's order, who counts as a first-time giver, which
projects changed phase or went quiet, the ideas offered to councils that took more than they
gave, and what a project channel hears about its week. Nothing here renders or talks to Slack.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from makersbot.domain.digest import (
    GIVE_SOURCES,
    TAKE_SOURCES,
    WEEK,
    ChartRow,
    CouncilTally,
    GiveBack,
    HubDigest,
    LiveProject,
    LookAlike,
    Opportunity,
    Period,
    PhaseChange,
    ProjectDigest,
    ProjectRef,
    StaleProject,
)
from makersbot.domain.projects import LedgerKind, Phase
from makersbot.services import similar
from makersbot.services.forgotten import forgotten_projects
from makersbot.store import digest as ledger
from makersbot.store import digest_projects as projects
from makersbot.store import projects as project_store
from makersbot.store.digest_projects import EventCount, OpenItem

STALE_AFTER = timedelta(days=28)
MAX_GIVE_BACK = 25  # councils offered ideas; a few each
IDEAS_EACH = 3
_WELCOME_LABELS = re.compile(r"^(good first issues?|help wanted|up for grabs)$")
_WELCOME_LIST = re.compile(r"help\s*wanted|up\s*for\s*grabs|good\s*first")
OPENED = {"opened", "created"}


def build_hub(session: Session, period: Period) -> HubDigest:
    """Everything the hub digest shows for a period."""
    tallies, unattributed = league(session, period)
    names = {t.code: t.name for t in tallies}
    changes, live = phase_changes(session, period)
    first = ledger.first_time_givers(session, period=period)
    return HubDigest(
        period=period,
        councils=tuple(tallies),
        first_time=tuple(sorted(names[c] for c in first)),
        unattributed_gives=unattributed,
        unverified=ledger.waiting_entries(session, period=period),
        new_projects=tuple(new_projects(session, period)),
        phase_changes=tuple(changes),
        live=tuple(live),
        give_back=tuple(give_back(session, tallies)),
        stale=tuple(stale_projects(session, period)),
        look_alikes=tuple(look_alikes(session, period)),
        forgotten=tuple(forgotten_projects(session, at=period.end)),
    )


# The league -----------------------------------------------------------------------------


def league(session: Session, period: Period) -> tuple[list[CouncilTally], int]:
    """Every council active in the period, with its previous 7 days; and unattributed gives."""
    now: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
    unattributed = 0
    for code, kind, source, n in ledger.ledger_counts(session, start=period.start, end=period.end):
        if code is None:
            # Left out of the league until `iam` maps the person; counted for the summary.
            unattributed += n if kind == LedgerKind.GIVE.value else 0
        else:
            now[code][(kind, source)] = n
    before: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    earlier = ledger.ledger_counts(session, start=period.previous_start, end=period.start)
    for code, kind, _, n in earlier:
        if code in now:
            before[code][kind] += n
    names = ledger.council_names(session, codes=set(now))
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


def chart_rows(session: Session, *, end: datetime, weeks: int = 8, top: int = 12) -> list[ChartRow]:
    """Gives and takes per council over the `weeks` before `end`: the `top` councils that
    gave most. A council that only took is left out: the chart celebrates giving, and never
    puts a council on show for reusing others' work alone."""
    totals = ledger.council_totals(session, start=end - weeks * WEEK, end=end)
    names = ledger.council_names(session, codes=set(totals))
    gave_took = {
        code: (counts.get(LedgerKind.GIVE.value, 0), counts.get(LedgerKind.TAKE.value, 0))
        for code, counts in totals.items()
        if counts.get(LedgerKind.GIVE.value, 0) > 0
    }
    ranked = sorted(
        gave_took.items(), key=lambda kv: (-kv[1][0], -(kv[1][0] + kv[1][1]), names[kv[0]])
    )
    return [
        ChartRow(council=names[code], gave=gave, took=took) for code, (gave, took) in ranked[:top]
    ]


# Projects -------------------------------------------------------------------------------


def new_projects(session: Session, period: Period) -> list[ProjectRef]:
    ids = projects.new_project_ids(session, period=period)
    refs = projects.project_refs(session, ids=ids)
    return [refs[i] for i in ids if i in refs]


def look_alikes(session: Session, period: Period) -> list[LookAlike]:
    """New projects of the period that look like projects started before them.

    The index is built once and every new project asked in one `likes` call (its names
    compared in one `cdist`), each among the projects started before it.
    """
    ids = projects.new_project_ids(session, period=period)
    if not ids:
        return []
    rows = project_store.project_texts(session)
    index = similar.SimilarityIndex((i, n, d) for i, n, d, _ in rows)
    started = {i: at for i, _, _, at in rows}
    texts = {i: (n, d) for i, n, d, _ in rows}
    asked = [i for i in ids if i in texts]
    likes = index.likes([(*texts[i], _StartedBefore(started, started[i])) for i in asked])
    found = {
        new: [like.project_id for like in alike]
        for new, alike in zip(asked, likes, strict=True)
        if alike
    }
    refs = projects.project_refs(session, ids={i for k, v in found.items() for i in (k, *v)})
    return [
        LookAlike(refs[new], tuple(refs[i] for i in older if i in refs))
        for new, older in found.items()
        if new in refs
    ]


class _StartedBefore:
    """The projects started before a moment, as a container: asked only of the few projects
    a new one looks like, instead of building a set of thousands for each new project."""

    def __init__(self, started: dict[int, datetime], moment: datetime) -> None:
        self.started = started
        self.moment = moment

    def __contains__(self, project_id: object) -> bool:
        at = self.started.get(project_id) if isinstance(project_id, int) else None
        return at is not None and at < self.moment


def phase_changes(session: Session, period: Period) -> tuple[list[PhaseChange], list[LiveProject]]:
    """Projects whose phase changed in the period; those that reached Live, with adopters."""
    latest: dict[int, tuple[str, datetime]] = {}
    went_live: set[int] = set()
    for project_id, value, at in projects.phase_updates(session, period=period):
        latest[project_id] = (value, at)
        if value == Phase.LIVE.value:
            went_live.add(project_id)
    refs = projects.project_refs(session, ids=latest)
    adopters = ledger.adopters(session, project_ids=went_live, before=period.end)
    live = [LiveProject(refs[i], tuple(adopters.get(i, ()))) for i in latest if i in went_live]
    changes = [
        PhaseChange(refs[i], value, at)
        for i, (value, at) in latest.items()
        if i not in went_live and i in refs
    ]
    return changes, live


def stale_projects(session: Session, period: Period) -> list[StaleProject]:
    """Projects, not retired, with no activity of any kind for four weeks, with their leads."""
    since = period.end - STALE_AFTER
    ids = projects.stale_project_ids(session, since=since, end=period.end)
    leads = projects.project_leads(session, project_ids=ids)
    refs = projects.project_refs(session, ids=ids)
    return sorted(
        (StaleProject(refs[i], tuple(leads.get(i, ()))) for i in ids if i in refs),
        key=lambda s: s.project.name.lower(),
    )


# Giving back ----------------------------------------------------------------------------


def _welcome(kind: str, labels: Sequence[str], state: str) -> str | None:
    """Why an open item welcomes help (its label or list), or None."""
    for label in labels:
        if _WELCOME_LABELS.match(" ".join(re.split(r"[\s_-]+", str(label).lower()))):
            return str(label)
    if kind == "card" and _WELCOME_LIST.search(state.lower()):
        return state
    return None


def _opportunities(candidates: Sequence[OpenItem]) -> list[tuple[int, Opportunity]]:
    """(project id, opportunity) of each candidate that really welcomes help."""
    items: list[tuple[int, Opportunity]] = []
    for c in candidates:
        why = _welcome(c.kind, c.labels, c.state)
        if why is not None:
            items.append((c.project_id, Opportunity(c.title, c.url, c.project, why, c.number)))
    return items


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
    items = _opportunities(projects.open_items_welcoming_help(session))
    if not items:
        return []
    took_from = ledger.taken_from(
        session, project_ids={p for p, _ in items}, codes=[t.code for t in takers]
    )
    ideas: list[GiveBack] = []
    for n, taker in enumerate(takers):
        mine = took_from.get(taker.code, set())
        own = [item for p, item in items if p in mine]
        others = [item for p, item in items if p not in mine]
        start = (n * IDEAS_EACH) % len(others) if others else 0
        chosen = (own + others[start:] + others[:start])[:IDEAS_EACH]
        ideas.append(GiveBack(taker.name, tuple(chosen)))
    return ideas


# Project digests ------------------------------------------------------------------------


def _event_bucket(kind: str, action: str) -> str:
    if action in OPENED:
        return "opened"
    if kind == "card":
        return "other"  # a card is done by moving into a done list: counted from `done`
    return action if action in ("closed", "merged") else "other"


def _activity(events: Sequence[EventCount], done: dict[int, int]) -> dict[int, dict[str, int]]:
    """Counts per project: opened, closed, merged and cards done."""
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for project_id, kind, action, n in events:
        counts[project_id][_event_bucket(kind, action)] += n
    for project_id, n in done.items():
        counts[project_id]["card_done"] += n
    return counts


def project_digests(session: Session, period: Period) -> list[ProjectDigest]:
    """The week of every project with a channel and something to say."""
    counts = _activity(
        projects.event_counts(session, period=period),
        projects.cards_moved_to_done(session, period=period),
    )
    gives = ledger.project_gives(session, period=period)
    waiting = projects.waiting_reviews(session, period=period)
    news = _project_news(session, period)
    ids = set(counts) | set(gives) | set(waiting) | set(news)
    refs = projects.project_refs(session, ids=ids)
    names = ledger.council_names(session, codes={c for g in gives.values() for c in g if c})
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
            **news.get(project_id, {}),
        )
        if digest.has_news:
            digests.append(digest)
    return sorted(digests, key=lambda d: (d.project.name.lower(), d.project.id))


def _project_news(session: Session, period: Period) -> dict[int, dict[str, Any]]:
    """Per project: the phases reached, the latest status line and the councils that
    adopted it in the period (ProjectDigest's `phases`, `status`, `adopted_by`)."""
    news: dict[int, dict[str, Any]] = defaultdict(dict)
    for project_id, kind, value in projects.project_updates(session, period=period):
        if kind == "phase":
            news[project_id]["phases"] = (*news[project_id].get("phases", ()), value)
        elif kind == "status":
            news[project_id]["status"] = value
    adoptions = projects.adoptions(session, period=period)
    names = ledger.council_names(session, codes={code for _, code in adoptions})
    for project_id, code in adoptions:
        news[project_id]["adopted_by"] = (*news[project_id].get("adopted_by", ()), names[code])
    return news
