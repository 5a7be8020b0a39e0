"""Clean input (issue 8, item 5): NUL, control and bidi-override characters never reach the
database, whichever path a text takes, and URLs from payloads cannot break out of a link.

The repros of the issue: a NUL in a status, in `gave` text or in an issue title gave HTTP 500
on PostgreSQL, or dropped the delivery after 5 tries; a bidi override made a name display
reversed; an `html_url` with `>|<!channel>` in it pinged the channel. They run end to end
(signed HTTP for Slack, the delivery service for GitHub) on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import select

from makersbot.app import Bot
from makersbot.domain.text import clean_line, clean_text, clean_value
from makersbot.store import deliveries as delivery_store
from makersbot.store import outbox as outbox_store
from makersbot.store import rows as row_store
from makersbot.store.models import (
    Delivery,
    LedgerEntry,
    MirroredItem,
    Person,
    Project,
    ProjectUpdate,
    SeenRequest,
    SlackMessage,
)
from tests.conftest import Clock, Server, wait_until
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
from tests.test_slack_http import start_project as start_over_http

RLO, LRI, PDI = "\u202e", "\u2066", "\u2069"


def rows(bot: Bot, model: type) -> list[Any]:
    with bot.db.session(read_only=True) as session:
        return list(session.exec(select(model)).all())


# The cleaner itself ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("bin\x00day", "binday"),
        ("a\x01\x07\x08\x0b\x0c\x1b[31mb\x7f", "a[31mb"),  # C0, ESC sequences lose their ESC
        ("c1\x85\x9bcontrols\x80", "c1controls"),
        ("line one\r\nline two\n\tindented", "line one\nline two\n\tindented"),
        (f"{RLO}exe.gnp", "exe.gnp"),
        (f"a\u202ab\u202bc\u202cd\u202de{LRI}f\u2067g\u2068h{PDI}", "abcdefgh"),
        ("\ud800lone surrogate\udfff", "lone surrogate"),
        # Kept: marks that reorder nothing, joiners that build emoji, ordinary text.
        ("\u05e9\u05dc\u05d5\u05dd\u200f (Hebrew)", "\u05e9\u05dc\u05d5\u05dd\u200f (Hebrew)"),
        ("\u200e\u061c", "\u200e\u061c"),
        ("👩\u200d💻 Caerdydd — Ynys Môn", "👩\u200d💻 Caerdydd — Ynys Môn"),
    ],
)
def test_clean_text_strips_controls_and_bidi_overrides(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


def test_clean_line_flattens_and_clean_value_recurses() -> None:
    assert clean_line("Bin day\n\treminders\x00") == "Bin day reminders"
    value = {"labels": ["ok", "b\x00ug"], f"k{RLO}": {"n": 1, "t": ("x\x07",)}}
    assert clean_value(value) == {"labels": ["ok", "bug"], "k": {"n": 1, "t": ("x",)}}
    untouched = {"labels": ["fine"], "n": 2}
    assert clean_value(untouched) is untouched


# The choke point: every path into the database ------------------------------------------


def test_core_orm_and_json_writes_are_all_cleaned(bot: Bot, clock: Clock) -> None:
    with bot.db.session() as session:
        # Core INSERT … ON CONFLICT (the path of ledger, mirror events and request keys).
        assert row_store.claim_request(session, key="trigger\x00one")
        # ORM object with a JSON column.
        outbox_store.set_message(
            session,
            key="announce:1",
            channel="C0TEST",
            text=f"hello{RLO}\x00 world",
            blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "x\x00y"}}],
            pin=False,
            thread_key=None,
            now=clock(),
        )
    with bot.db.session() as session:
        # A lookup with the same stray character finds the cleaned row instead of failing.
        assert not row_store.claim_request(session, key="trigger\x00one")
    assert [r.key for r in rows(bot, SeenRequest)] == ["triggerone"]
    (message,) = rows(bot, SlackMessage)
    assert message.text == "hello world"
    assert message.blocks == [{"type": "section", "text": {"type": "mrkdwn", "text": "xy"}}]
    with bot.db.session() as session:
        # A Core UPDATE of a JSON column: only the engine's JSON serializer sees these strings.
        session.execute(
            update(SlackMessage).values(blocks=[{"text": f"a{RLO}\x00b", f"k\x1b{LRI}": ["c\x85"]}])
        )
    (message,) = rows(bot, SlackMessage)
    assert message.blocks == [{"text": "ab", "k": ["c"]}]
    with bot.db.single_statement() as connection:
        # The webhook intake's INSERT: on PostgreSQL its strings travel as arrays.
        row = {"received_at": clock(), "attempts": 0, "body": '{"t": "x\x00y"}'}
        row |= {"source": "github", "delivery_id": "d\x00-1", "event": f"issues{RLO}"}
        assert delivery_store.insert_deliveries(connection, deliveries=[row]) == {("github", "d-1")}
    (delivery,) = rows(bot, Delivery)
    assert (delivery.delivery_id, delivery.event, delivery.body) == ("d-1", "issues", '{"t": "xy"}')


# Repros over signed HTTP and through the delivery service --------------------------------


def test_nul_in_status_and_gave_is_stored_without_it(server: Server, fake_slack: FakeSlack) -> None:
    start_over_http(server, fake_slack)
    status = server.slash("status bin-day-reminders going\x00 well")
    gave = server.slash("gave bin-day-reminders a user\x00 research workshop")
    assert (status.status_code, gave.status_code) == (200, 200), (status.text, gave.text)
    assert "updated" in status.text and "Thank you" in gave.text
    (project,) = rows(server.bot, Project)
    assert project.status_text == "going well"
    assert [u.value for u in rows(server.bot, ProjectUpdate) if u.kind == "status"] == [
        "going well"
    ]
    gifts = [e.description for e in rows(server.bot, LedgerEntry) if e.source == "gave"]
    assert gifts == ["a user research workshop"]
    # The announcements reach Slack without the NUL.
    assert wait_until(lambda: len(_posts_containing(fake_slack, "research workshop")) == 1)
    posted = _posts_containing(fake_slack, "going well") + _posts_containing(
        fake_slack, "research workshop"
    )
    assert posted and not any("\x00" in json.dumps(c.args) for c in posted)


def _posts_containing(fake_slack: FakeSlack, words: str) -> list[Any]:
    return [c for c in fake_slack.calls("chat.postMessage") if words in str(c.args.get("text"))]


def test_bidi_override_in_names_is_stripped(server: Server, fake_slack: FakeSlack) -> None:
    fake_slack.add_user("U0MALLORY", "mallory")
    response = server.slash(
        f"start Bins {RLO}gnp.exe{LRI} — reminders",
        user_id="U0MALLORY",
        user_name=f"{RLO}ecila",
        response_url=fake_slack.response_url("bidi"),
    )
    assert response.status_code == 200
    fake_slack.wait_for_calls("pins.add", 1)
    (project,) = rows(server.bot, Project)
    (person,) = rows(server.bot, Person)
    assert project.name == "Bins gnp.exe"
    assert person.display_name == "ecila"
    kickoff = fake_slack.calls("chat.postMessage")[0].args
    assert RLO not in json.dumps(kickoff, ensure_ascii=False)
    assert "Bins gnp.exe" in json.dumps(kickoff, ensure_ascii=False)


def test_nul_in_an_issue_title_is_mirrored_not_dropped(mbot: Bot, fake_slack: FakeSlack) -> None:
    start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    payload = issue_event(21, "Bin\x00 day\u202e reminders", updated="2026-11-26T10:00:00Z")
    payload["issue"]["labels"] = [{"name": "b\x00ug", "color": "ededed", "id": 1}]
    body, headers = github_delivery("issues", payload)
    assert b"\\u0000" in body  # as GitHub would send it: a JSON escape
    assert mbot.deliveries.accept_github(lower(headers), body) == (200, "ok")
    mbot.deliveries.process_pending()
    mbot.sender.drain()
    (delivery,) = rows(mbot, Delivery)
    assert (delivery.attempts, delivery.error) == (0, None)
    assert delivery.processed_at is not None
    (item,) = [i for i in rows(mbot, MirroredItem) if i.number == 21]
    assert (item.title, item.labels) == ("Bin day reminders", ["bug"])
    posts = [calls[0] for key, calls in messages_by_key(fake_slack).items() if key.endswith("#21")]
    assert len(posts) == 1
    assert "#21 Bin day reminders" in posts[0].args["blocks"][0]["text"]["text"]
    assert "\x00" not in json.dumps(posts[0].args)


def test_a_hostile_html_url_cannot_ping_the_channel(mbot: Bot, fake_slack: FakeSlack) -> None:
    start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    payload = issue_event(22, "Parking permits", updated="2026-11-26T10:00:00Z")
    payload["issue"]["html_url"] = f"https://github.com/{REPO}/issues/22>|<!channel>"
    body, headers = github_delivery("issues", payload)
    assert mbot.deliveries.accept_github(lower(headers), body) == (200, "ok")
    mbot.deliveries.process_pending()
    mbot.sender.drain()
    posts = [calls[0] for key, calls in messages_by_key(fake_slack).items() if key.endswith("#22")]
    assert len(posts) == 1
    headline = posts[0].args["blocks"][0]["text"]["text"]
    assert headline == (
        f"🟢 <https://github.com/{REPO}/issues/22%3E%7C%3C!channel%3E|#22 Parking permits>"
    )
    summaries = [c for c in fake_slack.calls() if c.method in ("chat.postMessage", "chat.update")]
    assert not any("<!channel>" in json.dumps(c.args) for c in summaries)


def test_a_url_that_is_not_http_is_not_linked(mbot: Bot, fake_slack: FakeSlack) -> None:
    start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    payload = issue_event(23, "Click me", updated="2026-11-26T10:00:00Z")
    payload["issue"]["html_url"] = "javascript:alert(1)"
    body, headers = github_delivery("issues", payload)
    mbot.deliveries.accept_github(lower(headers), body)
    mbot.deliveries.process_pending()
    mbot.sender.drain()
    posts = [calls[0] for key, calls in messages_by_key(fake_slack).items() if key.endswith("#23")]
    assert posts[0].args["blocks"][0]["text"]["text"] == "🟢 #23 Click me"
