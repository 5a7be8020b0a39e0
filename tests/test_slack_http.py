"""End to end: signed Slack requests over HTTP to the real app, a fake Slack behind it."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import func
from sqlmodel import select

from makersbot.domain.projects import JOIN_ACTION
from makersbot.store.models import LedgerEntry, Membership, Project, SeenRequest
from tests.conftest import SIGNING_SECRET, Server, wait_until
from tests.fakes.signing import interactivity_body, slack_headers
from tests.fakes.slack import FakeSlack


def count(server: Server, model: type) -> int:
    with server.bot.db.session(read_only=True) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def ack_text(response: object) -> str:
    body = response.json()  # type: ignore[attr-defined]
    return str(body.get("text", ""))


def start_project(server: Server, fake_slack: FakeSlack, name: str = "Bin day reminders") -> str:
    """Start a project over HTTP and wait for its pinned card; returns the channel id."""
    fake_slack.add_user("U0ALICE", "alice")
    server.slash("iam council Guildford")
    response = server.slash(
        f"start {name} — remind residents", response_url=fake_slack.response_url("start")
    )
    assert response.status_code == 200
    fake_slack.wait_for_calls("pins.add", 1)
    channel = fake_slack.channel_by_name("makers-bin-day-reminders")
    assert channel is not None
    return str(channel["id"])


def card_in(fake_slack: FakeSlack, channel_id: str, ts: str) -> dict[str, Any]:
    """The message with this ts in the channel, as the fake Slack now holds it."""
    (message,) = [m for m in fake_slack.messages(channel_id) if m["ts"] == ts]
    return message


def test_start_creates_channel_invites_posts_and_pins_card(
    server: Server, fake_slack: FakeSlack
) -> None:
    channel_id = start_project(server, fake_slack)

    create = fake_slack.calls("conversations.create")
    assert [c.args["name"] for c in create] == ["makers-bin-day-reminders"]
    invite = fake_slack.calls("conversations.invite")
    assert invite[0].args == {"channel": channel_id, "users": "U0ALICE"}
    post = fake_slack.calls("chat.postMessage")[0]
    assert post.args["channel"] == channel_id
    assert post.args["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Bin day reminders", "emoji": True},
    }
    join = post.args["blocks"][-1]["elements"][0]
    assert join["action_id"] == JOIN_ACTION and join["value"] == "bin-day-reminders"
    assert fake_slack.calls("pins.add")[0].args["channel"] == channel_id
    # The reply reached the person through response_url, ephemerally.
    replies = fake_slack.wait_for_calls("response_url", 1)
    assert replies[0].args["response_type"] == "ephemeral"
    assert "Started *Bin day reminders*" in replies[0].args["text"]
    # A give for Guildford, the starter's council.
    with server.bot.db.session(read_only=True) as session:
        entries = session.exec(select(LedgerEntry)).all()
        project = session.exec(select(Project)).one()
    assert [(e.kind, e.source, e.council_code) for e in entries] == [("give", "start", "GRT")]
    assert project.channel_id == channel_id and project.lead_council_code == "GRT"


def test_list_and_info_answer_in_the_ack(server: Server, fake_slack: FakeSlack) -> None:
    start_project(server, fake_slack)
    listing = server.slash("list bin")
    assert listing.status_code == 200
    assert listing.json()["response_type"] == "ephemeral"
    assert "*Bin day reminders* `bin-day-reminders`" in ack_text(listing)
    info = server.slash("info #makers-bin-day-reminders")
    assert info.json()["blocks"][0]["text"]["text"] == "Bin day reminders"
    nothing = server.slash("list parking")
    assert "No projects match" in ack_text(nothing)


def test_join_button_joins_and_updates_the_card_in_place(
    server: Server, fake_slack: FakeSlack
) -> None:
    channel_id = start_project(server, fake_slack)
    # The card is the one message pinned in the project channel.
    (card_ts,) = fake_slack.channel(channel_id)["pins"]
    assert ' 1 member"' in json.dumps(card_in(fake_slack, channel_id, card_ts)["blocks"])
    payload = {
        "type": "block_actions",
        "trigger_id": "trig.button.1",
        "user": {"id": "U0BOB", "username": "bob"},
        "channel": {"id": channel_id},
        "actions": [
            {
                "action_id": JOIN_ACTION,
                "value": "bin-day-reminders",
                "type": "button",
                "block_id": "b",
            }
        ],
        "team": {"id": "T0001"},
        "api_app_id": "A1",
    }
    body = interactivity_body(payload)
    response = server.post("/slack/events", body, slack_headers(SIGNING_SECRET, body))
    assert response.status_code == 200
    updates = fake_slack.wait_for_calls("chat.update", 1)
    assert updates[0].args["ts"] == card_ts
    assert updates[0].args["channel"] == channel_id
    # The pinned card itself, edited in place, now counts the new member.
    card = card_in(fake_slack, channel_id, card_ts)
    assert "edited" in card
    assert ' 2 members"' in json.dumps(card["blocks"])
    ephemeral = fake_slack.wait_for_calls("chat.postEphemeral", 1)
    assert ephemeral[0].args["user"] == "U0BOB"
    assert "You joined *Bin day reminders*" in ephemeral[0].args["text"]
    assert wait_until(
        lambda: any(
            c.args.get("users") == "U0BOB" for c in fake_slack.calls("conversations.invite")
        )
    )
    # Exactly one message was ever posted for the card: the rest were edits.
    cards = [
        c
        for c in fake_slack.calls("chat.postMessage")
        if c.args.get("metadata", {}).get("event_payload", {}).get("key", "").endswith("card")
    ]
    assert len(cards) == 1


def test_repeated_slash_command_acts_once(server: Server, fake_slack: FakeSlack) -> None:
    fake_slack.add_user("U0ALICE", "alice")
    first = server.slash("start Parking permits", trigger_id="same-trigger")
    second = server.slash("start Parking permits", trigger_id="same-trigger")
    assert first.status_code == second.status_code == 200
    fake_slack.wait_for_calls("pins.add", 1)
    time.sleep(0.3)
    assert len(fake_slack.calls("conversations.create")) == 1
    assert count(server, Project) == 1
    assert count(server, LedgerEntry) == 1


def test_events_api_retry_acts_once(server: Server, fake_slack: FakeSlack) -> None:
    event = {
        "token": "x",
        "team_id": "T0001",
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": "Ev0001",
        "event_time": int(time.time()),
        "event": {"type": "app_home_opened", "user": "U0ALICE", "channel": "D1", "tab": "home"},
    }
    body = json.dumps(event)
    headers = slack_headers(SIGNING_SECRET, body, content_type="application/json")
    assert server.post("/slack/events", body, headers).status_code == 200
    fake_slack.wait_for_calls("views.publish", 1)
    retry = dict(
        slack_headers(SIGNING_SECRET, body, content_type="application/json"),
        **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    assert server.post("/slack/events", body, retry).status_code == 200
    time.sleep(0.3)
    assert len(fake_slack.calls("views.publish")) == 1


def test_unknown_event_and_action_get_2xx(server: Server, fake_slack: FakeSlack) -> None:
    event = {
        "type": "event_callback",
        "event_id": "Ev0002",
        "team_id": "T0001",
        "api_app_id": "A1",
        "event": {"type": "reaction_added", "user": "U1"},
    }
    body = json.dumps(event)
    response = server.post(
        "/slack/events", body, slack_headers(SIGNING_SECRET, body, content_type="application/json")
    )
    assert response.status_code == 200
    payload = {
        "type": "block_actions",
        "trigger_id": "t-unknown",
        "user": {"id": "U1"},
        "actions": [{"action_id": "something_else", "value": "x"}],
        "team": {"id": "T0001"},
        "api_app_id": "A1",
    }
    body = interactivity_body(payload)
    response = server.post("/slack/events", body, slack_headers(SIGNING_SECRET, body))
    assert response.status_code == 200


def test_url_verification_challenge(server: Server) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"})
    response = server.post(
        "/slack/events", body, slack_headers(SIGNING_SECRET, body, content_type="application/json")
    )
    assert response.status_code == 200 and response.json()["challenge"] == "abc123"


def test_bad_signatures_get_401_and_leave_no_trace(server: Server, fake_slack: FakeSlack) -> None:
    wrong = server.slash("start Sneaky project", secret="not-the-secret")
    stale = server.slash("start Sneaky project", timestamp=int(time.time()) - 301)
    body = "command=%2Fmakers&text=start+Sneaky&user_id=U1&trigger_id=t1"
    missing = server.post(
        "/slack/events", body, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert [wrong.status_code, stale.status_code, missing.status_code] == [401, 401, 401]
    time.sleep(0.2)
    for model in (Project, LedgerEntry, SeenRequest, Membership):
        assert count(server, model) == 0
    assert fake_slack.calls() == []


def test_malformed_signed_bodies_never_5xx(server: Server) -> None:
    for body, content_type in [
        ("payload=%7Bnot-json", "application/x-www-form-urlencoded"),
        ("{not json", "application/json"),
        ("", "application/x-www-form-urlencoded"),
        (json.dumps({"type": "event_callback"}), "application/json"),
    ]:
        response = server.post(
            "/slack/events", body, slack_headers(SIGNING_SECRET, body, content_type=content_type)
        )
        assert 200 <= response.status_code < 500, (body, response.status_code, response.text)


def test_escaped_names_ping_nobody(server: Server, fake_slack: FakeSlack) -> None:
    fake_slack.add_user("U0ALICE", "alice")
    server.slash("start <!channel> party & <@U123>", response_url=fake_slack.response_url("esc"))
    post = fake_slack.wait_for_calls("chat.postMessage", 1)[0]
    # Slack parses mentions in mrkdwn and in the fallback text, never in plain_text.
    parsed = [post.args["text"], *mrkdwn_texts(post.args["blocks"])]
    assert len(parsed) > 2
    assert not any("<!channel>" in t or "<@U123>" in t for t in parsed)
    assert "&lt;!channel&gt; party &amp; &lt;@U123&gt;" in post.args["text"]


def mrkdwn_texts(node: object) -> list[str]:
    """Every mrkdwn string inside a Block Kit structure."""
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn":
            return [str(node["text"])]
        return [t for value in node.values() for t in mrkdwn_texts(value)]
    if isinstance(node, list):
        return [t for item in node for t in mrkdwn_texts(item)]
    return []


def test_healthz_reports_database_and_outbox(server: Server) -> None:
    response = server.http.get(server.url + "/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "outbox_depth": 0,
        "last_scheduler_run": None,
    }
