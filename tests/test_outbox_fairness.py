"""The outbox never stalls: waiting rows block nothing, dead channels are parked, every
channel is served, and the pace of a channel holds across processes (issue 8)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from makersbot.app import Bot, build
from makersbot.db import Database
from makersbot.outbox import SlackSender
from makersbot.store import outbox as outbox_store
from makersbot.store import outbox_gates as gates
from makersbot.store.outbox_gates import ParkedChannel
from tests.conftest import Clock, make_settings
from tests.fakes.slack import FakeSlack
from tests.mirror_helpers import (
    REPO,
    github_delivery,
    issue_event,
    link,
    lower,
    messages_by_key,
    start_project,
)
from tests.outbox_helpers import depth, posts_per_key, publish, row

STAMP = "2026-11-26T10:00:00Z"


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


def _parked(bot: Bot) -> list[ParkedChannel]:
    with bot.db.session(read_only=True) as session:
        return gates.parked_channels(session)


def test_a_refused_channel_is_parked_once_and_resumes_when_the_bot_is_back(
    database_url: str, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeSlack(chat_write_public=False) as fake:
        gone = fake.add_channel("makers-gone", is_member=False)
        bot = build(make_settings(database_url, fake, slack_channel_pace=0), clock=clock)
        bot.db.upgrade()
        for i in range(5):
            publish(bot, f"k{i}", gone, f"message {i}")
        with caplog.at_level(logging.INFO, logger="makersbot.outbox"):
            for _ in range(3):
                bot.sender.drain()
                clock.now += timedelta(seconds=10)
        assert len(fake.calls("chat.postMessage")) == 1
        said = [r.getMessage() for r in caplog.records if "parked" in r.getMessage()]
        assert said == [
            f"parked channel {gone}: Slack says not_in_channel; its messages wait until the "
            "bot can post there again"
        ]
        [parked] = _parked(bot)
        assert (parked.channel, parked.reason, parked.waiting) == (gone, "not_in_channel", 5)
        with bot.db.session(read_only=True) as session:
            assert outbox_store.oldest_pending(session) is None  # parked rows are not late
        clock.now += timedelta(minutes=1)
        bot.sender.drain()  # checked: still not a member, stays parked
        assert [c.args["channel"] for c in fake.calls("conversations.info")] == [gone]
        assert len(_parked(bot)) == 1 and len(fake.calls("chat.postMessage")) == 1
        bot.client.conversations_join(channel=gone)  # someone adds the bot back
        clock.now += timedelta(minutes=1)
        bot.sender.drain()
        assert _parked(bot) == [] and depth(bot) == 0
        assert sorted(m["text"] for m in fake.messages(gone)) == [f"message {i}" for i in range(5)]
        bot.stop()


def test_unpark_resumes_a_channel_at_once(bot: Bot, fake_slack: FakeSlack) -> None:
    archived = fake_slack.add_channel("makers-old", is_archived=True)
    publish(bot, "k", archived, "hello")
    bot.sender.drain()
    assert [p.reason for p in _parked(bot)] == ["is_archived"]
    bot.sender.drain()  # archived still: conversations.info says so; nothing is posted
    assert len(fake_slack.calls("chat.postMessage")) == 1
    assert bot.sender.unpark(archived) and not bot.sender.unpark(archived)
    with bot.db.session(read_only=True) as session:
        assert outbox_store.oldest_pending(session) == row(bot, "k").updated_at  # late again
    fake_slack.fail_next("chat.postMessage", status=200, error="is_archived")
    bot.sender.drain()  # still archived: parked again, the message kept
    assert [p.waiting for p in _parked(bot)] == [1]
    healthy = fake_slack.add_channel("makers-new")
    publish(bot, "other", healthy, "other")
    bot.sender.drain()  # the parked channel is not tried; the other is served
    assert [m["text"] for m in fake_slack.messages(healthy)] == ["other"]
    assert depth(bot) == 1 and len(fake_slack.calls("chat.postMessage")) == 3


def test_replies_to_a_refused_parent_do_not_wait_for_ever(bot: Bot, fake_slack: FakeSlack) -> None:
    channel = fake_slack.add_channel("makers-x")
    publish(bot, "parent", channel, "parent")
    publish(bot, "reply", channel, "reply", thread_key="parent")
    fake_slack.fail_next("chat.postMessage", status=200, error="msg_too_long")
    bot.sender.drain()
    assert depth(bot) == 0 and row(bot, "reply").last_error == "parent not posted: msg_too_long"
    publish(bot, "parent", channel, "shorter parent")  # a new version goes through
    publish(bot, "reply2", channel, "reply 2", thread_key="parent")
    bot.sender.drain()
    [parent] = [m for m in fake_slack.messages(channel) if m["text"] == "shorter parent"]
    [reply] = [m for m in fake_slack.messages(channel) if m["text"] == "reply 2"]
    assert reply["thread_ts"] == parent["ts"]


def test_issues_opened_then_edited_within_a_second_all_reach_slack(
    mbot: Bot, fake_slack: FakeSlack, clock: Clock
) -> None:
    # The reproduction of issue 8 through the mirror: 10 deliveries, one background loop.
    start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    mbot.sender.drain()
    for action in ("opened", "edited"):
        for number in range(1, 6):
            payload = issue_event(number, f"Issue {number} {action}", action=action, updated=STAMP)
            body, headers = github_delivery("issues", payload)
            assert mbot.deliveries.accept_github(lower(headers), body)[0] == 200
            mbot.deliveries.process_pending()
            clock.now += timedelta(milliseconds=100)
    for _ in range(20):  # a drain every half second, for 10 s
        mbot.sender.drain()
        clock.now += timedelta(milliseconds=500)
    assert depth(mbot) == 0
    posts = messages_by_key(fake_slack)
    items = [k for k in posts if "#" in k and k.count(":") == 3]
    assert len(items) == 5 and all(len(posts[k]) == 1 for k in items)
