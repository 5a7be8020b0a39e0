"""The sender's freshness: a round's calls go out together, a 429 counts from Slack's answer,
and the background loop wakes when a backoff or a gate ends rather than on its next poll."""

from __future__ import annotations

import threading
from datetime import timedelta

from makersbot.app import Bot, build
from makersbot.outbox import SlackSender
from tests.conftest import Clock, make_settings
from tests.fakes.slack import FakeSlack
from tests.outbox_helpers import depth, posts_per_key, publish, row


def _posted_in(bot: Bot, fake: FakeSlack, names: list[str]) -> list[str]:
    channels = [fake.add_channel(name) for name in names]
    for channel in channels:
        publish(bot, f"k-{channel}", channel, "v1")
    bot.sender.drain()
    for channel in channels:
        publish(bot, f"k-{channel}", channel, "v2")
    return channels


def test_a_parallel_round_makes_every_ready_channels_call(bot: Bot, fake_slack: FakeSlack) -> None:
    # One after another, the first edit's 429 closes chat.update before the other channels'
    # turns; in one parallel round every channel was claimed before Slack answered.
    channels = _posted_in(bot, fake_slack, ["makers-a", "makers-b", "makers-c"])
    fake_slack.fail_next("chat.update", 429, retry_after=1)
    bot.sender.drain(max_rounds=1, parallel=8)
    updates = fake_slack.calls("chat.update")
    assert sorted(c.args["channel"] for c in updates) == sorted(channels)
    assert sum(c.failed for c in updates) == 1
    assert depth(bot) == 1  # the refused edit waits out its Retry-After


def test_one_after_another_a_429_holds_the_rest_of_the_round(
    bot: Bot, fake_slack: FakeSlack
) -> None:
    _posted_in(bot, fake_slack, ["makers-a", "makers-b", "makers-c"])
    fake_slack.fail_next("chat.update", 429, retry_after=1)
    bot.sender.drain(max_rounds=1)
    assert [c.failed for c in fake_slack.calls("chat.update")] == [True]
    assert depth(bot) == 3


def test_parallel_senders_keep_the_pace_and_post_each_message_once(
    database_url: str, fake_slack: FakeSlack, clock: Clock
) -> None:
    bot = build(make_settings(database_url, fake_slack, slack_channel_pace=1.0), clock=clock)
    bot.db.upgrade()
    try:
        channels = [fake_slack.add_channel(f"makers-{i}") for i in range(6)]
        for n in range(4):
            for channel in channels:
                publish(bot, f"{channel}-{n}", channel, f"message {n}")
        senders = [
            SlackSender(bot.db, bot.client, clock=clock, per_channel_interval=1.0) for _ in range(2)
        ]
        per_second = []
        for _ in range(5):
            before = len(fake_slack.calls("chat.postMessage"))
            threads = [threading.Thread(target=s.drain, kwargs={"parallel": 8}) for s in senders]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            per_second.append(len(fake_slack.calls("chat.postMessage")) - before)
            clock.now += timedelta(seconds=1)
        assert per_second == [6, 6, 6, 6, 0]  # one post per channel per second, all told
        assert posts_per_key(fake_slack) == {f"{c}-{n}": 1 for c in channels for n in range(4)}
    finally:
        bot.stop()


def test_retry_after_counts_from_slacks_answer(
    bot: Bot, fake_slack: FakeSlack, clock: Clock
) -> None:
    channel = fake_slack.add_channel("makers-x")
    publish(bot, "k", channel, "hello")
    claim = bot.sender.claim(channel)
    assert claim is not None
    fake_slack.fail_next("chat.postMessage", 429, retry_after=1)
    answered = clock.now
    outcome = bot.sender.send(claim)
    clock.now += timedelta(milliseconds=600)  # the round settles its calls a little later
    bot.sender.settle(claim, outcome)
    assert row(bot, "k").next_attempt_at == answered + timedelta(seconds=1)
    waits = bot.sender.next_due()
    assert waits is not None and 0.3 < waits < 0.5


def test_the_sender_knows_when_a_backoff_ends(bot: Bot, fake_slack: FakeSlack) -> None:
    channel = fake_slack.add_channel("makers-x")
    fake_slack.fail_next("chat.postMessage", status=503, retry_after=None, times=2)
    publish(bot, "k", channel, "hello")
    bot.sender.drain()
    assert row(bot, "k").attempts == 1
    assert bot.sender.next_due() == 2.0  # the loop sleeps 2 s, not a poll at a time


def test_the_sender_knows_when_chat_update_opens_again(bot: Bot, fake_slack: FakeSlack) -> None:
    _posted_in(bot, fake_slack, ["makers-a", "makers-b"])
    fake_slack.fail_next("chat.update", 429, retry_after=3)
    bot.sender.drain()
    assert [c.failed for c in fake_slack.calls("chat.update")] == [True]
    assert bot.sender.next_due() == 3.0
