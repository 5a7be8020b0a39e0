"""The outbox sender: one post per message, edits in place, retries, never a duplicate."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from sqlmodel import select

from makersbot.app import Bot, build
from makersbot.domain.messages import Message
from makersbot.loops import Background
from makersbot.outbox import SlackSender
from makersbot.store.models import SlackMessage
from tests.conftest import Clock, make_settings, wait_until
from tests.fakes.slack import FakeSlack
from tests.mirror_helpers import statements


def publish(bot: Bot, key: str, channel: str, text: str, **kwargs: Any) -> None:
    with bot.db.session() as session:
        bot.outbox.publish(session, key=key, channel=channel, message=Message(text), **kwargs)


def row(bot: Bot, key: str) -> SlackMessage:
    with bot.db.session(read_only=True) as session:
        return session.exec(select(SlackMessage).where(SlackMessage.key == key)).one()


def test_changes_before_sending_become_one_post_then_one_update(
    bot: Bot, fake_slack: FakeSlack
) -> None:
    channel = fake_slack.add_channel("makers-x")
    for text in ("one", "two", "three"):
        publish(bot, "k", channel, text)
    bot.sender.drain()
    assert [c.args["text"] for c in fake_slack.calls("chat.postMessage")] == ["three"]
    publish(bot, "k", channel, "four")
    publish(bot, "k", channel, "four")  # unchanged: no extra call
    bot.sender.drain()
    assert [c.args["text"] for c in fake_slack.calls("chat.update")] == ["four"]
    assert fake_slack.messages(channel)[0]["text"] == "four"
    with bot.db.session(read_only=True) as session:
        assert bot.outbox.depth(session) == 0


def test_rate_limit_is_waited_out_and_posts_once(
    bot: Bot, fake_slack: FakeSlack, clock: Clock
) -> None:
    channel = fake_slack.add_channel("makers-x")
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=1)
    publish(bot, "k", channel, "hello")
    bot.sender.drain()  # the Retry-After is waited out outside the claim, not inside it
    assert [c.failed for c in fake_slack.calls("chat.postMessage")] == [True]
    clock.now += timedelta(seconds=1)
    bot.sender.drain()
    calls = fake_slack.calls("chat.postMessage")
    assert [c.failed for c in calls] == [True, False]
    assert len(fake_slack.messages(channel)) == 1


def test_a_server_error_is_tried_again_at_once_without_waiting_for_the_pace(
    bot: Bot, fake_slack: FakeSlack
) -> None:
    # A 5xx did nothing, so the claim tries once more in the same turn of the channel:
    # the message is not held back a backoff and a pace for a blip of Slack's.
    channel = fake_slack.add_channel("makers-x")
    fake_slack.fail_next("chat.postMessage", status=503, retry_after=None)
    publish(bot, "k", channel, "hello")
    bot.sender.drain()
    assert [c.failed for c in fake_slack.calls("chat.postMessage")] == [True, False]
    assert row(bot, "k").ts is not None and row(bot, "k").attempts == 0
    assert len(fake_slack.messages(channel)) == 1


def test_server_errors_back_off_and_retry_later(
    bot: Bot, fake_slack: FakeSlack, clock: Clock
) -> None:
    channel = fake_slack.add_channel("makers-x")
    fake_slack.fail_next("chat.postMessage", status=503, retry_after=None, times=6)
    publish(bot, "k", channel, "hello")
    bot.sender.drain()  # one retry inside the claim, then the row backs off 2 s
    assert row(bot, "k").attempts == 1 and row(bot, "k").ts is None
    bot.sender.drain()
    assert len(fake_slack.calls("chat.postMessage")) == 2  # not due yet: nothing sent
    for wait in (2, 4):  # then 4 s, then 8 s
        clock.now += timedelta(seconds=wait)
        bot.sender.drain()
    assert row(bot, "k").attempts == 3 and len(fake_slack.calls("chat.postMessage")) == 6
    clock.now += timedelta(seconds=8)
    bot.sender.drain()
    assert len(fake_slack.messages(channel)) == 1
    assert row(bot, "k").ts is not None and row(bot, "k").last_error is None


def test_deleted_message_is_posted_again(bot: Bot, fake_slack: FakeSlack) -> None:
    channel = fake_slack.add_channel("makers-x")
    publish(bot, "k", channel, "v1")
    bot.sender.drain()
    first_ts = row(bot, "k").ts
    fake_slack.fail_next("chat.update", status=200, error="message_not_found")
    publish(bot, "k", channel, "v2")
    bot.sender.drain()
    assert row(bot, "k").ts != first_ts
    assert [c.args["text"] for c in fake_slack.calls("chat.postMessage")] == ["v1", "v2"]


def test_permanent_error_is_given_up(bot: Bot, fake_slack: FakeSlack) -> None:
    # A refusal of the message itself; a refused channel is parked (test_outbox_fairness.py).
    publish(bot, "k", "C0GONE", "hello")
    fake_slack.fail_next("chat.postMessage", status=200, error="msg_too_long")
    bot.sender.drain()
    message = row(bot, "k")
    assert message.sent_version == message.version and message.last_error == "msg_too_long"


def test_thread_reply_waits_for_its_parent(bot: Bot, fake_slack: FakeSlack) -> None:
    channel = fake_slack.add_channel("makers-x")
    publish(bot, "reply", channel, "in thread", thread_key="parent")
    bot.sender.drain()
    assert fake_slack.calls("chat.postMessage") == []
    publish(bot, "parent", channel, "parent")
    bot.sender.drain()
    bot.clock.now += timedelta(seconds=2)  # type: ignore[attr-defined]
    bot.sender.drain()
    posts = fake_slack.calls("chat.postMessage")
    assert [p.args["text"] for p in posts] == ["parent", "in thread"]
    assert posts[1].args["thread_ts"] == row(bot, "parent").ts


def test_two_senders_post_each_message_once(bot: Bot, fake_slack: FakeSlack) -> None:
    channels = [fake_slack.add_channel(f"makers-{i}") for i in range(5)]
    for i in range(40):
        publish(bot, f"k{i}", channels[i % 5], f"message {i}")
    senders = [
        SlackSender(bot.db, bot.client, clock=bot.clock, per_channel_interval=0) for _ in range(2)
    ]
    threads = [threading.Thread(target=s.drain) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    texts = sorted(c.args["text"] for c in fake_slack.calls("chat.postMessage"))
    assert texts == sorted(f"message {i}" for i in range(40))


def test_channel_pace_comes_from_the_setting(database_url: str, fake_slack: FakeSlack) -> None:
    bot = build(make_settings(database_url, fake_slack, slack_channel_pace=60))
    bot.db.upgrade()
    try:
        busy, quiet = fake_slack.add_channel("makers-busy"), fake_slack.add_channel("makers-q")
        publish(bot, "first", busy, "first")
        publish(bot, "second", busy, "second")
        publish(bot, "other", quiet, "other")
        bot.sender.drain()
        # One post per channel, then the busy channel waits its 60 seconds.
        assert sorted(c.args["text"] for c in fake_slack.calls("chat.postMessage")) == [
            "first",
            "other",
        ]
        assert row(bot, "second").ts is None
        waits = bot.sender.next_due()
        assert waits is not None and 50 < waits <= 60
    finally:
        bot.stop()


def test_unpaced_sender_posts_a_burst_at_once(database_url: str, fake_slack: FakeSlack) -> None:
    bot = build(make_settings(database_url, fake_slack, slack_channel_pace=0))
    bot.db.upgrade()
    try:
        channel = fake_slack.add_channel("makers-busy")
        for i in range(5):
            publish(bot, f"k{i}", channel, f"message {i}")
        bot.sender.drain()
        assert len(fake_slack.calls("chat.postMessage")) == 5
        assert bot.sender.next_due() is None
    finally:
        bot.stop()


def test_background_sends_what_is_published_and_stops(bot: Bot, fake_slack: FakeSlack) -> None:
    channel = fake_slack.add_channel("makers-x")
    background = Background.for_bot(bot, scheduler=False)
    background.start()
    try:
        publish(bot, "k", channel, "hello")
        assert wait_until(lambda: len(fake_slack.messages(channel)) == 1)
    finally:
        background.stop()
    threads = {t.name for t in threading.enumerate()}
    assert not threads & {"outbox", "deliveries", "poller", "charts"}


def test_an_idle_round_only_reads(bot: Bot, fake_slack: FakeSlack) -> None:
    # Each worker's sender wakes after every commit that publishes; in a burst most rounds
    # find every channel paced. Such a round cost 14 ms of CPU in the Procfile topology: a
    # write transaction to claim nothing, and three queries to learn when to wake next.
    channel = fake_slack.add_channel("makers-x")
    publish(bot, "k", channel, "hello")
    bot.sender.drain(parallel=4)
    assert row(bot, "k").ts is not None
    with statements(bot) as sent:
        assert bot.sender.drain(parallel=4) == 0
        assert bot.sender.next_due() is None
    queries = [s for s in sent if s.startswith("SELECT")]
    assert len(queries) == 4, sent  # parked channels due a check, the update gate, ready, wake
    assert not [s for s in sent if s.startswith(("INSERT", "UPDATE", "DELETE", "BEGIN IMM"))]
