"""Retention (issue 8, item 6): rows past their period are pruned in batches; newer rows, the
ledger and the current item state stay. SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func
from sqlmodel import select

from makersbot.app import Bot
from makersbot.loops import Background
from makersbot.retention import LIVING_PREFIXES, Retention, RetentionPeriods
from makersbot.services.mirror import item_key_of
from makersbot.settings import ConfigError, load_settings
from makersbot.store.models import (
    Delivery,
    LedgerEntry,
    Link,
    MirroredItem,
    MirrorEvent,
    Project,
    SeenRequest,
    SlackMessage,
    WorkerHeartbeat,
)
from tests.conftest import Clock

DAY = timedelta(days=1)


def keys(bot: Bot, model: type, attr: str) -> set[Any]:
    with bot.db.session(read_only=True) as session:
        found: list[Any] = list(session.exec(select(model)).all())
    return {getattr(row, attr) for row in found}


def count(bot: Bot, model: type) -> int:
    with bot.db.session(read_only=True) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def seed(bot: Bot, now: datetime) -> None:
    """Rows on both sides of every default period (14 / 90 / 7 / 30 days, heartbeats 1)."""
    with bot.db.session() as session:
        project = Project(slug="bins", name="Bins")
        session.add(project)
        session.flush()
        assert project.id is not None
        link = Link(project_id=project.id, source="github", target="o/r")
        session.add(link)
        session.flush()
        assert link.id is not None
        for name, age, processed in [
            ("old-done", 20, True),
            ("new-done", 2, True),
            ("old-pending", 20, False),
        ]:
            at = now - age * DAY
            session.add(
                Delivery(
                    source="github",
                    delivery_id=name,
                    received_at=at,
                    processed_at=at if processed else None,
                )
            )
        for name, age in [("old", 100), ("new", 10)]:
            session.add(
                MirrorEvent(
                    project_id=project.id,
                    link_id=link.id,
                    item_key="o/r#1",
                    kind="issue",
                    action="opened",
                    occurred_at=now - age * DAY,
                    dedupe_key=name,
                )
            )
        session.add(SeenRequest(key="old", seen_at=now - 8 * DAY))
        session.add(SeenRequest(key="new", seen_at=now - DAY))
        item = item_key_of(link.id, "o/r#1")
        messages: list[tuple[str, int, bool, dict[str, Any]]] = [
            ("old-reply", 40, True, {"thread_key": item}),
            ("old-announcement", 40, True, {}),
            (item, 40, True, {}),  # a living message: kept while its item lives
            ("project:1:card", 40, True, {"pin": True}),
            ("old-unsent", 40, False, {}),
            ("old-parent", 40, True, {}),
            ("new-reply", 3, True, {"thread_key": item}),
        ]
        for key, age, sent, extra in messages:
            at = now - age * DAY
            version = 2 if sent else 3
            session.add(
                SlackMessage(
                    key=key,
                    channel="C1",
                    text=key,
                    version=version,
                    sent_version=2,
                    created_at=at,
                    updated_at=at,
                    next_attempt_at=at,
                    **extra,
                )
            )
        # An unsent reply keeps its (old, sent) parent: the reply needs the parent's ts.
        session.add(
            SlackMessage(key="waiting-reply", channel="C1", thread_key="old-parent", version=1)
        )
        session.add(MirroredItem(link_id=link.id, item_key="o/r#1", kind="issue", title="One"))
        session.add(
            LedgerEntry(
                kind="give", source="start", dedupe_key="start:1", occurred_at=now - 400 * DAY
            )
        )
        session.add(WorkerHeartbeat(process="gone:1", beat_at=now - 2 * DAY))
        session.add(WorkerHeartbeat(process="alive:2", beat_at=now))


def test_old_rows_go_and_new_rows_ledger_and_items_stay(bot: Bot, clock: Clock) -> None:
    seed(bot, clock())
    counts = Retention(bot.db, RetentionPeriods(), clock=clock, batch=2, pause=0).prune()
    assert counts == {
        "deliveries": 1,
        "mirror events": 1,
        "request keys": 1,
        "sent messages": 2,
        "heartbeats": 1,
    }
    assert keys(bot, Delivery, "delivery_id") == {"new-done", "old-pending"}
    assert keys(bot, MirrorEvent, "dedupe_key") == {"new"}
    assert keys(bot, SeenRequest, "key") == {"new"}
    assert keys(bot, SlackMessage, "key") == {
        "item:1:o/r#1",
        "project:1:card",
        "old-unsent",
        "old-parent",
        "new-reply",
        "waiting-reply",
    }
    assert keys(bot, WorkerHeartbeat, "process") == {"alive:2"}
    assert (count(bot, LedgerEntry), count(bot, MirroredItem), count(bot, Project)) == (1, 1, 1)
    # A second run finds nothing more to do.
    again = Retention(bot.db, RetentionPeriods(), clock=clock).prune()
    assert set(again.values()) == {0}


def test_big_prunes_go_in_bounded_batches(bot: Bot, clock: Clock) -> None:
    now = clock()
    with bot.db.session() as session:
        for n in range(25):
            session.add(SeenRequest(key=f"k{n}", seen_at=now - 30 * DAY))
    batches: list[str] = []

    def deleted(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("DELETE FROM seen_request"):
            batches.append(statement)

    # Watch the statements themselves: one bounded DELETE per batch, never one for all.
    event.listen(bot.db.engine, "after_cursor_execute", deleted)
    try:
        counts = Retention(bot.db, RetentionPeriods(), clock=clock, batch=10, pause=0).prune()
    finally:
        event.remove(bot.db.engine, "after_cursor_execute", deleted)
    assert counts["request keys"] == 25
    assert len(batches) == 3 and all("LIMIT" in statement for statement in batches)
    assert count(bot, SeenRequest) == 0


def test_zero_days_keeps_rows_for_ever(bot: Bot, clock: Clock) -> None:
    seed(bot, clock())
    periods = RetentionPeriods(
        deliveries_days=0, events_days=0, request_keys_days=0, sent_messages_days=0
    )
    counts = Retention(bot.db, periods, clock=clock, pause=0).prune()
    assert counts == {"heartbeats": 1}
    assert (count(bot, Delivery), count(bot, MirrorEvent), count(bot, SeenRequest)) == (3, 2, 2)
    assert count(bot, SlackMessage) == 8


def test_living_messages_are_recognised_by_their_key() -> None:
    assert item_key_of(7, "octo/bins#42").startswith(LIVING_PREFIXES)


def test_settings_refuse_an_events_period_shorter_than_the_digests_read() -> None:
    assert load_settings().retention_events_days == 90
    assert load_settings(retention_events_days=0).retention_events_days == 0
    with pytest.raises(ConfigError, match="RETENTION_EVENTS_DAYS: expects 0"):
        load_settings(retention_events_days=20)
    with pytest.raises(ConfigError, match="RETENTION_DELIVERIES_DAYS"):
        load_settings(retention_deliveries_days=-1)


def test_only_the_process_running_the_scheduler_prunes(bot: Bot) -> None:
    def names(background: Background) -> list[str]:
        return [str(getattr(loop, "name", "")) for loop in background.loops]

    assert "retention" in names(Background.for_bot(bot))
    assert "retention" not in names(Background.for_bot(bot, scheduler=False))


def test_the_long_run_benchmark_runs_and_prunes(tmp_path: Path) -> None:
    """bench/longrun.py at a tiny size: it runs, checks itself, and the deliveries of the
    first simulated days are gone by the end."""
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, str(root / "bench" / "longrun.py"), "--deliveries", "200"]
        + ["--days", "30", "--every", "100"],
        cwd=root,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "correctness: OK" in result.stdout
    last = [line.split() for line in result.stdout.splitlines() if line.strip().startswith("200")]
    delivery_rows = int(last[-1][-3].replace(",", ""))
    assert 0 < delivery_rows < 200  # 14 days of the 30 are kept
