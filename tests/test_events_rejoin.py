"""The bot added back to a channel: member_joined_channel unparks its outbox at once.

Signed Events API requests over HTTP to the real app, the background loops running on a
clock that never moves, so the minute's probe of a parked channel never comes due: only
the event can resume the channel.
"""

from __future__ import annotations

import json
import time

import pytest

from makersbot.store import outbox_gates as gates
from tests.conftest import SIGNING_SECRET, Server, wait_until
from tests.fakes.signing import slack_headers
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_world import BOT_USER_ID
from tests.outbox_helpers import publish


def _joined(server: Server, user: str, channel: str, event_id: str) -> int:
    body = json.dumps(
        {
            "token": "x",
            "team_id": "T0001",
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": {
                "type": "member_joined_channel",
                "user": user,
                "channel": channel,
                "channel_type": "C",
                "team": "T0001",
                "inviter": "U0ALICE",
            },
        }
    )
    headers = slack_headers(SIGNING_SECRET, body, content_type="application/json")
    return server.post("/slack/events", body, headers).status_code


def _parked(server: Server) -> list[str]:
    with server.bot.db.session(read_only=True) as session:
        return [p.channel for p in gates.parked_channels(session)]


def test_the_bot_rejoining_a_parked_channel_resumes_it_without_the_probe(
    server: Server, fake_slack: FakeSlack
) -> None:
    channel = fake_slack.add_channel("makers-x")
    fake_slack.fail_next("chat.postMessage", status=200, error="not_in_channel")
    publish(server.bot, "k", channel, "hello")
    assert wait_until(lambda: _parked(server) == [channel])

    assert _joined(server, "U0ALICE", channel, "Ev0101") == 200  # someone else: no change
    time.sleep(0.6)  # longer than the sender's poll
    assert _parked(server) == [channel] and fake_slack.messages(channel) == []

    assert _joined(server, BOT_USER_ID, channel, "Ev0102") == 200
    assert wait_until(lambda: [m["text"] for m in fake_slack.messages(channel)] == ["hello"])
    assert _parked(server) == []
    assert fake_slack.calls("conversations.info") == []  # not the minute's probe


def test_the_bot_joining_a_channel_that_is_not_parked_changes_nothing(
    server: Server, fake_slack: FakeSlack
) -> None:
    channel = fake_slack.add_channel("makers-y")
    publish(server.bot, "k", channel, "hello")
    assert wait_until(lambda: len(fake_slack.messages(channel)) == 1)
    assert _joined(server, BOT_USER_ID, channel, "Ev0103") == 200
    time.sleep(0.3)
    assert _parked(server) == [] and len(fake_slack.calls("chat.postMessage")) == 1


def test_a_retried_member_joined_channel_acts_once(
    server: Server, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Events API retries carry the same event_id: the event listeners claim it first.
    resumed: list[str] = []

    def resume(channel: str) -> bool:
        resumed.append(channel)
        return False

    monkeypatch.setattr(server.bot.events, "resume", resume)
    channel = fake_slack.add_channel("makers-y")
    assert _joined(server, BOT_USER_ID, channel, "Ev0201") == 200
    assert _joined(server, BOT_USER_ID, channel, "Ev0201") == 200  # Slack's retry
    assert _joined(server, BOT_USER_ID, channel, "Ev0202") == 200  # a new event
    assert wait_until(lambda: len(resumed) >= 2)
    time.sleep(0.3)  # the retry's listener, had it run, would have been as quick
    assert resumed == [channel, channel]
