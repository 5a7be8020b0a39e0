"""Trust in projects (issue 9, items 3, 7, 8 and 9): who may record a gift and how often,
undoing one, the audit trail of the ledger, channels never taken over, leads, and the daily
cap on starting projects. Each reproduction from the issue is a test here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlmodel import select

from integrations.changes import Change, Credit
from makersbot.app import Bot, build
from makersbot.db import Database, alembic_config
from makersbot.domain.projects import JOIN_ACTION, UNDO_GIFT_ACTION
from makersbot.domain.requests import Actor
from makersbot.store.models import (
    LedgerEntry,
    Link,
    Membership,
    Person,
    Project,
    SlackMessage,
)
from tests.conftest import SIGNING_SECRET, Clock, Server, make_settings
from tests.fakes.signing import interactivity_body, slack_headers
from tests.fakes.slack import FakeSlack
from tests.test_commands import rows, run

ADMIN = "U0ADMIN"
SLUG = "bin-day-reminders"


@pytest.fixture
def bot(database_url: str, fake_slack: FakeSlack, clock: Clock) -> Iterator[Bot]:
    """The whole bot, with one admin, against the fake Slack."""
    bot = build(
        make_settings(database_url, fake_slack, makers_admins=ADMIN),
        clock=clock,
        per_channel_interval=0,
    )
    bot.db.upgrade()
    yield bot
    bot.stop()


@pytest.fixture
def project(bot: Bot) -> Project:
    """Bin day reminders, started by Alice of Guildford: its lead."""
    run(bot, "iam council Guildford")
    assert "Started" in run(bot, "start Bin day reminders — remind residents").last
    bot.sender.drain()
    found: Project = rows(bot, Project)[0]
    return found


def gifts(bot: Bot) -> list[LedgerEntry]:
    return [e for e in rows(bot, LedgerEntry) if e.source == "gave"]


def role_of(bot: Bot, slack_user_id: str) -> str | None:
    with bot.db.session(read_only=True) as session:
        person = session.exec(select(Person).where(Person.slack_user_id == slack_user_id)).first()
        if person is None:
            return None
        member = session.exec(select(Membership).where(Membership.person_id == person.id)).first()
        return member.role if member else None


# Roles (item 8) ------------------------------------------------------------------------------


def test_a_newcomer_cannot_join_and_retire_a_project(bot: Bot, project: Project) -> None:
    # Reproduction: "Anyone can /makers join a project and set it to retired straight away."
    run(bot, "join bin-day-reminders", user="U0MALLORY", name="mallory")
    said = run(bot, "phase bin-day-reminders retired", user="U0MALLORY")
    assert "Only a lead of *Bin day reminders* or an admin can change its phase" in said.last
    assert "Ask <@U0ALICE>" in said.last
    assert rows(bot, Project)[0].phase == "idea"
    # Any maker can still report a status; the lead and an admin can move the phase.
    assert "updated" in run(bot, "status bin-day-reminders testing", user="U0MALLORY").last
    assert "is now in Alpha" in run(bot, "phase bin-day-reminders alpha").last
    assert "is now Retired" in run(bot, "phase bin-day-reminders retired", user=ADMIN).last


def test_the_last_lead_cannot_leave_without_handing_over(bot: Bot, project: Project) -> None:
    # Reproduction: "the last maker can leave with no handover".
    run(bot, "join bin-day-reminders", user="U0BOB", name="bob")
    said = run(bot, "leave bin-day-reminders")
    assert "You are the only lead of *Bin day reminders*" in said.last
    assert "`/makers lead bin-day-reminders @someone`" in said.last
    assert role_of(bot, "U0ALICE") == "lead"
    # Hand over by name as Slack shows it, then leave.
    said = run(bot, "lead bin-day-reminders @Bob")
    assert "<@U0BOB> is now a lead of *Bin day reminders*" in said.last
    assert "You left" in run(bot, "leave bin-day-reminders").last
    assert role_of(bot, "U0BOB") == "lead"
    assert "only lead" in run(bot, "leave bin-day-reminders", user="U0BOB").last
    bot.sender.drain()
    texts = [m.text for m in rows(bot, SlackMessage)]
    assert any("⭐ <@U0BOB> is now a lead" in t for t in texts)


def test_who_can_make_a_lead_and_whom(bot: Bot, project: Project) -> None:
    run(bot, "join bin-day-reminders", user="U0BOB", name="bob")
    run(bot, "join bin-day-reminders", user="U0CAROL", name="carol")
    run(bot, "iam council Leeds", user="U0DAN", name="dan")
    run(bot, "adopt bin-day-reminders", user="U0DAN", name="dan")
    refused = run(bot, "lead bin-day-reminders <@U0CAROL|carol>", user="U0BOB")
    assert "Only a lead of *Bin day reminders* or an admin can choose its leads" in refused.last
    assert "is not one of its makers" in run(bot, "lead bin-day-reminders <@U0DAN>").last
    unknown = run(bot, "lead bin-day-reminders @zed").last
    assert "“@zed” is not a member" in unknown and "<@U0BOB>" in unknown
    assert "Say who" in run(bot, "lead bin-day-reminders").last
    # An escaped mention, a bare id, and an admin who is not a member all work.
    assert "is now a lead" in run(bot, "lead bin-day-reminders <@U0CAROL|carol>").last
    assert "already a lead" in run(bot, "lead bin-day-reminders U0CAROL").last
    assert "is now a lead" in run(bot, "lead bin-day-reminders @bob", user=ADMIN).last
    assert {role_of(bot, u) for u in ("U0ALICE", "U0BOB", "U0CAROL")} == {"lead"}
    assert role_of(bot, "U0DAN") == "adopter"


def test_typed_in_the_channel_the_project_can_be_left_out(bot: Bot, project: Project) -> None:
    # Slack sends the text unescaped: "@Bob Smith" as picked from the list finds bob.smith.
    run(bot, "join bin-day-reminders", user="U0BOB", name="bob.smith")
    assert project.channel_id is not None
    said = run(bot, "lead @Bob Smith", channel=project.channel_id)
    assert "<@U0BOB> is now a lead" in said.last


def test_a_retired_project_shows_no_join_button(
    bot: Bot, project: Project, fake_slack: FakeSlack
) -> None:
    def card_actions() -> list[str]:
        # Asked by someone outside the project: makers are never offered Join in `info`.
        blocks = run(bot, "info bin-day-reminders", user="U0OUTSIDER").acks[-1]["blocks"]
        return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]

    assert card_actions() == [JOIN_ACTION]
    run(bot, "phase bin-day-reminders retired")
    assert card_actions() == []
    bot.sender.drain()
    pinned = fake_slack.calls("chat.update")[-1].args["blocks"]
    assert JOIN_ACTION not in json.dumps(pinned)


# Gifts (item 3) ------------------------------------------------------------------------------


def test_gave_needs_membership_and_a_council_switch_cannot_flood_the_league(
    bot: Bot, project: Project, clock: Clock
) -> None:
    # Reproduction: "/makers iam council leeds, record twenty gave entries for Leeds on a
    # project they are not in, then switch back."
    run(bot, "iam council leeds", user="U0BOB", name="bob")
    for n in range(20):
        said = run(bot, f"gave bin-day-reminders help {n}", user="U0BOB")
    assert "Only the members of *Bin day reminders* can record what they gave" in said.last
    assert "`/makers join bin-day-reminders`" in said.last
    assert gifts(bot) == []
    # A member is capped at MAKERS_GAVE_DAILY_CAP (10) in any 24 hours.
    run(bot, "join bin-day-reminders", user="U0BOB", name="bob")
    replies = [run(bot, f"gave bin-day-reminders help {n}", user="U0BOB").last for n in range(20)]
    assert all("Thank you!" in r for r in replies[:10])
    assert all("one person can record 10 a day" in r for r in replies[10:])
    assert "You can record another after <!date^" in replies[-1]
    assert [g.council_code for g in gifts(bot)] == ["LDS"] * 10
    clock.now += timedelta(hours=23, minutes=59)
    assert "one person can record 10" in run(bot, "gave bin-day-reminders more", user="U0BOB").last
    clock.now += timedelta(minutes=1)
    assert "Thank you!" in run(bot, "gave bin-day-reminders more", user="U0BOB").last


def test_adopters_and_admins_can_give_and_the_entry_says_how_it_was_checked(
    bot: Bot, project: Project
) -> None:
    run(bot, "iam council Leeds", user="U0DAN")
    run(bot, "adopt bin-day-reminders", user="U0DAN")
    assert "Thank you!" in run(bot, "gave bin-day-reminders feedback", user="U0DAN").last
    assert "Thank you!" in run(bot, "gave bin-day-reminders a review", user=ADMIN).last
    run(bot, "gave bin-day-reminders research")
    audit = {(e.source, e.recorded_by, e.verification) for e in rows(bot, LedgerEntry)}
    assert audit == {
        ("start", "U0ALICE", "member"),
        ("adopt", "U0DAN", "member"),
        ("gave", "U0DAN", "member"),
        ("gave", ADMIN, "admin"),
        ("gave", "U0ALICE", "member"),
    }


def test_credits_from_github_and_trello_record_the_tool(bot: Bot, project: Project) -> None:
    assert project.id is not None
    with bot.db.session() as session:
        for source in ("github", "trello"):
            session.add(Link(project_id=project.id, source=source, target="octo/bins"))
            session.flush()
            credit = Credit("give", f"{source}:x", "octocat", f"{source}:credit", "did a thing")
            bot.mirror.apply(
                session,
                Change(
                    source=source,
                    container="octo/bins",
                    action="closed",
                    summary="closed",
                    occurred_at=project.created_at,
                    dedupe_key=f"{source}:change",
                    credits=(credit,),
                ),
            )
    audit = {(e.recorded_by, e.verification) for e in rows(bot, LedgerEntry)}
    assert {("github", "webhook"), ("trello", "webhook")} <= audit


def test_every_gift_is_announced_with_an_undo_button(
    bot: Bot, project: Project, fake_slack: FakeSlack
) -> None:
    said = run(bot, "gave bin-day-reminders a day of user research")
    (gift,) = gifts(bot)
    assert f"(#{gift.id})" in said.last and "`/makers gave undo`" in said.last
    bot.sender.drain()
    post = [c for c in fake_slack.calls("chat.postMessage") if "gave:" in c.args["text"]][-1]
    assert post.args["channel"] == project.channel_id
    assert post.args["text"] == "🙌 Guildford gave: a day of user research"
    button = post.args["blocks"][0]["accessory"]
    assert button["action_id"] == UNDO_GIFT_ACTION and button["value"] == str(gift.id)
    # The giver undoes it: the ledger keeps it, voided, and the announcement is struck through.
    said = run(bot, "gave undo")
    assert f"Undone: contribution #{gift.id} to *Bin day reminders*" in said.last
    (undone,) = gifts(bot)
    assert undone.voided_by == "U0ALICE" and undone.voided_at is not None
    bot.sender.drain()
    edit = fake_slack.calls("chat.update")[-1]
    assert edit.args["channel"] == project.channel_id
    posts = [c for c in fake_slack.calls("chat.postMessage") if "gave:" in c.args["text"]]
    assert len(posts) == 1  # the undo edited the announcement in place
    assert edit.args["text"].startswith("~🙌 Guildford gave: a day of user research~")
    assert UNDO_GIFT_ACTION not in json.dumps(edit.args["blocks"])
    assert "already undone" in run(bot, f"gave undo #{gift.id}").last
    assert "no contribution to undo" in run(bot, "gave undo").last


def test_only_the_giver_or_an_admin_can_undo(bot: Bot, project: Project) -> None:
    run(bot, "gave bin-day-reminders research")
    (gift,) = gifts(bot)
    refused = run(bot, f"gave undo #{gift.id}", user="U0MALLORY").last
    assert f"Only <@U0ALICE>, who recorded contribution #{gift.id}, or an admin" in refused
    assert gifts(bot)[0].voided_at is None
    assert "Undone" in run(bot, f"gave undo {gift.id}", user=ADMIN).last
    assert gifts(bot)[0].voided_by == ADMIN


def test_the_undo_button_works_over_http_for_the_giver_only(
    server: Server, fake_slack: FakeSlack
) -> None:
    fake_slack.add_user("U0ALICE", "alice")
    server.slash("start Bin day reminders")
    fake_slack.wait_for_calls("pins.add", 1)
    server.slash("gave bin-day-reminders a workshop")
    with server.bot.db.session(read_only=True) as session:
        (gift,) = session.exec(select(LedgerEntry).where(LedgerEntry.source == "gave")).all()
        channel = session.exec(select(Project)).one().channel_id

    def click(user: str, trigger: str) -> None:
        payload: dict[str, Any] = {
            "type": "block_actions",
            "trigger_id": trigger,
            "user": {"id": user, "username": user.lower()},
            "channel": {"id": channel},
            "actions": [{"action_id": UNDO_GIFT_ACTION, "value": str(gift.id), "type": "button"}],
            "team": {"id": "T0001"},
            "api_app_id": "A1",
        }
        body = interactivity_body(payload)
        response = server.post("/slack/events", body, slack_headers(SIGNING_SECRET, body))
        assert response.status_code == 200

    click("U0MALLORY", "trig.undo.1")
    (refusal,) = fake_slack.wait_for_calls("chat.postEphemeral", 1)
    assert refusal.args["user"] == "U0MALLORY" and "Only <@U0ALICE>" in refusal.args["text"]
    click("U0ALICE", "trig.undo.2")
    replies = fake_slack.wait_for_calls("chat.postEphemeral", 2)
    assert "Undone: contribution" in replies[1].args["text"]
    with server.bot.db.session(read_only=True) as session:
        assert session.get(LedgerEntry, gift.id).voided_by == "U0ALICE"  # type: ignore[union-attr]


def test_undone_gifts_do_not_count_in_the_digest(bot: Bot, project: Project, clock: Clock) -> None:
    # Only verified councils' gifts are in the league: an admin confirms Guildford first.
    assert "Verified" in run(bot, "admin verify-council Guildford", user=ADMIN).last
    run(bot, "gave bin-day-reminders research")
    run(bot, "gave bin-day-reminders a workshop")
    run(bot, "gave undo")
    hub, projects = bot.digest.build(bot.digest.period_ending(clock.now + timedelta(hours=1)))
    (guildford,) = hub.councils
    assert dict(guildford.gives) == {"start": 1, "gave": 1}
    (digest,) = [d for d in projects if d.project.slug == SLUG]
    assert digest.contributors == (("Guildford", 2),)  # the start and one gift


# Channels are never taken over (item 7) ------------------------------------------------------


@pytest.mark.parametrize("by", ["name", "id"])
def test_start_hub_never_takes_over_the_digest_channel(
    database_url: str, fake_slack: FakeSlack, clock: Clock, by: str
) -> None:
    # Reproduction: "/makers start Hub takes over the digest channel #makers-hub".
    hub = fake_slack.add_channel("makers-hub", is_member=True)
    setting = "#makers-hub" if by == "name" else hub
    bot = build(
        make_settings(database_url, fake_slack, digest_channel=setting),
        clock=clock,
        per_channel_interval=0,
    )
    bot.db.upgrade()
    try:
        assert "Started *Hub*" in run(bot, "start Hub").last
        bot.sender.drain()
        project = rows(bot, Project)[0]
        assert project.channel_name == "makers-hub-2" and project.channel_id != hub
        assert fake_slack.messages(hub) == [] and not fake_slack.channel(hub).get("pins")
    finally:
        bot.stop()


def test_start_never_adopts_a_channel_someone_else_made(bot: Bot, fake_slack: FakeSlack) -> None:
    # Reproduction: "a channel that someone else pre-created as #makers-<slug> is adopted".
    theirs = fake_slack.add_channel("makers-parking", is_member=False)
    run(bot, "start Parking")
    project = rows(bot, Project)[0]
    assert project.channel_name == "makers-parking-2" and project.channel_id != theirs
    assert fake_slack.calls("conversations.join") == []


def test_start_never_takes_another_projects_channel(bot: Bot, fake_slack: FakeSlack) -> None:
    fake_slack.add_channel("makers-parking", is_member=False)
    run(bot, "start Parking")  # gets #makers-parking-2, made by the bot
    # Its own name would be #makers-parking-2. (It looks like Parking: started anyway.)
    bot.projects.start(Actor("U0BOB"), "Parking 2", anyway=True)
    first, second = sorted(rows(bot, Project), key=lambda p: p.id)
    assert first.channel_name == "makers-parking-2"
    assert second.channel_name == "makers-parking-2-2"
    assert first.channel_id != second.channel_id


# Starting projects is capped (item 9) --------------------------------------------------------


def test_starting_projects_is_capped_per_person_per_day(bot: Bot, clock: Clock) -> None:
    for n in range(5):
        assert "Started" in run(bot, f"start Project {n}").last
    said = run(bot, "start Project 5")
    assert "You have started 5 project(s) in the last 24 hours" in said.last
    assert "one person can start 5 a day" in said.last
    assert "admins have no limit" in said.last
    assert len(rows(bot, Project)) == 5
    # Someone else is not affected, admins are exempt, and the next day it works again.
    assert "Started" in run(bot, "start Project 5", user="U0BOB").last
    for n in range(6, 13):
        assert "Started" in run(bot, f"start Project {n}", user=ADMIN).last
    clock.now += timedelta(hours=24)
    assert "Started" in run(bot, "start Project 13").last


def test_caps_come_from_the_settings(database_url: str, fake_slack: FakeSlack) -> None:
    bot = build(
        make_settings(database_url, fake_slack, makers_start_daily_cap=1, makers_gave_daily_cap=0),
        per_channel_interval=0,
    )
    bot.db.upgrade()
    try:
        run(bot, "start Parking")
        assert "one person can start 1 a day" in run(bot, "start Bins").last
        assert "switched off" in run(bot, "gave parking money").last
    finally:
        bot.stop()


# The migration -------------------------------------------------------------------------------


def test_migration_gives_every_project_a_lead_and_audits_the_ledger(database_url: str) -> None:
    config = alembic_config(database_url)
    script = ScriptDirectory.from_config(config)
    (mine,) = [
        r for r in script.walk_revisions() if (r.doc or "").startswith("ledger entries keep who")
    ]
    before = mine.down_revision
    assert isinstance(before, str)
    command.upgrade(config, before)
    db = Database(database_url)
    at = "2026-11-01 10:00:00"
    with db.engine.begin() as conn:
        for n, user in enumerate(("U0ANN", "U0BEN", "U0CAT", "U0DEE"), start=1):
            conn.execute(
                text(
                    "INSERT INTO person (id, slack_user_id, display_name, created_at) "
                    "VALUES (:id, :u, '', :at)"
                ),
                {"id": n, "u": user, "at": at},
            )
        # 1: its starter is a maker; 2: its starter left, Cat joined before Dee; 3: a lead.
        for pid, starter in ((1, 1), (2, 2), (3, 4)):
            conn.execute(
                text(
                    "INSERT INTO project (id, slug, name, description, phase, status_text, "
                    "created_by_id, created_at, updated_at, revision) "
                    "VALUES (:id, :s, :s, '', 'idea', '', :by, :at, :at, 0)"
                ),
                {"id": pid, "s": f"p{pid}", "by": starter, "at": at},
            )
        for mid, pid, who, role, joined in (
            (1, 1, 2, "maker", "2026-11-01 09:00:00"),
            (2, 1, 1, "maker", "2026-11-01 10:00:00"),
            (3, 2, 4, "maker", "2026-11-03 10:00:00"),
            (4, 2, 3, "maker", "2026-11-02 10:00:00"),
            (5, 3, 4, "lead", at),
            (6, 3, 3, "maker", at),
        ):
            conn.execute(
                text(
                    "INSERT INTO membership (id, project_id, person_id, role, joined_at) "
                    "VALUES (:id, :p, :w, :r, :j)"
                ),
                {"id": mid, "p": pid, "w": who, "r": role, "j": joined},
            )
        for key, source, person, project in (
            ("a", "start", 1, 1),
            ("b", "gave", 2, 1),
            ("c", "gave", 1, 3),
            ("d", "github:pr_merged", None, 1),
            ("e", "trello:card_done", None, None),
        ):
            conn.execute(
                text(
                    "INSERT INTO ledger_entry (kind, source, description, occurred_at, "
                    "dedupe_key, person_id, project_id) "
                    "VALUES ('give', :s, '', :at, :k, :p, :pr)"
                ),
                {"s": source, "at": at, "k": key, "p": person, "pr": project},
            )
    db.upgrade()
    with db.engine.connect() as conn:
        leads = conn.execute(
            text("SELECT project_id, person_id FROM membership WHERE role = 'lead' ORDER BY 1")
        ).all()
        audit = conn.execute(
            text(
                "SELECT dedupe_key, recorded_by, verification, voided_at FROM ledger_entry "
                "ORDER BY dedupe_key"
            )
        ).all()
    db.dispose()
    assert [tuple(r) for r in leads] == [(1, 1), (2, 3), (3, 4)]
    assert [tuple(r) for r in audit] == [
        ("a", "U0ANN", "member", None),
        ("b", "U0BEN", "member", None),
        ("c", "U0ANN", "", None),  # a gift on a project Ann is not in: never checked
        ("d", "github", "webhook", None),
        ("e", "trello", "webhook", None),
    ]
