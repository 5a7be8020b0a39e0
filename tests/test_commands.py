"""Every /makers subcommand through the real dispatcher and services (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
import json
import threading
from typing import Any

import pytest
from sqlmodel import select

from makersbot.app import Bot
from makersbot.store.models import (
    LedgerEntry,
    Membership,
    Person,
    Project,
    ProjectUpdate,
    SlackMessage,
)
from tests.fakes.slack import FakeSlack

_triggers = itertools.count(1)


class Said:
    """Records what the bot acknowledged and responded for one command."""

    def __init__(self) -> None:
        self.acks: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []

    def ack(self, text: str = "", **kwargs: Any) -> None:
        if text.startswith("{") and not kwargs:  # a whole JSON body, which Bolt sends as is
            self.acks.append(json.loads(text))
            return
        self.acks.append({"text": text, **kwargs})

    def respond(self, text: str = "", **kwargs: Any) -> None:
        self.responses.append({"text": text, **kwargs})

    @property
    def last(self) -> str:
        said = self.responses or self.acks
        return str(said[-1]["text"]) if said else ""


def run(
    bot: Bot,
    text: str,
    *,
    user: str = "U0ALICE",
    name: str = "alice",
    channel: str = "C0GENERAL",
    trigger: str | None = None,
) -> Said:
    said = Said()
    body = {
        "command": "/makers",
        "text": text,
        "user_id": user,
        "user_name": name,
        "channel_id": channel,
        "trigger_id": trigger or f"t{next(_triggers)}",
    }
    bot.commands.dispatch(ack=said.ack, body=body, respond=said.respond, client=bot.client)
    return said


def rows(bot: Bot, model: type) -> list[Any]:
    with bot.db.session(read_only=True) as session:
        return list(session.exec(select(model)).all())


@pytest.fixture
def project(bot: Bot, fake_slack: FakeSlack) -> Project:
    run(bot, "iam council Guildford")
    said = run(bot, "start Bin day reminders — remind residents the day before")
    assert "Started *Bin day reminders*" in said.last, said.last
    bot.sender.drain()
    found: Project = rows(bot, Project)[0]
    return found


# Usage lines -------------------------------------------------------------------------------

MALFORMED = [
    ("phase", "Usage: `/makers phase <project> <idea/"),
    ("status", "Usage: `/makers status <project> <text>`"),
    ("gave", "Usage: `/makers gave <project> <what> | gave undo [#number]`"),
    ("gave undo it", "Usage: `/makers gave <project> <what> | gave undo [#number]`"),
    ("gave undo", "You have no contribution to undo"),
    ("gave undo #999", "There is no contribution #999"),
    ("lead", "Usage: `/makers lead <project> @person`"),
    ("lead no-such-thing @bob", "No project called “no-such-thing”"),
    ("iam council", "Usage: `/makers iam council|github|trello <name>`"),
    ("iam mastodon x", "Usage: `/makers iam council|github|trello <name>`"),
    ("start —", "Usage: `/makers start <name> [— description]`"),
    ("frobnicate", "I don't know `/makers frobnicate`"),
    ("phase bins alphabet", "“alphabet” is not a phase"),
    ("join", "Which project?"),
    ("leave", "Which project?"),
    ("info", "Which project?"),
    ("adopt", "Which project?"),
    ("join no-such-thing", "No project called “no-such-thing”"),
    ("info no-such-thing", "No project called “no-such-thing”"),
    ("status nothing here", "No project called “nothing”"),
    ("iam github -bad-", "is not a GitHub login"),
    ("iam trello a!", "is not a Trello username"),
    ("iam council zzzzzzzz qqqqqq", "No UK council matches"),
    ("link bins github a/b", "No project called “bins”"),
    ("link", "Usage: `/makers link <project> github|trello"),
    ("unlink", "Usage: `/makers unlink <project> github|trello"),
    ("links", "Which project?"),
    ("digest", "Usage: `/makers digest preview|now [--force]`"),
    ("digest later", "Usage: `/makers digest preview|now [--force]`"),
    ("digest now", "admin"),
]


@pytest.mark.parametrize(("text", "expected"), MALFORMED)
def test_malformed_subcommands_answer_with_a_usage_line(bot: Bot, text: str, expected: str) -> None:
    said = run(bot, text)
    assert expected in said.last
    everything = said.acks + said.responses
    assert all(a.get("response_type", "ephemeral") == "ephemeral" for a in everything if a)


def test_help_lists_every_subcommand(bot: Bot) -> None:
    # Derived from what is registered, so a new subcommand cannot be left out of the help.
    specs = bot.commands.specs.values()
    # The contract's subcommands are all registered (DESIGN.md, "The Slack command").
    documented = {"start", "join", "leave", "list", "info", "phase", "status", "iam"}
    documented |= {"link", "unlink", "adopt", "gave", "digest"}
    assert documented <= {spec.name for spec in specs}
    for text in (run(bot, "").last, run(bot, "help").last):
        for spec in specs:
            assert spec.summary, spec.name
            assert f"`/makers {spec.usage}` — {spec.summary}" in text


# Projects ----------------------------------------------------------------------------------


def test_start_without_a_name_opens_the_modal(bot: Bot, fake_slack: FakeSlack) -> None:
    run(bot, "start", trigger="modal-trigger")
    opened = fake_slack.calls("views.open")
    assert len(opened) == 1 and opened[0].args["trigger_id"] == "modal-trigger"
    assert opened[0].args["view"]["callback_id"] == "makers_start"


def test_start_twice_with_the_same_name_is_refused(bot: Bot, project: Project) -> None:
    said = run(bot, "start Bin Day Reminders!", user="U0BOB")
    assert "There is already a project called *Bin day reminders*" in said.last
    assert len(rows(bot, Project)) == 1


def test_start_reuses_a_channel_the_bot_made_for_it(bot: Bot, fake_slack: FakeSlack) -> None:
    # A start that failed after creating its channel finds that channel again.
    existing = bot.client.conversations_create(name="makers-parking")["channel"]["id"]
    run(bot, "start Parking")
    assert rows(bot, Project)[0].channel_id == existing
    assert [c.args["channel"] for c in fake_slack.calls("conversations.join")] == [existing]


def test_start_adds_a_suffix_when_the_channel_is_archived(bot: Bot, fake_slack: FakeSlack) -> None:
    fake_slack.add_channel("makers-parking", is_archived=True)
    run(bot, "start Parking")
    project = rows(bot, Project)[0]
    assert project.channel_name == "makers-parking-2"


def test_join_leave_and_members_on_the_card(
    bot: Bot, project: Project, fake_slack: FakeSlack
) -> None:
    run(bot, "iam council Woking", user="U0BOB", name="bob")
    said = run(bot, "join bin-day-reminders", user="U0BOB", name="bob")
    assert "You joined *Bin day reminders*" in said.last
    assert "already in" in run(bot, "join Bin day reminders", user="U0BOB").last
    bot.sender.drain()
    card = fake_slack.calls("chat.update")[-1]
    assert "makers: Guildford, Woking" in str(card.args["blocks"])
    announcements = [c.args["text"] for c in fake_slack.calls("chat.postMessage")]
    assert "👋 <@U0BOB> from Woking joined the project." in announcements
    assert "You left" in run(bot, "leave bin-day-reminders", user="U0BOB").last
    assert "not a member" in run(bot, "leave bin-day-reminders", user="U0BOB").last
    bot.sender.drain()
    assert "Woking" not in str(fake_slack.calls("chat.update")[-1].args["blocks"])


def test_project_can_be_named_by_channel_or_left_out_inside_it(bot: Bot, project: Project) -> None:
    channel = project.channel_id
    assert channel is not None
    assert "is now in Discovery" in run(bot, "phase discovery", channel=channel).last
    assert "is now in Alpha" in run(bot, f"phase <#{channel}|makers-bin-day-reminders> alpha").last
    assert "is now in Beta" in run(bot, "phase #makers-bin-day-reminders beta").last
    said = run(bot, "status Bin day reminders Testing with residents in Woking")
    assert "Status of *Bin day reminders* updated" in said.last
    updated = rows(bot, Project)[0]
    assert updated.phase == "beta"
    assert updated.status_text == "Testing with residents in Woking"
    kinds = [(u.kind, u.value) for u in rows(bot, ProjectUpdate)]
    assert kinds == [
        ("phase", "discovery"),
        ("phase", "alpha"),
        ("phase", "beta"),
        ("status", "Testing with residents in Woking"),
    ]


def test_only_leads_or_admins_report_phase(bot: Bot, project: Project) -> None:
    said = run(bot, "phase bin-day-reminders live", user="U0STRANGER")
    assert "Only a lead of *Bin day reminders* or an admin" in said.last
    assert "Ask <@U0ALICE>" in said.last
    assert rows(bot, Project)[0].phase == "idea"
    said = run(bot, "status bin-day-reminders all good", user="U0STRANGER")
    assert "Only the makers of *Bin day reminders*" in said.last


def test_list_filters_by_words_and_council(bot: Bot, project: Project) -> None:
    run(bot, "iam council Leeds", user="U0BOB")
    run(bot, "start Parking permits", user="U0BOB")
    assert "2 projects" in run(bot, "list").last
    by_word = run(bot, "list parking").last
    assert "Parking permits" in by_word and "Bin day" not in by_word
    by_council = run(bot, "list guildford").last
    assert "Bin day reminders" in by_council and "Parking" not in by_council


# Giving and taking -------------------------------------------------------------------------


def test_adopt_is_a_take_recorded_once(bot: Bot, project: Project) -> None:
    run(bot, "iam council Leeds", user="U0CAROL")
    said = run(bot, "adopt bin-day-reminders", user="U0CAROL")
    assert "Recorded: your council uses *Bin day reminders*" in said.last
    again = run(bot, "adopt bin-day-reminders", user="U0CAROL")
    assert "already use" in again.last
    takes = [(e.kind, e.council_code) for e in rows(bot, LedgerEntry) if e.kind == "take"]
    assert takes == [("take", "LDS")]
    roles = {m.person_id: m.role for m in rows(bot, Membership)}
    assert sorted(roles.values()) == ["adopter", "lead"]


def test_a_maker_council_cannot_adopt_its_own_project(bot: Bot, project: Project) -> None:
    assert "already makes" in run(bot, "adopt bin-day-reminders").last


def test_gave_without_a_council_is_kept_and_attributed_later(bot: Bot, project: Project) -> None:
    run(bot, "join bin-day-reminders", user="U0DAN")
    said = run(bot, "gave bin-day-reminders a day of user research", user="U0DAN")
    assert "iam council" in said.last
    gift = [e for e in rows(bot, LedgerEntry) if e.source == "gave"]
    assert [(g.council_code, g.description) for g in gift] == [(None, "a day of user research")]
    reply = run(bot, "iam council Camden", user="U0DAN").last
    assert "1 earlier contribution now counts for it" in reply
    gift = [e for e in rows(bot, LedgerEntry) if e.source == "gave"]
    assert gift[0].council_code == "CMD"


def test_repeated_trigger_does_not_record_twice(bot: Bot, project: Project) -> None:
    run(bot, "gave bin-day-reminders research", trigger="dup")
    run(bot, "gave bin-day-reminders research", trigger="dup")
    assert len([e for e in rows(bot, LedgerEntry) if e.source == "gave"]) == 1


def test_start_without_council_gets_lead_council_later(bot: Bot, fake_slack: FakeSlack) -> None:
    said = run(bot, "start Parking", user="U0EVE")
    assert "iam council" in said.last
    assert rows(bot, Project)[0].lead_council_code is None
    run(bot, "iam council Bristol", user="U0EVE")
    assert rows(bot, Project)[0].lead_council_code == "BST"
    start = [e for e in rows(bot, LedgerEntry) if e.source == "start"]
    assert start[0].council_code == "BST"


# Who I am ----------------------------------------------------------------------------------


def test_iam_council_forgiving_and_ambiguous(bot: Bot) -> None:
    assert "*Guildford Borough Council*" in run(bot, "iam council guildford borough").last
    ambiguous = run(bot, "iam council Newcastle").last
    assert "Which council do you mean" in ambiguous
    assert "Newcastle-under-Lyme" in ambiguous
    person = rows(bot, Person)[0]
    assert person.council_code == "GRT"


def test_iam_github_is_unique_across_people(bot: Bot) -> None:
    assert "`octocat`" in run(bot, "iam github @octocat").last
    taken = run(bot, "iam github OctoCat", user="U0BOB").last
    assert "already linked to <@U0ALICE>" in taken
    assert "`tello_user`" in run(bot, "iam trello tello_user").last
    me = run(bot, "iam").last
    assert "octocat" in me and "tello_user" in me


def test_card_is_one_message_edited_in_place(
    bot: Bot, project: Project, fake_slack: FakeSlack
) -> None:
    for phase in ("discovery", "alpha"):
        run(bot, f"phase bin-day-reminders {phase}")
    run(bot, "status bin-day-reminders three changes, one edit")
    bot.sender.drain()
    card_key = f"project:{project.id}:card"
    posts = [
        c
        for c in fake_slack.calls("chat.postMessage")
        if c.args.get("metadata", {}).get("event_payload", {}).get("key") == card_key
    ]
    assert len(posts) == 1
    # Three changes before the sender ran became one edit.
    updates = fake_slack.calls("chat.update")
    assert len(updates) == 1
    assert "three changes, one edit" in str(updates[0].args["blocks"])
    message = [m for m in rows(bot, SlackMessage) if m.key == card_key][0]
    assert message.sent_version == message.version


def test_cached_catalogue_follows_every_change(bot: Bot, project: Project) -> None:
    assert "Guildford" in run(bot, "list").last
    assert "· 1 member'" in str(run(bot, "info bin-day-reminders").acks[-1]["blocks"])
    run(bot, "join bin-day-reminders", user="U0BOB")  # no council yet
    assert "· 2 members'" in str(run(bot, "info bin-day-reminders").acks[-1]["blocks"])
    run(bot, "iam council Woking", user="U0BOB")
    assert "makers: Guildford, Woking" in str(run(bot, "info bin-day-reminders").acks[-1]["blocks"])
    assert "Guildford + 1 more" in run(bot, "list").last
    run(bot, "phase bin-day-reminders beta")
    assert "Beta" in run(bot, "list bin").last


# Words that read as finished (issue 11) ----------------------------------------------------


def info_blocks(bot: Bot, user: str, ref: str = "bin-day-reminders") -> str:
    return str(run(bot, f"info {ref}", user=user).acks[-1]["blocks"])


def test_counts_have_real_plurals_and_agree_with_their_verbs(bot: Bot, project: Project) -> None:
    assert "1 project\n" in run(bot, "list").last
    assert "· 1 member'" in info_blocks(bot, "U0ALICE")
    run(bot, "iam council Leeds", user="U0CAROL")
    run(bot, "adopt bin-day-reminders", user="U0CAROL")
    assert (
        "Leeds already uses *Bin day reminders*."
        in run(bot, "adopt bin-day-reminders", user="U0CAROL").last
    )
    run(bot, "adopt bin-day-reminders", user="U0NOCOUNCIL")
    assert (
        "You already use *Bin day reminders*."
        in run(bot, "adopt bin-day-reminders", user="U0NOCOUNCIL").last
    )
    for user in ("U0X", "U0Y"):
        run(bot, "gave bin-day-reminders a workshop", user=user)
        run(bot, "iam council Camden", user=user)
    run(bot, "join bin-day-reminders", user="U0Z")  # only members record gifts
    run(bot, "gave bin-day-reminders research", user="U0Z")
    run(bot, "gave bin-day-reminders money", user="U0Z")
    assert (
        "2 earlier contributions now count for it"
        in run(bot, "iam council Woking", user="U0Z").last
    )


def test_adopters_are_listed_on_the_card_but_not_counted_as_members(
    bot: Bot, project: Project
) -> None:
    run(bot, "iam council Leeds", user="U0CAROL")
    run(bot, "adopt bin-day-reminders", user="U0CAROL")
    card = info_blocks(bot, "U0CAROL")
    assert "using it: Leeds" in card
    assert "· 1 member'" in card
    run(bot, "join bin-day-reminders", user="U0CAROL")  # an adopter who joins makes it too
    assert "· 2 members'" in info_blocks(bot, "U0CAROL")


def test_the_join_button_is_shown_to_others_but_not_to_makers(bot: Bot, project: Project) -> None:
    assert "Join this project" in info_blocks(bot, "U0STRANGER")
    assert "Join this project" not in info_blocks(bot, "U0ALICE")
    run(bot, "adopt bin-day-reminders", user="U0CAROL")
    assert "Join this project" in info_blocks(bot, "U0CAROL")  # adopters may still join
    run(bot, "join bin-day-reminders", user="U0BOB")
    assert "Join this project" not in info_blocks(bot, "U0BOB")
    # The pinned card is one message everyone sees: it keeps its button.
    card = [m for m in rows(bot, SlackMessage) if m.key.endswith(":card")][0]
    assert "Join this project" in str(card.blocks)


def test_phase_names_have_one_casing(bot: Bot, project: Project, fake_slack: FakeSlack) -> None:
    assert "*Bin day reminders* is now in Alpha." in run(bot, "phase bin-day-reminders alpha").last
    assert "is already in Alpha." in run(bot, "phase bin-day-reminders ALPHA").last
    assert "*Bin day reminders* is now Live." in run(bot, "phase bin-day-reminders live").last
    said = run(bot, "phase bin-day-reminders retired").last
    assert "*Bin day reminders* is now Retired." in said and "now in retired" not in said
    bot.sender.drain()
    posted = [c.args["text"] for c in fake_slack.calls("chat.postMessage")]
    assert any(text.startswith("Phase: Idea → *Alpha*") for text in posted), posted
    assert any(text.startswith("Phase: Live → *Retired*") for text in posted), posted
    assert "📦 Retired" in info_blocks(bot, "U0ALICE")


def test_list_finds_a_project_by_its_lead_council_and_says_every_word_must_match(
    bot: Bot, project: Project
) -> None:
    run(bot, "join bin-day-reminders", user="U0BOB")
    run(bot, "leave bin-day-reminders")  # nobody from Guildford is a member any more
    found = run(bot, "list guildford").last
    assert "Bin day reminders" in found
    assert "Bin day reminders" in run(bot, "list bin guildford").last
    nothing = run(bot, "list bin leeds").last
    assert "No projects match all of “bin leeds”. Every word must match" in nothing
    assert "every word must match" in run(bot, "help").last


def test_stopping_the_bot_waits_for_replies_under_way(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bot closed its database while the slow half of a /makers request still ran in
    # another thread: the reply failed, and in `make test` its error was logged after its
    # test had ended (a stray "Logging error" block).
    started, release = threading.Event(), threading.Event()
    order: list[str] = []

    def slow_later(body: dict[str, Any], respond: Any, client: Any) -> None:
        started.set()
        assert release.wait(10)
        order.append("reply")

    dispose = bot.db.dispose

    def recorded_dispose() -> None:
        order.append("dispose")
        dispose()

    monkeypatch.setattr(bot.commands, "later", slow_later)
    monkeypatch.setattr(bot.commands, "later_due", lambda body: True)
    monkeypatch.setattr(bot.db, "dispose", recorded_dispose)
    body = {"text": "list", "user_id": "U0ALICE", "user_name": "alice", "trigger_id": "t-9"}
    bot.commands.listener(ack=lambda *_, **__: None, body=body, respond=None, client=None)
    assert started.wait(10)
    stopping = threading.Thread(target=bot.stop, daemon=True)
    stopping.start()
    stopping.join(0.3)
    assert stopping.is_alive()  # waiting for the reply
    release.set()
    stopping.join(10)
    assert order == ["reply", "dispose"]
    assert bot.commands.wait_idle(0)
