"""When the digest runs: cron in Europe/London across the clock changes, bank holidays of each
nation, week boundaries, catch-up at start, and the run record /healthz reports."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import time_machine
from sqlmodel import select

from makersbot.app import Bot
from makersbot.calendar import DigestSchedule, WorkingDayTrigger, next_run, standard_crontab
from makersbot.db import Database
from makersbot.scheduler import Scheduler, record_run
from makersbot.services.digest import DigestService
from makersbot.slack_gateway import SlackGateway
from makersbot.store.models import SchedulerRun


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        # Spring: the Monday before the clocks go forward (GMT) and the one after (BST).
        (utc(2026, 3, 20), utc(2026, 3, 23, 9)),
        (utc(2026, 3, 24), utc(2026, 3, 30, 8)),
        # Autumn: the Monday before the clocks go back (BST) and the one after (GMT).
        (utc(2026, 10, 13), utc(2026, 10, 19, 8)),
        (utc(2026, 10, 20), utc(2026, 10, 26, 9)),
        # Just before and just after a run.
        (utc(2026, 3, 30, 7, 59, 59), utc(2026, 3, 30, 8)),
        (utc(2026, 3, 30, 8), utc(2026, 4, 7, 8)),  # the next Monday is Easter Monday
    ],
)
def test_runs_stay_at_nine_in_london_across_the_clock_changes(
    after: datetime, expected: datetime
) -> None:
    assert next_run(after) == expected


@pytest.mark.parametrize(
    ("calendar", "after", "expected"),
    [
        # Easter Monday 2026-04-06 is a bank holiday in England and Wales, not in Scotland.
        ("england-and-wales", utc(2026, 4, 1), utc(2026, 4, 7, 8)),
        ("scotland", utc(2026, 4, 1), utc(2026, 4, 6, 8)),
        ("northern-ireland", utc(2026, 4, 1), utc(2026, 4, 7, 8)),
        ("none", utc(2026, 4, 1), utc(2026, 4, 6, 8)),
        # Scotland's summer holiday is the first Monday of August, England's the last.
        ("scotland", utc(2026, 7, 29), utc(2026, 8, 4, 8)),
        ("england-and-wales", utc(2026, 7, 29), utc(2026, 8, 3, 8)),
        ("england-and-wales", utc(2026, 8, 26), utc(2026, 9, 1, 8)),
        ("scotland", utc(2026, 8, 26), utc(2026, 8, 31, 8)),
        # The Battle of the Boyne, observed on Monday 13 July, only in Northern Ireland.
        ("northern-ireland", utc(2026, 7, 8), utc(2026, 7, 14, 8)),
        ("england-and-wales", utc(2026, 7, 8), utc(2026, 7, 13, 8)),
        # Boxing Day (Saturday) is observed on Monday 28 December: Tuesday instead.
        ("england-and-wales", utc(2026, 12, 22), utc(2026, 12, 29, 9)),
        # Already past the holiday's slot: the moved run is still ahead.
        ("england-and-wales", utc(2026, 4, 6, 12), utc(2026, 4, 7, 8)),
    ],
)
def test_bank_holidays_move_the_run_to_the_next_working_day(
    calendar: str, after: datetime, expected: datetime
) -> None:
    assert next_run(after, holidays=calendar) == expected


def test_a_friday_schedule_skips_christmas_and_the_observed_boxing_day() -> None:
    # Christmas Day 2026 is a Friday; Monday 28th is Boxing Day observed: Tuesday 29th.
    assert next_run(utc(2026, 12, 20), schedule="0 9 * * FRI") == utc(2026, 12, 29, 9)


def test_numeric_weekdays_mean_what_cron_means() -> None:
    # APScheduler 3 counts 0 as Monday; cron (and people) count 0 as Sunday.
    assert standard_crontab("0 9 * * 1") == "0 9 * * mon"
    assert standard_crontab("30 8 * * 1-5") == "30 8 * * mon,tue,wed,thu,fri"
    assert standard_crontab("0 9 * * 0,7") == "0 9 * * sun"
    assert standard_crontab("0 9 * * MON") == "0 9 * * MON"
    assert next_run(utc(2026, 11, 24), schedule="0 9 * * 1") == utc(2026, 11, 30, 9)


def test_week_keys_and_periods_follow_london_time() -> None:
    schedule = DigestSchedule()
    # 23:30 UTC on Sunday 29 March is 00:30 BST on Monday: the next ISO week in London.
    assert schedule.week_key(utc(2026, 3, 29, 23, 30)) == "2026-W14"
    assert schedule.week_key(utc(2026, 3, 29, 22, 30)) == "2026-W13"
    # In winter London is UTC: 23:30 UTC on Sunday is still Sunday.
    assert schedule.week_key(utc(2026, 11, 29, 23, 30)) == "2026-W48"
    assert schedule.week_slot("2026-W14") == utc(2026, 3, 30, 8)
    assert schedule.week_slot("2026-W15") == utc(2026, 4, 7, 8)  # Easter Monday moved
    with pytest.raises(ValueError, match="ISO week"):
        schedule.week_slot("2026-47")


def test_a_monday_run_covers_the_seven_days_before_it(bot: Bot) -> None:
    digest = DigestService(
        bot.db, bot.outbox, SlackGateway(bot.client), schedule=DigestSchedule(), hub_channel=None
    )
    period = digest.period_ending(utc(2026, 3, 30, 8))  # 09:00 BST, just after the change
    assert (period.start, period.end, period.key) == (
        utc(2026, 3, 23, 9),  # 09:00 GMT the Monday before
        utc(2026, 3, 30, 8),
        "2026-W14",
    )
    # Consecutive periods tile: each starts where the one before ended.
    assert digest.period_ending(utc(2026, 3, 23, 9)).end == period.start
    assert digest.period_of_week("2026-W47").end == utc(2026, 11, 16, 9)


class FakeDigest:
    """Records the slots the scheduler asks for; `posted` weeks count as already posted."""

    def __init__(self, posted: set[str] | None = None) -> None:
        self.posted = posted or set()
        self.runs: list[datetime] = []
        self.ran = threading.Event()

    def run_scheduled(self, at: datetime) -> None:
        self.runs.append(at)
        self.ran.set()

    def already_posted(self, period: str) -> bool:
        return period in self.posted


def scheduler(db: Database, digest: FakeDigest, now: datetime) -> Scheduler:
    return Scheduler(db, DigestSchedule(), digest, clock=lambda: now)


def test_a_run_missed_earlier_this_week_is_caught_up(bot: Bot) -> None:
    digest = FakeDigest()
    wednesday = utc(2026, 11, 25, 10)
    assert scheduler(bot.db, digest, wednesday).catch_up()
    assert digest.runs == [utc(2026, 11, 23, 9)]  # built for its slot, not for "now"
    with bot.db.session(read_only=True) as session:
        run = session.exec(select(SchedulerRun).where(SchedulerRun.job == "digest")).one()
    assert run.ran_at == wednesday


def test_no_catch_up_when_done_or_before_the_slot_or_for_last_week(bot: Bot) -> None:
    posted = FakeDigest(posted={"2026-W48"})
    record_run(bot.db, "digest", utc(2026, 11, 23, 9, 1))
    assert not scheduler(bot.db, posted, utc(2026, 11, 25, 10)).catch_up()
    early = FakeDigest()
    # Monday 08:59: this week's run is still ahead; last week's is not caught up.
    assert not scheduler(bot.db, early, utc(2026, 11, 23, 8, 59)).catch_up()
    assert posted.runs == [] and early.runs == []


def test_a_run_that_crashed_half_way_is_run_again(bot: Bot) -> None:
    # The hub digest was claimed, but the run never finished (no run recorded since the
    # slot): running again posts the project digests it had not claimed yet, and no others.
    digest = FakeDigest(posted={"2026-W48"})
    record_run(bot.db, "digest", utc(2026, 11, 16, 9, 1))
    assert scheduler(bot.db, digest, utc(2026, 11, 23, 9, 30)).catch_up()
    assert digest.runs == [utc(2026, 11, 23, 9)]


def test_the_job_runs_for_the_due_slot_and_records_it(bot: Bot) -> None:
    digest = FakeDigest()
    scheduler(bot.db, digest, utc(2026, 4, 7, 8, 0, 3)).run_digest()
    scheduler(bot.db, digest, utc(2026, 4, 7, 8, 5)).run_digest()  # a second process, late
    assert digest.runs == [utc(2026, 4, 7, 8)] * 2  # same slot: the claim dedupes (test_digest)


@time_machine.travel(datetime(2026, 4, 6, 12, 0, tzinfo=UTC), tick=False)
def test_started_on_easter_monday_it_waits_for_tuesday_and_catches_nothing_up(
    bot: Bot,
) -> None:
    digest = FakeDigest()
    jobs = Scheduler(bot.db, DigestSchedule(), digest)
    jobs.start()
    try:
        trigger = WorkingDayTrigger(DigestSchedule())
        assert trigger.get_next_fire_time(None, datetime.now(UTC)) == utc(2026, 4, 7, 8)
        # Last week's run (30 March) is not caught up; Easter Monday's is still ahead.
        assert not digest.ran.wait(0.5)
    finally:
        jobs.shutdown()
    assert not jobs.running
