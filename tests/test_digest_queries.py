"""The digest's queries and helpers on their edges: which projects are quiet for four weeks,
project refs read in one pass or in IN lists alike (on SQLite and PostgreSQL), and the day
a moment falls on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from makersbot.app import Bot
from makersbot.render_digest_parts import day
from makersbot.store import digest_projects
from makersbot.store.models import LedgerEntry, Link, MirrorEvent, ProjectUpdate
from tests.conftest import Clock
from tests.test_forgotten import make_project

WEEK = timedelta(weeks=1)


def test_stale_projects_are_those_with_no_act_inside_the_window(bot: Bot, clock: Clock) -> None:
    end = clock.now
    since = end - 4 * WEEK
    old = end - 30 * WEEK
    with bot.db.session() as s:
        p = {
            name: make_project(s, name, at=old)
            for name in ("idle", "ledger", "update", "event", "after-end", "before-window")
        }
        p["retired"] = make_project(s, "retired", at=old, phase="retired")
        p["new"] = make_project(s, "new", at=since + timedelta(days=1))
        link = Link(project_id=p["event"], source="github", target="o/r")
        s.add(link)
        s.flush()
        assert link.id is not None
        for n, (name, at) in enumerate(
            [("ledger", since), ("after-end", end), ("before-window", since - timedelta(seconds=1))]
        ):
            s.add(
                LedgerEntry(
                    kind="give",
                    source="gave",
                    project_id=p[name],
                    occurred_at=at,
                    dedupe_key=f"{n}",
                )
            )
        s.add(ProjectUpdate(project_id=p["update"], kind="status", value="x", at=end - WEEK))
        s.add(
            MirrorEvent(
                project_id=p["event"],
                link_id=link.id,
                item_key="i",
                kind="issue",
                action="opened",
                occurred_at=end - timedelta(seconds=1),
                dedupe_key="e",
            )
        )
    with bot.db.session(read_only=True) as s:
        stale = digest_projects.stale_project_ids(s, since=since, end=end)
    # The window is [since, end): an act at `since` counts, one at `end` or before does not.
    assert stale == {p["idle"], p["after-end"], p["before-window"]}


def test_project_refs_are_the_same_read_whole_or_in_lists(bot: Bot, clock: Clock) -> None:
    count = digest_projects.WHOLE_TABLE + 50
    with bot.db.session() as s:
        ids = [make_project(s, f"p-{n}", at=clock.now) for n in range(count)]
    wanted = set(ids[1:])  # more than WHOLE_TABLE: one pass over the table
    with bot.db.session(read_only=True) as s:
        whole = digest_projects.project_refs(s, ids=wanted)
        listed: dict[int, object] = {}
        for first in range(0, len(ids), 100):  # at most 100 at a time: IN lists
            listed.update(digest_projects.project_refs(s, ids=set(ids[first : first + 100])))
    assert set(whole) == wanted
    assert whole == {i: listed[i] for i in wanted}
    assert whole[ids[5]].slug == "p-5"


def test_a_day_is_the_date_in_the_zone_the_moment_carries() -> None:
    instant = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    tokyo = instant.astimezone(ZoneInfo("Asia/Tokyo"))
    assert instant == tokyo  # the same moment: a cache keyed by it would answer wrongly
    assert day(instant) == "30 Nov 2026"
    assert day(tokyo) == "1 Dec 2026"
    assert day(datetime(2027, 1, 5, tzinfo=UTC)) == "5 Jan 2027"
