"""Issue 9, deliverables 1 and 2: verified councils and verified GitHub and Trello accounts.

The reproductions of the issue come first, each failing on the code before it:
- "anyone can `/makers iam github octocat` and collect octocat's credit; the real octocat is
  then locked out, and nothing lets an admin fix it";
- "anyone can `/makers iam council leeds`, record gives for Leeds, then switch back; the Slack
  e-mail was right there".
Everything talks to the fake Slack, GitHub and Trello servers over HTTP (SQLite and PostgreSQL).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import sqlmodel
import sqlmodel.sql.sqltypes
import yaml
from alembic import command
from sqlmodel import SQLModel, select

from integrations.changes import Change, Credit
from integrations.github.oauth import DeviceFlow, oauth_base_url
from integrations.trello.members import web_base_url
from makersbot.app import Bot, build
from makersbot.council_domains import CouncilDomains, default_domains
from makersbot.councils import default_register
from makersbot.db import alembic_config
from makersbot.domain.digest import Period
from makersbot.domain.requests import Actor
from makersbot.logs import redact
from makersbot.render_digest import summary
from makersbot.services import digest_content
from makersbot.services.identity_proof import IdentityProofs
from makersbot.store.models import LedgerEntry, Link, Person, Project, SlackMessage
from tests.conftest import Clock, make_settings, wait_until
from tests.fakes.github import FakeGitHub
from tests.fakes.slack import FakeSlack
from tests.fakes.trello import FakeTrello
from tests.test_commands import rows, run

ADMIN = "U0ADMIN"
CLIENT_ID = "Iv1.makersbot-test"
REPO = "octo/bins"
TRELLO_TOKEN = "a" * 24 + "0123456789abcdef" * 2 + "b" * 8  # 64 characters, like Trello's


@pytest.fixture
def ibot(
    database_url: str,
    fake_slack: FakeSlack,
    fake_github: FakeGitHub,
    fake_trello: FakeTrello,
    clock: Clock,
) -> Iterator[Bot]:
    """The bot with proofs on: GitHub's device flow and Trello's token, both at the fakes."""
    fake_github.add_oauth_app(CLIENT_ID)
    bot = build(identity_settings(database_url, fake_slack, fake_github, fake_trello), clock=clock)
    bot.db.upgrade()
    yield bot
    bot.stop()


def identity_settings(
    url: str, slack: FakeSlack, github: FakeGitHub, trello: FakeTrello, **extra: Any
) -> Any:
    values: dict[str, Any] = {
        "slack_channel_pace": 0,
        "makers_admins": ADMIN,
        "github_oauth_client_id": CLIENT_ID,
        "github_api_url": github.base_url,
        "trello_api_key": trello.api_key,
        "trello_api_url": trello.base_url,
    }
    return make_settings(url, slack, **{**values, **extra})


# Helpers ------------------------------------------------------------------------------------


def person(bot: Bot, user: str) -> Person:
    with bot.db.session(read_only=True) as session:
        found = session.exec(select(Person).where(Person.slack_user_id == user)).one()
        session.expunge(found)
        return found


def dms(bot: Bot, user: str) -> list[str]:
    """What the bot said to a person directly (through the outbox)."""
    return [m.text for m in rows(bot, SlackMessage) if m.channel == user]


def linked_repo(bot: Bot) -> int:
    """A project that mirrors REPO, so that GitHub credits for it are kept."""
    with bot.db.session() as session:
        project = Project(slug="bins", name="Bins")
        session.add(project)
        session.flush()
        assert project.id is not None
        session.add(Link(project_id=project.id, source="github", target=REPO))
        return project.id


def github_credit(bot: Bot, login: str, key: str) -> None:
    """GitHub says `login` merged a pull request: a give for whoever `login` is."""
    change = Change(
        source="github",
        container=REPO,
        action="merged",
        summary=f"merged by {login}",
        occurred_at=bot.clock(),
        dedupe_key=key,
        credits=(Credit("give", "github:pr_merged", login, key, "merged #1"),),
    )
    with bot.db.session() as session:
        bot.mirror.apply(session, change)


def credits_of(bot: Bot, login: str) -> list[tuple[int | None, str | None]]:
    return [
        (e.person_id, e.council_code) for e in rows(bot, LedgerEntry) if e.github_login == login
    ]


def league(bot: Bot) -> dict[str, int]:
    """This week's league as the hub digest counts it: council code -> gives."""
    now = bot.clock()
    period = Period(start=now - timedelta(days=7), end=now + timedelta(hours=1), key="test")
    with bot.db.session(read_only=True) as session:
        hub = digest_content.build_hub(session, period)
    return {tally.code: tally.gave for tally in hub.councils}


