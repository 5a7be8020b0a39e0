"""Claims are fenced: a restart never frees a live claim, and a rate-limited call never
outlives its lease (issue 8)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from makersbot.app import Bot, build
from makersbot.loops import recover_after_restart
from makersbot.outbox import CALL_BOUND, CALL_TIMEOUT, LEASE, SlackSender
from tests.conftest import Clock, make_settings
from tests.fakes.slack import FakeSlack
from tests.outbox_helpers import HeldSlack, depth, posts_per_key, publish, row


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


class SteppingClock(Clock):
    """A clock that moves on by `step` each time it is read: a sender whose every step is slow."""

    def __init__(self, now: datetime, step: timedelta) -> None:
        super().__init__(now)
        self.step = step

    def __call__(self) -> datetime:
        now = self.now
        self.now += self.step
        return now


def test_each_call_starts_with_lease_to_spare_and_ends_within_it(bot: Bot) -> None:
    client = bot.sender.client
    assert client.retry_handlers == [] and client.timeout <= CALL_TIMEOUT  # nothing sleeps
    assert timedelta(seconds=CALL_TIMEOUT) < CALL_BOUND < LEASE


def test_a_slow_sender_extends_its_lease_between_calls(
    bot: Bot, fake_slack: FakeSlack, clock: Clock
) -> None:
    channel = fake_slack.add_channel("makers-x")
    publish(bot, "card", channel, "card", pin=True)  # a post and a pin: two calls
    start = clock.now
    slow = SlackSender(
        bot.db,
        bot.client,
        clock=SteppingClock(start, timedelta(seconds=10)),
        per_channel_interval=0,
    )
    claim = slow.claim(channel)  # read at 0 s: leased until 30 s
    assert claim is not None
    outcome = slow.send(claim)  # the post at 10 s; at 20 s the pin finds 10 s left: extended
    assert outcome.calls == 2 and outcome.ts is not None
    assert row(bot, "card").claimed_until == start + timedelta(seconds=20) + LEASE
    other = SlackSender(
        bot.db, bot.client, clock=Clock(start + timedelta(seconds=40)), per_channel_interval=0
    )
    assert other.claim(channel) is None  # 40 s: past the first lease, within the extension
    slow.settle(claim, outcome)
    assert row(bot, "card").ts == outcome.ts and depth(bot) == 0
    assert posts_per_key(fake_slack) == {"card": 1}


def test_a_sender_that_lost_its_claim_makes_no_call(
    bot: Bot, fake_slack: FakeSlack, clock: Clock
) -> None:
    channel = fake_slack.add_channel("makers-x")
    publish(bot, "k", channel, "hello")
    start = clock.now
    slow = SlackSender(
        bot.db,
        bot.client,
        clock=SteppingClock(start, timedelta(seconds=20)),
        per_channel_interval=0,
    )
    claim = slow.claim(channel)  # leased until 30 s
    assert claim is not None
    later = Clock(start + timedelta(seconds=31))
    other = SlackSender(bot.db, bot.client, clock=later, per_channel_interval=0)
    taken = other.claim(channel)  # the lease ran out: taken over
    assert taken is not None and taken.recover
    outcome = slow.send(claim)  # at 20 s only 10 s are left, and the extension is refused
    assert outcome.lost and outcome.calls == 0
    slow.settle(claim, outcome)
    other.settle(taken, other.send(taken))
    assert posts_per_key(fake_slack) == {"k": 1} and depth(bot) == 0


def test_a_stale_token_records_nothing_and_the_post_is_found_not_repeated(
    bot: Bot, fake_slack: FakeSlack, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    channel = fake_slack.add_channel("makers-x")
    publish(bot, "k", channel, "v1")
    stuck = SlackSender(bot.db, bot.client, clock=clock, per_channel_interval=0)
    claim = stuck.claim(channel)
    assert claim is not None
    posted = stuck.send(claim)  # Slack has the post; the sender stalls before recording it
    assert posted.ts is not None
    publish(bot, "k", channel, "v2")
    clock.now += LEASE + timedelta(seconds=1)
    bot.sender.drain()  # takes over: finds the post by its metadata and edits it
    with caplog.at_level(logging.WARNING, logger="makersbot.outbox"):
        stuck.settle(claim, posted)
    assert "k was sent but its claim had passed to another sender" in caplog.text
    assert posts_per_key(fake_slack) == {"k": 1}
    assert [c.args["text"] for c in fake_slack.calls("chat.update")] == ["v2"]
    assert row(bot, "k").ts == posted.ts and row(bot, "k").sent_version == 2


def test_a_rate_limited_update_pauses_updates_in_every_channel(
    bot: Bot, fake_slack: FakeSlack, clock: Clock
) -> None:
    channels = [fake_slack.add_channel(f"makers-{i}") for i in range(3)]
    for i, channel in enumerate(channels[:2]):
        publish(bot, f"k{i}", channel, "v1")
    bot.sender.drain()
    for i, channel in enumerate(channels[:2]):
        publish(bot, f"k{i}", channel, "v2")
    publish(bot, "new", channels[2], "new")
    fake_slack.fail_next("chat.update", status=429, retry_after=5)
    bot.sender.drain()
    # chat.update is limited per workspace: one 429, then no update until Retry-After ends;
    # a first post in another channel still goes.
    assert len(fake_slack.calls("chat.update")) == 1
    assert [m["text"] for m in fake_slack.messages(channels[2])] == ["new"]
    clock.now += timedelta(seconds=4)
    bot.sender.drain()
    assert len(fake_slack.calls("chat.update")) == 1  # Retry-After: 5 is not over yet
    clock.now += timedelta(seconds=1)
    bot.sender.drain()
    assert [c.failed for c in fake_slack.calls("chat.update")] == [True, False, False]
    assert depth(bot) == 0


def test_a_stale_failure_does_not_free_the_new_holders_claim(
    bot: Bot, fake_slack: FakeSlack, clock: Clock
) -> None:
    channel = fake_slack.add_channel("makers-x")
    publish(bot, "k", channel, "hello")
    first = SlackSender(bot.db, bot.client, clock=clock, per_channel_interval=0)
    claim = first.claim(channel)
    assert claim is not None
    fake_slack.fail_next("chat.postMessage", status=503, retry_after=None, times=2)
    failed = first.send(claim)
    assert failed.error == "service_unavailable"
    clock.now += LEASE + timedelta(seconds=1)  # the first sender stalls past its lease
    second = SlackSender(bot.db, bot.client, clock=clock, per_channel_interval=0)
    taken = second.claim(channel)
    assert taken is not None
    first.settle(claim, failed)  # too late: changes nothing
    assert row(bot, "k").claim_token == taken.token and row(bot, "k").attempts == 0
    assert first.claim(channel) is None
    second.settle(taken, second.send(taken))
    assert posts_per_key(fake_slack) == {"k": 1} and depth(bot) == 0
