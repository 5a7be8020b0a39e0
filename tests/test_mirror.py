"""Mirroring GitHub and Trello into project channels: webhooks over HTTP, living messages,
dedupe across webhook and poll, signatures, filters and the ledger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlmodel import select

from makersbot.app import Bot
from makersbot.domain.requests import Actor
from makersbot.store.models import Delivery, LedgerEntry, Link, MirroredItem, MirrorEvent
from tests.conftest import Clock, Server, wait_until
from tests.fakes.github import FakeGitHub
from tests.fakes.slack import FakeSlack
from tests.fakes.trello import FakeTrello
from tests.mirror_helpers import (
    ALICE,
    BOARD,
    FIXTURES,
    REPO,
    accept_webhooks,
    deliver_trello,
    fixture,
    github_delivery,
    issue_event,
    link,
    lower,
    messages_by_key,
    mirror_bot,
    poll_again_since,
    start_project,
    trello_delivery,
)
from tests.test_github import FIXTURES as GITHUB_FIXTURES


def rows(bot: Bot, model: type) -> list[Any]:
    with bot.db.session(read_only=True) as session:
        return list(session.exec(select(model)).all())


def deliver_github(
    bot: Bot, event: str, payload: dict[str, Any], delivery: str | None = None
) -> tuple[int, str]:
    body, headers = github_delivery(event, payload, delivery)
    return bot.deliveries.accept_github(lower(headers), body)


def settle(bot: Bot) -> None:
    bot.deliveries.process_pending()
    bot.sender.drain()


# Linking -------------------------------------------------------------------------------


def test_link_github_registers_a_webhook_and_pins_a_summary(
    mbot: Bot, fake_github: FakeGitHub, fake_slack: FakeSlack
) -> None:
    fake_github.add_issue(REPO, 1, "Old bug", state="closed")
    fake_github.add_issue(REPO, 2, "Open idea")
    project = start_project(mbot)
    reply = link(mbot, f"hello-world github {REPO} exclude:wontfix")
    assert f"Linked `{REPO}` to *Hello world* (not labels wontfix; bots left out)" in reply
    assert "Its webhook is set up" in reply
    hooks = fake_github.hooks(REPO)
    assert len(hooks) == 1
    assert hooks[0]["config"]["url"] == "https://makers.example.gov.uk/github/webhook"
    assert set(hooks[0]["events"]) >= {"issues", "pull_request", "issue_comment", "label"}
    mbot.sender.drain()
    summary = [
        c
        for c in fake_slack.calls("chat.postMessage")
        if "link:" in json.dumps(c.args.get("metadata"))
    ]
    assert len(summary) == 1 and summary[0].args["channel"] == project.channel_id
    # The existing issues fill the counts; none gets a message of its own.
    latest = fake_slack.calls("chat.update") or summary
    assert "open 1 · closed 1" in str(latest[-1].args["blocks"])
    assert len(fake_slack.calls("pins.add")) == 2  # the project card and the summary
    links = mbot.links.links(ALICE, "hello-world").reply
    assert REPO in links and "webhook" in links


def test_refused_webhook_explains_the_manual_set_up(mbot: Bot, fake_github: FakeGitHub) -> None:
    fake_github.refuse_hooks(404)
    start_project(mbot)
    reply = link(mbot, f"hello-world github {REPO}")
    assert "I could not add a webhook (GitHub said 404)" in reply
    assert "payload URL `https://makers.example.gov.uk/github/webhook`" in reply
    assert rows(mbot, Link)[0].webhook_id is None


def test_only_members_link(mbot: Bot) -> None:
    start_project(mbot)
    stranger = Actor(slack_user_id="U0STRANGER")
    import pytest

    from makersbot.domain.requests import UserError

    with pytest.raises(UserError, match="Only the makers"):
        mbot.links.link(stranger, f"hello-world github {REPO}")
    with pytest.raises(UserError, match="Unknown filter"):
        mbot.links.link(ALICE, f"hello-world github {REPO} colour:red")
    with pytest.raises(UserError, match="can't see"):
        mbot.links.link(ALICE, "hello-world github nobody/nothing")


def test_unlink_stops_mirroring(mbot: Bot, fake_github: FakeGitHub) -> None:
    start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    reply = mbot.links.unlink(ALICE, f"hello-world github {REPO}").reply
    assert f"Stopped mirroring `{REPO}`" in reply
    assert rows(mbot, Link) == []
    assert fake_github.hooks(REPO) == []


# Webhooks over HTTP --------------------------------------------------------------------


def test_every_github_fixture_gets_2xx_over_http(server: Server, fake_slack: FakeSlack) -> None:
    for path, key in GITHUB_FIXTURES.items():
        event = key.split(".")[0]
        body = (FIXTURES / "github" / path).read_bytes()
        from tests.fakes.signing import github_headers

        headers = github_headers("github-webhook-secret", body, event, f"d-{path}")
        accept_webhooks(server.bot, github="github-webhook-secret")
        response = server.post("/github/webhook", body, headers)
        assert 200 <= response.status_code < 300, (path, response.status_code, response.text)
    assert wait_until(lambda: all(d.processed_at for d in rows(server.bot, Delivery)))
    assert all(d.error is None for d in rows(server.bot, Delivery))


def test_every_trello_fixture_gets_2xx_over_http(server: Server) -> None:
    accept_webhooks(server.bot, trello="trello-app-secret")
    paths = sorted((FIXTURES / "trello").glob("*/*.json"))
    assert len(paths) >= 20
    for path in paths:
        body, headers = trello_delivery(json.loads(path.read_text()))
        response = server.post("/trello/webhook", body, headers)
        assert response.status_code == 200, (path.name, response.text)
    head = server.http.head(server.url + "/trello/webhook", timeout=5)
    assert head.status_code == 200
    # No project links these boards: each is acknowledged and ignored; only a delivery
    # that changes nothing at all is stored (as before).
    from integrations.trello.webhook import parse as parse_trello

    assert all(parse_trello(json.loads(d.body)) == [] for d in rows(server.bot, Delivery))


def test_bad_signatures_get_401_and_store_nothing(server: Server) -> None:
    accept_webhooks(server.bot, github="right")
    body = json.dumps(issue_event(1, "x", updated="2026-11-26T10:00:00Z")).encode()
    from tests.fakes.signing import github_headers

    wrong = github_headers("wrong", body, "issues", "d1")
    missing = {k: v for k, v in wrong.items() if k != "X-Hub-Signature-256"}
    assert server.post("/github/webhook", body, wrong).status_code == 401
    assert server.post("/github/webhook", body, missing).status_code == 401
    accept_webhooks(server.bot, trello="right")
    tbody, theaders = trello_delivery(fixture("trello/zulip/trello_creating_card.json"))
    theaders["X-Trello-Webhook"] = "bm90IGl0"
    assert server.post("/trello/webhook", tbody, theaders).status_code == 401
    assert rows(server.bot, Delivery) == []


def test_unusable_signed_bodies_get_400(mbot: Bot) -> None:
    body, headers = github_delivery("issues", {})
    assert mbot.deliveries.accept_github(lower(headers), b"not json")[0] == 401  # signature of {}
    from tests.fakes.signing import github_headers, trello_headers

    assert mbot.deliveries.accept_github(
        lower(github_headers("github-webhook-secret", b"not json", "issues", "x")), b"not json"
    ) == (400, "body is not a JSON object")
    no_event = lower(github_headers("github-webhook-secret", b"{}", "issues", "x"))
    del no_event["x-github-event"]
    assert mbot.deliveries.accept_github(no_event, b"{}")[0] == 400
    assert mbot.deliveries.accept_github(
        lower(github_headers("github-webhook-secret", b"{}", "push", "x")), b"{}"
    ) == (200, "ignored")
    payload = b'{"action": {"type": "createCard"}}'
    headers = trello_headers(
        "trello-app-secret", payload, "https://makers.example.gov.uk/trello/webhook"
    )
    assert mbot.deliveries.accept_trello(lower(headers), payload) == (400, "missing action.id")
    assert rows(mbot, Delivery) == []


# Living messages -----------------------------------------------------------------------


def test_issue_lifecycle_is_one_message_edited_in_place(mbot: Bot, fake_slack: FakeSlack) -> None:
    project = start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    mbot.sender.drain()
    fake_slack.clear()
    deliver_github(
        mbot, "issues", issue_event(42, "Bin day reminders", updated="2026-11-26T10:00:00Z")
    )
    settle(mbot)
    deliver_github(
        mbot,
        "issues",
        issue_event(
            42,
            "Bin day reminders",
            action="labeled",
            labels=("bug",),
            updated="2026-11-26T10:05:00Z",
        ),
    )
    deliver_github(
        mbot,
        "issues",
        issue_event(
            42,
            "Bin day reminders",
            action="closed",
            state="closed",
            labels=("bug",),
            updated="2026-11-26T10:09:00Z",
            sender="hubot",
        ),
    )
    settle(mbot)
    posts = messages_by_key(fake_slack)
    item_key = next(k for k in posts if k.endswith("#42"))
    assert len(posts[item_key]) == 1
    first = posts[item_key][0].args
    assert first["channel"] == project.channel_id
    assert first["blocks"][0]["text"]["text"] == (
        f"🟢 <https://github.com/{REPO}/issues/42|#42 Bin day reminders>"
    )
    # Two later changes before the sender ran: one chat.update showing the final state.
    updates = [
        c
        for c in fake_slack.calls("chat.update")
        if c.args["ts"] == first.get("ts") or "#42" in json.dumps(c.args["blocks"])
    ]
    final = updates[-1].args["blocks"]
    assert final[0]["text"]["text"].startswith("⚪ <https://github.com")
    assert "🏷 bug" in final[1]["elements"][0]["text"]
    assert "closed as completed by hubot" in final[1]["elements"][0]["text"]
    # State changes also go into the item's thread, never to the channel.
    threaded = [c for c in fake_slack.calls("chat.postMessage") if c.args.get("thread_ts")]
    assert [c.args["text"] for c in threaded] == [
        "opened by octocat",
        "closed as completed by hubot",
    ]
    assert all(not c.args.get("reply_broadcast") for c in threaded)
    item = rows(mbot, MirroredItem)
    assert [(i.number, i.state, i.labels) for i in item] == [(42, "closed", ["bug"])]
    # The closer's give is kept under the login until someone claims it.
    closes = [e for e in rows(mbot, LedgerEntry) if e.source == "github:issue_closed"]
    assert [(e.github_login, e.council_code) for e in closes] == [("hubot", None)]
    hubot = Actor(slack_user_id="U0HUBOT")
    mbot.people.set_council(hubot, "Leeds")
    mbot.people.set_github(hubot, "hubot")  # a typed login is a claim: it moves nothing
    assert (
        "1 contribution(s) made as `hubot`"
        in mbot.people.record_proof("U0HUBOT", "github", "hubot", by="github").reply
    )
    closes = [e for e in rows(mbot, LedgerEntry) if e.source == "github:issue_closed"]
    assert closes[0].council_code == "LDS"


def test_duplicates_and_webhook_plus_poll_change_once(
    mbot: Bot, fake_slack: FakeSlack, fake_github: FakeGitHub
) -> None:
    start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    # The link has a webhook, and is polled as well now and then (GitHub drops deliveries).
    assert rows(mbot, Link)[0].webhook_id is not None
    mbot.sender.drain()
    fake_slack.clear()
    payload = issue_event(7, "Parking permits", updated="2026-11-26T11:00:00Z")
    assert deliver_github(mbot, "issues", payload, "same-delivery") == (200, "ok")
    assert deliver_github(mbot, "issues", payload, "same-delivery") == (200, "duplicate")
    settle(mbot)
    # The same change, now seen by a poll: identical state and updated_at.
    fake_github.add_issue(REPO, 7, "Parking permits", updated_at="2026-11-26T11:00:00Z")
    poll_again_since(mbot, "2026-11-26T10:00:00+00:00")
    assert mbot.links.poll_link(rows(mbot, Link)[0].id) == 0  # nothing new to apply
    assert rows(mbot, Link)[0].cursor == "2026-11-26T11:00:00+00:00"  # yet it did read #7
    settle(mbot)
    assert len(rows(mbot, Delivery)) == 1
    assert len([e for e in rows(mbot, MirrorEvent) if e.item_key.endswith("#7")]) == 1
    posts = messages_by_key(fake_slack)
    assert len([k for k in posts if k.endswith("#7")]) == 1
    threaded = [c for c in fake_slack.calls("chat.postMessage") if c.args.get("thread_ts")]
    assert len(threaded) == 1


def test_bots_are_left_out_unless_asked(mbot: Bot, fake_slack: FakeSlack) -> None:
    start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    deliver_github(
        mbot,
        "issues",
        issue_event(9, "Bump lodash", user="dependabot[bot]", updated="2026-11-26T12:00:00Z"),
    )
    settle(mbot)
    assert [i for i in rows(mbot, MirroredItem) if i.number == 9] == []
    link(mbot, f"hello-world github {REPO} bots:on")
    deliver_github(
        mbot,
        "issues",
        issue_event(9, "Bump lodash", user="dependabot[bot]", updated="2026-11-26T12:01:00Z"),
    )
    settle(mbot)
    assert [i.number for i in rows(mbot, MirroredItem) if i.number == 9] == [9]


def test_hostile_titles_are_escaped(mbot: Bot, fake_slack: FakeSlack) -> None:
    start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    hostile = "<!channel> <@U123> & <script>"
    deliver_github(mbot, "issues", issue_event(13, hostile, updated="2026-11-26T12:00:00Z"))
    accept_webhooks(mbot, trello="trello-app-secret")
    mbot.links.link(ALICE, f"hello-world trello {BOARD}")
    card = fixture("trello/zulip/trello_creating_card.json")
    card["action"]["data"]["card"]["name"] = hostile
    assert deliver_trello(mbot, card) == (200, "ok")
    settle(mbot)
    items = {f"item:{i.link_id}:{i.item_key}" for i in rows(mbot, MirroredItem)}
    posts = [calls[0] for key, calls in messages_by_key(fake_slack).items() if key in items]
    assert len(posts) == 2
    for post in posts:
        texts = [post.args["text"]] + [json.dumps(b) for b in post.args.get("blocks", [])]
        assert not any("<!channel>" in t or "<@U123>" in t for t in texts)
        assert "&lt;!channel&gt; &lt;@U123&gt; &amp; &lt;script&gt;" in post.args["text"]


def test_trello_move_into_done_credits_the_mover(mbot: Bot, fake_slack: FakeSlack) -> None:
    start_project(mbot)
    mbot.links.link(ALICE, f"hello-world trello {BOARD}")
    move = fixture("trello/zulip/changing_cards_list.json")
    move["action"]["data"]["listAfter"]["name"] = "Done"
    deliver_trello(mbot, move)
    settle(mbot)
    item = rows(mbot, MirroredItem)
    assert [(i.kind, i.state) for i in item] == [("card", "Done")]
    done = [e for e in rows(mbot, LedgerEntry) if e.source == "trello:card_done"]
    assert len(done) == 1 and done[0].trello_username
    assert "🗂" in str(messages_by_key(fake_slack)) and "Done" in str(fake_slack.calls())


# Polling -------------------------------------------------------------------------------


def test_polling_an_unchanged_repo_costs_only_304s(
    database_url: str,
    fake_slack: FakeSlack,
    fake_github: FakeGitHub,
    fake_trello: FakeTrello,
    clock: Clock,
) -> None:
    bot = mirror_bot(database_url, fake_slack, fake_github, fake_trello, clock, public_url=None)
    fake_github.add_issue(REPO, 1, "Existing")
    start_project(bot)
    assert "I will check it every 5 minutes" in link(bot, f"hello-world github {REPO}")
    link_id = rows(bot, Link)[0].id
    bot.links.poll_link(link_id)  # settles the etag on the now one-page answer
    fake_github.clear()
    for _ in range(100):
        bot.links.poll_link(link_id)
    statuses = [r.status for r in fake_github.requests]
    assert len(statuses) == 100 and set(statuses) == {304}
    fake_github.update_issue(REPO, 1, title="Existing, renamed")
    assert bot.links.poll_link(link_id) == 1
    bot.sender.drain()
    assert "renamed from “Existing”" in str([c.args for c in fake_slack.calls("chat.postMessage")])
    bot.stop()


def test_trello_polling_mirrors_new_actions_once(
    database_url: str,
    fake_slack: FakeSlack,
    fake_github: FakeGitHub,
    fake_trello: FakeTrello,
    clock: Clock,
) -> None:
    bot = mirror_bot(database_url, fake_slack, fake_github, fake_trello, clock, public_url=None)
    start_project(bot)
    bot.links.link(ALICE, f"hello-world trello {BOARD}")
    created = fixture("trello/zulip/trello_creating_card.json")["action"]
    fake_trello.add_action(BOARD, created)
    link_id = rows(bot, Link)[0].id
    assert bot.links.poll_link(link_id) == 1
    assert bot.links.poll_link(link_id) == 0
    # The same action by webhook afterwards changes nothing more.
    accept_webhooks(bot, trello="trello-app-secret")
    deliver_trello(bot, {"model": {"id": BOARD}, "action": created})
    settle(bot)
    assert len(rows(bot, MirrorEvent)) == 1
    items = {f"item:{i.link_id}:{i.item_key}" for i in rows(bot, MirroredItem)}
    assert len(items) == 1
    assert [len(messages_by_key(fake_slack)[key]) for key in items] == [1]
    bot.stop()


def test_fixture_paths_are_inside_the_repo() -> None:
    # A fresh clone has only the repo: every payload a test reads lives in tests/fixtures.
    assert FIXTURES == Path(__file__).parent / "fixtures"
    assert all((FIXTURES / "github" / path).exists() for path in GITHUB_FIXTURES)


def test_first_look_respects_filters_and_counts_trello_lists(
    mbot: Bot, fake_github: FakeGitHub, fake_trello: FakeTrello, fake_slack: FakeSlack
) -> None:
    fake_github.add_issue(REPO, 1, "A person's issue")
    fake_github.add_issue(REPO, 2, "Bump lodash", user="dependabot[bot]", user_type="Bot")
    fake_trello.add_list(BOARD, "l1", "Doing")
    fake_trello.add_list(BOARD, "l2", "Done")
    fake_trello.add_card(BOARD, "l1", "c1", "Survey residents")
    fake_trello.add_card(BOARD, "l2", "c2", "Pick a name")
    fake_trello.add_card(BOARD, "l2", "c3", "Book a room")
    start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    mbot.links.link(ALICE, f"hello-world trello {BOARD}")
    stored = sorted((i.kind, i.title) for i in rows(mbot, MirroredItem))
    assert ("issue", "Bump lodash") not in stored
    assert stored == [
        ("card", "Book a room"),
        ("card", "Pick a name"),
        ("card", "Survey residents"),
        ("issue", "A person's issue"),
    ]
    mbot.sender.drain()
    summaries = [
        str(c.args["blocks"])
        for c in fake_slack.calls("chat.postMessage") + fake_slack.calls("chat.update")
        if "Welcome Board" in str(c.args["blocks"])
    ]
    assert "Done 2 · Doing 1" in summaries[-1]


def test_signed_but_malformed_deliveries_get_400(mbot: Bot) -> None:
    broken = issue_event(1, "x", updated="2026-11-26T10:00:00Z")
    del broken["issue"]["number"]
    status, text = deliver_github(mbot, "issues", broken)
    assert status == 400 and text.startswith("malformed payload:")
    assert rows(mbot, Delivery) == []


def test_a_failed_first_look_never_floods_the_channel_later(
    database_url: str,
    fake_slack: FakeSlack,
    fake_github: FakeGitHub,
    fake_trello: FakeTrello,
    clock: Clock,
) -> None:
    bot = mirror_bot(database_url, fake_slack, fake_github, fake_trello, clock, public_url=None)
    for number in range(1, 6):
        fake_github.add_issue(REPO, number, f"Old issue {number}")
    start_project(bot)
    fake_github.fail_next(f"/repos/{REPO}/issues", 500, times=3)
    link(bot, f"hello-world github {REPO}")
    assert rows(bot, MirroredItem) == []
    bot.links.poll_link(rows(bot, Link)[0].id)
    bot.sender.drain()
    assert len(rows(bot, MirroredItem)) == 5
    item_posts = [k for k in messages_by_key(fake_slack) if k.startswith("item:")]
    assert item_posts == []
    bot.stop()


def test_a_burst_of_state_changes_is_one_thread_reply(mbot: Bot, fake_slack: FakeSlack) -> None:
    start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    deliver_github(mbot, "issues", issue_event(5, "Flaky", updated="2026-11-26T10:00:00Z"))
    settle(mbot)
    for minute, (action, state) in enumerate(
        [("closed", "closed"), ("reopened", "open"), ("closed", "closed")], start=1
    ):
        deliver_github(
            mbot,
            "issues",
            issue_event(
                5, "Flaky", action=action, state=state, updated=f"2026-11-26T10:0{minute}:00Z"
            ),
        )
    settle(mbot)
    replies = [
        c.args["text"] for c in fake_slack.calls("chat.postMessage") if c.args.get("thread_ts")
    ]
    assert replies == [
        "opened by octocat",
        "closed as completed by octocat\nreopened by octocat\nclosed as completed by octocat",
    ]


def test_an_older_trello_action_arriving_late_changes_nothing(mbot: Bot) -> None:
    start_project(mbot)
    mbot.links.link(ALICE, f"hello-world trello {BOARD}")
    newer = fixture("trello/zulip/changing_cards_list.json")
    older = json.loads(json.dumps(newer))
    older["action"]["id"] = "older-action"
    older["action"]["date"] = "2016-01-01T00:00:00.000Z"
    older["action"]["data"]["listAfter"]["name"] = "Stale list"
    for payload in (newer, older):
        assert deliver_trello(mbot, payload) == (200, "ok")
    settle(mbot)
    card = rows(mbot, MirroredItem)[0]
    assert card.state == newer["action"]["data"]["listAfter"]["name"] != "Stale list"