def waiting(bot: Bot) -> int:
    now = bot.clock()
    period = Period(start=now - timedelta(days=7), end=now + timedelta(hours=1), key="test")
    with bot.db.session(read_only=True) as session:
        waiting_now: int = digest_content.build_hub(session, period).unverified
        return waiting_now


def start_and_give(bot: Bot, user: str, slug: str, gifts: int) -> None:
    """`user` starts a project (a give) and records `gifts` more gives for it."""
    assert "Started" in run(bot, f"start {slug}", user=user).last
    for n in range(gifts):
        run(bot, f"gave {slug} workshop {n}", user=user)


# Reproduction: a typed GitHub login collected someone else's credit --------------------------


def test_a_typed_github_login_is_a_claim_that_collects_nobodys_credit(ibot: Bot) -> None:
    linked_repo(ibot)
    run(ibot, "iam council Leeds", user="U0MAL")
    said = run(ibot, "iam github octocat", user="U0MAL").last
    github_credit(ibot, "octocat", "pr-1")
    # Credited to nobody: not to the claimant, not to her council.
    assert credits_of(ibot, "octocat") == [(None, None)]
    assert "unconfirmed" in said and "`/makers iam github`" in said
    shown = run(ibot, "iam", user="U0MAL").last
    assert "`octocat` (unconfirmed" in shown


def test_the_real_owner_proves_the_login_and_takes_it_over(
    ibot: Bot, fake_github: FakeGitHub, fake_slack: FakeSlack
) -> None:
    linked_repo(ibot)
    run(ibot, "iam council Leeds", user="U0MAL")
    run(ibot, "iam github octocat", user="U0MAL")
    github_credit(ibot, "octocat", "pr-1")
    fake_slack.add_user("U0OCTO", "octocat", email="octo@guildford.gov.uk")
    typed = run(ibot, "iam github octocat", user="U0OCTO").last
    assert "already linked to <@U0MAL> (not proven)" in typed
    assert "prove it with `/makers iam github`" in typed

    fake_github.script_device_flow("octocat", ["authorization_pending", "ok"])
    said = run(ibot, "iam github", user="U0OCTO").last
    [code] = fake_github.user_codes()
    assert f"*{code}*" in said and "https://github.com/login/device" in said
    assert wait_until(lambda: person(ibot, "U0OCTO").github_verified_at is not None)

    octo, mallory = person(ibot, "U0OCTO"), person(ibot, "U0MAL")
    assert (octo.github_login, octo.github_verified_by) == ("octocat", "github")
    assert mallory.github_login is None
    # The credit GitHub recorded for octocat is octocat's, and counts for Guildford.
    assert credits_of(ibot, "octocat") == [(octo.id, "GRT")]
    assert league(ibot) == {"GRT": 1}
    assert any("proven" in text for text in dms(ibot, "U0OCTO"))
    [notice] = dms(ibot, "U0MAL")
    assert "no longer linked to you" in notice and "Nothing that was yours is lost" in notice
    # A claim cannot take a proven login back.
    assert "(proven)" in run(ibot, "iam github octocat", user="U0MAL").last
    # The token GitHub handed out was used once, for GET /user, and is nowhere in the database.
    [user_call] = fake_github.requests_to("/user")
    token = user_call.headers["authorization"].split()[1]
    assert token.startswith("gho_") and not stored_anywhere(ibot, token)


