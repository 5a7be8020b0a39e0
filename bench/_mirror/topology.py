"""`bench/mirror.py --topology procfile`: the Procfile's processes on PostgreSQL, with faults.

The database is a fresh schema on the PostgreSQL server given (`--database-url`, else
MAKERSBOT_BENCH_POSTGRES_URL or MAKERSBOT_TEST_POSTGRES_URL), dropped at the end. `release`
migrates it, the layouts are seeded in-process, then `web` (gunicorn, as the Procfile line
says) and two `makersbot worker` processes run while the deliveries are sent to web and
Slack fails `--faults` of the chat calls (half 429 with Retry-After: 1, half 503). The floor
is the bare HMAC app under the Procfile's gunicorn settings, measured before the topology
starts and again after it stops, and pooled: a shared VM's speed drifts between the two.
The goal is taken against it, a Flask app that only checks signatures. The bot takes its
deliveries without Flask (makersbot/webhook_front.py), so a like-for-like floor is
reported beside it: the same HMAC check behind that same front, measured the same way.

Besides the figures of a `serve` run, each layout reports the time from the last 2xx until
every item shows its final state, against the pacing bound: when an ideal sender, held back
only by SLACK_CHANNEL_PACE and by the very 429s Slack answered ours, would have shown every
item (bench/_mirror/bound.py says why the backlog of earlier bursts and those 429s count).
For comparison the report also gives the bound first used: the calls the last burst alone
made necessary in its busiest channel, one per changed message, at the pace.
"""

from __future__ import annotations

import argparse
import os
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from bench._common import (
    Gunicorn,
    Server,
    children_of,
    clean_env,
    cpu_seconds,
    procfile_web,
    temp_dir,
)
from bench._mirror.bound import RecordedSlack, ideal_finish
from bench._mirror.check import Outcome, analyse, meta_key
from bench._mirror.layout import TRELLO_KEY, TRELLO_TOKEN, Delivery, Layout, make_layout
from bench._mirror.plan import Planner, bursts_of
from bench._mirror.procfile import Probe, Topology
from bench._mirror.report import report_layout, secs
from bench._mirror.send import Sent, bad_acks, send_all
from bench._mirror.serve import free_port, seed, settings_env

PACE = 1.0  # SLACK_CHANNEL_PACE's default: the pacing the bound assumes
GOAL_SLACK = 5.0  # seconds allowed beyond the pacing bound


def postgres_url(args: argparse.Namespace) -> str:
    url = (
        args.database_url
        or os.environ.get("MAKERSBOT_BENCH_POSTGRES_URL")
        or os.environ.get("MAKERSBOT_TEST_POSTGRES_URL")
    )
    if not url or not url.startswith("postgresql"):
        raise SystemExit(
            "--topology procfile needs PostgreSQL: --database-url or MAKERSBOT_BENCH_POSTGRES_URL"
        )
    return url


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """A new, empty schema on the server for this run (the URL sets its search_path)."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in url else "?"
    try:
        yield f"{url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def _ms_per(sent: Sent) -> str:
    return f"{1000 * sent.server_cpu / max(1, len(sent.acks)):.2f}"


def last_burst_bound(layout: Layout, last_burst: Sequence[Delivery]) -> float:
    """Seconds of pacing the last burst alone makes necessary: in its busiest channel, one
    call per message the burst changed (items and board summaries). Shown for comparison:
    it leaves out what earlier bursts left waiting, and the 429s."""
    changed: dict[str, set[str]] = defaultdict(set)
    for delivery in last_burst:
        item = layout.items[delivery.item]
        changed[item.channel] |= {item.message_key, layout.summary_keys[item.container]}
    return max((len(keys) for keys in changed.values()), default=0) * PACE


def final_state_after(outcome: Outcome) -> float:
    """Seconds from the last 2xx until the last item showed its final state."""
    return outcome.final_shown_at - max(ack.at for ack in outcome.sent.acks)


def _tally(problems: Sequence[str]) -> tuple[int, int, int]:
    """(wrong, duplicate, missing) among a layout's problems."""
    duplicate = sum(1 for p in problems if "posted twice" in p or "messages in the" in p)
    missing = sum(1 for p in problems if "no message" in p or "never shown" in p)
    return len(problems) - duplicate - missing, duplicate, missing


