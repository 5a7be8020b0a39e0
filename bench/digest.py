"""Benchmark: build every weekly digest (hub + all project digests) on a large network.

382 councils (real codes from the register), 5,000 projects, 1,000,000 ledger entries over
two years, plus mirrored items and events, in SQLite in a temporary directory. Then, each in
a fresh subprocess so that memory figures belong to the digest alone:

- a normal week (the last one: about 9,600 entries);
- a week with ten times the entries (about 96,000), ten weeks earlier.

For each: the time to build every digest (queries) and render every message, best of three,
the tracemalloc peak of one build + render, and the process's RSS high-water mark. Also the
time to claim and queue every message in the outbox (what `run_scheduled` adds).
Goals (printed, not asserted): under 1 s and under 300 MB for the normal week, and a cost
that follows the week's entries rather than the history.

Run from the repository root: `python bench/digest.py` (or `make bench`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from makersbot.db import Database
    from makersbot.domain.digest import Period
    from makersbot.services.digest import DigestService

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# BENCH_SCALE shrinks everything but the councils, e.g. 0.01 for the smoke test in CI.
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
COUNCILS = 382
PROJECTS = max(20, int(5_000 * SCALE))
ENTRIES = max(2_000, int(1_000_000 * SCALE))
ITEMS = max(100, int(20_000 * SCALE))
EVENTS = max(1_000, int(200_000 * SCALE))
PHASE_CHANGES = max(100, int(10_000 * SCALE))
WEEKS = 104
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # a Monday, 09:00 in London (GMT)
BUSY_END = NOW - timedelta(weeks=10)  # the week that gets ten times the entries
GIVE_SOURCES = [
    ("github:pr_merged", 30),
    ("github:review", 30),
    ("github:issue_closed", 15),
    ("trello:card_done", 15),
    ("gave", 8),
    ("start", 2),
]
TAKE_SOURCES = [("adopt", 60), ("github:fork", 40)]
GOAL_SECONDS, GOAL_MB = 1.0, 300


def stamp(moment: datetime) -> str:
    """How SQLAlchemy stores an aware datetime in SQLite: naive UTC text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def pick(rng: random.Random, weighted: list[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


Row = tuple[str, str, str | None, int, str, str, str]


def ledger_rows(
    rng: random.Random, codes: list[str], n: int, start: datetime, span: float, serial: int
) -> Iterator[Row]:
    """`n` ledger rows between start and start + span seconds: 85% gives, 10% unattributed."""
    for i in range(n):
        give = rng.random() < 0.85
        kind = "give" if give else "take"
        source = pick(rng, GIVE_SOURCES if give else TAKE_SOURCES)
        code = rng.choice(codes) if rng.random() > 0.10 else None
        at = start + timedelta(seconds=rng.random() * span)
        yield (kind, source, code, rng.randint(1, PROJECTS), "", stamp(at), f"b:{serial + i}")


PHASES = ["idea", "discovery", "alpha", "beta", "live", "retired"]
SPAN = WEEKS * 7 * 86400.0  # the two years of history, in seconds


def load(path: Path) -> None:
    """Create the schema with the migrations, then bulk-load with sqlite3 directly."""
    from makersbot.councils import default_register
    from makersbot.db import Database

    db = Database(f"sqlite:///{path}")
    db.upgrade()
    db.dispose()
    rng = random.Random(20261130)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    # Indexes are dropped during the load and built again after: much faster than keeping
    # seven indexes up to date row by row.
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL"
    ).fetchall()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    councils = sorted(default_register(), key=lambda c: c.code)[:COUNCILS]
    codes = [c.code for c in councils]
    created = stamp(NOW - timedelta(weeks=WEEKS))
    conn.executemany(
        "INSERT INTO council (code, name, short_name, nation, created_at) VALUES (?,?,?,?,?)",
        [(c.code, c.name, c.short_name, c.nation, created) for c in councils],
    )
    # Always in this order: every step draws from the same seeded generator.
    load_projects(conn, rng, codes, created)
    load_ledger(conn, rng, codes)
    load_mirror(conn, rng, created)
    conn.executemany(
        "INSERT INTO project_update (project_id, kind, value, at) VALUES (?,'phase',?,?)",
        (
            (rng.randint(1, PROJECTS), rng.choice(PHASES),
             stamp(NOW - timedelta(seconds=rng.random() * SPAN)))
            for _ in range(PHASE_CHANGES)
        ),
    )  # fmt: skip
    for _, sql in indexes:
        conn.execute(sql)
    conn.commit()
    conn.close()


def load_projects(
    conn: sqlite3.Connection, rng: random.Random, codes: list[str], created: str
) -> None:
    """One person per project, each its lead; projects created over the two years."""
    conn.executemany(
        "INSERT INTO person (id, slack_user_id, display_name, council_code, created_at) "
        "VALUES (?,?,?,?,?)",
        [
            (i, f"U{i:08d}", f"person {i}", rng.choice(codes), created)
            for i in range(1, PROJECTS + 1)
        ],
    )
    projects = []
    texts = project_texts(random.Random(20261201))  # its own generator: the rest is unchanged
    for i in range(1, PROJECTS + 1):
        made = NOW - timedelta(weeks=WEEKS) + timedelta(seconds=rng.random() * WEEKS * 7 * 86400)
        touched = made + (NOW - made) * rng.random()
        name, description = next(texts)
        projects.append(
            (i, f"project-{i}", name, rng.choice(PHASES), rng.choice(codes),
             f"C{i:08d}", f"makers-project-{i}", stamp(made), stamp(touched), i, description)
        )  # fmt: skip
    conn.executemany(
        "INSERT INTO project (id, slug, name, phase, lead_council_code, channel_id, channel_name,"
        " created_at, updated_at, created_by_id, description, status_text, revision)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,'',0)",
        projects,
    )
    conn.executemany(
        "INSERT INTO membership (project_id, person_id, role, joined_at) VALUES (?,?,'lead',?)",
        [(i, i, created) for i in range(1, PROJECTS + 1)],
    )


# What council projects are about, as councils name and describe them; each project is one
# of these with a place or audience added and a few sentences more, so that look-alikes find
# what they would on a real network: many projects share words, some share an idea.
THEMES = [
    ("Bin day reminders", "Remind residents the evening before their bin collection."),
    ("Report a missed bin", "Residents report a bin that was not collected."),
    ("Bulky waste booking", "Book and pay for the collection of sofas and fridges."),
    ("Garden waste subscription", "Sign up each year for the brown bin collection."),
    ("Pothole reporting", "Report a pothole on a map; track when it is repaired."),
    ("Street light faults", "Report a broken or flickering street light."),
    ("Resident parking permits", "Apply for, renew and pay for a parking permit."),
    ("Blue badge applications", "Apply for a disabled parking blue badge."),
    ("Council tax single person discount", "Claim the 25% single person discount."),
    ("Free school meals checker", "Check whether a child gets free school meals."),
    ("School admissions", "Apply for a school place and see offers."),
    ("Planning applications search", "Search planning applications by address."),
    ("Library room booking", "Book meeting rooms and study spaces in libraries."),
    ("Allotment waiting list", "Join the waiting list for an allotment plot."),
    ("Care home finder", "Find a care home with vacancies near you."),
    ("FOI request tracker", "Track freedom of information requests and deadlines."),
    ("Tree survey", "Survey street trees with a mobile app."),
    ("Housing repairs", "Tenants report repairs in council homes and book a visit."),
    ("Damp and mould reports", "Tenants tell us about damp and mould with photos."),
    ("Taxi licensing", "Apply for and renew taxi and private hire driver licences."),
    ("Warm spaces map", "A map of warm spaces open in winter, with opening hours."),
    ("Street trading licences", "Apply for a licence to trade on the street."),
    ("Housing register", "Apply to join the housing register for social housing."),
    ("School uniform grant", "Apply for help with the cost of school uniform."),
    ("Road closures map", "Show planned road closures and diversions."),
    ("Electoral register canvass", "Residents confirm who lives at their address."),
    ("Parking fines appeals", "Challenge a penalty charge notice online."),
    ("Pest control booking", "Book a visit for rats, mice or wasps and pay online."),
    ("Fly-tipping reports", "Report fly-tipping with a photo and a pin on the map."),
    ("Business rates relief", "Check and claim small business rates relief."),
]
PLACES = ["", "", "for tenants", "for schools", "pilot", "in rural areas", "for carers", "beta"]
MORE = [
    "Built with residents and tested with the contact centre.",
    "Works on a phone and sends a text or an email.",
    "Staff see every request in one list and answer from it.",
    "Open source, with a short guide for other councils to reuse it.",
    "Replaces a paper form and a phone call.",
    "Payments go through GOV.UK Pay.",
    "Data is shared with the county every night.",
    "Accessible to WCAG 2.2 AA, checked with screen reader users.",
    "Started after a discovery with neighbouring councils.",
    "Uses GOV.UK Notify for reminders and receipts.",
]


def project_texts(rng: random.Random) -> Iterator[tuple[str, str]]:
    """Endless (name, description) pairs drawn from THEMES."""
    while True:
        name, description = rng.choice(THEMES)
        place = rng.choice(PLACES)
        yield (
            f"{name} {place}".strip(),
            " ".join([description, *rng.sample(MORE, rng.randint(1, 4))]),
        )


def load_ledger(conn: sqlite3.Connection, rng: random.Random, codes: list[str]) -> None:
    """Two years of entries, plus nine times a week's worth in the busy week."""
    insert = (
        "INSERT INTO ledger_entry (kind, source, council_code, project_id, description,"
        " occurred_at, dedupe_key) VALUES (?,?,?,?,?,?,?)"
    )
    conn.executemany(
        insert, ledger_rows(rng, codes, ENTRIES, NOW - timedelta(weeks=WEEKS), SPAN, 0)
    )
    busy = ledger_rows(
        rng, codes, 9 * ENTRIES // WEEKS, BUSY_END - timedelta(days=7), 7 * 86400.0, ENTRIES
    )
    conn.executemany(insert, busy)


def load_mirror(conn: sqlite3.Connection, rng: random.Random, created: str) -> None:
    """Mirrored repos for a fifth of the projects, with items and two years of events."""
    links = [(i, i, "github", f"org/repo-{i}") for i in range(1, PROJECTS // 5 + 1)]
    conn.executemany(
        "INSERT INTO link (id, project_id, source, target, target_name, url, filters, created_at)"
        f" VALUES (?,?,?,?,'','','{{}}','{created}')",
        links,
    )
    labels = ['["bug"]', '["help wanted"]', '["good first issue"]', "[]", "[]", "[]"]
    items = []
    for n in range(ITEMS):
        link_id = rng.randint(1, len(links))
        kind = rng.choice(["issue", "issue", "pr"])
        seen = NOW - timedelta(days=rng.random() * 300)
        items.append(
            (link_id, f"github:org/repo-{link_id}#{n}", kind, n, f"Item {n}",
             f"https://github.com/org/repo-{link_id}/issues/{n}", "open", rng.random() < 0.6,
             rng.choice(labels), stamp(seen), stamp(seen + (NOW - seen) * rng.random()))
        )  # fmt: skip
    conn.executemany(
        "INSERT INTO mirrored_item (link_id, item_key, kind, number, title, url, state, closed,"
        " deleted, labels, people, comments, last_change, created_at, last_change_at)"
        " VALUES (?,?,?,?,?,?,?,?,0,?,'[]',0,'',?,?)",
        items,
    )
    actions = ["opened", "closed", "merged", "commented", "labeled", "moved"]
    conn.executemany(
        "INSERT INTO mirror_event (project_id, link_id, item_key, kind, action, summary,"
        " destination, done, occurred_at, dedupe_key) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            (lid, lid, f"k{n}", "card" if a == "moved" else "issue", a,
             "moved Doing → Done" if a == "moved" else "", "Done" if a == "moved" else None,
             a == "moved",
             stamp(NOW - timedelta(seconds=rng.random() * SPAN)), f"e:{n}")
            for n in range(EVENTS)
            for lid, a in [(rng.randint(1, len(links)), rng.choice(actions))]
        ),
    )  # fmt: skip


def measure(path: Path, end: datetime) -> dict[str, float]:
    """Build and render every digest for the period ending at `end` (in this process)."""
    from slack_sdk import WebClient

    from makersbot.calendar import DigestSchedule
    from makersbot.db import Database
    from makersbot.outbox import Outbox
    from makersbot.services.digest import DigestService
    from makersbot.slack_gateway import SlackGateway

    db = Database(f"sqlite:///{path}")
    client = WebClient(token="xoxb-bench", base_url="http://127.0.0.1:9/api/")
    service = DigestService(
        db,
        Outbox(),
        SlackGateway(client),
        schedule=DigestSchedule(),
        hub_channel="C00000HUB",
        clock=lambda: end,
    )
    period = service.period_ending(end)
    best, peak = time_digests(service, period)
    with sqlite3.connect(path) as conn:
        entries = conn.execute(
            "SELECT count(*) FROM ledger_entry WHERE occurred_at >= ? AND occurred_at < ?",
            (stamp(period.start), stamp(period.end)),
        ).fetchone()[0]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    began = time.perf_counter()
    run = service.run_scheduled(end)
    queued = time.perf_counter() - began
    charted, png = time_chart(db, end)
    db.dispose()
    return {
        "entries": entries,
        "build": best[0],
        "render": best[1],
        "projects": best[2],
        "messages": best[3],
        "tracemalloc_mb": peak / 2**20,
        "rss_mb": rss,
        "run_scheduled": queued,
        "posted": run.project_posts + (1 if run.hub_key else 0),
        "chart": charted,
        "png_kb": len(png) / 1024,
    }


def time_digests(
    service: DigestService, period: Period
) -> tuple[tuple[float, float, int, int], int]:
    """(build s, render s, project digests, messages) of the best of three; tracemalloc peak."""
    from makersbot.render_digest import hub_messages
    from makersbot.render_project_digest import project_messages

    def once() -> tuple[float, float, int, int]:
        began = time.perf_counter()
        hub, projects = service.build(period)
        built = time.perf_counter()
        count = len(hub_messages(hub))
        for digest in projects:
            count += len(project_messages(digest))
        return built - began, time.perf_counter() - built, len(projects), count

    once()  # warm the page cache and imports, as a running bot has them
    runs = [once() for _ in range(3)]
    best = min(runs, key=lambda r: r[0] + r[1])
    tracemalloc.start()
    once()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return best, peak


def time_chart(db: Database, end: datetime) -> tuple[float, bytes]:
    """The chart's query and PNG, as the worker draws it once the hub message is posted."""
    from makersbot import chart
    from makersbot.services.digest_content import chart_rows

    chart.render_png([], title="warm-up")
    began = time.perf_counter()
    with db.session(read_only=True) as session:
        rows = chart_rows(session, end=end)
    png = chart.render_png(rows, title="Give and take per council, 8 weeks")
    return time.perf_counter() - began, png


def child(path: Path, end: datetime) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--measure", str(path), end.isoformat()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise SystemExit(f"measuring the week to {end:%Y-%m-%d} failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def report(label: str, r: dict[str, float], *, goal: bool) -> None:
    total = r["build"] + r["render"]
    verdict = ""
    if goal:
        met = total < GOAL_SECONDS and r["rss_mb"] < GOAL_MB
        verdict = f" [{'meets' if met else 'MISSES'} the goal]"
    print(
        f"{label}: {int(r['entries']):,} entries in the period\n"
        f"  build {r['build'] * 1000:.0f} ms + render {r['render'] * 1000:.0f} ms"
        f" = {total * 1000:.0f} ms for {int(r['projects']):,} project digests + the hub"
        f" ({int(r['messages']):,} messages){verdict}\n"
        f"  memory: tracemalloc peak {r['tracemalloc_mb']:.1f} MB,"
        f" RSS high-water {r['rss_mb']:.0f} MB (the whole process)\n"
        f"  claim + queue in the outbox: {r['run_scheduled'] * 1000:.0f} ms"
        f" ({int(r['posted']):,} channels); chart query + PNG: {r['chart'] * 1000:.0f} ms"
        f" ({r['png_kb']:.0f} KB)"
    )


def loaded(path: Path) -> None:
    began = time.perf_counter()
    load(path)
    print(
        f"loaded {COUNCILS} councils, {PROJECTS:,} projects, "
        f"{ENTRIES + 9 * ENTRIES // WEEKS:,} ledger entries, {ITEMS:,} items, "
        f"{EVENTS:,} events "
        f"in {time.perf_counter() - began:.1f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", nargs=2, metavar=("DB", "END"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--db",
        type=Path,
        help="keep the loaded database in this file and measure a copy of it, loading it only "
        "when the file does not exist (to measure again without loading for 40 s; keep one "
        "file per BENCH_SCALE and schema version: an old one is not upgraded)",
    )
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure[0]), datetime.fromisoformat(args.measure[1]))))
        return 0
    with tempfile.TemporaryDirectory(prefix="makersbot-bench-") as tmp:
        path = Path(tmp) / "digest.db"
        if args.db is None:
            loaded(path)
        else:
            if not args.db.exists():
                loaded(args.db)
            shutil.copyfile(args.db, path)  # the runs queue messages: the kept file stays clean
        normal, busy = child(path, NOW), child(path, BUSY_END)
    report("normal week", normal, goal=True)
    report("10x week", busy, goal=False)
    ratio = (busy["build"] + busy["render"]) / max(normal["build"] + normal["render"], 1e-9)
    print(
        f"goal: under {GOAL_SECONDS:.0f} s and {GOAL_MB} MB for the normal week; "
        f"{busy['entries'] / max(normal['entries'], 1):.1f}x the entries cost {ratio:.1f}x the time"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