def test_an_admin_can_unlink_and_reassign_a_login(ibot: Bot) -> None:
    linked_repo(ibot)
    run(ibot, "iam council Leeds", user="U0MAL")
    run(ibot, "iam council Bristol", user="U0OCTO")
    # Before claims, a typed login collected credit: an admin takes it back...
    with ibot.db.session() as session:
        mal = session.exec(select(Person).where(Person.slack_user_id == "U0MAL")).one()
        mal.github_login, mal.github_verified_at = "octocat", ibot.clock()
    github_credit(ibot, "octocat", "pr-1")
    assert credits_of(ibot, "octocat") == [(person(ibot, "U0MAL").id, "LDS")]
    said = run(ibot, "admin forget github octocat", user=ADMIN).last
    assert "Unlinked GitHub `octocat` from <@U0MAL>" in said and "1 contribution(s)" in said
    assert credits_of(ibot, "octocat") == [(None, None)]
    assert person(ibot, "U0MAL").github_login is None
    # ...and gives the login to its owner, confirmed: the credit moves with it.
    said = run(ibot, "admin github <@U0OCTO|octocat> octocat", user=ADMIN).last
    assert "linked to <@U0OCTO>, confirmed" in said
    octo = person(ibot, "U0OCTO")
    assert (octo.github_login, octo.github_verified_by) == ("octocat", f"admin:{ADMIN}")
    assert credits_of(ibot, "octocat") == [(octo.id, "BST")]
    assert "confirmed by an admin" in run(ibot, "iam", user="U0OCTO").last
    assert any("unlinked GitHub `octocat`" in text for text in dms(ibot, "U0MAL"))


def test_only_proof_moves_past_unattributed_entries(ibot: Bot) -> None:
    linked_repo(ibot)
    github_credit(ibot, "hubot", "pr-1")
    run(ibot, "iam council Leeds", user="U0HUBOT")
    run(ibot, "iam github hubot", user="U0HUBOT")
    assert credits_of(ibot, "hubot") == [(None, None)]
    github_credit(ibot, "hubot", "pr-2")  # a claim earns nothing new either
    assert credits_of(ibot, "hubot") == [(None, None), (None, None)]
    said = ibot.people.record_proof("U0HUBOT", "github", "hubot", by="github").reply
    assert "2 contribution(s) made as `hubot`" in said
    hubot = person(ibot, "U0HUBOT")
    assert credits_of(ibot, "hubot") == [(hubot.id, "LDS"), (hubot.id, "LDS")]


# GitHub's device flow ----------------------------------------------------------------------


def proofs_at(bot: Bot, github: FakeGitHub, clock: Clock, slept: list[float]) -> IdentityProofs:
    """The proof service with a clock that `sleep` moves on, and polling done in the call."""

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += timedelta(seconds=seconds)

    flow = DeviceFlow(CLIENT_ID, oauth_url=github.base_url, api_url=github.base_url)
    return IdentityProofs(
        bot.db, bot.people, github=flow, clock=clock, sleep=sleep, background=lambda w: w()
    )


def test_the_device_flow_polls_at_githubs_interval_and_slows_down(
    ibot: Bot, fake_github: FakeGitHub, clock: Clock
) -> None:
    answers = ["authorization_pending", "slow_down", "authorization_pending", "ok"]
    fake_github.script_device_flow("octocat", answers, interval=5)
    slept: list[float] = []
    proofs_at(ibot, fake_github, clock, slept).start_github(Actor("U0OCTO"))
    assert slept == [5, 5, 10, 10]
    polls = fake_github.requests_to("/login/oauth/access_token", "POST")
    assert len(polls) == 4
    assert "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code" in polls[0].body
    [start] = fake_github.requests_to("/login/device/code", "POST")
    assert f"client_id={CLIENT_ID}" in start.body and start.headers["accept"] == "application/json"
    assert person(ibot, "U0OCTO").github_login == "octocat"


