"""Webhook intake's group commit (`makersbot/intake.py`): concurrent deliveries share one
transaction, and no caller hears back before the transaction holding its row committed.

The database is held from outside (SQLite's write lock, or an EXCLUSIVE lock on the
PostgreSQL `delivery` table), so that a batch is seen while its commit cannot finish.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, func, text
from sqlmodel import select

from makersbot import db as db_module
from makersbot.app import Bot
from makersbot.db import Database
from makersbot.intake import GroupCommit, IntakeUnavailable
from makersbot.store import deliveries as delivery_store
from makersbot.store.models import Delivery, utcnow
from tests.conftest import Server, wait_until
from tests.fakes.github import FakeGitHub
from tests.mirror_helpers import (
    GITHUB_SECRET,
    REPO,
    github_delivery,
    issue_event,
    link,
    lower,
    start_project,
    two_linked_projects,
)

WHEN = "2026-11-26T10:00:00Z"

# The mechanism ------------------------------------------------------------------------


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.upgrade()
    yield database
    database.dispose()


def row(n: int) -> dict[str, Any]:
    return {
        "source": "github",
        "delivery_id": f"d-{n}",
        "event": "issues",
        "body": "{}",
        "received_at": utcnow(),
        "attempts": 0,
    }


def stored(db: Database) -> list[str]:
    with db.session(read_only=True) as session:
        return sorted(d.delivery_id for d in session.exec(select(Delivery)).all())


class Recorder:
    """A `write` that inserts each batch, records it, and can be held inside its
    transaction (after the INSERT, before the commit) or made to fail."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.inside = threading.Event()
        self.release = threading.Event()
        self.release.set()
        self.fail_batch: int | None = None

    def __call__(self, connection: Connection, items: Sequence[int]) -> list[str]:
        self.batches.append(list(items))
        delivery_store.insert_deliveries(connection, deliveries=[row(n) for n in items])
        self.inside.set()
        assert self.release.wait(10)
        if len(self.batches) == self.fail_batch:
            raise RuntimeError("the database went away")
        return [f"stored {n}" for n in items]


class Callers:
    """Threads that each submit one item and keep what came back."""

    def __init__(self, group: GroupCommit[int, str]) -> None:
        self.group = group
        self.answers: dict[int, str | BaseException] = {}
        self.threads: list[threading.Thread] = []

    def submit(self, n: int) -> None:
        def call() -> None:
            try:
                self.answers[n] = self.group.submit(n)
            except Exception as exc:  # noqa: BLE001 - kept for the test to look at
                self.answers[n] = exc

        thread = threading.Thread(target=call, daemon=True)
        thread.start()
        self.threads.append(thread)

    def join(self) -> None:
        for thread in self.threads:
            thread.join(10)
        assert not any(thread.is_alive() for thread in self.threads)


def queue_behind_a_held_batch(
    db: Database, *, after_commit: Callable[[], None] | None = None, wait: float = 15.0
) -> tuple[Recorder, Callers]:
    """Caller 0's batch held inside its transaction; callers 1-3 queued behind it."""
    write = Recorder()
    write.release.clear()
    group = GroupCommit(db, write, after_commit=after_commit, wait=wait)
    callers = Callers(group)
    callers.submit(0)
    assert write.inside.wait(10)
    for n in (1, 2, 3):
        callers.submit(n)
    assert wait_until(lambda: group.queued == 3)
    return write, callers


def test_no_caller_returns_before_its_batch_commits(db: Database) -> None:
    commits = threading.Event()
    write, callers = queue_behind_a_held_batch(db, after_commit=commits.set)
    assert not write.release.wait(0.3)  # give a wrong early answer time to show
    assert callers.answers == {}
    assert stored(db) == []  # written, not yet committed: nobody may be answered
    assert not commits.is_set()
    write.release.set()
    callers.join()
    assert callers.answers == {n: f"stored {n}" for n in range(4)}
    assert stored(db) == ["d-0", "d-1", "d-2", "d-3"]
    # The three that queued while the first commit ran shared one transaction.
    assert write.batches == [[0], [1, 2, 3]]
    assert commits.is_set()


