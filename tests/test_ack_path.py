"""`/makers list` and `info` answer inside Slack's acknowledgement: what keeps them cheap.

Cards, makers and the catalogue version are cached per process (services/catalogue.py),
the slow half of a command runs only when it has work (handlers/commands.py), and pooled
PostgreSQL connections are pinged only after sitting idle (db.py). bench/ack.py measures
the effect; these tests pin down that the shortcuts never show stale or wrong answers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from sqlalchemy import event, text

from handlers import commands as commands_module
from makersbot import db as db_module
from makersbot.app import Bot
from makersbot.db import Database
from makersbot.domain.projects import JOIN_ACTION
from makersbot.services import catalogue as catalogue_module
from makersbot.store import projects as project_store
from makersbot.store.models import Project
from tests.conftest import Server
from tests.fakes.slack import FakeSlack
from tests.test_commands import Said, project, run

__all__ = ["project"]  # the fixture, shared with test_commands


@pytest.fixture
def queries(bot: Bot) -> Iterator[list[str]]:
    """Every SQL statement the bot's engine runs while the test holds the list."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(bot.db.engine, "before_cursor_execute", record)
    yield seen
    event.remove(bot.db.engine, "before_cursor_execute", record)


def test_cached_info_and_list_ask_the_database_nothing(
    bot: Bot, project: Project, queries: list[str]
) -> None:
    run(bot, "start Pothole reporter")
    bot.projects.recheck_seconds = 60.0  # no time-based re-reading during the test
    run(bot, "info bin-day-reminders")
    run(bot, "list")
    queries.clear()

    # The acknowledgements only (the slow half may check a newcomer's Slack e-mail).
    info = acknowledge(bot, "info pothole-reporter", user="U0BOB")  # warmed with the first
    listed = acknowledge(bot, "list")
    again = acknowledge(bot, "info bin-day-reminders")

    assert queries == []
    assert "Pothole reporter" in info.last
    assert "2 projects" in listed.last
    assert "Bin day reminders" in again.last


def acknowledge(bot: Bot, text_: str, *, user: str = "U0ALICE") -> Said:
    said = Said()
    body = {"text": text_, "user_id": user, "channel_id": "C0GENERAL", "trigger_id": "t-ack"}
    bot.commands.acknowledge(ack=said.ack, body=body)
    return said


# Slack gets each answer encoded once per message (Commands.listener) -------------------------


@pytest.mark.parametrize(
    "text_", ["list", "list bin", "info bin-day-reminders", "help", "lsit", "phase", "join x"]
)
def test_slack_gets_the_answer_the_keywords_give(
    server: Server, project: Project, text_: str
) -> None:
    # The HTTP path acknowledges with the message's JSON, encoded once; the console and the
    # tests pass keywords. Both must say the same, whatever the subcommand.
    answered = server.slash(text_, trigger_id=f"t-http-{text_}")
    assert answered.status_code == 200
    assert answered.headers["content-type"].startswith("application/json")
    said = acknowledge(server.bot, text_)
    assert answered.json() == said.acks[-1]
    assert said.acks[-1]["response_type"] == "ephemeral" and said.acks[-1]["text"]


def test_bolt_sends_a_lone_text_ack_as_it_is(fake_slack: FakeSlack) -> None:
    # What Commands.listener relies on (slack_bolt.context.ack.internals._set_response): a
    # text-only ack is the whole body, typed JSON when it starts with `{`. If a Bolt upgrade
    # wraps it in {"text": ...} instead, this fails before Slack shows people raw JSON.
    app = App(
        client=WebClient(token="xoxb-test", base_url=fake_slack.base_url),
        signing_secret="x",
        token_verification_enabled=False,
        process_before_response=True,
        request_verification_enabled=False,
    )
    app.command("/makers")(lambda ack: ack('{"text": "hi", "response_type": "ephemeral"}'))
    body = {"command": "/makers", "text": "x", "team_id": "T1", "user_id": "U1"}
    answer = app.dispatch(BoltRequest(body=body, mode="socket_mode"))
    assert answer.status == 200
    assert answer.body == '{"text": "hi", "response_type": "ephemeral"}'
    assert answer.headers["content-type"] == ["application/json;charset=utf-8"]


