"""The offline console: who you are, the people in it, forms, the Home tab, the hub channel,
admin for a session, and Slack's text shown as plain words."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from makersbot import cli
from makersbot.console import Console, readable
from tests.conftest import make_settings


def run_console(
    database_url: str, lines: list[str], tmp_path: Path | None = None, **who: str
) -> str:
    """Type `lines` at a console on `database_url`; everything it printed."""
    stdin = io.StringIO("\n".join(lines) + "\n")
    stdout = io.StringIO()
    console = Console(
        make_settings(database_url),
        stdin=stdin,
        stdout=stdout,
        charts_dir=(tmp_path or Path(".")) / "charts",
        **who,  # type: ignore[arg-type]
    )
    try:
        assert console.loop() == 0
    finally:
        console.close()
    return stdout.getvalue()


def test_a_person_can_start_join_list_and_adopt(sqlite_url: str) -> None:
    out = run_console(
        sqlite_url,
        [
            "alice",
            "Guildford",
            "/makers start Bin day reminders — remind residents",
            ":as U0BOB bob",
            "/makers iam council Woking",
            "/makers join bin-day-reminders",
            ":as carol",
            "/makers iam council leeds",
            "/makers adopt Bin day reminders",
            "/makers list",
        ],
    )
    # Each council picked comes with a Slack e-mail at its domain, which verifies it.
    for council, email in (
        ("Guildford Borough Council", "alice@guildford.gov.uk"),
        ("Woking Borough Council", "bob@woking.gov.uk"),
        ("Leeds City Council", "carol@leeds.gov.uk"),
    ):
        assert f"[console] {council}: verified by your e-mail {email} (offline)." in out
        domain = email.split("@")[1]
        assert f"You are with {council}, verified by your Slack e-mail ({domain})." in out
    assert "[slack] created channel #makers-bin-day-reminders" in out
    assert "[posted in #makers-bin-day-reminders]\n  == Bin day reminders ==" in out
    assert "[slack] pinned in #makers-bin-day-reminders" in out
    assert "👋 @bob from Woking joined the project." in out
    assert "🎉 Leeds is now using Bin day reminders." in out
    assert "Councils: makers: Guildford, Woking · using it: Leeds" in out
    assert "1 project\n" in out


def test_console_remembers_projects_and_people_across_restarts(sqlite_url: str) -> None:
    run_console(sqlite_url, ["alice", "", "/makers start Parking"])
    out = run_console(
        sqlite_url,
        ["bob", "", ":in #makers-parking", "/makers status going well", "/makers iam github bob"],
    )
    assert "Only the makers of Parking can do that." in out
    out = run_console(sqlite_url, ["alice", "", ":in makers-parking", "/makers info", ":people"])
    assert "== Parking ==" in out
    assert "you: @alice (U0ALICE)" in out and "@bob (U0BOB)" in out


def test_the_console_says_who_you_are_and_whether_you_are_an_admin(sqlite_url: str) -> None:
    out = run_console(sqlite_url, ["alice", "Guildford", ":whoami", ":admin", ":whoami"])
    assert (
        "You are @alice (U0ALICE), with no council yet (/makers iam council <name>). "
        "You are not an admin: :admin makes you one for this session." in out
    )
    assert "You are @alice (U0ALICE), with Guildford Borough Council. You are not an admin" in out
    assert "@alice (U0ALICE) is an admin for this session. To make it last, set " in out
    assert "MAKERS_ADMINS=U0ALICE." in out
    assert "You are an admin (/makers digest now works for you)." in out


def test_digest_now_tells_how_and_then_works_once_admin(sqlite_url: str, tmp_path: Path) -> None:
    out = run_console(
        sqlite_url,
        [
            "alice",
            "Guildford",
            "/makers start Bins",
            "/makers digest now",
            ":admin",
            "/makers digest now",
        ],
        tmp_path,
    )
    refused, _, allowed = out.partition(":admin\n")
    assert "Only the bot's admins (MAKERS_ADMINS) can post the digest." in refused
    assert "[console] Type :admin to be an admin for this session." in refused
    # The hub channel (DIGEST_CHANNEL, #makers in the console) is there to post in.
    assert "Posting this week's digest in #makers now." in allowed
    assert "[posted in #makers]\n  == Makers digest: the week to " in allowed
    assert "[posted in #makers-bins]\n  This week in Bins" in allowed
    # The chart goes into the digest's thread: here, a PNG saved where it says.
    marker = "  saved as "
    path = Path(allowed.split(marker, 1)[1].splitlines()[0])
    assert path.parent == tmp_path / "charts"
    assert path.read_bytes().startswith(b"\x89PNG")
    assert "in the thread of “Makers digest: the week to" in allowed


def test_as_never_makes_a_second_person_with_a_taken_name(sqlite_url: str) -> None:
    out = run_console(
        sqlite_url,
        ["alice", "", ":as U001 alice", ":as priya", ":as U0PRIYA", ":as U0ALICE bob", ":people"],
    )
    assert (
        "alice is already U0ALICE. Type `:as alice` to be them, or give U001 another name." in out
    )
    assert "You are @priya (U0PRIYA)" in out
    assert "U0ALICE is alice. Type `:as U0ALICE` to be them, or pick another id for bob." in out
    people = out.rsplit(":people\n", 1)[1]
    assert "@alice (U0ALICE) · no council yet" in people
    assert "you: @priya (U0PRIYA) · no council yet" in people
    assert "U001" not in people and "bob" not in people


def test_user_and_name_given_are_not_asked_again(sqlite_url: str) -> None:
    out = run_console(sqlite_url, ["Woking", "/makers list"], user_id="U002", user_name="priya")
    assert "Who are you?" not in out
    assert "You are @priya (U002), with no council yet" in out
    assert "You are with Woking Borough Council, verified by your Slack e-mail" in out


def test_console_command_line_does_not_ask_who_you_are(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "makersbot.cli", "console", "--user", "U002", "--name", "priya"],
        input="\n:whoami\n",
        env={"DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Who are you?" not in result.stdout
    assert result.stdout.count("You are @priya (U002)") == 2


def test_commands_at_the_questions_are_run_not_taken_as_answers(sqlite_url: str) -> None:
    out = run_console(sqlite_url, ["alice", "/makers list", ":whoami"])
    assert "No projects yet" in out
    assert "No UK council matches" not in out and "You are with" not in out
    assert "You are @alice (U0ALICE), with no council yet" in out.rsplit(":whoami", 1)[1]
    out = run_console(sqlite_url, ["/makers help", ":whoami"])
    assert "`/makers join <project>`" in out
    assert "You are @you (U0CONSOLE)" in out


def test_the_start_form_is_filled_in_field_by_field(sqlite_url: str) -> None:
    out = run_console(
        sqlite_url,
        [
            "alice",
            "Guildford",
            "/makers start",
            "!!!",
            "",
            "Bin day reminders",
            "Remind residents the day before",
            "/makers start",
            "",
        ],
    )
    assert "[a form opens: Start a project] Fill it in here" in out
    assert "  Project name: !!!" in out
    assert "[the form says, under “Project name”] Give it a name with a letter or a digit." in out
    assert "  What will it do, and for whom? (optional): Remind residents the day before" in out
    assert "[posted in a DM to @alice]\n  Started Bin day reminders." in out
    assert "== Bin day reminders ==\n  Remind residents the day before" in out
    assert out.rstrip().endswith("  Project name: \n[the form is closed: nothing was sent]")


def test_the_home_tab_opens(sqlite_url: str) -> None:
    out = run_console(sqlite_url, ["alice", "Guildford", "/makers start Bins", ":home"])
    home = out.rsplit("[the Home tab of @alice]", 1)[1]
    assert "== Makers Project Teams ==" in home
    assert "Council: Guildford Borough Council" in home
    assert "Bins `bins` · 💡 Idea · Guildford · #makers-bins" in home


def test_channels_can_be_created_and_the_hub_is_there(sqlite_url: str) -> None:
    out = run_console(
        sqlite_url, ["alice", "", ":channel team-news", ":in #makers", ":in #nowhere", ":channel"]
    )
    assert "[slack] created channel #team-news\n[slack] @alice added to #team-news" in out
    assert "alice in #makers>" in out
    assert "No channel #nowhere here yet." in out
    assert "Usage: :channel <name>" in out


def test_wait_moves_the_clock_the_bot_sees(sqlite_url: str) -> None:
    out = run_console(sqlite_url, ["alice", "", ":wait 2 days 3 hours", ":wait soon"])
    assert "[clock] It is now " in out
    assert "Usage: :wait <n> days|hours|minutes" in out


def test_readable_turns_mrkdwn_into_plain_words() -> None:
    names = {"C1": "makers-bins", "U1": "alice"}.get
    text = readable(
        "<#C1> <@U1> <https://x.test|site> <!date^1^{date_short}|1 Jan> &lt;b&gt;",
        lambda i: names(i) or i,
    )
    assert text == "#makers-bins @alice site (https://x.test) 1 Jan <b>"
    assert (
        readable("*Leeds* gave _twice_ :tada: to snake_case_names, 2 * 3, <!here> <https://a.b>")
        == "Leeds gave twice 🎉 to snake_case_names, 2 * 3, @here https://a.b"
    )
    assert readable("&lt;@U1&gt; :unknown_code:") == "<@U1> :unknown_code:"
    assert readable("<https://x.test|site>", urls=False) == "site"


def test_digest_preview_prints_readable_text(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    run_console(sqlite_url, ["alice", "Guildford", "/makers start Bin day reminders"])
    capsys.readouterr()
    assert cli.print_digest(make_settings(sqlite_url), None) == 0
    out = capsys.readouterr().out
    assert "Makers digest: the week to " in out
    assert "Guildford · gave 1 (1 project started)" in out
    assert "• Bin day reminders (#makers-bin-day-reminders) · started by Guildford" in out
    assert "*" not in out and "<#" not in out and "&gt;" not in out


def test_make_run_without_token_starts_the_console(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "makersbot.cli", "run"],
        input="alice\n\n/makers list\n",
        env={"DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("No SLACK_BOT_TOKEN set: starting the offline console")
    assert "No projects yet" in result.stdout
