"""Reliability of the mirror: a flaky Slack, and a server killed mid-burst."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlmodel import select

from makersbot.app import Bot
from makersbot.services.mirror_batch import ChangeBatch
from makersbot.store.models import Delivery, Link, MirroredItem, SlackMessage
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, Clock, make_settings, wait_until
from tests.fakes.slack import FakeSlack
from tests.mirror_helpers import (
    GITHUB_SECRET,
    REPO,
    github_delivery,
    issue_event,
    link,
    lower,
    messages_by_key,
    mirror_bot,
    start_project,
)


def rows(bot: Bot, model: type) -> list[Any]:
    with bot.db.session(read_only=True) as session:
        return list(session.exec(select(model)).all())


def test_flaky_slack_ends_in_the_true_state_without_doubles(
    mbot: Bot, fake_slack: FakeSlack, clock: Clock
) -> None:
    start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    mbot.sender.drain()
    expected: dict[int, tuple[str, str]] = {}
    for round_ in range(4):
        fake_slack.fail_next("chat.postMessage", status=429, retry_after=1)
        fake_slack.fail_next("chat.update", status=503, retry_after=None, times=3)
        for number in range(1, 6):
            title = f"Issue {number} v{round_}"
            state = "closed" if (number + round_) % 2 else "open"
            updated = f"2026-11-26T1{round_}:0{number}:00Z"
            action = "closed" if state == "closed" else "reopened"
            payload = issue_event(
                number, title, action=action if round_ else "opened", state=state, updated=updated
            )
            body, headers = github_delivery("issues", payload)
            assert mbot.deliveries.accept_github(lower(headers), body)[0] == 200
            expected[number] = (title, state)
        mbot.deliveries.process_pending()
        mbot.sender.drain()
    for _ in range(20):  # let every backed-off message come due
        clock.now += timedelta(minutes=5)
        mbot.sender.drain()
        with mbot.db.session(read_only=True) as session:
            if mbot.outbox.depth(session) == 0:
                break
    items = {i.item_key: i for i in rows(mbot, MirroredItem)}
    assert {int(k.rsplit("#", 1)[1]): (i.title, i.state) for k, i in items.items()} == expected
    posts = messages_by_key(fake_slack)
    shown: dict[str, str] = {}
    for message in rows(mbot, SlackMessage):
        if message.key.startswith("item:") and message.key.count(":") == 3:
            assert len(posts[message.key]) == 1, message.key  # posted once, then edited
            slack_copy = [m for m in fake_slack.messages(message.channel) if m["ts"] == message.ts]
            assert len(slack_copy) == 1
            shown[message.key] = slack_copy[0]["text"]
    assert len(shown) == 5
    for key, text in shown.items():
        title, state = expected[int(key.rsplit("#", 1)[1])]
        assert text.startswith(f"{state}: #") and title in text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(tmp_path: Path, slack: FakeSlack, port: int) -> subprocess.Popen[bytes]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.base_url,
        "GITHUB_WEBHOOK_SECRET": GITHUB_SECRET,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'kill.db'}",
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "SLACK_CHANNEL_PACE": "0.05",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "makersbot.cli", "serve"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except requests.ConnectionError:
            time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    raise AssertionError("makersbot serve did not start")


def test_sigkill_mid_burst_loses_nothing_and_posts_once(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    from makersbot.app import build

    settings = make_settings(
        f"sqlite:///{tmp_path / 'kill.db'}", fake_slack, github_webhook_secret=GITHUB_SECRET
    )
    seed = build(settings, per_channel_interval=0)
    seed.db.upgrade()
    project = start_project(seed)
    with seed.db.session() as session:  # a webhook link: nothing polls in this test
        session.add(
            Link(
                project_id=project.id or 0,
                source="github",
                target=REPO.lower(),
                target_name=REPO,
                url=f"https://github.com/{REPO}",
                webhook_id="1",
            )
        )
    seed.sender.drain()
    seed.stop()

    port = _free_port()
    url = f"http://127.0.0.1:{port}/github/webhook"
    acked: set[int] = set()
    lock = threading.Lock()

    def send(numbers: range, gap: float = 0.0) -> None:
        session = requests.Session()
        for number in numbers:
            time.sleep(gap)  # spread the burst so the kill lands in the middle of it
            body, headers = github_delivery(
                "issues",
                issue_event(number, f"Issue {number}", updated="2026-11-26T10:00:00Z"),
                delivery=f"delivery-{number}",
            )
            try:
                if session.post(url, data=body, headers=headers, timeout=5).status_code == 200:
                    with lock:
                        acked.add(number)
            except requests.RequestException:
                pass  # the server is down: this one was never acknowledged

    server = _serve(tmp_path, fake_slack, port)
    senders = [threading.Thread(target=send, args=(range(i, 49, 4), 0.05)) for i in range(1, 5)]
    for thread in senders:
        thread.start()
    assert _wait(lambda: len(acked) >= 16, 20)
    os.killpg(server.pid, signal.SIGKILL)
    server.wait(timeout=10)
    for thread in senders:
        thread.join(timeout=30)
    killed_with = set(acked)
    assert 16 <= len(killed_with) < 48

    server = _serve(tmp_path, fake_slack, port)
    try:
        send(range(1, 49))  # GitHub's "redeliver" for everything, acknowledged or not
        check = build(settings)

        def settled() -> bool:
            with check.db.session(read_only=True) as session:
                pending = [d for d in session.exec(select(Delivery)).all() if not d.processed_at]
                return not pending and check.outbox.depth(session) == 0

        # Slack takes about one post a second per channel: 48 items need ~50 s.
        assert _wait(settled, 120)
        items = {i.number for i in rows(check, MirroredItem)}
        assert killed_with <= items and items == set(range(1, 49))
        assert len(rows(check, Delivery)) == 48
        posts = messages_by_key(fake_slack)
        item_posts = {k: v for k, v in posts.items() if k.count(":") == 3 and "#" in k}
        assert len(item_posts) == 48
        assert all(len(calls) == 1 for calls in item_posts.values())
        check.stop()
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)


def _wait(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def test_two_workers_that_deadlock_on_new_items_both_apply_their_batches_together(
    postgres_url: str,
    fake_slack: FakeSlack,
    fake_github: Any,
    fake_trello: Any,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Seen in bench/mirror.py --topology procfile: worker A's batch looks up issues #1 and
    # #2, finds neither, and creates #1. A third batch creates #2. Worker B's batch then
    # locks #2 (it exists now) and waits for #1 (A's, not committed); A meets #2 locked by
    # B. PostgreSQL aborts one of them, which then fell back to one delivery at a time
    # with a WARNING and a traceback. Now the aborted batch is tried again, together.
    bot = mirror_bot(postgres_url, fake_slack, fake_github, fake_trello, clock)
    try:
        start_project(bot)
        link(bot, f"hello-world github {REPO}")

        def stored(event: dict[str, Any]) -> int:
            body, headers = github_delivery("issues", event)
            assert bot.deliveries.accept_github(lower(headers), body) == (200, "ok")
            with bot.db.session(read_only=True) as session:
                found = select(Delivery).where(Delivery.delivery_id == headers["X-GitHub-Delivery"])
                return int(session.exec(found).one().id or 0)

        def opened(number: int, second: int) -> dict[str, Any]:
            return issue_event(number, f"Issue {number}", updated=f"2026-01-01T00:00:{second:02}Z")

        def renamed(number: int) -> dict[str, Any]:
            return issue_event(
                number, f"Renamed {number}", action="edited", updated="2026-01-01T00:00:09Z"
            )

        batch_a = [stored(opened(1, 1)), stored(opened(2, 1))]
        batch_c = [stored(opened(2, 2))]
        batch_b = [stored(renamed(1)), stored(renamed(2))]
        at_second, go_on = threading.Event(), threading.Event()
        locked_row = ChangeBatch._locked_row

        def pausing(self: ChangeBatch, link_row: Any, key: str, change: Any) -> Any:
            if threading.current_thread().name == "worker-a" and key.endswith("#2"):
                if not at_second.is_set():  # only A's first try waits here
                    at_second.set()
                    assert go_on.wait(10)
            return locked_row(self, link_row, key, change)

        monkeypatch.setattr(ChangeBatch, "_locked_row", pausing)
        together: dict[str, bool] = {}

        def worker(name: str, ids: list[int]) -> threading.Thread:
            def run() -> None:
                together[name] = bot.deliveries._process_together(ids)

            thread = threading.Thread(target=run, name=f"worker-{name}", daemon=True)
            thread.start()
            return thread

        with caplog.at_level(logging.INFO, logger="makersbot.services.deliveries"):
            a = worker("a", batch_a)
            assert at_second.wait(10)  # A created #1 and looked #2 up: not there
            worker("c", batch_c).join(10)  # #2 created and committed
            b = worker("b", batch_b)
            assert wait_until(lambda: _waiting_backends(postgres_url) >= 1)  # B waits for A
            go_on.set()
            a.join(15)
            b.join(15)
        assert together == {"a": True, "c": True, "b": True}
        assert "met another worker's locks (DeadlockDetected); trying again" in caplog.text
        assert "failed" not in caplog.text
        titles = sorted(row.title for row in rows(bot, MirroredItem))
        assert titles == ["Renamed 1", "Renamed 2"]
    finally:
        bot.stop()


def _waiting_backends(url: str) -> int:
    """Backends of this database waiting for a lock (pg_stat_activity)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()
