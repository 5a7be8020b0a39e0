"""The console's GitHub and Trello: `link` works offline, and what people do there reaches the
bot as signed webhooks through the production intake, mirror and ledger."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import select

from makersbot.console import Console, ConsoleClock
from makersbot.console.github import ConsoleGitHub, Hook
from makersbot.console.repl import wait_for
from makersbot.store.models import Delivery, LedgerEntry, Link
from tests.conftest import make_settings

MONDAY = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)

# Any well-formed token pasted at the console is one Trello's page showed the person pasting it.
TRELLO_TOKEN = "ATTA" + "0123456789abcdef" * 2

# Councils verified by their Slack e-mails; logins typed, then proven as in production (typed
# alone, they would credit nobody).
SETUP = [
    "/makers iam council Guildford",
    "/makers iam github alice-gfd",
    "/makers iam github",
    "/makers start Bin day reminders",
    ":as priya",
    "/makers iam council Woking",
    "/makers iam github priya-codes",
    "/makers iam github",
    "/makers iam trello priya_w",
    f"/makers iam trello token {TRELLO_TOKEN}",
    "/makers join bin-day-reminders",
    ":as alice",
]


def play(database_url: str, tmp_path: Path, lines: list[str]) -> tuple[Console, str]:
    """Alice (Guildford) and Priya (Woking) make Bin day reminders, then `lines` are typed."""
    stdout = io.StringIO()
    console = Console(
        make_settings(database_url),
        user_name="alice",
        stdin=io.StringIO("\n".join(SETUP + lines) + "\n"),
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


def after(out: str, line: str) -> str:
    """What the console printed after `line` was typed (up to the next prompt)."""
    return out.split(f"> {line}\n", 1)[1].split("\nalice> ", 1)[0].split("\npriya> ", 1)[0]


def test_link_works_offline_and_a_pull_request_lives_in_the_channel(
    sqlite_url: str, tmp_path: Path
) -> None:
    console, out = play(
        sqlite_url,
        tmp_path,
        [
            ":github repos",
            "/makers link bin-day-reminders github localgov-makers/bin-day-reminders",
            ":as priya",
            ':github pr bin-day-reminders "Send reminders by text"',
            ":as alice",
            ":github review bin-day-reminders 3 approve",
            ":github merge bin-day-reminders 3",
            ":github fork bin-day-reminders",
        ],
    )
    assert "localgov-makers/bin-day-reminders — Reminds residents which bin goes out when" in out
    linked = after(out, "/makers link bin-day-reminders github localgov-makers/bin-day-reminders")
    assert "Linked `localgov-makers/bin-day-reminders` to Bin day reminders" in linked
    assert "Its webhook is set up, so changes arrive as they happen." in linked
    assert "🐙 localgov-makers/bin-day-reminders — open 1 · closed 1" in linked  # the first look
    opened = after(out, ':github pr bin-day-reminders "Send reminders by text"')
    assert opened.startswith(
        "[github] priya-codes opened pull request #3 “Send reminders by text” in "
        "localgov-makers/bin-day-reminders\n  webhook delivered to the bot: 200 ok"
    )
    assert "[posted in #makers-bin-day-reminders]\n  🟢 #3 Send reminders by text" in opened
    merged = after(out, ":github merge bin-day-reminders 3")
    assert "[updated in #makers-bin-day-reminders]\n  🟣 #3 Send reminders by text" in merged
    assert "🐙 localgov-makers/bin-day-reminders — open 1 · merged 1 · closed 1" in merged
    # Every change came in as a signed webhook, stored and processed like production's.
    deliveries = rows(console, Delivery)
    assert [(d.source, d.event) for d in deliveries] == [
        ("github", "pull_request"),
        ("github", "pull_request_review"),
        ("github", "pull_request"),
        ("github", "fork"),
    ]
    assert all(d.processed_at is not None and d.error is None for d in deliveries)
    credits = {(e.source, e.council_code) for e in rows(console, LedgerEntry) if e.github_login}
    assert credits == {
        ("github:pr_merged", "WOI"),  # the author's council gives
        ("github:review", "GRT"),  # so does the reviewer's
        ("github:fork", "GRT"),  # the fork is a take
    }


def test_a_trello_card_moved_to_done_is_counted_for_its_mover(
    sqlite_url: str, tmp_path: Path
) -> None:
    console, out = play(
        sqlite_url,
        tmp_path,
        [
            ":trello boards",
            '/makers link bin-day-reminders trello "Bin day reminders"',
            ":as priya",
            ':trello add "Bin day reminders" "Print leaflets" Doing',
            ":trello move leaflets Done",
            ':trello comment leaflets "Printed 500"',
        ],
    )
    assert "  To do: #2 Write the privacy notice" in out
    assert "Linked the Trello board Bin day reminders" in out
    added = after(out, ':trello add "Bin day reminders" "Print leaflets" Doing')
    assert "[trello] priya_w added card #3 “Print leaflets” to Doing on Bin day reminders" in added
    assert "🗂 Print leaflets\n    Bin day reminders · card · Doing · created by priya_w" in added
    moved = after(out, ":trello move leaflets Done")
    assert "🗂 Print leaflets\n    Bin day reminders · card · Done · moved Doing → Done" in moved
    assert "📋 Bin day reminders — Done 2 · To do 1" in moved
    assert [d.event for d in rows(console, Delivery)] == ["createCard", "updateCard", "commentCard"]
    done = [e for e in rows(console, LedgerEntry) if e.source == "trello:card_done"]
    assert [(e.trello_username, e.council_code) for e in done] == [("priya_w", "WOI")]


def test_without_a_link_nobody_hears_and_a_bad_signature_is_refused(
    sqlite_url: str, tmp_path: Path
) -> None:
    console, out = play(
        sqlite_url,
        tmp_path,
        [
            ':github open tree-survey "Map the oaks"',
            ":github merge tree-survey 1",
            ":github merge tree-survey 9",
            ":github nonsense",
        ],
    )
    assert "[github] alice-gfd opened issue #1 “Map the oaks” in localgov-makers/tree-survey" in out
    assert "(no webhook: link it to a project and the bot will hear of changes)" in out
    assert "#1 in localgov-makers/tree-survey is an issue, not a pull request" in out
    assert "localgov-makers/tree-survey has no issue or pull request #9" in out
    assert ':github pr <repo> "title"' in out  # the help
    assert rows(console, Delivery) == []
    # A hook whose secret is not the bot's: the production check refuses the delivery.
    github = console.session.github
    repo = github.repo("localgov-makers/tree-survey")
    repo.hooks["1"] = Hook(
        "1", "https://makersbot.console.invalid/github/webhook", "wrong", ("issues",)
    )
    happened = github.open("localgov-makers/tree-survey", "Sneaky", by="mallory")
    assert happened.answers == ((401, "bad or missing X-Hub-Signature-256"),)


def test_the_github_stand_in_answers_polls_as_github_does() -> None:
    now = MONDAY
    github = ConsoleGitHub(lambda headers, body: (200, "ok"), lambda: now)
    first = github.poll_issues("LOCALGOV-MAKERS/bin-day-reminders", etag=None, since=None)
    assert [i.title for i in first.items] == ["Add Welsh translations", "Set up the project"]
    assert [i.state for i in first.items] == ["open", "closed"]
    again = github.poll_issues("localgov-makers/bin-day-reminders", etag=first.etag, since=None)
    assert again.not_modified and again.items == ()
    github.open("localgov-makers/bin-day-reminders", "New", by="alice")
    changed = github.poll_issues("localgov-makers/bin-day-reminders", etag=first.etag, since=now)
    assert [i.title for i in changed.items] == ["New"]


def test_the_github_stand_in_keeps_the_bots_clock_in_step() -> None:
    clock = ConsoleClock(MONDAY)
    github = ConsoleGitHub(lambda headers, body: (200, "ok"), clock, clock.wait)
    github.open("localgov-makers/tree-survey", "One", by="alice")
    github.open("localgov-makers/tree-survey", "Two", by="alice")
    issues = github.repo("localgov-makers/tree-survey").issues
    assert [i["updated_at"] for i in issues.values()] == [
        "2026-11-16T10:00:00Z",
        "2026-11-16T10:00:01Z",  # never the same second twice: it is part of the dedupe key
    ]
    assert clock() == datetime(2026, 11, 16, 10, 0, 1, tzinfo=UTC)  # the bot sees it happen


def test_link_records_the_hooks_the_stand_ins_made(sqlite_url: str, tmp_path: Path) -> None:
    console, _ = play(
        sqlite_url,
        tmp_path,
        [
            "/makers link bin-day-reminders github localgov-makers/bin-day-reminders",
            "/makers link bin-day-reminders trello https://trello.com/b/nowhere",
        ],
    )
    links = rows(console, Link)
    assert [(lk.source, lk.webhook_id is not None) for lk in links] == [("github", True)]
    assert set(console.session.github.repo("localgov-makers/bin-day-reminders").hooks) == {
        links[0].webhook_id
    }


def test_wait_understands_durations_and_days() -> None:
    monday = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)
    assert wait_for("2 days 3 hours", monday) == (
        datetime(2026, 11, 18, 13, 0, tzinfo=UTC) - monday
    )
    assert wait_for("until monday 09:00", monday) == (
        datetime(2026, 11, 23, 9, 0, tzinfo=UTC) - monday
    )
    assert wait_for("until tuesday", monday) == datetime(2026, 11, 17, 10, 0, tzinfo=UTC) - monday
    assert wait_for("until someday", monday) is None
    assert wait_for("a while", monday) is None


def test_a_card_number_on_several_boards_means_the_linked_one(
    sqlite_url: str, tmp_path: Path
) -> None:
    _, out = play(
        sqlite_url,
        tmp_path,
        [
            ":trello move 1 Doing",
            '/makers link bin-day-reminders trello "Bin day reminders"',
            ":trello move 1 Doing",
        ],
    )
    assert "“1” matches several cards: #1 User research with residents (Bin day reminders); " in out
    assert "[trello] alice moved “User research with residents” from Done to Doing" in out