@pytest.mark.parametrize(
    ("answers", "expires_in", "polls", "told"),
    [
        (["authorization_pending"] * 5, 12, 2, "expired before it was entered"),
        (["expired_token"], 900, 1, "expired before it was entered"),
        (["access_denied"], 900, 1, "You cancelled on GitHub"),
        (["incorrect_device_code"], 900, 1, "GitHub refused the sign-in"),
    ],
)
def test_the_device_flow_ends_when_github_says_so(
    ibot: Bot,
    fake_github: FakeGitHub,
    clock: Clock,
    answers: list[str],
    expires_in: int,
    polls: int,
    told: str,
) -> None:
    fake_github.script_device_flow("octocat", answers, interval=5, expires_in=expires_in)
    proofs_at(ibot, fake_github, clock, []).start_github(Actor("U0OCTO"))
    assert len(fake_github.requests_to("/login/oauth/access_token")) == polls
    [said] = dms(ibot, "U0OCTO")
    assert told in said
    assert not [p for p in rows(ibot, Person) if p.github_login]


def test_an_app_without_the_device_flow_is_explained(ibot: Bot, fake_github: FakeGitHub) -> None:
    fake_github.add_oauth_app(CLIENT_ID, device_flow=False)
    said = run(ibot, "iam github", user="U0OCTO").last
    assert "does not allow the device flow" in said and "Enable Device Flow" in said


def test_without_a_client_id_a_typed_login_waits_for_an_admin(
    database_url: str, fake_slack: FakeSlack, fake_github: FakeGitHub, fake_trello: FakeTrello
) -> None:
    settings = identity_settings(
        database_url, fake_slack, fake_github, fake_trello, github_oauth_client_id=""
    )
    bot = build(settings)
    bot.db.upgrade()
    try:
        assert "GITHUB_OAUTH_CLIENT_ID" in run(bot, "iam github", user="U0OCTO").last
        assert "ask an admin to confirm it" in run(bot, "iam github octocat", user="U0OCTO").last
    finally:
        bot.stop()


def test_github_enterprise_serves_the_device_flow_on_its_own_host(
    database_url: str, fake_slack: FakeSlack, fake_github: FakeGitHub, fake_trello: FakeTrello
) -> None:
    fake_github.add_oauth_app(CLIENT_ID)
    fake_github.script_device_flow("mona", ["ok"])
    settings = identity_settings(
        database_url, fake_slack, fake_github, fake_trello, github_api_url=fake_github.ghes_url
    )
    bot = build(settings)
    bot.db.upgrade()
    try:
        run(bot, "iam github", user="U0MONA")
        assert wait_until(lambda: [p.github_login for p in rows(bot, Person)] == ["mona"])
    finally:
        bot.stop()
    paths = [r.raw_path for r in fake_github.requests]
    assert "/login/device/code" in paths and "/login/oauth/access_token" in paths
    assert "/api/v3/user" in paths


def test_the_oauth_host_is_derived_from_the_api_url() -> None:
    assert oauth_base_url("https://api.github.com") == "https://github.com"
    assert oauth_base_url("https://github.example.gov.uk/api/v3") == (
        "https://github.example.gov.uk"
    )
    assert oauth_base_url("https://api.octo.ghe.com") == "https://octo.ghe.com"
    assert web_base_url("https://api.trello.com/1") == "https://trello.com/1"


# Trello ------------------------------------------------------------------------------------


