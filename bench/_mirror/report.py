"""The mirror benchmark's printed figures: the floor, each layout, the totals and the goals.

Goals are printed, never asserted: a slow machine does not fail `make bench`.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bench._load import mb, percentile
from bench._mirror.check import Outcome
from bench._mirror.send import Sent
from makersbot.server import THREADS, gunicorn_options

GOAL_RATE = 0.5  # accepted/s at least half the floor's
GOAL_CALLS = 0.2  # Slack calls per delivery, at most


@dataclass(frozen=True)
class Results:
    """Everything a run measured, for the report."""

    floor: Sent
    floor_rss: int  # KiB
    outcomes: Sequence[Outcome]
    rss: tuple[int, int, int]  # KiB: worker VmHWM, master VmHWM, PSS of both at the end
    log_problems: Sequence[str]
    seeded_in: float
    api_calls: int  # GitHub/Trello API calls the server made (should be 0: webhooks only)

    @property
    def injected(self) -> int:
        return sum(out.injected for out in self.outcomes)


def secs(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1f}"


SERVE = gunicorn_options(0)  # what `makersbot serve` runs with


def _ms(values: Sequence[float], pct: float) -> str:
    return f"{percentile(values, pct) * 1000:.1f}"


def report(args: argparse.Namespace, results: Results) -> None:
    """The header and floor, each layout, the totals, then one goal line per layout."""
    floor = results.floor
    print(
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; `makersbot serve` (gunicorn "
        f"{SERVE['worker_class']}, {SERVE['workers']} worker, requests in {THREADS} threads, "
        "sender + processor + poller in the worker); "
        f"{args.deliveries} deliveries per layout in {args.bursts} bursts from "
        f"{args.concurrency} clients, {args.pause:g} s apart; seeded in {results.seeded_in:.1f} s"
    )
    latencies = [a.latency for a in floor.acks]
    print(
        f"floor (bare Flask, HMAC only): {floor.rate:.0f} deliveries/s, "
        f"p50 {_ms(latencies, 50)} ms p99 {_ms(latencies, 99)} ms per request"
    )
    for out in results.outcomes:
        report_layout(out, floor)
    report_totals(results)
    for out in results.outcomes:
        ratio = out.sent.rate / floor.rate
        calls = len(out.calls) / len(out.sent.acks)
        print(
            f"goal [{out.layout.name}]: accepted >= {GOAL_RATE}x floor: "
            f"{'met' if ratio >= GOAL_RATE else 'missed'} ({ratio:.2f}x); Slack calls per delivery "
            f"<= {GOAL_CALLS}: {'met' if calls <= GOAL_CALLS else 'missed'} ({calls:.3f}); "
            f"final state 100% correct: {'met' if not out.problems else 'missed'}"
        )


def report_layout(out: Outcome, floor: Sent) -> None:
    """One layout: intake, processing, freshness, Slack calls and correctness."""
    lay, sent = out.layout, out.sent
    channels = len({i.channel for i in lay.items})
    lat_d, lat_i = out.delivery_latency, out.item_latency
    acks = [a.latency for a in sent.acks]
    print(
        f"\n[{lay.name}] {len(lay.items)} items in {channels} channel(s), thread replies "
        f"{'on' if lay.threads else 'off'}"
    )
    print(
        f"  accepted: {sent.rate:.0f} deliveries/s ({sent.rate / floor.rate:.2f}x the floor); "
        f"request p50 {_ms(acks, 50)} ms p99 {_ms(acks, 99)} ms; worker CPU {out.cpu:.1f} s "
        f"({out.cpu / len(sent.acks) * 1000:.1f} ms per delivery)"
    )
    if sent.server_cpu and floor.server_cpu:  # the Procfile topology: web's own processes
        ours, bare = (x.server_cpu / len(x.acks) * 1000 for x in (sent, floor))
        print(
            f"  web CPU while the bursts arrived: {ours:.2f} ms per delivery, the floor's "
            f"{bare:.2f} ms ({ours / bare:.1f}x)"
        )
    print(
        f"  all processed {secs(out.processed_in or float('nan'))} s and outbox drained "
        f"{secs(out.drained_in or float('nan'))} s after the last 2xx"
    )
    print(
        f"  delivery 2xx -> first Slack call showing it: p50 {secs(percentile(lat_d, 50))} s "
        f"p99 {secs(percentile(lat_d, 99))} s (n={len(lat_d)})"
    )
    print(
        f"  item's last delivery 2xx -> its final message: p50 {secs(percentile(lat_i, 50))} s "
        f"p99 {secs(percentile(lat_i, 99))} s max {secs(max(lat_i, default=float('nan')))} s "
        f"(n={len(lat_i)})"
    )
    if out.lag_by_rank:
        firsts = ", ".join(f"{lag:.0f}" for _, lag in out.lag_by_rank[:5])
        lasts = ", ".join(f"{lag:.0f}" for _, lag in out.lag_by_rank[-5:])
        print(f"  final-message lag by posting order (s): first items {firsts} … last {lasts}")
    _report_calls(out)
    print(f"  correctness: {'OK' if not out.problems else f'{len(out.problems)} problem(s)'}")
    for problem in out.problems[:10]:
        print(f"    {problem}")


def _report_calls(out: Outcome) -> None:
    """Slack calls by kind, those made while the bursts arrived, and the thread replies."""
    lay, sent = out.layout, out.sent
    total = len(out.calls)
    breakdown = ", ".join(f"{kind} {n}" for kind, n in sorted(out.kinds.items()))
    print(
        f"  Slack calls: {total} = {total / len(sent.acks):.3f} per delivery; {breakdown}; "
        f"thread replies {out.threads_posted}/{out.threads_expected} expected"
    )
    while_sending = ", ".join(f"{kind} {n}" for kind, n in sorted(out.during.items()))
    print(
        f"  while the bursts were arriving ({secs(sent.span)} s): {while_sending or 'none'}; "
        f"first item message {secs(out.first_item_post)} s after the first 2xx"
    )
    if not lay.threads:
        notes = Counter(lay.items[a.delivery.item].channel for a in sent.acks if a.delivery.thread)
        n = sum(notes.values())
        print(
            f"  with thread replies on (the default) the same deliveries add {n} posts "
            f"(+{n / len(sent.acks):.2f} per delivery), {max(notes.values(), default=0)} in "
            f"the busiest channel: at ~1 post/s that many seconds more"
        )


def report_totals(results: Results) -> None:
    """429s, API calls by the server, memory and the server log's warnings."""
    worker, master, pss = results.rss
    outcomes = results.outcomes
    n429 = sum(n for out in outcomes for kind, n in out.kinds.items() if kind.startswith("429"))
    print(
        f"\n429s: {results.injected} injected, {n429} answered (Retry-After: 1); GitHub/Trello "
        f"API calls by the server: {results.api_calls}; peak RSS (VmHWM) worker {mb(worker)} MB, "
        f"master {mb(master)} MB; PSS master+worker at the end {mb(pss)} MB; floor worker "
        f"{mb(results.floor_rss)} MB; server log warnings/errors {len(results.log_problems)}"
    )
    for line in results.log_problems[:5]:
        print(f"  log: {line[:200]}")
