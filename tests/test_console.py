"""The offline console: a person starts, joins, lists and adopts a project by typing."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from makersbot.console import Console, readable
from tests.conftest import make_settings


def run_console(database_url: str, lines: list[str]) -> str:
    stdin = io.StringIO("\n".join(lines) + "\n")
    stdout = io.StringIO()
    console = Console(make_settings(database_url), stdin=stdin, stdout=stdout)
    assert console.loop() == 0
    console.bot.stop()
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
            ":as U0CAROL carol",
            "/makers iam council leeds",
            "/makers adopt Bin day reminders",
            "/makers list",
        ],
    )
    assert "You are with *Guildford Borough Council*." in out
    assert "[slack] created channel #makers-bin-day-reminders" in out
    assert "[posted in #makers-bin-day-reminders]\n  == Bin day reminders ==" in out
    assert "[slack] pinned in #makers-bin-day-reminders" in out
    assert "👋 @bob from Woking joined the project." in out
    assert "🎉 Leeds is now using *Bin day reminders*." in out
    assert "*Councils:* makers: Guildford, Woking · using it: Leeds" in out
    assert "*1 project(s)*" in out


def test_console_remembers_projects_across_restarts(sqlite_url: str) -> None:
    run_console(sqlite_url, ["alice", "", "/makers start Parking"])
    out = run_console(sqlite_url, ["bob", "", ":in #makers-parking", "/makers status going well"])
    assert "Only the makers of *Parking* can do that." in out
    out = run_console(sqlite_url, ["alice", "", ":in makers-parking", "/makers info"])
    assert "== Parking ==" in out


def test_readable_turns_mrkdwn_into_plain_words() -> None:
    names = {"C1": "makers-bins", "U1": "alice"}.get
    text = readable(
        "<#C1> <@U1> <https://x.test|site> <!date^1^{date_short}|1 Jan> &lt;b&gt;",
        lambda i: names(i) or i,
    )
    assert text == "#makers-bins @alice site (https://x.test) 1 Jan <b>"


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
