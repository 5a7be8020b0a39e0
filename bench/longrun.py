"""Long run: 20,000 GitHub deliveries through the bot; memory and database size as it goes.

Issue 8 measured 78 MB of `delivery` rows after 20,000 deliveries, and no table was ever
pruned. This runs the same volume through the real services, with retention on (or off, for
the comparison), and prints the process's memory and the database's size at checkpoints.

- The bot is built in this process (`makersbot.app.build`) on SQLite (or `--database-url`),
  with the fake Slack and the fake GitHub in a child process, so that their recorded calls
  are not counted in this process's memory.
- One project with a linked repository (thread replies on, the default), 100 issues. The
  deliveries are signed `issues` events (opened, then labeled, edited, closed and reopened
  in turn, each with a new `updated_at`), accepted through `DeliveryService.accept_github`
  by 16 threads, in bursts of 50; after each burst the deliveries are processed and the
  outbox sent, as the worker does.
- Time is simulated: the deliveries spread over `--days` days (120 by default, longer than
  every retention period) on the bot's clock, and retention runs once per simulated day, as
  the scheduler's job would (it runs every 10 minutes).

Prints one line per checkpoint: deliveries so far, simulated day, resident memory (VmRSS)
and its peak (VmHWM), the database's size (SQLite: the file, after a WAL checkpoint, and the
pages in use; PostgreSQL: tables and indexes) and the rows of the pruned tables.

Run: `.venv/bin/python bench/longrun.py` (`--help` for the knobs; `--no-prune` for the
comparison). 20,000 deliveries take several minutes on 2 cores; `make bench` runs 4,000.
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import temp_dir, use_shared_secrets  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REPO = "octo-council/bins"
SECRET = "bench-github-secret"
ITEMS = 100
SENDERS = 16
BURST = 50
ACTIONS = ("labeled", "edited", "closed", "reopened")
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class SimClock:
    """The bot's clock, moved by the benchmark."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# The fakes, in a child process -------------------------------------------------------------


def _serve_fakes(conn: Connection) -> None:
    from tests.fakes.github import FakeGitHub
    from tests.fakes.slack import FakeSlack

    with FakeSlack() as slack, FakeGitHub() as github:
        github.add_repo(REPO)
        conn.send((slack.base_url, github.base_url))
        while (command := conn.recv()) != "stop":
            if command == "clear":  # recorded calls would grow without end
                slack.clear()
                github.clear()
            conn.send("ok")


@contextmanager
def fakes() -> Iterator[tuple[str, str, Connection]]:
    """(Slack API URL, GitHub API URL, control pipe) of the fakes' child process."""
    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    child = multiprocessing.get_context("spawn").Process(
        target=_serve_fakes, args=(theirs,), daemon=True
    )
    child.start()
    try:
        if not ours.poll(60):
            raise RuntimeError("the fakes' process did not start")
        slack_url, github_url = ours.recv()
        yield slack_url, github_url, ours
        ours.send("stop")
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.terminate()


# The bot -----------------------------------------------------------------------------------


def build_bot(database_url: str, slack_url: str, github_url: str, clock: SimClock) -> Any:
    """The bot on the fakes, migrated, with one project linked to REPO."""
    from makersbot.app import build
    from makersbot.domain.requests import Actor
    from makersbot.settings import Settings

    values: dict[str, Any] = {
        "database_url": database_url,
        "slack_bot_token": "xoxb-bench-token",
        "slack_signing_secret": "bench-signing-secret",
        "slack_api_url": slack_url,
        "github_token": "ghp_bench",
        "github_webhook_secret": SECRET,
        "github_api_url": github_url,
        "public_url": "https://makers.example.gov.uk",
        "log_level": "WARNING",
    }
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    bot = build(settings, clock=clock, per_channel_interval=0)
    bot.db.upgrade()
    alice = Actor(slack_user_id="U0ALICE", display_name="alice", request_key="bench-start")
    bot.people.set_council(alice, "Guildford")
    bot.projects.start(alice, "Bin collections")
    bot.links.link(alice, f"bin-collections github {REPO}")
    bot.sender.drain()
    use_shared_secrets(bot)  # deliveries are signed with the app-wide secret
    return bot


# Deliveries --------------------------------------------------------------------------------


