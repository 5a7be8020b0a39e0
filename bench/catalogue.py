"""Benchmark: the public catalogue's pages on a large network.

382 councils (real codes from the register), 5,000 projects (2% private), 20,000 people,
about 15,000 memberships, 1,000,000 ledger entries over two years, 200,000 mirrored events
and 20,000 phase and status updates, in SQLite in a temporary directory. Then, through the
WSGI app (Flask's test client, in this process), the latency of:

- `/` (the first page of the catalogue, most recently active first),
- a project page (a different project each time),
- a council page (a different council each time),
- `/catalogue.json` (a different page each time),
- `/councils` (every council with its figures for this quarter).

Each is measured twice: "busy", with a new ledger entry written before every request so that
no page can come from the cache (what a network with constant GitHub activity sees), and
"quiet", where repeated addresses come from the page cache. p50 and p99 for each; the goal
(printed, not asserted) is p99 under 200 ms for every page, busy or quiet.

Run from the repository root: `python bench/catalogue.py` (or `make bench`).
`BENCH_SCALE=0.01` shrinks everything but the councils (the test suite's smoke run).
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
COUNCILS = 382
PROJECTS = max(30, int(5_000 * SCALE))
PEOPLE = max(100, int(20_000 * SCALE))
ENTRIES = max(2_000, int(1_000_000 * SCALE))
EVENTS = max(1_000, int(200_000 * SCALE))
UPDATES = max(100, int(20_000 * SCALE))
WEEKS = 104
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
GOAL_MS = 200.0
PHASES = ["idea", "discovery", "alpha", "beta", "live", "retired"]


def stamp(moment: datetime) -> str:
    """How SQLAlchemy stores an aware datetime in SQLite: naive UTC text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def ledger_rows(rng: random.Random, codes: list[str], n: int) -> Iterator[tuple[object, ...]]:
    span = WEEKS * 7 * 86400.0
    for i in range(n):
        give = rng.random() < 0.85
        code = rng.choice(codes) if rng.random() > 0.10 else None
        at = NOW - timedelta(seconds=rng.random() * span)
        yield (
            "give" if give else "take",
            rng.choice(["github:pr_merged", "github:review", "gave"]) if give else "adopt",
            code,
            rng.randint(1, PROJECTS),
            rng.randint(1, PEOPLE),
            stamp(at),
            f"b:{i}",
        )


