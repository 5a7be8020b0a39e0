"""The catalogue's pure parts: quarters, buckets, CHAOSS arithmetic, text made public, the
chart's geometry, the page cache; and migration 0003 on a database with projects in it."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from sqlalchemy import text

from makersbot.catalogue import metrics
from makersbot.catalogue.cache import PageCache
from makersbot.catalogue.chart import bar_chart
from makersbot.catalogue.text import EMAIL, MEMBER, public_text
from makersbot.db import Database, alembic_config
from makersbot.domain.catalogue import Bucket
from makersbot.store import catalogue_counts
from makersbot.store.ledger import NewEntry, add_ledger_entry
from makersbot.store.models import Council, Project

LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    ("gives", "factor"),
    [
        ([], 0),
        ([0, 0], 0),
        ([10], 1),
        ([5, 5], 1),  # one council makes exactly half
        ([4, 3, 3], 2),
        ([1] * 10, 5),
        ([50, 30, 10, 5, 5], 1),
        ([30, 30, 20, 20], 2),
    ],
)
def test_elephant_factor(gives: list[int], factor: int) -> None:
    assert metrics.elephant_factor(gives) == factor


def test_diversity_reads_the_stores_figures() -> None:
    q4 = metrics.quarter(2026, 4, LONDON)
    d = metrics.diversity((3, 1, 2, 40), q4)
    assert (d.contributing, d.new_this_quarter, d.elephant_factor, d.attributed_gives) == (
        3,
        1,
        2,
        40,
    )
    assert d.quarter == "2026-Q4"
    assert metrics.diversity(None, q4).contributing == 0


@pytest.mark.parametrize(
    "gives",
    [[10], [5, 5], [4, 3, 3], [1] * 10, [50, 30, 10, 5, 5], [30, 30, 20, 20], [7, 1, 1, 1]],
)
def test_the_databases_elephant_factor_matches_the_definition(
    database_url: str, gives: list[int]
) -> None:
    db = Database(database_url)
    db.upgrade()
    q4 = metrics.quarter(2026, 4, LONDON)
    codes = ["ADU", "BNH", "GRT", "LDS", "CRF", "FIF", "BFS", "WOI", "ABE", "ABD"]
    with db.session() as session:
        session.add(Project(id=1, slug="p", name="P"))
        for code in codes[: len(gives)]:
            session.add(Council(code=code, name=code, short_name=code))
        session.flush()
        for i, (code, n) in enumerate(zip(codes, gives, strict=False)):
            for j in range(n):
                # The second council's first give is this quarter; the others' are older.
                at = (
                    datetime(2026, 11, 1, tzinfo=UTC)
                    if i == 1
                    else datetime(2025, 1, 1, tzinfo=UTC)
                )
                add_ledger_entry(session, entry=NewEntry(
                    kind="give", source="gave", dedupe_key=f"{code}:{j}", occurred_at=at,
                    project_id=1, council_code=code,
                ))  # fmt: skip
        add_ledger_entry(session, entry=NewEntry(
            kind="give", source="gave", dedupe_key="nobody", occurred_at=q4.start, project_id=1
        ))  # fmt: skip
    with db.session(read_only=True) as session:
        figures = catalogue_counts.organisational_diversity(
            session, project_ids=[1, 2], since=q4.start
        )
    db.dispose()
    new = 1 if len(gives) > 1 else 0
    assert figures == {1: (len(gives), new, metrics.elephant_factor(gives), sum(gives))}


def test_quarters_follow_the_local_calendar() -> None:
    q3 = metrics.parse_period("2026-Q3", LONDON)
    assert q3.start == datetime(2026, 6, 30, 23, tzinfo=UTC)  # midnight, British summer time
    assert q3.end == datetime(2026, 9, 30, 23, tzinfo=UTC)
    assert metrics.quarter_of(datetime(2026, 9, 30, 23, 30, tzinfo=UTC), LONDON).key == "2026-Q4"
    assert metrics.previous(metrics.quarter(2026, 1, LONDON), LONDON).key == "2025-Q4"
    assert [p.key for p in metrics.last_quarters(q3.start, LONDON, 3)] == [
        "2026-Q1",
        "2026-Q2",
        "2026-Q3",
    ]
    assert metrics.quarter_label(q3) == "Q3 2026"
    for bad in ("2026-Q5", "2026Q1", "26-Q1", "", "2026-Q1; drop"):
        with pytest.raises(ValueError, match="2026-Q4"):
            metrics.parse_period(bad, LONDON)


def test_month_buckets_follow_local_months(database_url: str) -> None:
    db = Database(database_url)
    db.upgrade()
    now = datetime(2026, 4, 15, tzinfo=UTC)
    months = metrics.last_months(now, LONDON, 3)
    assert [label for label, _ in months] == ["Feb 2026", "Mar 2026", "Apr 2026"]
    entries = [
        ("give", datetime(2026, 1, 31, 23, 59, tzinfo=UTC)),  # before the first: ignored
        ("give", datetime(2026, 2, 1, 0, 0, tzinfo=UTC)),
        ("take", datetime(2026, 2, 10, tzinfo=UTC)),
        ("give", datetime(2026, 3, 31, 23, 0, tzinfo=UTC)),  # 00:00 on 1 April in London
        ("give", datetime(2026, 3, 2, tzinfo=UTC)),
        ("take", datetime(2026, 4, 14, tzinfo=UTC)),
    ]
    with db.session() as session:
        session.add(Project(id=1, slug="p", name="P"))
        session.flush()
        for i, (kind, at) in enumerate(entries):
            add_ledger_entry(session, entry=NewEntry(
                kind=kind, source="gave", dedupe_key=f"e{i}", occurred_at=at, project_id=1
            ))  # fmt: skip
    with db.session(read_only=True) as session:
        counts = catalogue_counts.bucket_counts(
            session, bounds=[start for _, start in months], project_id=1
        )
    db.dispose()
    assert counts == [(1, 1), (1, 0), (1, 1)]
    labelled = metrics.buckets(counts, months)
    assert [(b.label, b.start.day, b.total) for b in labelled] == [
        ("Feb 2026", 1, 2),
        ("Mar 2026", 1, 1),
        ("Apr 2026", 1, 2),
    ]


def test_public_text_removes_people_and_unwraps_markup() -> None:
    typed = (
        "Thanks <@U012ABCDEF|alice> and <@W0ABC>! <!channel> see <#C0123ABC|makers-bins>, "
        "<https://example.org/report|the report>, <mailto:bob@council.gov.uk|Bob>, "
        "carol.smith+x@example.co.uk &amp; 3 &lt; 4"
    )
    shown = public_text(typed)
    assert shown == (
        f"Thanks {MEMBER} and {MEMBER}! see #makers-bins, the report, {EMAIL}, {EMAIL} & 3 < 4"
    )


def test_chart_scales_bars_and_says_what_it_shows() -> None:
    buckets = [
        Bucket("Jan 2026", datetime(2026, 1, 1).date(), 2, 0),
        Bucket("Feb 2026", datetime(2026, 2, 1).date(), 0, 0),
        Bucket("Mar 2026", datetime(2026, 3, 1).date(), 3, 1),
    ]
    chart = bar_chart(buckets, what="gives and takes")
    tallest = chart.bars[2]
    assert tallest.y + tallest.height == chart.baseline and chart.bars[1].height == 0
    assert chart.bars[0].height == pytest.approx(tallest.height / 2)
    assert [b.label for b in chart.bars] == ["Jan", "Feb", "Mar"]
    assert chart.summary == (
        "6 gives and takes from Jan 2026 to Mar 2026; the most, 4, in Mar 2026."
    )
    empty = bar_chart([Bucket("Q1 2026", datetime(2026, 1, 1).date(), 0, 0)], what="gives")
    assert empty.summary == "No gives from Q1 2026 to Q1 2026." and empty.bars[0].label == "Q1 26"


def test_page_cache_keeps_recent_pages_and_forgets_old_ones() -> None:
    cache = PageCache(size=2, ttl=60)
    builds: list[str] = []

    def build(name: str) -> str:
        builds.append(name)
        return name.upper()

    assert cache.get_or_build("a", lambda: build("a")) == "A"
    assert cache.get_or_build("a", lambda: build("a")) == "A"
    cache.get_or_build("b", lambda: build("b"))
    cache.get_or_build("c", lambda: build("c"))  # "a" is the least recently used: dropped
    cache.get_or_build("a", lambda: build("a"))
    assert builds == ["a", "b", "c", "a"]
    stale = PageCache(ttl=0)
    stale.get_or_build("x", lambda: build("x"))
    stale.get_or_build("x", lambda: build("x"))
    assert builds[-2:] == ["x", "x"]


def test_page_cache_keeps_one_version_of_each_page() -> None:
    # Each page was cached under (stamp, page): with a new ledger entry before every
    # request, old versions of the council league piled up until the LRU dropped them, and
    # full garbage collections over them took 60-120 ms of /councils' requests.
    cache = PageCache(size=512, ttl=60)
    builds: list[int] = []

    def build(stamp: int) -> int:
        builds.append(stamp)
        return stamp

    for stamp in range(1, 51):
        assert cache.get_or_build("league", partial(build, stamp), version=stamp) == stamp
    assert len(cache) == 1 and builds == list(range(1, 51))
    assert cache.get_or_build("league", lambda: -1, version=50) == 50  # still a hit


def test_migration_0003_keeps_existing_projects_public(database_url: str) -> None:
    db = Database(database_url)
    config = alembic_config(database_url)
    command.upgrade(config, "0002")
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO project (slug, name, description, phase, status_text, created_at,"
                " updated_at, revision) VALUES ('old', 'Old', '', 'idea', '', :t, :t, 0)"
            ),
            {"t": datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None)},
        )
    command.upgrade(config, "head")
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT visibility FROM project")).scalar_one() == "public"
    command.downgrade(config, "0002")
    command.upgrade(config, "head")
    db.dispose()
