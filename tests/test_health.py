"""Honest health (issue 8, item 7): `/healthz` says 503, and why, when the bot cannot do its
job; `serve` and `worker` refuse to start on a token Slack rejects.

Each 503 reason has its own test: database down, token rejected, channel parked, outbox late,
no worker heartbeat. SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from makersbot.app import Bot, build
from makersbot.cli import main
from makersbot.domain.messages import Message
from makersbot.health import HealthCheck, Heartbeat, heartbeat_seconds, parked_channels
from makersbot.loops import Background
from makersbot.preflight import SlackAuth, slack_auth
from makersbot.store import outbox as outbox_store
from makersbot.store.models import WorkerHeartbeat
from makersbot.web import create_web_app
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, Clock, Server, make_settings
from tests.fakes.slack import FakeSlack

LATE = timedelta(seconds=300)
STALE = timedelta(seconds=60)


def check(
    bot: Bot, clock: Clock, parked: Callable[[Session], Sequence[str]] = parked_channels
) -> HealthCheck:
    return HealthCheck(bot.db, outbox_late=LATE, worker_stale=STALE, clock=clock, parked=parked)


def publish(bot: Bot, key: str = "announce:1", channel: str = "C0TEST") -> None:
    with bot.db.session() as session:
        bot.outbox.publish(session, key=key, channel=channel, message=Message(text="hello"))


# 200 ---------------------------------------------------------------------------------------


def test_a_serving_process_is_healthy_with_its_own_heartbeat(server: Server) -> None:
    response = server.http.get(server.url + "/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "outbox_depth": 0,
        "last_scheduler_run": None,
    }
    with server.bot.db.session(read_only=True) as session:
        assert len(session.exec(select(WorkerHeartbeat)).all()) == 1


def test_a_clean_stop_removes_the_heartbeat(bot: Bot) -> None:
    background = Background.for_bot(bot, scheduler=False)
    background.start()
    with bot.db.session(read_only=True) as session:
        assert len(session.exec(select(WorkerHeartbeat)).all()) == 1
    background.stop()
    with bot.db.session(read_only=True) as session:
        assert session.exec(select(WorkerHeartbeat)).all() == []


# 503: the database -------------------------------------------------------------------------


def test_database_down_is_503(fake_slack: FakeSlack) -> None:
    # Nothing listens on port 1: every connection is refused.
    settings = make_settings("postgresql+psycopg://postgres@127.0.0.1:1/none", fake_slack)
    bot = build(settings)
    try:
        client = create_web_app(bot).test_client()
        response = client.get("/healthz")
    finally:
        bot.stop()
    assert response.status_code == 503
    assert response.json == {
        "status": "error",
        "database": "error",
        "outbox_depth": None,
        "last_scheduler_run": None,
        "reason": "the database cannot be reached",
    }


# 503: the Slack token ----------------------------------------------------------------------


def test_a_rejected_token_is_503_and_probes_never_call_slack(
    bot: Bot, clock: Clock, fake_slack: FakeSlack
) -> None:
    health = check(bot, clock)
    heartbeat = Heartbeat(
        bot.db, clock=clock, check_token=lambda: slack_auth(bot.settings), recheck=0
    )
    heartbeat.beat()
    assert health.report()[0] == 200
    assert len(fake_slack.calls("auth.test")) == 1
    # The token is revoked: the next check finds out and the heartbeat carries it.
    fake_slack.fail_next("auth.test", status=200, error="token_revoked")
    heartbeat.beat()
    for _ in range(3):
        status, body = health.report()
        assert status == 503
        assert "Slack refused SLACK_BOT_TOKEN" in str(body["reason"])
        assert "token_revoked" in str(body["reason"]) and BOT_TOKEN not in str(body)
    assert len(fake_slack.calls("auth.test")) == 2  # the probes asked the database, not Slack
    # Slack unreachable is no verdict: the last one stands. Accepted again: healthy.
    fake_slack.fail_next("auth.test", status=503)
    heartbeat.beat()
    assert health.report()[0] == 503
    heartbeat.beat()
    assert health.report()[0] == 200


def test_the_start_up_answer_is_remembered_until_the_next_check(bot: Bot, clock: Clock) -> None:
    rejected = SlackAuth(ok=False, rejected=True, line="Slack refused SLACK_BOT_TOKEN: x.")
    Heartbeat(bot.db, clock=clock, first_auth=rejected).beat()
    assert check(bot, clock).report()[1]["reason"] == "Slack refused SLACK_BOT_TOKEN: x."


@pytest.mark.parametrize("command", ["worker", "serve"])
def test_serve_and_worker_refuse_a_rejected_token_in_one_line(
    command: str,
    fake_slack: FakeSlack,
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.base_url,
        "DATABASE_URL": sqlite_url,
    }.items():
        monkeypatch.setenv(name, value)
    fake_slack.fail_next("auth.test", status=200, error="invalid_auth")
    assert main([command]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and BOT_TOKEN not in err
    assert err.startswith("makersbot: Slack refused SLACK_BOT_TOKEN at http://127.0.0.1:")
    assert "invalid_auth (the token is wrong or was revoked)" in err and "Not starting" in err


# 503: a parked channel ---------------------------------------------------------------------


def test_a_parked_channel_is_503(bot: Bot, clock: Clock) -> None:
    Heartbeat(bot.db, clock=clock).beat()

    def parked(_session: Session) -> list[str]:
        return ["C0GONE"]

    status, body = check(bot, clock, parked=parked).report()
    assert (status, body["reason"]) == (503, "1 channel(s) parked: C0GONE")


# 503: a late outbox ------------------------------------------------------------------------


def test_a_late_outbox_is_503(bot: Bot, clock: Clock, fake_slack: FakeSlack) -> None:
    channel = fake_slack.add_channel("test")  # a channel Slack knows: the post goes through
    health = check(bot, clock)
    heartbeat = Heartbeat(bot.db, clock=clock)
    publish(bot, channel=channel)
    clock.now += timedelta(seconds=299)
    heartbeat.beat()
    assert health.report() == (
        200,
        {"status": "ok", "database": "ok", "outbox_depth": 1, "last_scheduler_run": None},
    )
    clock.now += timedelta(seconds=2)
    heartbeat.beat()
    status, body = health.report()
    assert status == 503 and body["outbox_depth"] == 1
    assert body["reason"] == "the outbox is late: a message has waited 301 s (more than 300 s)"
    # Waiting out a Retry-After is not late: the message is not due.
    with bot.db.session() as session:
        row = outbox_store.message(session, key="announce:1")
        assert row is not None and row.id is not None
        outbox_store.retry_at(session, row_id=row.id, when=clock.now + timedelta(seconds=25))
    assert health.report()[0] == 200
    # Sent: healthy.
    clock.now += timedelta(seconds=30)
    bot.sender.drain()
    heartbeat.beat()
    assert health.report()[0] == 200, health.report()[1].get("reason")


# 503: no worker ----------------------------------------------------------------------------


def test_no_worker_heartbeat_is_503_after_a_grace_period(bot: Bot, clock: Clock) -> None:
    health = check(bot, clock)
    clock.now += timedelta(seconds=59)
    assert health.report()[0] == 200  # a web process starting beside its worker
    clock.now += timedelta(seconds=2)
    status, body = health.report()
    assert status == 503
    assert body["reason"] == "no worker is running: no serve or worker process has a heartbeat"
    Heartbeat(bot.db, clock=clock).beat()
    assert health.report()[0] == 200
    clock.now += timedelta(seconds=61)
    status, body = health.report()
    assert (status, body["reason"]) == (503, "no worker heartbeat for more than 60 s")


def test_every_reason_is_given_at_once(bot: Bot, clock: Clock) -> None:
    publish(bot)
    health = check(bot, clock, parked=lambda _s: ["C1"])
    clock.now += timedelta(hours=1)
    status, body = health.report()
    assert status == 503
    assert str(body["reason"]).split("; ") == [
        "1 channel(s) parked: C1",
        "the outbox is late: a message has waited 3600 s (more than 300 s)",
        "no worker is running: no serve or worker process has a heartbeat",
    ]


def test_heartbeats_come_often_enough_to_never_look_stale() -> None:
    assert heartbeat_seconds(60) == 15 and heartbeat_seconds(5) == 1.25
    assert heartbeat_seconds(2) == 1 and heartbeat_seconds(3600) == 15