def test_the_join_button_follows_the_cached_makers(bot: Bot, project: Project) -> None:
    bot.projects.recheck_seconds = 60.0

    def join_button(said: Said) -> bool:
        return JOIN_ACTION in str(said.acks[-1].get("blocks"))

    assert join_button(run(bot, "info bin-day-reminders", user="U0BOB", name="bob"))
    assert not join_button(run(bot, "info bin-day-reminders"))  # alice started it
    run(bot, "join bin-day-reminders", user="U0BOB", name="bob")
    # This process wrote the membership: its cache sees it at once.
    assert not join_button(run(bot, "info bin-day-reminders", user="U0BOB", name="bob"))


def test_a_change_by_this_process_shows_at_once(bot: Bot, project: Project) -> None:
    bot.projects.recheck_seconds = 60.0
    assert "Pavement trial" not in card(bot)
    run(bot, "status bin-day-reminders Pavement trial in Guildford")
    assert "Pavement trial" in card(bot)


def card(bot: Bot) -> str:
    """Everything `/makers info bin-day-reminders` shows (text and blocks)."""
    return str(run(bot, "info bin-day-reminders").acks[-1])


def _change_elsewhere(database_url: str, status: str) -> None:
    """What another process (a worker, the other web worker) does: its own engine."""
    other = Database(database_url)
    try:
        with other.session() as session:
            found = project_store.find_project(session, ref="bin-day-reminders")
            assert found is not None
            found.status_text = status
            project_store.touch_project(session, project=found)
    finally:
        other.dispose()


def test_another_process_change_shows_within_the_stale_limit(
    bot: Bot, project: Project, database_url: str
) -> None:
    run(bot, "info bin-day-reminders")
    _change_elsewhere(database_url, "Live in Leeds")
    # Within RECHECK_SECONDS the last reading stands: the card comes from the cache.
    bot.projects.recheck_seconds = 60.0
    assert "Live in Leeds" not in card(bot)
    # Past it, the reading is renewed in the background and the next answers see it.
    bot.projects.recheck_seconds = 0.0
    deadline = time.monotonic() + catalogue_module.STALE_SECONDS + 2
    seen = ""
    while "Live in Leeds" not in seen and time.monotonic() < deadline:
        seen = card(bot)
        time.sleep(0.02)
    assert "Live in Leeds" in seen

    # An idle process (reading older than STALE_SECONDS) reads it again before answering.
    _change_elsewhere(database_url, "Paused for the election")
    time.sleep(catalogue_module.STALE_SECONDS + 0.05)
    assert "Paused for the election" in card(bot)


def test_a_slug_changed_elsewhere_is_followed(
    bot: Bot, project: Project, database_url: str
) -> None:
    run(bot, "info bin-day-reminders")
    other = Database(database_url)
    with other.session() as session:
        found = session.get(Project, project.id)
        assert found is not None
        found.slug = "bin-collection-reminders"
        project_store.touch_project(session, project=found)
    other.dispose()
    time.sleep(catalogue_module.STALE_SECONDS + 0.05)  # an idle process reads afresh
    assert "Bin day reminders" in str(run(bot, "info bin-collection-reminders").acks[-1])
    # The old slug still finds it by its name, and the card shows the new slug, not a card
    # cached under the old one.
    old = str(run(bot, "info bin-day-reminders").acks[-1])
    assert "`bin-collection-reminders`" in old, old


class Submitted:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, fn: Any, *args: Any) -> Future[None]:
        self.calls += 1
        fn(*args)  # run it here, so the test sees what it did
        done: Future[None] = Future()
        done.set_result(None)
        return done


def listen(bot: Bot, text_: str, *, user: str = "U0ALICE") -> Said:
    said = Said()
    body = {
        "command": "/makers",
        "text": text_,
        "user_id": user,
        "user_name": "alice",
        "channel_id": "C0GENERAL",
        "trigger_id": f"t-listen-{time.monotonic_ns()}",
    }
    bot.commands.listener(ack=said.ack, body=body, respond=said.respond, client=bot.client)
    return said


