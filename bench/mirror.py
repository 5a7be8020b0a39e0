"""Mirror throughput and freshness: 2,000 signed GitHub/Trello deliveries to `makersbot serve`.

Seeds a SQLite database in-process (projects with channels on a FakeSlack; a GitHub repo
and a Trello board linked through `bot.links.link` against the fake GitHub and Trello, so
their webhooks are registered and nothing is polled), then runs the real server the way
production does, `makersbot serve` (one gunicorn asgi worker, requests in 8 threads, with the
outbox sender, the delivery processor and the poller inside the worker), on 127.0.0.1 only.

Each layout gets 2,000 deliveries (GitHub issues/PRs and Trello cards mixed, 50 items) in
10 bursts of 200 from 8 keep-alive clients; each item is always sent by the same client,
so an item's deliveries are acknowledged in the order they happened. The fake Slack
answers 429 (Retry-After: 1) now and then. A bare Flask app that only checks the
signatures (`bench._common:bare_webhook_app()`, same gunicorn settings) gets the same
deliveries first: the floor. After each layout the benchmark waits for the outbox to
drain, then checks every living message, board summary and thread reply against the state
it sent, and that no message was posted twice.

Layouts (`--layouts`, run in turn against the same server): `one` puts all 50 items in
one project channel (the issue's set-up), `spread` puts them in 10 project channels.
Both link with `threads:off`: with the default thread replies, every state change and
comment is one more post, never coalesced, at ~1 post/s per channel, which cannot drain
in a bounded run; the summary prints how many the plan would add. `spread+threads` (and
`one+threads`) keep the default and measure them (about 3 more minutes for spread).

Prints accepted deliveries/s (real, floor, ratio; goal >= 0.5x), p50/p99 time from a
delivery's 2xx to the first Slack call showing it and from each item's last delivery to
its final message, Slack calls per delivery (goal <= 0.2), 429s, the server's peak
memory, and correctness. Goals are printed, not asserted; the exit status is 1 only when a
response or the mirrored state is wrong.

`--topology procfile` runs the Procfile's processes instead (release, web with its gunicorn
workers, two `makersbot worker`) on PostgreSQL, with Slack failing 20% of chat calls
(`--faults`); see bench/_mirror/topology.py.

Run: `.venv/bin/python bench/mirror.py` (or `make bench`); `--help` lists the knobs.
"""

from __future__ import annotations

import argparse
import logging
import random
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# The parts, in the order a run uses them: bench/_mirror/__init__.py lists them.
from bench._common import Gunicorn, Server, clean_env, temp_dir  # noqa: E402
from bench._mirror.check import Outcome, analyse  # noqa: E402
from bench._mirror.layout import (  # noqa: E402
    LAYOUTS,
    TRELLO_KEY,
    TRELLO_TOKEN,
    Delivery,
    Layout,
    make_layout,
)
from bench._mirror.plan import Planner, bursts_of  # noqa: E402
from bench._mirror.report import Results, report  # noqa: E402
from bench._mirror.send import Sent, bad_acks, send_all  # noqa: E402
from bench._mirror.serve import (  # noqa: E402
    Serve,
    free_port,
    pending_deliveries,
    seed,
    settings_env,
    wait_drained,
)

if TYPE_CHECKING:
    from tests.fakes.slack import FakeSlack


def run_layout(
    layout: Layout,
    plan: Sequence[Delivery],
    serve: Serve,
    fake: FakeSlack,
    db_path: Path,
    args: argparse.Namespace,
) -> tuple[Outcome, list[str]]:
    """Send a layout's bursts to the served bot, inject 429s, wait, analyse."""
    start_calls = len(fake.calls())
    cpu_before = serve.cpu_seconds()
    rate_limited = {2, 5, 8}  # before these bursts the fake's next chat.update answers 429
    injected = 0

    def before_burst(n: int) -> None:
        nonlocal injected
        if n in rate_limited:
            fake.fail_next("chat.update", 429, retry_after=1)
            injected += 1
        if n == 6:
            fake.fail_next("chat.postMessage", 429, retry_after=1)
            injected += 1

    bursts = bursts_of(plan, args.bursts)
    sent = send_all(
        serve.port,
        bursts,
        layout.items,
        lanes=args.concurrency,
        pause=args.pause,
        before_burst=before_burst,
    )
    last = max(ack.at for ack in sent.acks)
    timings = wait_drained(serve, db_path, last, args.drain_timeout)
    time.sleep(0.3)  # let a call in flight land in the fake's record
    cpu = serve.cpu_seconds() - cpu_before
    all_calls = fake.calls()
    problems = bad_acks(sent, b"ok")
    outcome = analyse(layout, sent, fake, all_calls[start_calls:], all_calls, cpu, timings)
    outcome.injected = injected
    if timings[1] is None:
        outcome.problems.insert(
            0, f"outbox not drained {args.drain_timeout:.0f} s after the last 2xx"
        )
    return outcome, problems


def run_floor(
    env: dict[str, str],
    workdir: Path,
    warm: tuple[Layout, list[Delivery]],
    first: tuple[Layout, list[Delivery]],
    args: argparse.Namespace,
    problems: list[str],
) -> tuple[Sent, int]:
    """The bare HMAC-only app gets the warm-up, then the first layout's deliveries.

    Returns what it accepted and its worker's peak RSS (KiB); wrong answers go to `problems`.
    """
    # `makersbot serve`'s own settings (makersbot/server.py): one asgi worker, the WSGI app
    # behind the same buffering front.
    serve_like = Gunicorn(worker_class="asgi", threads=1, workers=1)
    app = serve_like.app("bench._common:bare_webhook_app()")
    with Server("bare", app, env, workdir, gunicorn=serve_like) as bare:
        warm_sent = send_all(bare.port, [warm[1]], warm[0].items, lanes=args.concurrency, pause=0)
        problems += bad_acks(warm_sent, b"ok")
        floor = send_all(
            bare.port,
            bursts_of(first[1], args.bursts),
            first[0].items,
            lanes=args.concurrency,
            pause=min(args.pause, 0.2),
        )
        problems += [f"floor: {p}" for p in bad_acks(floor, b"ok")]
        return floor, bare.peak_rss_kib()