def _base_payload() -> dict[str, Any]:
    path = ROOT / "tests/fixtures/github/octokit/issues/opened.payload.json"
    payload: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    payload["repository"]["full_name"] = REPO
    payload["repository"]["name"] = REPO.split("/")[1]
    payload["repository"]["owner"]["login"] = REPO.split("/")[0]
    return payload


def delivery(base: dict[str, Any], n: int, at: datetime) -> tuple[bytes, dict[str, str]]:
    """The `n`th delivery: its item's next change, signed as GitHub signs it."""
    from tests.fakes.signing import github_headers

    number, step = n % ITEMS + 1, n // ITEMS
    action = "opened" if step == 0 else ACTIONS[step % len(ACTIONS)]
    payload = copy.deepcopy(base)
    issue = payload["issue"]
    issue.update(
        number=number,
        title=f"Bin day reminders, part {number}"
        + (f" (rev {step})" if action == "edited" else ""),
        state="closed" if action == "closed" else "open",
        updated_at=at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        html_url=f"https://github.com/{REPO}/issues/{number}",
        labels=[{"name": f"label-{step % 7}", "color": "ededed", "id": step % 7}],
    )
    payload["action"] = action
    body = json.dumps(payload).encode()
    headers = github_headers(SECRET, body, "issues", str(uuid.uuid4()))
    return body, {name.lower(): value for name, value in headers.items()}


def send_burst(bot: Any, pool: ThreadPoolExecutor, burst: Sequence[tuple[bytes, Any]]) -> None:
    answers = list(pool.map(lambda d: bot.deliveries.accept_github(d[1], d[0]), burst))
    wrong = [a for a in answers if a != (200, "ok")]
    if wrong:
        raise RuntimeError(f"{len(wrong)} deliveries refused, e.g. {wrong[0]}")


# Measuring ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    sent: int
    day: float
    rss_mb: float
    peak_mb: float
    file_mb: float
    used_mb: float
    rows: dict[str, int]


PRUNED = ("delivery", "mirror_event", "slack_message")


def _proc_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def _database_mb(bot: Any) -> tuple[float, float]:
    """(on disk, in use) in MB: SQLite's file and its pages in use; PostgreSQL's relations."""
    from sqlalchemy import text

    if bot.db.is_sqlite:
        # Outside any transaction (the engine begins every one with BEGIN IMMEDIATE).
        raw = bot.db.engine.raw_connection()
        try:
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            size, pages, free = (
                raw.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("page_size", "page_count", "freelist_count")
            )
        finally:
            raw.close()
        return size * pages / 2**20, size * (pages - free) / 2**20
    with bot.db.engine.connect() as conn:
        total = conn.execute(
            text(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind = 'r'"
            )
        ).scalar()
        return int(total or 0) / 2**20, int(total or 0) / 2**20


def snapshot(bot: Any, sent: int, clock: SimClock) -> Snapshot:
    from sqlalchemy import text

    with bot.db.session(read_only=True) as session:
        rows = {
            t: int(session.execute(text(f"SELECT count(*) FROM {t}")).scalar() or 0) for t in PRUNED
        }
    file_mb, used_mb = _database_mb(bot)
    day = (clock.now - START).total_seconds() / 86400
    return Snapshot(sent, day, _proc_mb("VmRSS"), _proc_mb("VmHWM"), file_mb, used_mb, rows)


def show(snap: Snapshot) -> None:
    rows = "  ".join(f"{snap.rows[t]:>7,}" for t in PRUNED)
    print(
        f"{snap.sent:>10,}  {snap.day:>5.0f}  {snap.rss_mb:>7.1f}  {snap.peak_mb:>7.1f}  "
        f"{snap.file_mb:>8.1f}  {snap.used_mb:>8.1f}  {rows}",
        flush=True,
    )


HEADER = (
    "deliveries    day  RSS MB  peak MB   file MB   used MB  delivery  mirror_event  slack_message"
)


# The run -----------------------------------------------------------------------------------


@contextmanager
def timed(spent: dict[str, float], what: str) -> Iterator[None]:
    began = time.perf_counter()
    try:
        yield
    finally:
        spent[what] = spent.get(what, 0.0) + time.perf_counter() - began


