"""Claims are fenced: a restart never frees a live claim, and a rate-limited call never
outlives its lease (issue 8)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest

from makersbot.app import Bot, build
from makersbot.loops import recover_after_restart
from makersbot.outbox import SlackSender
from tests.conftest import Clock, make_settings
from tests.outbox_helpers import HeldSlack, depth, posts_per_key, publish


@pytest.fixture
def held_slack() -> Iterator[HeldSlack]:
    with HeldSlack() as fake:
        yield fake


def two_workers(database_url: str, fake: HeldSlack, clock: Clock) -> tuple[Bot, Bot]:
    settings = make_settings(database_url, fake, slack_channel_pace=0)
    first = build(settings, clock=clock)
    first.db.upgrade()
    return first, build(settings, clock=clock)


def test_a_starting_worker_leaves_a_live_claim_alone(
    database_url: str, held_slack: HeldSlack, clock: Clock
) -> None:
    first, second = two_workers(database_url, held_slack, clock)
    channel = held_slack.add_channel("makers-x")
    publish(first, "k", channel, "hello")
    held_slack.hold("chat.postMessage")  # Slack is slow to answer the first worker
    sending = threading.Thread(target=first.sender.drain)
    sending.start()
    assert held_slack.holding.wait(5)
    recover_after_restart(second)  # the second worker (re)starts meanwhile
    second.sender.drain()
    held_slack.let_go()
    sending.join(10)
    first.sender.drain()
    second.sender.drain()
    assert posts_per_key(held_slack) == {"k": 1}
    assert len(held_slack.messages(channel)) == 1 and depth(first) == 0
    first.stop()
    second.stop()


def test_a_rate_limited_call_never_outlives_its_lease(
    database_url: str, held_slack: HeldSlack, clock: Clock
) -> None:
    # Three 429s with Retry-After 25 took 75 s inside a 60 s lease; here one Retry-After 2
    # while the other worker's clock is past the lease shows the same race in 2 s.
    first, second = two_workers(database_url, held_slack, clock)
    later = Clock(clock.now + timedelta(minutes=2))
    other = SlackSender(second.db, second.sender.client, clock=later, per_channel_interval=0)
    channel = held_slack.add_channel("makers-x")
    publish(first, "k", channel, "hello")
    held_slack.fail_next("chat.postMessage", status=429, retry_after=2)
    sending = threading.Thread(target=first.sender.drain)
    sending.start()
    assert held_slack.wait_for(lambda f: len(f.calls("chat.postMessage")) == 1)
    other.drain()
    sending.join(10)
    clock.now = later.now
    first.sender.drain()
    assert posts_per_key(held_slack) == {"k": 1}
    assert len(held_slack.messages(channel)) == 1 and depth(first) == 0
    first.stop()
    second.stop()