def run_served(
    serve: Serve,
    fake: FakeSlack,
    db_path: Path,
    warm: tuple[Layout, list[Delivery]],
    plans: Sequence[tuple[Layout, list[Delivery]]],
    args: argparse.Namespace,
    problems: list[str],
) -> list[Outcome]:
    """The warm-up, then every layout in turn, against the one `makersbot serve`."""
    warm_sent = send_all(serve.port, [warm[1]], warm[0].items, lanes=args.concurrency, pause=0)
    # The warm-up goes to a repo and board no project links: acknowledged and ignored.
    problems += [f"warm-up: {p}" for p in bad_acks(warm_sent, b"ignored: not linked")]
    wait_drained(serve, db_path, time.time(), 30)
    outcomes = []
    for layout, plan in plans:
        outcome, bad = run_layout(layout, plan, serve, fake, db_path, args)
        outcomes.append(outcome)
        problems += [f"{layout.name}: {p}" for p in bad]
    _, failed = pending_deliveries(db_path)
    if failed:
        problems.append(f"{failed} deliveries failed processing (delivery.error set)")
    return outcomes


def measure(args: argparse.Namespace) -> int:
    """Seed, serve, send the floor then every layout, check, report."""
    from makersbot.settings import Settings
    from tests.fakes.github import FakeGitHub
    from tests.fakes.slack import FakeSlack
    from tests.fakes.trello import FakeTrello

    layouts = [
        make_layout(name, concurrency=args.concurrency, number=n + 1)
        for n, name in enumerate(args.layouts)
    ]
    # The same seed for every layout: each gets the same sequence of changes.
    plans = [(lay, Planner(lay, random.Random(args.seed)).plan(args.deliveries)) for lay in layouts]
    warm_layout = make_layout("warm", concurrency=args.concurrency)
    warm = (warm_layout, Planner(warm_layout, random.Random(args.seed)).plan(args.warmup))
    problems: list[str] = []
    with (
        temp_dir("makersbot-bench-mirror-") as tmp,
        FakeSlack() as fake,
        FakeGitHub() as github,
        FakeTrello(api_key=TRELLO_KEY, token=TRELLO_TOKEN) as trello,
    ):
        workdir = Path(tmp)
        db_path = workdir / "bench.db"
        port = free_port()
        env = settings_env(
            fake.base_url, github.base_url, trello.base_url, f"sqlite:///{db_path}", port
        )
        began = time.perf_counter()
        seed(env, layouts, github, trello)
        seeded_in = time.perf_counter() - began
        api_before = len(github.requests) + len(trello.requests)
        server_env = clean_env(drop=list(Settings.model_fields), **env)
        floor, floor_rss = run_floor(server_env, workdir, warm, plans[0], args, problems)
        with Serve(server_env, workdir, port) as serve:
            outcomes = run_served(serve, fake, db_path, warm, plans, args, problems)
            rss = (*serve.peak_rss_kib(), serve.pss_kib())
            log_problems = serve.log_problems()
        api_calls = len(github.requests) + len(trello.requests) - api_before
    results = Results(floor, floor_rss, outcomes, rss, log_problems, seeded_in, api_calls)
    report(args, results)
    for problem in problems[:10]:
        print(f"  error: {problem}")
    if len(problems) > 10:
        print(f"  …and {len(problems) - 10} more")
    wrong = problems or any(out.problems for out in outcomes)
    return 1 if wrong else 0


def layout_names(text: str) -> list[str]:
    """`--layouts`: known names, each once."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in LAYOUTS]
    if unknown or not names or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"use distinct names among {', '.join(LAYOUTS)}")
    return names


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=2000, help="per layout")
    parser.add_argument("--bursts", type=int, default=10, help="bursts per layout")
    parser.add_argument("--concurrency", type=int, default=8, help="clients in flight")
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between bursts")
    parser.add_argument("--warmup", type=int, default=48, help="deliveries to unlinked items")
    parser.add_argument(
        "--layouts",
        type=layout_names,
        default=["one", "spread"],
        help=f"comma-separated, run in turn: {', '.join(LAYOUTS)} (default: one,spread)",
    )
    parser.add_argument("--drain-timeout", type=float, default=120.0, help="seconds per layout")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the plan")
    parser.add_argument(
        "--topology",
        choices=("serve", "procfile"),
        default="serve",
        help="serve: `makersbot serve` on SQLite (default); procfile: the Procfile's release, "
        "web and two workers on PostgreSQL (bench/_mirror/topology.py)",
    )
    parser.add_argument(
        "--faults", type=float, default=0.2, help="procfile: share of chat calls Slack fails"
    )
    parser.add_argument(
        "--database-url",
        help="procfile: PostgreSQL server (default MAKERSBOT_BENCH_POSTGRES_URL or "
        "MAKERSBOT_TEST_POSTGRES_URL); a fresh schema is made and dropped",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    # SIGTERM (run_all's timeout) unwinds like Ctrl-C: servers stop, temporary files go.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.topology == "procfile":
        from bench._mirror.topology import measure_procfile

        return measure_procfile(args)
    return measure(args)


if __name__ == "__main__":
    sys.exit(main())