def test_the_slow_half_runs_only_when_it_has_work(
    bot: Bot, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    submitted = Submitted()
    monkeypatch.setattr(commands_module.LATER, "submit", submitted)
    listen(bot, "info bin-day-reminders", user="U0CAROL")
    assert submitted.calls == 1, "a first command from someone checks their Slack e-mail"
    listen(bot, "info bin-day-reminders", user="U0CAROL")
    listen(bot, "list", user="U0CAROL")
    assert submitted.calls == 1, "list and info have nothing left to do after the ack"
    said = listen(bot, "join bin-day-reminders", user="U0CAROL")
    assert submitted.calls == 2
    assert said.acks[-1]["text"].startswith("Working on it")
    assert "joined" in said.responses[-1]["text"].lower(), said.responses


def test_a_failing_slow_half_is_logged(
    bot: Bot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(**_kwargs: Any) -> None:
        raise RuntimeError("the slow half broke")

    monkeypatch.setattr(bot.commands, "later", boom)
    monkeypatch.setattr(commands_module.LATER, "submit", Submitted())
    listen(bot, "list", user="U0DAVE")
    assert "the slow half of a /makers request failed" in caplog.text


# Pooled PostgreSQL connections -------------------------------------------------------------


def test_busy_connections_are_not_pinged_idle_ones_are(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(postgres_url)
    pings: list[float] = []
    real_ping = db.engine.dialect.do_ping

    def counted(connection: Any) -> bool:
        pings.append(time.monotonic())
        return bool(real_ping(connection))

    monkeypatch.setattr(db.engine.dialect, "do_ping", counted)
    try:
        for _ in range(5):
            with db.session(read_only=True) as session:
                session.exec(text("SELECT 1"))  # type: ignore[call-overload]
        assert pings == [], "a connection just used is trusted"
        monkeypatch.setattr(db_module, "PING_AFTER_IDLE", 0.0)
        with db.session(read_only=True) as session:
            session.exec(text("SELECT 1"))  # type: ignore[call-overload]
        assert len(pings) == 1
    finally:
        db.dispose()


def test_an_idle_connection_the_server_dropped_is_replaced(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(postgres_url)
    try:
        with db.session(read_only=True) as session:
            pid = session.exec(text("SELECT pg_backend_pid()")).one()[0]  # type: ignore[call-overload]
        killer = Database(postgres_url)
        with killer.session() as session:
            session.exec(text(f"SELECT pg_terminate_backend({int(pid)})"))  # type: ignore[call-overload]
        killer.dispose()
        monkeypatch.setattr(db_module, "PING_AFTER_IDLE", 0.0)  # it has been idle long enough
        with db.session(read_only=True) as session:
            again = session.exec(text("SELECT pg_backend_pid()")).one()[0]  # type: ignore[call-overload]
        assert again != pid
    finally:
        db.dispose()


def test_a_warmed_process_answers_its_first_info_without_a_query(
    bot: Bot, project: Project, queries: list[str]
) -> None:
    run(bot, "start Pothole reporter")
    bot.projects.recheck_seconds = 60.0
    bot.projects.warm()
    queries.clear()
    said = acknowledge(bot, "info pothole-reporter")
    assert queries == []
    assert "Pothole reporter" in str(said.acks[-1])


def test_one_thread_reads_the_version_while_busy_and_ends_when_idle(
    bot: Bot, project: Project, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Starting a thread per background reading (four a second in a busy web process) cost
    # as much as the reading itself: one thread serves them all, and ends when idle.
    monkeypatch.setattr(catalogue_module, "READER_IDLE", 0.3)
    catalogue = bot.projects
    catalogue.catalogue_version()
    catalogue.recheck_seconds = 0.0  # every ask within STALE_SECONDS reads in the background

    seen: dict[int, Any] = {}
    for n in range(5):
        _change_elsewhere(database_url, f"Status {n}")
        deadline = time.monotonic() + 2
        while f"Status {n}" not in card(bot) and time.monotonic() < deadline:
            reader = catalogue._reader
            if reader is not None:
                seen[id(reader)] = reader
            time.sleep(0.01)
        assert f"Status {n}" in card(bot)
    assert len(seen) == 1, "one reader thread for every reading"
    time.sleep(0.6)  # idle past READER_IDLE
    (thread,) = seen.values()
    assert not thread.is_alive() and catalogue._reader is None
    _change_elsewhere(database_url, "After a pause")
    deadline = time.monotonic() + 2
    while "After a pause" not in card(bot) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "After a pause" in card(bot), "a new reader starts when one is asked for"