def run_floor(
    env: dict[str, str], workdir: Path, plan: list[Delivery], layout: Layout, *, front: bool = False
) -> Sent:
    """The bare HMAC-only app under the Procfile web line's gunicorn settings: in Flask, or
    (`front`) behind the bot's webhook front, without Flask, as the bot takes deliveries."""
    web: Gunicorn = procfile_web()
    if front:
        floor = "bench._common:bare_webhook_front()"
    else:
        floor = web.app("bench._common:bare_webhook_app()")  # as the web line serves an app
    with Server("bare", floor, env, workdir, gunicorn=web) as bare:
        send_all(bare.port, [plan[:48]], layout.items, lanes=8, pause=0)  # warm-up
        processes = [bare.pid, *children_of(bare.pid)]
        before = cpu_seconds(processes)
        sent = send_all(bare.port, bursts_of(plan, 10), layout.items, lanes=8, pause=0.2)
        sent.server_cpu = cpu_seconds(processes) - before
        return sent


def measure_procfile(args: argparse.Namespace) -> int:
    """Seed, run the Procfile topology, send every layout with faults, check, report."""
    from makersbot.settings import Settings
    from tests.fakes.github import FakeGitHub
    from tests.fakes.trello import FakeTrello

    layouts = [
        make_layout(name, concurrency=args.concurrency, number=n + 1)
        for n, name in enumerate(args.layouts)
    ]
    plans = [(lay, Planner(lay, random.Random(args.seed)).plan(args.deliveries)) for lay in layouts]
    problems: list[str] = []
    with (
        temp_dir("makersbot-bench-procfile-") as tmp,
        fresh_schema(postgres_url(args)) as url,
        RecordedSlack(seed=args.seed) as slack,
        FakeGitHub() as github,
        FakeTrello(api_key=TRELLO_KEY, token=TRELLO_TOKEN) as trello,
    ):
        workdir, port = Path(tmp), free_port()
        env = settings_env(slack.base_url, github.base_url, trello.base_url, url, port)
        env["LOG_LEVEL"] = "INFO"  # the workers say when they have started
        server_env = clean_env(drop=list(Settings.model_fields), **env)
        floor = run_floor(server_env, workdir, plans[0][1], plans[0][0])
        front = run_floor(server_env, workdir, plans[0][1], plans[0][0], front=True)
        problems += [f"floor: {p}" for p in bad_acks(floor, b"ok") + bad_acks(front, b"ok")]
        topology = Topology(server_env, workdir, port)
        released = topology.release()
        if released.returncode != 0:
            raise RuntimeError(f"release failed: {released.stderr[-2000:]}")
        seed(env, layouts, github, trello)
        probe = Probe(url)
        try:
            with topology:
                slack.rate = args.faults
                outcomes = [
                    _run_layout(layout, plan, topology, probe, slack, args, problems)
                    for layout, plan in plans
                ]
                log_problems = topology.log_problems()
        finally:
            probe.dispose()
        injected = dict(slack.injected)
        # A shared 2-core VM drifts by tens of percent within minutes: the floor again, now
        # that the topology has stopped, and the goal taken against both runs pooled.
        again = run_floor(server_env, workdir, plans[0][1], plans[0][0])
        front_again = run_floor(server_env, workdir, plans[0][1], plans[0][0], front=True)
        problems += [f"floor: {p}" for p in bad_acks(again, b"ok") + bad_acks(front_again, b"ok")]
    floors = (_pooled(floor, again), _pooled(front, front_again))
    _report(args, floors, outcomes, injected, log_problems)
    for problem in problems[:10]:
        print(f"  error: {problem}")
    return 1 if problems or any(out.problems for out in outcomes) else 0


