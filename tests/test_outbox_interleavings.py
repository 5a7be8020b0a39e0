"""Two senders on one database, driven step by step in a random (seeded) order.

Each run interleaves publish / claim / send / settle by either sender with 429s, 5xx,
refused channels, crashes (a claim dropped after its post, before its record), restarts
and jumps of the clock past leases and backoffs. Then time runs on until the outbox is
empty, and every message must have been posted exactly once, show its last content, and
sit in its parent's thread. `OUTBOX_SEEDS=500` runs more seeds.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlmodel import select

from makersbot.app import Bot, build
from makersbot.db import Database
from makersbot.loops import recover_after_restart
from makersbot.outbox import Outcome, SlackSender
from makersbot.store.models import SlackMessage
from makersbot.store.outbox import ClaimedMessage
from tests.conftest import Clock, make_settings
from tests.fakes.slack import FakeSlack
from tests.outbox_helpers import depth, posts_per_key, publish

SEEDS = int(os.environ.get("OUTBOX_SEEDS", "6"))
STEPS = 100
FAULTS = [
    ("chat.postMessage", 429, None),
    ("chat.update", 429, None),
    ("chat.postMessage", 503, None),
    ("chat.update", 500, None),
    ("chat.postMessage", 200, "not_in_channel"),
    ("conversations.history", 429, None),
]


@dataclass
class Worker:
    """One sender process: its own engine, and the claims it holds mid-way."""

    sender: SlackSender
    held: list[tuple[ClaimedMessage, Outcome | None]] = field(default_factory=list)


@dataclass
class Run:
    rng: random.Random
    bot: Bot
    fake: FakeSlack
    clock: Clock
    dbs: list[Database]  # one engine per worker process, kept across its restarts
    pace: float
    channels: list[str]
    parents: list[str]
    replies: dict[str, str]  # reply key -> parent key
    workers: list[Worker] = field(default_factory=list)
    last: dict[str, str] = field(default_factory=dict)  # key -> last text published
    versions: int = 0

    def worker(self, index: int) -> Worker:
        sender = SlackSender(
            self.dbs[index], self.bot.client, clock=self.clock, per_channel_interval=self.pace
        )
        return Worker(sender)

    def channel_of(self, key: str) -> str:
        parent = self.replies.get(key, key)
        return self.channels[self.parents.index(parent) % len(self.channels)]

    # The steps ----------------------------------------------------------------------------

    def publish(self) -> None:
        key = self.rng.choice(self.parents + list(self.replies))
        self.versions += 1
        text = f"{key} v{self.versions}"
        publish(self.bot, key, self.channel_of(key), text, thread_key=self.replies.get(key))
        self.last[key] = text

    def claim(self, worker: Worker) -> None:
        claim = worker.sender.claim(self.rng.choice(self.channels))
        if claim is not None:
            worker.held.append((claim, None))

    def send(self, worker: Worker) -> None:
        for i, (claim, outcome) in enumerate(worker.held):
            if outcome is None:
                worker.held[i] = (claim, worker.sender.send(claim))
                return

    def settle(self, worker: Worker) -> None:
        for i, (claim, outcome) in enumerate(worker.held):
            if outcome is not None:
                worker.sender.settle(claim, outcome)
                del worker.held[i]
                return

    def fault(self) -> None:
        method, status, error = self.rng.choice(FAULTS)
        retry_after = self.rng.randint(1, 3) if status == 429 else None
        self.fake.fail_next(method, status=status, retry_after=retry_after, error=error)

    def crash(self, index: int) -> None:
        """The worker dies holding its claims (some posted, none recorded) and restarts."""
        self.workers[index] = self.worker(index)
        recover_after_restart(self.bot)

    def tick(self) -> None:
        self.clock.now += timedelta(seconds=self.rng.choice([0.5, 1, 2, 16, 31, 31, 65]))

    def step(self) -> None:
        worker_index = self.rng.randrange(2)
        worker = self.workers[worker_index]
        action = self.rng.choices(
            ["publish", "claim", "send", "settle", "fault", "crash", "tick", "drain"],
            weights=[3, 4, 3, 3, 1, 0.3, 2, 1.5],
        )[0]
        if action == "publish":
            self.publish()
        elif action == "claim":
            self.claim(worker)
        elif action == "send":
            self.send(worker)
        elif action == "settle":
            self.settle(worker)
        elif action == "fault":
            self.fault()
        elif action == "crash":
            self.crash(worker_index)
        elif action == "tick":
            self.tick()
        else:  # the background loop's round is parallel; the console's one at a time
            worker.sender.drain(parallel=self.rng.choice([1, 4]))

    def settle_down(self) -> None:
        """Let everything finish: claims held end, faults are used up, time runs on."""
        for worker in self.workers:
            while worker.held:
                self.send(worker)
                self.settle(worker)
        for parent in self.parents:  # a reply whose parent never came would wait for ever
            if parent not in self.last:
                self.last[parent] = f"{parent} v0"
                publish(self.bot, parent, self.channel_of(parent), self.last[parent])
        for _ in range(60):
            if depth(self.bot) == 0:
                return
            self.clock.now += timedelta(seconds=61)
            for worker in self.workers:
                worker.sender.drain()
        raise AssertionError(f"{depth(self.bot)} message(s) still queued")


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as slack:
        yield slack


def check(run: Run, prefix: str) -> None:
    posts = {k: n for k, n in posts_per_key(run.fake).items() if k.startswith(prefix)}
    assert posts == dict.fromkeys(run.last, 1), "each message posted exactly once"
    with run.bot.db.session(read_only=True) as session:
        rows = {
            r.key: r for r in session.exec(select(SlackMessage)).all() if r.key.startswith(prefix)
        }
    for key, text in run.last.items():
        row = rows[key]
        assert row.sent_version == row.version and row.claim_token is None
        [shown] = [m for m in run.fake.messages(row.channel) if m["ts"] == row.ts]
        assert shown["text"] == text, key
        if key in run.replies:
            assert shown["thread_ts"] == rows[run.replies[key]].ts, key


def test_two_senders_in_any_interleaving_post_once_and_converge(
    database_url: str, fake: FakeSlack
) -> None:
    clock = Clock()
    bot = build(make_settings(database_url, fake, slack_channel_pace=0), clock=clock)
    bot.db.upgrade()
    dbs = [Database(database_url), Database(database_url)]
    try:
        for seed in range(SEEDS):
            rng = random.Random(seed)
            prefix = f"s{seed}:"
            parents = [f"{prefix}item{i}" for i in range(5)]
            run = Run(
                rng=rng,
                bot=bot,
                fake=fake,
                clock=clock,
                dbs=dbs,
                pace=rng.choice([0.0, 1.0]),
                channels=[fake.add_channel(f"makers-{seed}-{c}") for c in range(rng.randint(1, 2))],
                parents=parents,
                replies={f"{prefix}note{i}": parents[i % 3] for i in range(4)},
            )
            run.workers = [run.worker(0), run.worker(1)]
            for _ in range(STEPS):
                run.step()
            run.settle_down()
            check(run, prefix)
    finally:
        for db in dbs:
            db.dispose()
        bot.stop()