def test_a_failed_batch_fails_every_caller_in_it_and_stores_none_of_them(db: Database) -> None:
    write, callers = queue_behind_a_held_batch(db)
    write.fail_batch = 2
    write.release.set()
    callers.join()
    assert callers.answers[0] == "stored 0"
    for n in (1, 2, 3):
        assert isinstance(callers.answers[n], IntakeUnavailable)
    assert stored(db) == ["d-0"]  # rolled back: none of the failed batch was kept
    # The intake is not stuck: the next caller leads a batch of its own.
    assert callers.group.submit(4) == "stored 4"
    assert stored(db) == ["d-0", "d-4"]


def test_a_caller_that_waits_too_long_is_withdrawn_and_never_stored(db: Database) -> None:
    write, callers = queue_behind_a_held_batch(db, wait=1.0)
    assert wait_until(lambda: len(callers.answers) == 3, timeout=5)
    assert all(isinstance(callers.answers[n], TimeoutError) for n in (1, 2, 3))
    write.release.set()
    callers.join()
    assert callers.answers[0] == "stored 0"
    assert stored(db) == ["d-0"] and write.batches == [[0]]
    assert callers.group.queued == 0


def test_many_concurrent_callers_all_committed_in_fewer_transactions(db: Database) -> None:
    write = Recorder()
    callers = Callers(GroupCommit(db, write))
    for n in range(200):
        callers.submit(n)
    callers.join()
    assert callers.answers == {n: f"stored {n}" for n in range(200)}
    assert len(stored(db)) == 200
    assert sorted(n for batch in write.batches for n in batch) == list(range(200))