def run(
    args: argparse.Namespace, database_url: str, spent: dict[str, float], problems: list[str]
) -> list[Snapshot]:
    """The whole run; `spent` gets seconds per phase, `problems` what `check` found."""
    from makersbot.retention import Retention, RetentionPeriods

    clock = SimClock(START)
    step = timedelta(days=args.days) / args.deliveries
    base = _base_payload()
    with fakes() as (slack_url, github_url, control), ThreadPoolExecutor(SENDERS) as pool:
        bot = build_bot(database_url, slack_url, github_url, clock)
        retention = Retention(bot.db, RetentionPeriods(), clock=clock, pause=0.01)
        snaps = [snapshot(bot, 0, clock)]
        show(snaps[-1])
        pruned_on = START.date()
        for first in range(0, args.deliveries, BURST):
            burst = []
            for n in range(first, min(first + BURST, args.deliveries)):
                clock.now = START + step * (n + 1)
                burst.append(delivery(base, n, clock.now))
            with timed(spent, "accept"):
                send_burst(bot, pool, burst)
            with timed(spent, "process"):
                bot.deliveries.process_pending()
            with timed(spent, "send"):
                bot.sender.drain()
            control.send("clear")
            control.recv()
            if args.prune and clock.now.date() != pruned_on:
                pruned_on = clock.now.date()
                with timed(spent, "prune"):
                    retention.prune()
            sent = first + len(burst)
            if sent % args.every == 0 or sent == args.deliveries:
                snaps.append(snapshot(bot, sent, clock))
                show(snaps[-1])
        problems.extend(check(bot, args.deliveries))
        bot.stop()
    return snaps


def check(bot: Any, sent: int) -> list[str]:
    """What went wrong: deliveries not processed or failed, items missing, messages unsent."""
    from sqlalchemy import text

    queries = {
        "deliveries not processed": "SELECT count(*) FROM delivery WHERE processed_at IS NULL",
        "deliveries failed": "SELECT count(*) FROM delivery WHERE error IS NOT NULL",
        "messages unsent": "SELECT count(*) FROM slack_message WHERE version > sent_version",
    }
    with bot.db.session(read_only=True) as session:
        found = {k: int(session.execute(text(q)).scalar() or 0) for k, q in queries.items()}
        items = int(session.execute(text("SELECT count(*) FROM mirrored_item")).scalar() or 0)
    problems = [f"{n} {what}" for what, n in found.items() if n]
    if items != min(ITEMS, sent):
        problems.append(f"{items} items mirrored, expected {min(ITEMS, sent)}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=4000, help="how many (issue: 20000)")
    parser.add_argument("--days", type=float, default=120.0, help="simulated days they span")
    parser.add_argument("--every", type=int, default=2000, help="deliveries between lines")
    parser.add_argument("--no-prune", dest="prune", action="store_false", help="no retention")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    args = parser.parse_args(argv)
    retention = "on (defaults: deliveries 14 d, events 90 d, sent messages 30 d)"
    print(
        f"longrun: {args.deliveries:,} deliveries for {ITEMS} issues over {args.days:.0f} "
        f"simulated days, bursts of {BURST} from {SENDERS} threads, retention "
        f"{retention if args.prune else 'off'}",
        flush=True,
    )
    print(HEADER, flush=True)
    began = time.monotonic()
    with temp_dir("makersbot-longrun-") as folder:
        url = args.database_url or f"sqlite:///{folder}/longrun.db"
        spent: dict[str, float] = {}
        problems: list[str] = []
        snaps = run(args, url, spent, problems)
    first, last = snaps[0], snaps[-1]
    print(
        f"summary: database {first.file_mb:.1f} -> {last.file_mb:.1f} MB on disk "
        f"({first.used_mb:.1f} -> {last.used_mb:.1f} MB in use); RSS {first.rss_mb:.0f} -> "
        f"{last.rss_mb:.0f} MB (peak {last.peak_mb:.0f} MB); "
        f"{time.monotonic() - began:.0f} s",
        flush=True,
    )
    print("time spent: " + ", ".join(f"{k} {v:.1f} s" for k, v in spent.items()), flush=True)
    print("correctness: " + ("; ".join(problems) if problems else "OK"), flush=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
