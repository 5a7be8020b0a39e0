"""Trust in the offline console: councils verified by the Slack e-mail the console gives, an
address elsewhere leaving a council unverified, and logins proven through the production
device flow and Trello's members/me, answered in-process."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from integrations.github.oauth import DeviceFlow, PollStatus
from integrations.trello.members import InvalidToken, TrelloMembers
from makersbot.console import Console, ConsoleClock
from makersbot.console.accounts import (
    CLIENT_ID,
    GITHUB_API_URL,
    GITHUB_URL,
    TRELLO_API_URL,
    TRELLO_KEY,
    ConsoleAccounts,
    SignedIn,
)
from makersbot.console.trust import council_domain
from makersbot.council_domains import default_domains
from makersbot.councils import default_register
from makersbot.store.models import LedgerEntry, Person
from tests.conftest import make_settings

MONDAY = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)


def play(database_url: str, tmp_path: Path, lines: list[str]) -> tuple[Console, str]:
    """Alice types `lines` at a console (no questions asked); everything it printed."""
    stdout = io.StringIO()
    console = Console(
        make_settings(database_url),
        user_name="alice",
        stdin=io.StringIO("\n".join(lines) + "\n"),
        stdout=stdout,
        clock=ConsoleClock(MONDAY),
        charts_dir=tmp_path / "charts",
        introduce=False,
    )
    try:
        assert console.loop() == 0
    finally:
        console.close()
    return console, stdout.getvalue()


def rows(console: Console, model: type) -> list[Any]:
    with console.bot.db.session(read_only=True) as session:
        return list(session.exec(select(model)).all())


def person(console: Console, user_id: str) -> Person:
    found: Person = next(p for p in rows(console, Person) if p.slack_user_id == user_id)
    return found


def test_a_council_picked_comes_with_an_email_at_its_domain_that_verifies_it(
    sqlite_url: str, tmp_path: Path
) -> None:
    console, out = play(
        sqlite_url,
        tmp_path,
        ["/makers iam council Guildford", "/makers iam council Guildford", "/makers iam", ":email"],
    )
    # Verified by the production check (users.info → confirmed e-mail → domain register).
    alice = person(console, "U0ALICE")
    assert (alice.council_code, alice.council_verified_by) == ("GRT", "email:guildford.gov.uk")
    said = "verified by your e-mail alice@guildford.gov.uk (offline)"
    assert out.count(said) == 1  # said once, not at every pick
    assert "Council: Guildford Borough Council (verified by your Slack e-mail)" in out
    assert "Your Slack e-mail here is alice@guildford.gov.uk." in out
    # The same Slack answers the bot: a confirmed address in the bot's own workspace.
    user = console.slack.users_info(user="U0ALICE")["user"]
    assert user["profile"]["email"] == "alice@guildford.gov.uk"
    assert user["is_email_confirmed"] is True
    assert user["team_id"] == console.slack.auth_test()["team_id"]


def test_an_email_elsewhere_leaves_the_council_unverified_and_its_gives_wait(
    sqlite_url: str, tmp_path: Path
) -> None:
    console, out = play(
        sqlite_url,
        tmp_path,
        [
            "/makers iam council Woking",
            "/makers start Bins",
            ":as pat",
            ":email pat@consultancy.example",
            "/makers iam council Woking",
            "/makers join bins",
            "/makers gave bins user research with residents",
            ":whoami",
            ":wait 1 day",  # the digest covers whole days up to now
            "/makers digest preview",
            ":as alice",
            "/makers vouch @pat",
        ],
    )
    assert "[console] Your Slack e-mail is now pat@consultancy.example" in out
    assert "It is at no council's domain, so it verifies nothing" in out
    assert "You are with Woking Borough Council. It is not verified yet" in out
    assert "verified by your e-mail pat@" not in out
    assert "You are @pat (U0PAT), with Woking Borough Council (not verified yet)." in out
    # Pat's give waited out of the league: the digest left it out and said so.
    preview = out.split("pat> /makers digest preview\n", 1)[1].split("\nalice> ", 1)[0]
    assert "1 entry by people whose council is not verified yet is left out" in preview
    assert "Woking · gave 1 (1 project started)" in preview  # Alice's start, not Pat's give
    # A verified colleague vouches: the waiting give counts from now on.
    assert "Thank you: @pat is verified with Woking Borough Council." in out
    assert "1 earlier contribution(s) now count for it." in out
    [gave] = [e for e in rows(console, LedgerEntry) if e.source == "gave"]
    assert (gave.council_code, gave.unverified) == ("WOI", False)
    assert person(console, "U0PAT").council_verified_by == "vouch:U0ALICE"


def test_a_typed_login_credits_nobody_until_proven_with_the_device_flow(
    sqlite_url: str, tmp_path: Path
) -> None:
    console, out = play(
        sqlite_url,
        tmp_path,
        [
            "/makers iam council Guildford",
            "/makers iam github alice-gfd",
            "/makers start Bin day reminders",
            "/makers link bin-day-reminders github localgov-makers/bin-day-reminders",
            ":github close bin-day-reminders 1",
            ":people",
            "/makers iam github",
            ":people",
        ],
    )
    claimed, _, proven = out.partition("alice> /makers iam github\n")
    assert "credited to nobody until you prove it with `/makers iam github`" in claimed
    assert "you: @alice (U0ALICE) · Guildford Borough Council · GitHub alice-gfd (not proven)" in (
        claimed
    )
    # The bot's reply names the stand-in's page and code; the console enters it for Alice.
    code = proven.split("enter the code ", 1)[1].split(" ", 1)[0]
    assert f"open {GITHUB_URL}/login/device" in proven
    assert f"[github] You sign in to GitHub as alice-gfd and enter the code {code}" in proven
    assert "Your GitHub account is `alice-gfd`, proven." in proven
    assert "1 contribution(s) made as `alice-gfd` are credited to it." in proven
    assert proven.rstrip().endswith("GitHub alice-gfd")
    [closed] = [e for e in rows(console, LedgerEntry) if e.source == "github:issue_closed"]
    assert (closed.github_login, closed.council_code) == ("alice-gfd", "GRT")
    assert person(console, "U0ALICE").github_verified_by == "github"


def test_the_trello_page_shows_a_token_that_proves_the_username(
    sqlite_url: str, tmp_path: Path
) -> None:
    console, out = play(sqlite_url, tmp_path, ["/makers iam trello alice_t", "/makers iam trello"])
    token = out.split("Paste it: /makers iam trello token ", 1)[1].split()[0]
    assert "[trello] You sign in to Trello as alice_t and allow access" in out
    console, out = play(sqlite_url, tmp_path, [f"/makers iam trello token {token}"])
    # A new console, a new Trello page: an unknown token is the pasting person's own.
    assert "Your Trello account is `alice_t`, proven." in out
    assert person(console, "U0ALICE").trello_verified_by == "trello"


def test_the_stand_ins_answer_the_production_clients_as_github_and_trello_do() -> None:
    accounts = ConsoleAccounts()
    accounts.at_keyboard = lambda: SignedIn(github="mona", trello="mona_t")
    http = accounts.http()
    flow = DeviceFlow(CLIENT_ID, oauth_url=GITHUB_URL, api_url=GITHUB_API_URL, http=http)
    code = flow.request_code()
    assert (code.verification_uri, code.interval, code.expires_in) == (
        f"{GITHUB_URL}/login/device",
        5,
        900,
    )
    assert flow.poll(code.device_code).status == PollStatus.PENDING
    assert accounts.enter_new_codes() == [(code.user_code, "mona")]
    poll = flow.poll(code.device_code)
    assert poll.status == PollStatus.TOKEN and poll.token is not None
    assert flow.login_of(poll.token) == "mona"
    assert flow.poll(code.device_code).status == PollStatus.OTHER  # a code is used once
    assert DeviceFlow("other-app", oauth_url=GITHUB_URL, api_url=GITHUB_API_URL, http=http).poll(
        code.device_code
    ).error == ("incorrect_client_credentials")
    members = TrelloMembers(TRELLO_API_URL, TRELLO_KEY, http=http)
    assert members.member_of("x" * 32).username == "mona_t"
    with pytest.raises(InvalidToken):
        TrelloMembers(TRELLO_API_URL, "another-key", http=http).member_of("x" * 32)
    # Nothing this session is asked leaves the process: anywhere else is answered 404 here.
    assert http.get("https://api.github.com/user", timeout=1).status_code == 404


@pytest.mark.parametrize(
    ("council", "domain"),
    [("GRT", "guildford.gov.uk"), ("WAT", "watford.gov.uk"), ("ENF", "enfield.gov.uk")],
)
def test_the_console_gives_a_council_its_plainest_own_domain(council: str, domain: str) -> None:
    found = default_register().get(council)
    assert found is not None
    assert council_domain(default_domains(), found) == domain
