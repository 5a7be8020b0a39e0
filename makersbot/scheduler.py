"""The scheduler: the weekly digest at `DIGEST_SCHEDULE` in `DIGEST_TIMEZONE`, moved off bank
holidays, plus interval jobs such as the mirror poller.

APScheduler 3.x keeps its jobs in memory and cannot share them between processes, so exactly
one process runs a `Scheduler`: `serve` (single process) or `worker` (when the Procfile splits
them), never each web worker. Two of them by mistake still post one digest: every digest is
claimed in the database before it is published (see `services/digest.py`).

`DigestSchedule` is pure (no clock, no database): it answers "when is the next run after this
moment", which is what the tests freeze time against.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

import holidays
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func
from sqlmodel import col, select

from makersbot.db import Database
from makersbot.store import rows
from makersbot.store.models import SchedulerRun, utcnow

if TYPE_CHECKING:
    from makersbot.settings import Settings

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
DIGEST_JOB = "digest"
# A SchedulerRun row that is not a job: when the first scheduler started on this database.
INSTALLED = "installed"
# `holidays` subdivisions of the United Kingdom. England and Wales share their bank holidays.
CALENDARS: dict[str, str | None] = {
    "england-and-wales": "ENG",
    "scotland": "SCT",
    "northern-ireland": "NIR",
    "none": None,
}
# No run of bank holidays and weekends is longer than this, so no earlier slot can be moved
# past a later one by more.
MAX_SHIFT_DAYS = 14
# A guard against schedules that fire every minute through a long holiday.
MAX_STEPS = 50_000
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_ISO_WEEK = re.compile(r"^(?P<year>\d{4})-W(?P<week>\d{2})$")


def standard_crontab(expr: str) -> str:
    """`expr` with a numeric day-of-week field spelled as names, with cron's meaning.

    APScheduler 3 counts weekdays from 0 = Monday, while cron (and everyone who writes
    `0 9 * * 1`) counts from 0 = Sunday. Names mean the same to both, so numbers become names.
    """
    fields = expr.split()
    if len(fields) != 5 or not re.search(r"\d", fields[4]):
        return expr
    days: list[str] = []
    for part in fields[4].lower().split(","):
        days.extend(_expand_weekdays(part))
    fields[4] = ",".join(dict.fromkeys(days))
    return " ".join(fields)


def _expand_weekdays(part: str) -> list[str]:
    match = re.fullmatch(r"(?P<range>\*|\d|[a-z]{3}(?:-[a-z]{3})?|\d-\d)(?:/(?P<step>\d+))?", part)
    if match is None:
        raise ValueError(f"day of week {part!r} is not understood")
    span, step = match["range"], int(match["step"] or 1)
    if span[0].isalpha():
        if step != 1:
            raise ValueError(f"day of week {part!r}: use numbers with a step")
        return [span]  # names already mean the same to cron and APScheduler
    if span == "*":
        first, last = 0, 6
    elif "-" in span:
        first, last = (int(x) for x in span.split("-"))
    else:
        first = last = int(span)
    if not (0 <= first <= 7 and 0 <= last <= 7):
        raise ValueError(f"day of week {part!r} is out of range")
    return [_WEEKDAYS[day % 7] for day in range(first, last + 1, step)]


class DigestSchedule:
    """When the digest runs: a cron expression in a time zone, off bank holidays.

    A run that falls on a bank holiday of the calendar moves to the next working day (not a
    weekend, not a holiday) at the same local time: Easter Monday → Tuesday; Christmas Day on
    a Friday with Boxing Day observed on Monday → Tuesday. Runs on other days are left alone.
    """

    def __init__(
        self,
        expr: str = "0 9 * * MON",
        zone: str | tzinfo = "Europe/London",
        calendar: str = "england-and-wales",
    ) -> None:
        if calendar not in CALENDARS:
            raise ValueError(f"unknown bank-holiday calendar {calendar!r}")
        self.expr = expr
        self.zone: tzinfo = ZoneInfo(zone) if isinstance(zone, str) else zone
        self.calendar = calendar
        self._cron = CronTrigger.from_crontab(standard_crontab(expr), timezone=self.zone)
        subdiv = CALENDARS[calendar]
        self._holidays = holidays.country_holidays("GB", subdiv=subdiv) if subdiv else None

    @classmethod
    def from_settings(cls, settings: Settings) -> DigestSchedule:
        return cls(settings.digest_schedule, settings.digest_timezone, settings.digest_holidays)

    # Days -----------------------------------------------------------------------------

    def is_holiday(self, day: date) -> bool:
        return self._holidays is not None and day in self._holidays

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and not self.is_holiday(day)

    def _shift(self, slot: datetime) -> datetime:
        local = slot.astimezone(self.zone)
        if not self.is_holiday(local.date()):
            return local
        day = local.date() + timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        moved = datetime.combine(day, local.time(), tzinfo=self.zone)
        # Through UTC and back: a local time the clocks skip becomes a real instant.
        return moved.astimezone(UTC).astimezone(self.zone)

    def _lookback(self, start: datetime) -> datetime:
        """The earliest moment whose slot could be moved onto or after `start`."""
        day = start.astimezone(self.zone).date()
        if self._holidays is None:
            return start
        # Only a slot on a holiday moves, and only across the non-working days after it.
        earliest = day
        while (day - earliest).days < MAX_SHIFT_DAYS and not self.is_working_day(
            earliest - timedelta(days=1)
        ):
            earliest -= timedelta(days=1)
        return min(start, datetime.combine(earliest, time(0), tzinfo=self.zone))

    # Runs -----------------------------------------------------------------------------

    def first_run_from(self, start: datetime) -> datetime:
        """The first run at or after `start` (an aware datetime), in the schedule's zone."""
        if start.utcoffset() is None:
            raise ValueError("start must be timezone-aware")
        start = start.astimezone(self.zone)
        best: datetime | None = None
        previous: datetime | None = None
        moment = self._lookback(start)
        for _ in range(MAX_STEPS):
            slot = self._cron.get_next_fire_time(previous, previous or moment)
            # A moved run is never earlier than its slot: later slots cannot beat `best`.
            if slot is None or (best is not None and slot >= best):
                break
            moved = self._shift(slot)
            if moved >= start and (best is None or moved < best):
                best = moved
            previous = slot
        if best is None:
            raise ValueError(f"the schedule {self.expr!r} never runs after {start.isoformat()}")
        return best

    def next_run(self, after: datetime) -> datetime:
        """The first run strictly after `after`."""
        return self.first_run_from(after + timedelta(microseconds=1))

    def runs(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Every run in [start, end], in order."""
        moment = self.first_run_from(start)
        while moment <= end:
            yield moment
            moment = self.next_run(moment)

    # Weeks ----------------------------------------------------------------------------

    def week_key(self, moment: datetime) -> str:
        """The ISO week of `moment` in the schedule's zone, e.g. "2026-W48"."""
        year, week, _ = moment.astimezone(self.zone).isocalendar()
        return f"{year}-W{week:02d}"

    def week_start(self, moment: datetime) -> datetime:
        """Monday 00:00 local of the ISO week of `moment`."""
        local = moment.astimezone(self.zone).date()
        monday = local - timedelta(days=local.weekday())
        return datetime.combine(monday, time(0), tzinfo=self.zone)

    def last_run_this_week(self, now: datetime) -> datetime | None:
        """The latest run at or before `now` in the same ISO week, if there was one."""
        last = None
        for moment in self.runs(self.week_start(now), now):
            last = moment
        return last

    def week_slot(self, iso_week: str) -> datetime:
        """The scheduled run of an ISO week ("2026-W47"): its first run, moved off holidays.

        A schedule that does not run in that week (monthly, say) falls back to Monday 09:00
        local, so `digest --week` always has a moment to end the period at.
        """
        match = _ISO_WEEK.match(iso_week.strip())
        if match is None:
            raise ValueError(f"{iso_week!r} is not an ISO week like 2026-W47")
        try:
            monday = date.fromisocalendar(int(match["year"]), int(match["week"]), 1)
        except ValueError:
            raise ValueError(f"{iso_week!r} is not a week of that year") from None
        start = datetime.combine(monday, time(0), tzinfo=self.zone)
        moment = self.first_run_from(start)
        if self.week_key(moment) == self.week_key(start):
            return moment
        return datetime.combine(monday, time(9), tzinfo=self.zone)


def next_run(
    after: datetime,
    *,
    schedule: str = "0 9 * * MON",
    timezone: str = "Europe/London",
    holidays: str = "england-and-wales",
) -> datetime:
    """The first digest run strictly after `after` for these settings (a pure function)."""
    return DigestSchedule(schedule, timezone, holidays).next_run(after)


class WorkingDayTrigger(BaseTrigger):  # type: ignore[misc]
    """An APScheduler trigger that fires at a `DigestSchedule`'s runs."""

    __slots__ = ("schedule",)

    def __init__(self, schedule: DigestSchedule) -> None:
        self.schedule = schedule

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        if previous_fire_time is None:
            return self.schedule.first_run_from(now)
        # As CronTrigger does: from just after the previous run, so a missed run is seen
        # (and then coalesced or dropped by the misfire grace time).
        return self.schedule.next_run(min(now, previous_fire_time))

    def __str__(self) -> str:
        return f"working days at {self.schedule.expr!r} ({self.schedule.calendar})"


class DigestRunner(Protocol):
    """What the scheduler needs from the digest service."""

    def run_scheduled(self, at: datetime) -> object: ...

    def already_posted(self, period: str) -> bool: ...


def record_installation(db: Database, now: datetime) -> datetime:
    """When the bot was installed: the first scheduler start on this database, kept in a
    `SchedulerRun(INSTALLED)` row. A database that already has runs from before this row
    existed was installed no later than its earliest run."""
    with db.session() as session:
        row = session.get(SchedulerRun, INSTALLED)
        if row is not None:
            return row.ran_at
        earliest = session.exec(
            select(func.min(col(SchedulerRun.ran_at))).where(col(SchedulerRun.job) != INSTALLED)
        ).one()
        installed = min(now, earliest) if earliest is not None else now
        rows.insert_ignore(
            session, SchedulerRun, {"job": INSTALLED, "ran_at": installed}, conflict=["job"]
        )
    with db.session(read_only=True) as session:
        stored = session.get(SchedulerRun, INSTALLED)
        return stored.ran_at if stored is not None else installed


def record_run(db: Database, job: str, at: datetime) -> None:
    """Upsert `SchedulerRun(job)`, which /healthz reports as `last_scheduler_run`."""
    with db.session() as session:
        if not rows.insert_ignore(
            session, SchedulerRun, {"job": job, "ran_at": at}, conflict=["job"]
        ):
            row = session.get(SchedulerRun, job)
            if row is not None:
                row.ran_at = at
                session.add(row)


class Scheduler:
    """One per process doing background work. Jobs run on APScheduler's thread pool."""

    def __init__(
        self,
        db: Database,
        schedule: DigestSchedule,
        digest: DigestRunner,
        *,
        clock: Clock = utcnow,
        misfire_grace: timedelta = timedelta(hours=1),
    ) -> None:
        self.db = db
        self.schedule = schedule
        self.digest = digest
        self.clock = clock
        self._aps = BackgroundScheduler(
            timezone=schedule.zone,
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": int(misfire_grace.total_seconds()),
            },
        )
        self._aps.add_job(
            self.run_digest, WorkingDayTrigger(schedule), id=DIGEST_JOB, name="weekly digest"
        )

    @property
    def running(self) -> bool:
        return bool(self._aps.running)

    def add_interval(self, name: str, seconds: float, func: Callable[[], object]) -> None:
        """Run `func` every `seconds` (the mirror poller); each run is recorded under `name`."""

        def job() -> None:
            try:
                func()
            except Exception:  # the next interval tries again; one failure must not stop it
                log.exception("scheduled job %s failed", name)
                return
            record_run(self.db, name, self.clock())

        self._aps.add_job(job, "interval", seconds=seconds, id=name, name=name)

    def start(self, *, catch_up: bool = True) -> None:
        """Start the jobs; a digest missed earlier this week runs now, in the background.

        The first start on a database records when the bot was installed, so that a run
        whose time came before that is not "caught up" (a digest nobody was owed)."""
        record_installation(self.db, self.clock())
        self._aps.start()
        if catch_up:
            self._aps.add_job(self.catch_up, id=f"{DIGEST_JOB}-catch-up", name="digest catch-up")

    def shutdown(self, wait: bool = True) -> None:
        if self._aps.running:
            self._aps.shutdown(wait=wait)

    def next_digest_at(self) -> datetime | None:
        """When the digest job fires next (None before `start`)."""
        job = self._aps.get_job(DIGEST_JOB)
        value = getattr(job, "next_run_time", None) if job is not None else None
        return value if isinstance(value, datetime) else None

    def missed_run(self, now: datetime) -> datetime | None:
        """The run of this ISO week that has passed without completing, if any.

        Missed when the week's hub digest is not claimed, or when no run has completed since
        the slot (a crash half-way through the project digests): running again is safe, as
        every channel's digest is claimed once.
        """
        slot = self.schedule.last_run_this_week(now)
        if slot is None:
            return None
        with self.db.session(read_only=True) as session:
            installed = session.get(SchedulerRun, INSTALLED)
        if installed is not None and installed.ran_at > slot:
            return None  # the run was due before the bot was installed: nothing was missed
        if self.digest.already_posted(self.schedule.week_key(slot)):
            with self.db.session(read_only=True) as session:
                last = session.get(SchedulerRun, DIGEST_JOB)
            if last is not None and last.ran_at >= slot:
                return None
        return slot

    def catch_up(self) -> bool:
        """Run this week's digest if its time has passed and it was not posted."""
        slot = self.missed_run(self.clock())
        if slot is None:
            return False
        log.info("catching up the digest due at %s", slot.isoformat())
        self._run(slot)
        return True

    def run_digest(self) -> None:
        """The cron job: the digest for the run that is due now."""
        now = self.clock()
        # Build for the slot, not for the moment the thread woke up: a late or repeated run
        # covers exactly the period the schedule promised.
        self._run(self.schedule.last_run_this_week(now) or now)

    def _run(self, slot: datetime) -> None:
        try:
            self.digest.run_scheduled(slot)
        except Exception:
            log.exception("the digest for %s failed", self.schedule.week_key(slot))
            return
        record_run(self.db, DIGEST_JOB, self.clock())

    def describe(self) -> list[tuple[str, Any]]:
        """(job id, next run time) of every job, for logs."""
        return [(job.id, getattr(job, "next_run_time", None)) for job in self._aps.get_jobs()]
