"""The outbox never stalls: waiting rows block nothing, dead channels are parked, every
channel is served, and the pace of a channel holds across processes (issue 8)."""

from __future__ import annotations

from datetime import timedelta

from makersbot.app import build
from makersbot.db import Database
from makersbot.outbox import SlackSender
from tests.conftest import Clock, make_settings
from tests.fakes.slack import FakeSlack
from tests.outbox_helpers import depth, posts_per_key, publish, row


def test_parents_replies_and_republished_parents_all_drain(
    database_url: str, fake_slack: FakeSlack, clock: Clock
) -> None:
    # What 5 issues.opened then 5 issues.edited within a second publish: each item's message
    # and a note in its thread, then each item's message again before anything was sent.
    bot = build(make_settings(database_url, fake_slack, slack_channel_pace=0), clock=clock)
    bot.db.upgrade()
    channel = fake_slack.add_channel("makers-x")
    for i in range(5):
        publish(bot, f"item{i}", channel, f"#{i} opened")
        clock.now += timedelta(milliseconds=50)
        publish(bot, f"note{i}", channel, f"#{i} was opened", thread_key=f"item{i}")
        clock.now += timedelta(milliseconds=50)
    for i in range(5):
        publish(bot, f"item{i}", channel, f"#{i} edited")
        clock.now += timedelta(milliseconds=50)
    for _ in range(60):  # the background loop: a drain every half second, for 30 s
        bot.sender.drain()
        clock.now += timedelta(milliseconds=500)
    assert depth(bot) == 0
    assert posts_per_key(fake_slack) == {
        f"{kind}{i}": 1 for kind in ("item", "note") for i in range(5)
    }
    shown = {m["ts"]: m for m in fake_slack.messages(channel)}
    for i in range(5):
        parent, note = row(bot, f"item{i}"), row(bot, f"note{i}")
        assert shown[parent.ts or ""]["text"] == f"#{i} edited"
        assert shown[note.ts or ""]["thread_ts"] == parent.ts
    bot.stop()


def test_a_dead_channel_does_not_starve_the_others(database_url: str, clock: Clock) -> None:
    with FakeSlack(chat_write_public=False) as fake:
        dead = fake.add_channel("makers-gone", is_member=False)
        healthy = [fake.add_channel(f"makers-ok{i}") for i in range(3)]
        bot = build(make_settings(database_url, fake, slack_channel_pace=0), clock=clock)
        bot.db.upgrade()
        for i in range(600):  # queued first: the oldest rows of all
            publish(bot, f"dead{i}", dead, f"dead {i}")
        for n, channel in enumerate(healthy):
            for i in range(2):
                publish(bot, f"ok{n}.{i}", channel, f"ok {n}.{i}")
        bot.sender.drain(max_rounds=20)
        to_dead = [c for c in fake.calls("chat.postMessage") if c.args["channel"] == dead]
        to_healthy = [c for c in fake.calls("chat.postMessage") if c.args["channel"] != dead]
        assert len(to_healthy) == 6 and all(not c.failed for c in to_healthy)
        assert len(to_dead) == 1  # parked after its first not_in_channel
        assert depth(bot) == 600  # parked, not dropped
        bot.stop()


def test_channel_pace_holds_across_two_processes(
    database_url: str, fake_slack: FakeSlack, clock: Clock
) -> None:
    bot = build(make_settings(database_url, fake_slack, slack_channel_pace=1.0), clock=clock)
    bot.db.upgrade()
    other_db = Database(database_url)  # a second worker process: its own engine and memory
    other = SlackSender(other_db, bot.client, clock=clock, per_channel_interval=1.0)
    channel = fake_slack.add_channel("makers-busy")
    for i in range(10):
        publish(bot, f"k{i}", channel, f"message {i}")
    posted_per_second = []
    for _ in range(5):
        before = len(fake_slack.calls("chat.postMessage"))
        bot.sender.drain()
        other.drain()
        posted_per_second.append(len(fake_slack.calls("chat.postMessage")) - before)
        clock.now += timedelta(seconds=1)
    assert posted_per_second == [1, 1, 1, 1, 1]
    other_db.dispose()
    bot.stop()