def test_a_pasted_trello_token_proves_the_member_and_is_never_kept(
    ibot: Bot, fake_trello: FakeTrello, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_trello.add_member_token(TRELLO_TOKEN, "tello_user")
    link = run(ibot, "iam trello", user="U0TEL").last
    assert f"{fake_trello.base_url}/authorize?expiration=1hour" in link
    assert f"key={fake_trello.api_key}" in link and "response_type=token" in link
    assert "scope=read" in link
    said = run(ibot, f"iam trello token {TRELLO_TOKEN}", user="U0TEL")
    assert "Your Trello account is `tello_user`, proven." in said.last
    assert all(r.get("response_type", "ephemeral") == "ephemeral" for r in said.responses)
    assert TRELLO_TOKEN not in str(said.acks + said.responses)
    tel = person(ibot, "U0TEL")
    assert (tel.trello_username, tel.trello_verified_by) == ("tello_user", "trello")
    assert not stored_anywhere(ibot, TRELLO_TOKEN)
    # Logs go out through makersbot.logs' redaction (urllib3's debug lines carry the URL).
    assert caplog.records and not [
        r for r in caplog.records if TRELLO_TOKEN in redact(r.getMessage())
    ]


def test_a_refused_trello_token_changes_nothing(ibot: Bot) -> None:
    said = run(ibot, f"iam trello token {TRELLO_TOKEN}", user="U0TEL").last
    assert "Trello did not accept that token" in said and TRELLO_TOKEN not in said
    assert "is not a Trello token" in run(ibot, "iam trello token not-a-token!", user="U0TEL").last
    assert not [p for p in rows(ibot, Person) if p.trello_username]


def stored_anywhere(bot: Bot, secret: str) -> bool:
    with bot.db.session(read_only=True) as session:
        for table in SQLModel.metadata.sorted_tables:
            if any(secret in str(tuple(row)) for row in session.execute(sa.select(table))):
                return True
    return False


# Reproduction: a council switched at will, with the Slack e-mail right there ----------------


def test_a_council_domain_email_verifies_the_council_and_it_cannot_be_switched(
    ibot: Bot, fake_slack: FakeSlack
) -> None:
    fake_slack.add_user("U0BOB", "bob", email="bob@woking.gov.uk")
    run(ibot, "iam council leeds", user="U0BOB")  # the e-mail is read after the reply
    bob = person(ibot, "U0BOB")
    assert bob.council_code == "WOI"
    assert bob.council_verified_by == "email:woking.gov.uk"
    [told] = dms(ibot, "U0BOB")
    assert "woking.gov.uk" in told and "Woking Borough Council" in told and "Leeds" in told
    refused = run(ibot, "iam council leeds", user="U0BOB").last
    assert "verified by your Slack e-mail (woking.gov.uk)" in refused
    assert "cannot change it" in refused and "/makers admin council" in refused
    start_and_give(ibot, "U0BOB", "parking", gifts=3)
    assert "Woking" in run(ibot, "iam council Woking", user="U0BOB").last
    assert league(ibot) == {"WOI": 4}
    assert {e.council_code for e in rows(ibot, LedgerEntry)} == {"WOI"}


def test_the_email_verifies_without_any_iam(ibot: Bot, fake_slack: FakeSlack) -> None:
    fake_slack.add_user("U0BOB", "bob", email="Bob.Smith@Mail.Woking.gov.uk")
    run(ibot, "list", user="U0BOB")
    assert person(ibot, "U0BOB").council_code == "WOI"
    assert "verified by your Slack e-mail" in run(ibot, "iam", user="U0BOB").last


@pytest.mark.parametrize(
    ("email", "kwargs"),
    [
        ("bob@woking.gov.uk", {"email_confirmed": False}),  # Slack has not confirmed it
        ("bob@woking.gov.uk", {"team_id": "T0OTHER"}),  # a guest from another workspace
        ("bob@gmail.com", {}),
        ("bob@evil-woking.gov.uk", {}),
        ("bob@woking.gov.uk.example.com", {}),
    ],
)
def test_an_email_proves_nothing_unless_confirmed_ours_and_listed(
    ibot: Bot, fake_slack: FakeSlack, email: str, kwargs: dict[str, Any]
) -> None:
    fake_slack.add_user("U0BOB", "bob", email=email, **kwargs)
    said = run(ibot, "iam council Woking", user="U0BOB").last
    assert "You are with *Woking Borough Council*. It is not verified yet" in said
    bob = person(ibot, "U0BOB")
    assert (bob.council_code, bob.council_verified_at) == ("WOI", None)
    assert [c.args["user"] for c in fake_slack.calls("users.info")] == ["U0BOB"]


def test_a_shared_domain_asks_which_council(ibot: Bot, fake_slack: FakeSlack) -> None:
    fake_slack.add_user("U0ANN", "ann", email="ann@adur-worthing.gov.uk")
    run(ibot, "list", user="U0ANN")
    [asked] = dms(ibot, "U0ANN")
    assert "Adur District Council" in asked and "Worthing Borough Council" in asked
    assert person(ibot, "U0ANN").council_verified_at is None
    assert "*Adur District Council*" in run(ibot, "iam council Leeds", user="U0ANN").last
    said = run(ibot, "iam council Worthing", user="U0ANN").last
    assert "verified by your Slack e-mail" in said
    assert person(ibot, "U0ANN").council_code == "WOT"


# Unverified people and vouching -------------------------------------------------------------


def test_unverified_gives_wait_out_of_the_league_until_someone_vouches(
    ibot: Bot, fake_slack: FakeSlack
) -> None:
    fake_slack.add_user("U0PAT", "pat", email="pat@consultancy.example")
    run(ibot, "iam council Leeds", user="U0PAT")
    start_and_give(ibot, "U0PAT", "parking", gifts=2)
    assert league(ibot) == {} and waiting(ibot) == 3
    entries = rows(ibot, LedgerEntry)
    assert {(e.council_code, e.unverified) for e in entries} == {("LDS", True)}
    with ibot.db.session(read_only=True) as session:
        now = ibot.clock()
        period = Period(now - timedelta(days=7), now + timedelta(hours=1), "test")
        sentence = summary(digest_content.build_hub(session, period))
    assert "3 entries by people whose council is not verified yet are left out" in sentence

    # Who may vouch: not Pat herself, not someone unverified, not someone from elsewhere.
    assert "cannot vouch for yourself" in run(ibot, "vouch <@U0PAT>", user="U0PAT").last
    run(ibot, "iam council Leeds", user="U0SAM")
    assert (
        "Only someone whose council is verified" in run(ibot, "vouch <@U0PAT>", user="U0SAM").last
    )
    fake_slack.add_user("U0BOB", "bob", email="bob@woking.gov.uk")
    run(ibot, "list", user="U0BOB")
    said = run(ibot, "vouch <@U0PAT>", user="U0BOB").last
    assert "says they are with *Leeds City Council*" in said
    assert league(ibot) == {}

    fake_slack.add_user("U0LEE", "lee", email="lee@leeds.gov.uk")
    run(ibot, "list", user="U0LEE")
    said = run(ibot, "vouch <@U0PAT|pat>", user="U0LEE").last
    assert "<@U0PAT> is verified with *Leeds City Council*" in said
    assert "3 earlier contribution(s) now count" in said
    assert person(ibot, "U0PAT").council_verified_by == "vouch:U0LEE"
    assert league(ibot) == {"LDS": 3} and waiting(ibot) == 0
    assert any("vouched that you are with *Leeds City Council*" in t for t in dms(ibot, "U0PAT"))
    assert "verified: a colleague vouched" in run(ibot, "iam", user="U0PAT").last


def test_an_unverified_claim_takes_its_waiting_entries_along(ibot: Bot) -> None:
    run(ibot, "iam council Leeds", user="U0PAT")
    start_and_give(ibot, "U0PAT", "parking", gifts=1)
    run(ibot, "iam council Bristol", user="U0PAT")  # a claim can change; nothing counted yet
    assert {(e.council_code, e.unverified) for e in rows(ibot, LedgerEntry)} == {("BST", True)}
    said = run(ibot, "vouch <@U0PAT>", user=ADMIN).last  # an admin vouches for anyone
    assert "verified with *Bristol City Council*" in said
    assert league(ibot) == {"BST": 2}


def test_vouching_needs_someone_named(ibot: Bot) -> None:
    assert "Usage: `/makers vouch @person`" in run(ibot, "vouch").last
    run(ibot, "iam council Leeds", user="U0PAT", name="pat")
    assert "<@U0PAT> is verified" in run(ibot, "vouch @Pat", user=ADMIN, name="admin").last
    assert "I don't know who “@nobody” is" in run(ibot, "vouch @nobody", user=ADMIN).last
    assert "has not said their council yet" in run(ibot, "vouch U0NEWBIE1", user=ADMIN).last


# Admins ------------------------------------------------------------------------------------


ADMIN_USAGES = [
    ("admin verify-council", "Usage: `/makers admin verify-council <council>`"),
    ("admin council <@U0PAT>", "Usage: `/makers admin council @person <council>`"),
    ("admin github <@U0PAT>", "Usage: `/makers admin github @person <login>`"),
    ("admin trello <@U0PAT>", "Usage: `/makers admin trello @person <username>`"),
    ("admin forget gitlab x", "Usage: `/makers admin forget github|trello <login>`"),
    ("admin lead-council", "Usage: `/makers admin lead-council <project> <council>`"),
    ("admin frobnicate", "Admin actions:"),
    ("admin", "`/makers admin check-emails`"),
]


@pytest.mark.parametrize(("text", "expected"), ADMIN_USAGES)
def test_every_admin_action_has_a_usage_line(ibot: Bot, text: str, expected: str) -> None:
    assert expected in run(ibot, text, user=ADMIN).last


def test_admin_actions_are_for_admins_only(ibot: Bot) -> None:
    for text in ("admin", "admin verify-council Leeds", "admin forget github octocat"):
        assert "Only admins (MAKERS_ADMINS)" in run(ibot, text, user="U0MAL").last


def test_an_admin_confirms_a_council_in_bulk(ibot: Bot) -> None:
    for user in ("U0PAT", "U0SAM"):
        run(ibot, "iam council Leeds", user=user)
        start_and_give(ibot, user, f"p-{user.lower()}", gifts=1)
    run(ibot, "iam council Bristol", user="U0KIM")
    said = run(ibot, "admin verify-council leeds", user=ADMIN).last
    assert "Verified 2 person(s) with *Leeds City Council*; 4 of their contribution(s)" in said
    assert league(ibot) == {"LDS": 4}
    assert person(ibot, "U0KIM").council_verified_at is None
    assert "Nobody is waiting" in run(ibot, "admin verify-council leeds", user=ADMIN).last


def test_an_admin_sets_a_council_even_over_a_verified_one(ibot: Bot, fake_slack: FakeSlack) -> None:
    fake_slack.add_user("U0BOB", "bob", email="bob@woking.gov.uk")
    run(ibot, "list", user="U0BOB")
    said = run(ibot, "admin council <@U0BOB> Surrey County Council", user=ADMIN).last
    assert "<@U0BOB> is with *Surrey County Council*, verified." in said
    bob = person(ibot, "U0BOB")
    assert (bob.council_code, bob.council_verified_by) == ("SRY", f"admin:{ADMIN}")
    run(ibot, "list", user="U0BOB")  # an e-mail check does not overrule an admin
    assert person(ibot, "U0BOB").council_code == "SRY"


def test_an_admin_corrects_a_lead_council(ibot: Bot) -> None:
    run(ibot, "iam council Leeds", user="U0PAT")
    run(ibot, "start Parking", user="U0PAT")
    said = run(ibot, "admin lead-council parking Guildford", user=ADMIN).last
    assert "The lead council of *Parking* is now *Guildford Borough Council*." in said
    assert rows(ibot, Project)[0].lead_council_code == "GRT"
    assert "Which council?" in run(ibot, "admin lead-council parking", user=ADMIN).last


def test_an_admin_checks_everyones_email(ibot: Bot, fake_slack: FakeSlack) -> None:
    for user in ("U0BOB", "U0PAT"):
        run(ibot, "iam council Leeds", user=user)
    fake_slack.add_user("U0BOB", "bob", email="bob@woking.gov.uk")  # known to Slack since
    said = run(ibot, "admin check-emails", user=ADMIN).last
    assert "Checked 2 person(s)" in said and "1 verified by their Slack e-mail" in said
    assert person(ibot, "U0BOB").council_code == "WOI"


# Upgrading ---------------------------------------------------------------------------------


def test_the_upgrade_keeps_councils_as_claims_and_admins_confirm_them(
    database_url: str, fake_slack: FakeSlack
) -> None:
    command.upgrade(alembic_config(database_url), "0004")
    engine = sa.create_engine(database_url)

    def when() -> Any:
        return sa.column("created_at", sqlmodel.sql.sqltypes.UTCDateTime())

    at = Clock().now
    council = sa.table(
        "council",
        sa.column("code"),
        sa.column("name"),
        sa.column("short_name"),
        sa.column("nation"),
        when(),
    )
    people = sa.table(
        "person",
        *(sa.column(c) for c in ("id", "slack_user_id", "display_name", "council_code")),
        when(),
    )
    ledger = sa.table(
        "ledger_entry",
        *(sa.column(c) for c in ("kind", "source", "council_code", "person_id", "dedupe_key")),
        sa.column("description"),
        sa.column("occurred_at", sqlmodel.sql.sqltypes.UTCDateTime()),
    )
    with engine.begin() as conn:
        conn.execute(
            council.insert().values(
                code="GRT",
                name="Guildford Borough Council",
                short_name="Guildford",
                nation="England",
                created_at=at,
            )
        )
        conn.execute(
            people.insert().values(
                id=1, slack_user_id="U0OLD", display_name="old", council_code="GRT", created_at=at
            )
        )
        conn.execute(
            ledger.insert().values(
                kind="give",
                source="gave",
                council_code="GRT",
                person_id=1,
                dedupe_key="old-1",
                description="a workshop",
                occurred_at=at,
            )
        )
    engine.dispose()

    bot = build(make_settings(database_url, fake_slack, makers_admins=ADMIN), clock=Clock())
    try:
        bot.db.upgrade()
        old = person(bot, "U0OLD")
        assert (old.council_code, old.council_verified_at) == ("GRT", None)
        assert [e.unverified for e in rows(bot, LedgerEntry)] == [True]
        assert league(bot) == {}
        assert "1 of their contribution(s)" in run(bot, "admin verify-council GRT", user=ADMIN).last
        assert league(bot) == {"GRT": 1}
    finally:
        bot.stop()


# The domain register -----------------------------------------------------------------------


def test_the_domain_register_names_councils_of_the_register() -> None:
    domains, register = default_domains(), default_register()
    assert len(domains) > 450
    packaged = Path(__file__).resolve().parent.parent / "makersbot" / "data" / "council_domains.csv"
    with packaged.open(encoding="utf-8", newline="") as f:
        assert all(register.get(row["council_code"]) for row in csv.DictReader(f))
    assert domains.match_email("bob@woking.gov.uk").codes == ("WOI",)  # type: ignore[union-attr]
    match = domains.match_email("ann@ADUR-WORTHING.gov.uk")
    assert match is not None and match.codes == ("ADU", "WOT")
    assert domains.match_email("x@fs.glasgow.gov.uk").codes == ("GLG",)  # type: ignore[union-attr]
    for email in ("x@gov.uk", "x@evil-woking.gov.uk", "x@woking.gov.uk.evil.com", "no-at-sign"):
        assert domains.match_email(email) is None, email
    # Every council of the register, but the combined authorities, has at least one domain.
    unlisted = {c.code for c in register if not domains.domains_of(c.code)}
    assert all("Combined" in register.get(c).kind for c in unlisted)  # type: ignore[union-attr]


def test_the_register_is_rebuilt_by_its_script(tmp_path: Path) -> None:
    # A copy of the sources (with their licences) ships as a test fixture, so a clone checks
    # that the packaged CSV still matches them.
    root = Path(__file__).resolve().parent.parent
    sources = root / "tests" / "fixtures" / "council_domain_sources"
    import runpy

    script = Path(__file__).resolve().parent.parent / "scripts" / "council_domains.py"
    out = tmp_path / "council_domains.csv"
    module = runpy.run_path(str(script))
    assert module["main"](["council_domains.py", str(sources), str(out)]) == 0
    packaged = Path(__file__).resolve().parent.parent / "makersbot" / "data" / "council_domains.csv"
    assert out.read_text(encoding="utf-8") == packaged.read_text(encoding="utf-8")
    assert CouncilDomains.load().match_host("woking.gov.uk") is not None


def test_the_manifest_asks_for_the_email_scope() -> None:
    manifest = Path(__file__).resolve().parent.parent / "manifest.yml"
    scopes = yaml.safe_load(manifest.read_text(encoding="utf-8"))["oauth_config"]["scopes"]["bot"]
    assert {"users:read", "users:read.email"} <= set(scopes)
