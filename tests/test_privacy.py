"""Privacy for the people in the bot (issue 10, item 6): `/makers mydata` sends a JSON file,
`/makers forget` erases after a confirmation and leaves no trace of the person while the
council keeps its counts; admins can do both for anyone. And `/makers visibility`."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from makersbot.app import Bot, build
from makersbot.domain.messages import Message
from makersbot.domain.privacy import FORGET_ACTION
from makersbot.store.models import (
    Delivery,
    LedgerEntry,
    Link,
    Membership,
    MirroredItem,
    MirrorEvent,
    Person,
    Project,
    SlackMessage,
)
from tests.conftest import Clock, make_settings
from tests.fakes.slack import FakeSlack
from tests.test_commands import rows, run

ADMIN = "U0ADMIN"
ALICE, NAME, LOGIN = "U0ALICE", "alice.smith", "octo-alice"
_clicks = itertools.count(1)


@pytest.fixture
def bot(database_url: str, fake_slack: FakeSlack, clock: Clock) -> Iterator[Bot]:
    bot = build(
        make_settings(database_url, fake_slack, makers_admins=ADMIN),
        clock=clock,
        per_channel_interval=0,
    )
    bot.db.upgrade()
    yield bot
    bot.stop()


@pytest.fixture
def world(bot: Bot, fake_slack: FakeSlack) -> Project:
    """Alice of Guildford leads Bin day reminders with Bob; she gave, made Bob a lead, has a
    GitHub login with mirrored activity, a held-back start and a direct message from the bot."""
    for user, name in ((ALICE, NAME), ("U0BOB", "bob"), (ADMIN, "admin")):
        fake_slack.add_user(user, name)
    run(bot, "iam council Guildford", name=NAME)
    run(bot, f"iam github {LOGIN}", name=NAME)
    assert "Started" in run(bot, "start Bin day reminders — remind residents", name=NAME).last
    run(bot, "iam council Woking", user="U0BOB", name="bob")
    run(bot, "join bin-day-reminders", user="U0BOB", name="bob")
    run(bot, "gave bin-day-reminders a research day", name=NAME)
    run(bot, "gave bin-day-reminders a workshop", user="U0BOB", name="bob")
    run(bot, "lead bin-day-reminders @bob", name=NAME)
    assert "looks like" in run(bot, "start Bin day reminder", name=NAME).last  # held back
    project: Project = rows(bot, Project)[0]
    with bot.db.session() as s:
        link = Link(project_id=project.id or 0, source="github", target="org/bins")
        s.add(link)
        s.flush()
        s.add(
            LedgerEntry(
                kind="give",
                source="github:pr_merged",
                project_id=project.id,
                github_login=LOGIN,
                occurred_at=bot.clock(),
                dedupe_key="gh:1",
                recorded_by="github",
            )
        )
        s.add(
            MirrorEvent(
                project_id=project.id or 0,
                link_id=link.id or 0,
                item_key="github:org/bins#1",
                kind="pr",
                action="merged",
                actor=LOGIN,
                occurred_at=bot.clock(),
                dedupe_key="ev:1",
            )
        )
        s.add(
            MirroredItem(
                link_id=link.id or 0,
                item_key="github:org/bins#1",
                kind="pr",
                title="Welsh",
                author=LOGIN,
                people=[LOGIN, "someone-else"],
            )
        )
        body = json.dumps({"sender": {"login": LOGIN}, "action": "closed"})
        s.add(Delivery(source="github", delivery_id="d1", body=body, processed_at=bot.clock()))
        bot.outbox.publish(s, key="quiet:1:2:U0ALICE", channel=ALICE, message=Message("Any news?"))
    bot.sender.drain()
    return project


def click_forget(bot: Bot, value: str, *, user: str) -> str:
    said: list[dict[str, Any]] = []
    body = {
        "type": "block_actions",
        "trigger_id": f"forget{next(_clicks)}",
        "user": {"id": user, "username": user.lower()},
        "channel": {"id": "C0GENERAL"},
        "actions": [{"action_id": FORGET_ACTION, "value": value, "type": "button"}],
    }
    bot.actions.forget(body=body, respond=lambda **kw: said.append(kw), client=bot.client)
    assert said[-1]["replace_original"] is True
    return str(said[-1]["text"])


def sent_file(fake_slack: FakeSlack) -> tuple[str, dict[str, Any]]:
    """The channel and the JSON of the last file the bot shared."""
    complete = fake_slack.calls("files.completeUploadExternal")[-1]
    [entry] = complete.args["files"]
    content = fake_slack.file_content(entry["id"])
    assert content is not None
    return str(complete.args["channel_id"]), json.loads(content)


# mydata ---------------------------------------------------------------------------------------


def test_mydata_sends_everything_held_as_a_json_file_in_a_direct_message(
    bot: Bot, world: Project, fake_slack: FakeSlack
) -> None:
    said = run(bot, "mydata", name=NAME)
    assert "I have sent your data as a file in a direct message from me" in said.last
    [opened] = fake_slack.calls("conversations.open")
    assert opened.args["users"] == ALICE
    channel, data = sent_file(fake_slack)
    assert channel == "D0ALICE"
    dm = fake_slack.messages("D0ALICE")[-1]
    assert "Here is your data, as JSON" in dm["text"] and dm["files"][0]["name"].endswith(".json")
    person = data["person"]
    assert (person["slack_user_id"], person["display_name"]) == (ALICE, NAME)
    assert (person["github_login"], person["council_code"]) == (LOGIN, "GRT")
    assert person["council_name"] == "Guildford Borough Council"
    assert data["memberships"] == [
        {
            "project": "bin-day-reminders",
            "role": "lead",
            "joined_at": data["memberships"][0]["joined_at"],
        }
    ]
    sources = sorted(e["source"] for e in data["ledger_entries"])
    assert sources == ["gave", "github:pr_merged", "start"]  # not Bob's workshop
    assert [u["value"] for u in data["project_updates"]] == ["U0BOB"]  # she made Bob a lead
    assert data["projects_started"][0]["project"] == "bin-day-reminders"
    assert [a["action"] for a in data["mirrored_activity"]] == ["merged"]
    assert data["mirrored_items"][0]["author"] == LOGIN
    assert data["held_back_starts"][0]["name"] == "Bin day reminder"
    keys = {m["key"] for m in data["bot_messages"]}
    assert "quiet:1:2:U0ALICE" in keys and any(k.startswith("project:") for k in keys)
    assert data["other_records"] == {}


def test_mydata_for_someone_else_is_for_admins_only(
    bot: Bot, world: Project, fake_slack: FakeSlack
) -> None:
    refused = run(bot, "mydata @bob", name=NAME)
    assert "Only the bot's admins (MAKERS_ADMINS) can do that for someone else" in refused.last
    assert fake_slack.calls("files.completeUploadExternal") == []
    said = run(bot, "mydata @bob", user=ADMIN, name="admin")
    assert "I have sent <@U0BOB>'s data" in said.last
    channel, data = sent_file(fake_slack)
    assert channel == "D0ADMIN" and data["person"]["slack_user_id"] == "U0BOB"
    assert [e["description"] for e in data["ledger_entries"] if e["source"] == "gave"] == [
        "a workshop"
    ]
    assert "`/makers forget <@U0BOB>` erases it" in fake_slack.messages("D0ADMIN")[-1]["text"]
    assert "I hold nothing about anyone called" in run(bot, "mydata @zed", user=ADMIN).last
    assert "I hold nothing about you" in run(bot, "mydata", user="U0NEW").last


def test_a_refused_upload_is_explained(bot: Bot, world: Project, fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("files.completeUploadExternal", status=200, error="not_in_channel")
    said = run(bot, "mydata", name=NAME)
    assert "I could not send the file (Slack said `not_in_channel`)" in said.last


# forget ---------------------------------------------------------------------------------------


def traces(bot: Bot, needles: tuple[str, ...]) -> list[str]:
    """Every table and column where any of `needles` still appears (any case)."""
    found = []
    with bot.db.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            if table == "alembic_version":
                continue
            for row in conn.execute(text(f'SELECT * FROM "{table}"')).mappings():
                for column, value in row.items():
                    written = json.dumps(value, default=str) if value is not None else ""
                    if any(n.lower() in written.lower() for n in needles):
                        found.append(f"{table}.{column}")
    return found


def test_forget_me_asks_first_then_erases_every_trace(
    bot: Bot, world: Project, fake_slack: FakeSlack
) -> None:
    assert set(SQLModel.metadata.tables) <= set(inspect(bot.db.engine).get_table_names())
    assert "Usage: `/makers forget me|@person`" in run(bot, "forget").last
    ask = run(bot, "forget me", name=NAME).acks[-1]
    assert "This erases your personal data" in ask["text"]
    assert "3 contributions in the ledger: kept for the council" in ask["text"]
    [button] = ask["blocks"][1]["elements"]
    assert (button["action_id"], button["value"], button["style"]) == (
        FORGET_ACTION,
        ALICE,
        "danger",
    )
    assert button["confirm"]["title"]["text"] == "Erase for good?"
    assert traces(bot, (ALICE,)) != []  # nothing happened yet
    gives_before = sorted((e.council_code or "", e.source) for e in rows(bot, LedgerEntry))

    reply = click_forget(bot, ALICE, user=ALICE)
    assert "Your personal data is erased from makersbot" in reply
    assert traces(bot, (ALICE, NAME, LOGIN)) == []
    # The council keeps its counts, the GitHub credit now included; Bob keeps his project.
    assert sorted((e.council_code or "", e.source) for e in rows(bot, LedgerEntry)) == sorted(
        (c or "GRT", s) for c, s in gives_before
    )
    assert all(e.person_id is None for e in rows(bot, LedgerEntry) if e.council_code == "GRT")
    assert [p.slack_user_id for p in rows(bot, Person)] == ["U0BOB"]
    assert [(m.role) for m in rows(bot, Membership)] == ["lead"]
    assert rows(bot, Project)[0].created_by_id is None
    assert rows(bot, Delivery) == []
    assert rows(bot, MirroredItem)[0].people == ["someone-else"]
    # Slack shows the bot's messages without her: edited, not reposted.
    bot.sender.drain()
    channel = rows(bot, Project)[0].channel_id or ""
    shown = json.dumps(fake_slack.messages(channel))
    assert ALICE not in shown and "a former member" in shown
    assert "1 member" in shown
    assert "nothing left to erase" in click_forget(bot, ALICE, user=ALICE)


def test_only_the_person_or_an_admin_can_press_forget(bot: Bot, world: Project) -> None:
    # A button value is only as trustworthy as the click: the clicker is checked again.
    assert "Only the bot's admins" in click_forget(bot, ALICE, user="U0BOB")
    assert ALICE in [p.slack_user_id for p in rows(bot, Person)]
    assert "Only the bot's admins" in run(bot, "forget @alice.smith", user="U0BOB").last


def test_an_admin_forgets_someone_and_hears_who_is_left_without_a_lead(
    bot: Bot, world: Project
) -> None:
    run(bot, "start Parking permits", name=NAME)  # Alice is its only lead
    ask = run(bot, "forget @alice.smith", user=ADMIN, name="admin").acks[-1]
    assert "<@U0ALICE>'s personal data" in ask["text"]
    assert "*Parking permits* will have no lead" in ask["text"]
    assert "Bin day reminders" not in ask["text"]  # Bob leads it too
    reply = click_forget(bot, ALICE, user=ADMIN)
    assert "<@U0ALICE>'s personal data is erased" in reply
    assert "*Parking permits* now has no lead" in reply
    assert traces(bot, (ALICE, NAME, LOGIN)) == []


# visibility -----------------------------------------------------------------------------------


def test_leads_make_a_project_private_or_public(bot: Bot, world: Project) -> None:
    assert rows(bot, Project)[0].visibility == "public"
    assert "Usage: `/makers visibility" in run(bot, "visibility bin-day-reminders secret").last
    refused = run(bot, "visibility bin-day-reminders private", user="U0CAROL")
    assert "Only a lead of *Bin day reminders* or an admin can change who sees it" in refused.last
    said = run(bot, "visibility bin-day-reminders private", name=NAME)
    assert "*Bin day reminders* is now private" in said.last
    assert rows(bot, Project)[0].visibility == "private"
    assert "already private" in run(bot, "visibility bin-day-reminders private").last
    assert "now public" in run(bot, "visibility bin-day-reminders public", user=ADMIN).last
    assert rows(bot, Project)[0].visibility == "public"


def test_forgetting_someone_leaves_a_look_alike_id_alone(bot: Bot, world: Project) -> None:
    with bot.db.session() as s:
        bot.outbox.publish(s, key="other", channel="C0GENERAL", message=Message("<@U0ALICEX> hi"))
    click_forget(bot, ALICE, user=ALICE)
    [other] = [m for m in rows(bot, SlackMessage) if m.key == "other"]
    assert (other.text, other.version) == ("<@U0ALICEX> hi", 1)