def test_a_connection_dropped_under_the_intake_is_not_handed_out_again(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # On PostgreSQL the batch's INSERT goes round SQLAlchemy, straight to psycopg's cursor
    # (store/deliveries.py); a connection the server dropped must still leave the pool.
    db = Database(postgres_url)
    db.upgrade()
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE", 3600.0)  # a busy connection: no ping
    with db.single_statement() as connection:
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    with create_engine(postgres_url).connect() as killer:
        killer.execute(text(f"SELECT pg_terminate_backend({int(pid or 0)})"))

    def write(connection: Connection, items: Sequence[int]) -> list[str]:
        delivery_store.insert_deliveries(connection, deliveries=[row(n) for n in items])
        return [f"stored {n}" for n in items]

    callers = Callers(GroupCommit(db, write, single_statement=True))
    callers.submit(1)
    callers.join()
    assert isinstance(callers.answers[1], IntakeUnavailable)  # a 503: the sender retries
    # Invalidated at once, not found broken when the pool tried to reset it (a traceback).
    assert not [r for r in caplog.records if r.name.startswith("sqlalchemy.pool")]
    with db.single_statement() as connection:
        assert connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid
        assert delivery_store.insert_deliveries(connection, deliveries=[row(2)]) == {
            ("github", "d-2")
        }
    assert stored(db) == ["d-2"]
    db.dispose()


# Through the delivery service and the route ---------------------------------------------


@contextmanager
def holding_deliveries(url: str) -> Iterator[None]:
    """Hold what an INSERT into `delivery` needs, from another connection, until the end."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("COMMIT")
            conn.close()
        return
    engine = create_engine(url)
    try:
        with engine.begin() as held:
            held.execute(text("LOCK TABLE delivery IN EXCLUSIVE MODE"))
            yield
    finally:
        engine.dispose()


def stored_ids(bot: Bot) -> list[str]:
    with bot.db.session(read_only=True) as session:
        return sorted(d.delivery_id for d in session.exec(select(Delivery)).all())


def test_a_batch_answers_each_delivery_on_its_own(
    mbot: Bot, fake_github: FakeGitHub, database_url: str
) -> None:
    """Linked, unlinked, signed for another repo, and a copy: one transaction, four answers."""
    two_linked_projects(mbot, fake_github)
    mine = issue_event(1, "Bins", updated=WHEN)
    unlinked = issue_event(2, "Elsewhere", updated=WHEN)
    unlinked["repository"]["full_name"] = "someone/else"
    forged = issue_event(3, "Forged", updated=WHEN)
    forged["repository"]["full_name"] = "Codertocat/Other"
    first = github_delivery("issues", issue_event(4, "First", updated=WHEN))
    deliveries = {
        "ok": github_delivery("issues", mine, "d-mine"),
        "copy": github_delivery("issues", mine, "d-mine"),
        "ignored": github_delivery("issues", unlinked, "d-unlinked"),
        # Signed with REPO's own hook secret, claiming to change another linked repo.
        "forged": _resigned(github_delivery("issues", forged, "d-forged"), fake_github),
    }
    answers: dict[str, tuple[int, str]] = {}

    def send(name: str, delivery: tuple[bytes, dict[str, str]]) -> threading.Thread:
        def call() -> None:
            answers[name] = mbot.deliveries.accept_github(lower(delivery[1]), delivery[0])

        thread = threading.Thread(target=call, daemon=True)
        thread.start()
        return thread

    with holding_deliveries(database_url):
        threads = [send("first", first)]
        assert wait_until(lambda: mbot.deliveries.intake.committing)  # first leads, held
        threads += [send(name, d) for name, d in deliveries.items()]
        assert wait_until(lambda: mbot.deliveries.intake.queued == 4)
        assert answers == {}
    for thread in threads:
        thread.join(10)
    copies = sorted([answers.pop("ok"), answers.pop("copy")])
    assert copies == [(200, "duplicate"), (200, "ok")]
    assert answers == {
        "first": (200, "ok"),
        "ignored": (200, "ignored: not linked"),
        "forged": (403, "not signed for this repository or board"),
    }
    assert stored_ids(mbot) == sorted(["d-mine", first[1]["X-GitHub-Delivery"]])


def _resigned(
    delivery: tuple[bytes, dict[str, str]], fake_github: FakeGitHub
) -> tuple[bytes, dict[str, str]]:
    """The delivery signed with REPO's hook's own secret and naming that hook."""
    from tests.fakes.signing import github_signature

    [hook] = fake_github.hooks(REPO)
    body, headers = delivery
    headers = {
        **headers,
        "X-Hub-Signature-256": github_signature(hook["config"]["secret"], body),
        "X-GitHub-Hook-ID": str(hook["id"]),
    }
    return body, headers


def test_the_route_answers_2xx_only_once_the_delivery_is_committed(
    web: Server, database_url: str
) -> None:
    start_project(web.bot)
    link(web.bot, f"hello-world github {REPO}")
    body, headers = github_delivery("issues", issue_event(1, "Bins", updated=WHEN))
    answers: list[int] = []
    with holding_deliveries(database_url):
        thread = threading.Thread(
            target=lambda: answers.append(web.post("/github/webhook", body, headers).status_code),
            daemon=True,
        )
        thread.start()
        thread.join(0.5)
        assert answers == [] and stored_ids(web.bot) == []
    thread.join(10)
    assert answers == [200]
    assert stored_ids(web.bot) == [headers["X-GitHub-Delivery"]]


def test_concurrent_copies_of_a_delivery_are_stored_once(mbot: Bot) -> None:
    start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    sent = [github_delivery("issues", issue_event(n, f"Item {n}", updated=WHEN)) for n in range(40)]
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def deliver(delivery: tuple[bytes, dict[str, str]]) -> None:
        answer = mbot.deliveries.accept_github(lower(delivery[1]), delivery[0])
        with lock:
            answers.append(answer)

    threads = [
        threading.Thread(target=deliver, args=(delivery,), daemon=True)
        for delivery in sent * 3  # every delivery three times, all at once
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(answers).count((200, "ok")) == 40
    assert sorted(answers).count((200, "duplicate")) == 80
    with mbot.db.session(read_only=True) as session:
        assert session.exec(select(func.count()).select_from(Delivery)).one() == 40


def test_a_bad_signature_is_refused_before_any_batch(mbot: Bot) -> None:
    start_project(mbot)
    link(mbot, f"hello-world github {REPO}")
    body, headers = github_delivery("issues", issue_event(1, "Bins", updated=WHEN))
    headers["X-Hub-Signature-256"] = "sha256=" + "0" * 64
    headers.pop("X-GitHub-Hook-ID", None)
    assert mbot.deliveries.accept_github(lower(headers), body)[0] == 401
    assert stored_ids(mbot) == []
    assert GITHUB_SECRET  # the global secret is configured: the 401 is the signature's