def load(path: Path) -> list[str]:
    """Create the schema with the migrations, then bulk-load with sqlite3 directly.
    Returns the council codes used."""
    from makersbot.councils import default_register
    from makersbot.db import Database

    db = Database(f"sqlite:///{path}")
    db.upgrade()
    db.dispose()
    rng = random.Random(20261130)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
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
    conn.executemany(
        "INSERT INTO person (id, slack_user_id, display_name, council_code, github_login,"
        " created_at) VALUES (?,?,?,?,?,?)",
        [
            (i, f"U{i:08d}", f"Person {i}", rng.choice(codes), f"login-{i}", created)
            for i in range(1, PEOPLE + 1)
        ],
    )
    words = ["bins", "potholes", "planning", "parking", "housing", "library", "waste",
             "licensing", "council tax", "school", "transport", "garden", "permits"]  # fmt: skip
    projects, members = [], []
    for i in range(1, PROJECTS + 1):
        made = NOW - timedelta(seconds=rng.random() * WEEKS * 7 * 86400)
        touched = made + (NOW - made) * rng.random()
        lead = rng.randint(1, PEOPLE)
        topic = rng.choice(words)
        projects.append(
            (i, f"project-{i}", f"Project {i} {topic}", f"Shared {topic} service number {i}.",
             rng.choice(PHASES), None, f"C{i:08d}", f"makers-project-{i}", stamp(made),
             stamp(touched), lead, "private" if i % 50 == 0 else "public")
        )  # fmt: skip
        members.append((i, lead, "lead", stamp(made)))
        for other in rng.sample(range(1, PEOPLE + 1), rng.randint(0, 4)):
            if other != lead:
                role = "adopter" if rng.random() < 0.3 else "maker"
                members.append((i, other, role, stamp(made + (NOW - made) * rng.random())))
    conn.executemany(
        "INSERT INTO project (id, slug, name, description, phase, lead_council_code, channel_id,"
        " channel_name, created_at, updated_at, created_by_id, visibility, status_text, revision)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,'',0)",
        projects,
    )
    conn.execute(
        "UPDATE project SET lead_council_code ="
        " (SELECT council_code FROM person WHERE person.id = project.created_by_id)"
    )
    conn.executemany(
        "INSERT INTO membership (project_id, person_id, role, joined_at) VALUES (?,?,?,?)",
        members,
    )
    conn.executemany(
        "INSERT INTO ledger_entry (kind, source, council_code, project_id, person_id,"
        " occurred_at, dedupe_key, description) VALUES (?,?,?,?,?,?,?,'')",
        ledger_rows(rng, codes, ENTRIES),
    )
    links = [
        (i, i, "github", f"org-{i}/repo-{i}", f"Org-{i}/repo-{i}", f"https://github.com/org-{i}/repo-{i}")
        for i in range(1, PROJECTS // 5 + 1)
    ]  # fmt: skip
    conn.executemany(
        "INSERT INTO link (id, project_id, source, target, target_name, url, filters, created_at)"
        f" VALUES (?,?,?,?,?,?,'{{}}','{created}')",
        links,
    )
    span = WEEKS * 7 * 86400.0
    conn.executemany(
        "INSERT INTO mirror_event (project_id, link_id, item_key, kind, action, summary, done,"
        " occurred_at, dedupe_key) VALUES (?,?,?,'issue','opened','',0,?,?)",
        (
            (lid, lid, f"k{n}", stamp(NOW - timedelta(seconds=rng.random() * span)), f"e:{n}")
            for n in range(EVENTS)
            for lid in [rng.randint(1, len(links))]
        ),
    )
    conn.executemany(
        "INSERT INTO project_update (project_id, kind, value, at) VALUES (?,?,?,?)",
        (
            (rng.randint(1, PROJECTS), kind,
             rng.choice(PHASES) if kind == "phase" else "Research done with three councils.",
             stamp(NOW - timedelta(seconds=rng.random() * span)))
            for _ in range(UPDATES)
            for kind in [rng.choice(["phase", "status"])]
        ),
    )  # fmt: skip
    for _, sql in indexes:
        conn.execute(sql)
    conn.commit()
    conn.close()
    return codes


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def measure(path: Path, codes: list[str], requests: int) -> list[tuple[str, str, float, float]]:
    """(page, mode, p50 ms, p99 ms) for each page in busy and quiet mode."""
    from pydantic import SecretStr

    from makersbot.app import build
    from makersbot.settings import Settings
    from makersbot.store import ledger as ledger_store
    from makersbot.web import create_web_app

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{path}",
        slack_bot_token=SecretStr("xoxb-bench"),
        slack_signing_secret=SecretStr("bench-secret"),
        slack_api_url="http://127.0.0.1:9/api/",
    )
    bot = build(settings, clock=lambda: NOW)
    http = create_web_app(bot).test_client()
    rng = random.Random(7)
    public = [i for i in range(1, PROJECTS + 1) if i % 50]
    pages = -(-len(public) // 50)  # /catalogue.json has 50 projects a page
    kinds: dict[str, Callable[[], str]] = {
        "/": lambda: "/",
        "project page": lambda: f"/projects/project-{rng.choice(public)}",
        "council page": lambda: f"/councils/{rng.choice(codes)}",
        "/catalogue.json": lambda: f"/catalogue.json?page={rng.randint(1, pages)}",
        "/councils": lambda: "/councils",
    }
    serial = 0

    def touch() -> None:
        # A new ledger entry: the catalogue's stamp changes, so nothing comes from the cache.
        nonlocal serial
        serial += 1
        with bot.db.session() as session:
            ledger_store.add_ledger_entry(
                session,
                entry=ledger_store.NewEntry(
                    kind="give", source="gave", dedupe_key=f"bench:{serial}", occurred_at=NOW,
                    project_id=rng.randint(1, PROJECTS), council_code=rng.choice(codes),
                ),
            )  # fmt: skip

    results = []
    for name, address in kinds.items():
        for mode in ("busy", "quiet"):
            for _ in range(5):  # warm-up: imports, templates, the page cache
                http.get(address())
            samples = []
            for _ in range(requests):
                url = address()
                if mode == "busy":
                    touch()
                began = time.perf_counter()
                response = http.get(url)
                samples.append((time.perf_counter() - began) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{url} answered {response.status_code}")
            results.append((name, mode, statistics.median(samples), percentile(samples, 99)))
    bot.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=int(os.environ.get("BENCH_REQUESTS", 200)))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="makersbot-bench-") as tmp:
        path = Path(tmp) / "catalogue.db"
        began = time.perf_counter()
        codes = load(path)
        print(
            f"loaded {COUNCILS} councils, {PROJECTS:,} projects, {PEOPLE:,} people, "
            f"{ENTRIES:,} ledger entries, {EVENTS:,} events, {UPDATES:,} updates "
            f"in {time.perf_counter() - began:.1f} s"
        )
        results = measure(path, codes, args.requests)
    print(f"catalogue latency ({args.requests} requests each, Flask test client, SQLite):")
    worst = 0.0
    for name, mode, p50, p99 in results:
        worst = max(worst, p99)
        print(f"  {name:16} {mode:5}  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms")
    verdict = "met" if worst < GOAL_MS else "MISSED"
    print(f"goal: p99 under {GOAL_MS:.0f} ms for every page: {verdict} (worst p99 {worst:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