def _run_layout(
    layout: Layout,
    plan: list[Delivery],
    topology: Topology,
    probe: Probe,
    slack: RecordedSlack,
    args: argparse.Namespace,
    problems: list[str],
) -> Outcome:
    start_calls, start_answers = len(slack.calls()), len(slack.answers)
    cpu_before = topology.cpu_seconds("worker")
    bursts = bursts_of(plan, args.bursts)
    web_before = topology.cpu_seconds("web")
    sent = send_all(topology.port, bursts, layout.items, lanes=args.concurrency, pause=args.pause)
    sent.server_cpu = topology.cpu_seconds("web") - web_before
    problems += [f"{layout.name}: {p}" for p in bad_acks(sent, b"ok")]
    last = max(ack.at for ack in sent.acks)
    timings = probe.wait_settled(last, args.drain_timeout)
    time.sleep(0.3)  # let a call in flight land in the fake's record
    calls = slack.calls()
    cpu = topology.cpu_seconds("worker") - cpu_before
    outcome = analyse(layout, sent, slack, calls[start_calls:], calls, cpu, timings)
    posted = {
        meta_key(c.args)
        for c in calls[:start_calls]
        if c.method == "chat.postMessage" and not c.failed
    }
    answers = slack.answers[start_answers:]
    outcome.bound = ideal_finish(layout, sent.acks, answers, pace=PACE, posted=posted) - last
    outcome.last_burst_bound = last_burst_bound(layout, bursts[-1])
    if timings[1] is None:
        outcome.problems.insert(0, f"not settled {args.drain_timeout:.0f} s after the last 2xx")
    return outcome


def _pooled(first: Sent, again: Sent) -> tuple[Sent, Sent, Sent]:
    """(both runs as one, the first, the second)."""
    pooled = Sent(first.acks + again.acks, first.busy + again.busy)
    pooled.server_cpu = first.server_cpu + again.server_cpu
    return pooled, first, again


def _report(
    args: argparse.Namespace,
    floors: tuple[tuple[Sent, Sent, Sent], tuple[Sent, Sent, Sent]],
    outcomes: Sequence[Outcome],
    injected: dict[int, int],
    log_problems: Sequence[str],
) -> None:
    (floor, first, again), (front, front_first, front_again) = floors
    web = procfile_web()
    print(
        f"{os.cpu_count()} CPUs; the Procfile on PostgreSQL: release, web ({web.describe()}), "
        f"2 x `makersbot worker`; {args.deliveries} deliveries per layout in {args.bursts} "
        f"bursts from {args.concurrency} clients, {args.pause:g} s apart; Slack fails "
        f"{args.faults:.0%} of chat calls"
    )
    print(
        f"floor (bare Flask, HMAC only, same gunicorn settings): {floor.rate:.0f} deliveries/s "
        f"({first.rate:.0f} before the topology started, {again.rate:.0f} after it stopped)"
    )
    print(
        "like-for-like floor (the same HMAC behind the bot's webhook front, no Flask): "
        f"{front.rate:.0f} deliveries/s ({front_first.rate:.0f} before, "
        f"{front_again.rate:.0f} after); web CPU {_ms_per(front)} ms per delivery"
    )
    for out in outcomes:
        report_layout(out, floor)
        print(f"  against the like-for-like floor: {out.sent.rate / front.rate:.2f}x")
    faults = ", ".join(f"{n} x {status}" for status, n in sorted(injected.items()))
    print(f"\nfaults injected: {faults or 'none'}; process log errors: {len(log_problems)}")
    for line in log_problems[:5]:
        print(f"  log: {line[:200]}")
    for out in outcomes:
        ratio = out.sent.rate / floor.rate
        after = final_state_after(out)
        bound = out.bound
        wrong, duplicate, missing = _tally(out.problems)
        print(
            f"goal [procfile {out.layout.name}]: accepted >= 0.5x floor: "
            f"{'met' if ratio >= 0.5 else 'missed'} ({ratio:.2f}x; like-for-like "
            f"{out.sent.rate / front.rate:.2f}x); last 2xx -> final state "
            f"<= pacing bound + {GOAL_SLACK:g} s: "
            f"{'met' if after <= bound + GOAL_SLACK else 'missed'} ({secs(after)} s, bound "
            f"{bound:.1f} s; the last burst alone {out.last_burst_bound:.0f} s); "
            "wrong/duplicate/missing 0/0/0: "
            f"{'met' if not out.problems else 'missed'} ({wrong}/{duplicate}/{missing})"
        )
