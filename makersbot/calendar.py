"""The digest's calendar: when it runs (`DIGEST_SCHEDULE` in `DIGEST_TIMEZONE`), moved off
the bank holidays of `DIGEST_HOLIDAYS`, and the ISO weeks that key every digest.

Pure (no clock, no database): `DigestSchedule` answers "when is the next run after this
moment", which is what the tests freeze time against. It imports nothing from `settings`
(settings validates `DIGEST_SCHEDULE` with `standard_crontab`), so the two never form a cycle.
APScheduler is used here only as a crontab parser and, in `WorkingDayTrigger`, as the trigger
interface that `scheduler.py` plugs the schedule into.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo

import holidays
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

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


class ScheduleSettings(Protocol):
    """The three settings a schedule is made of (`Settings` has them)."""

    @property
    def digest_schedule(self) -> str: ...

    @property
    def digest_timezone(self) -> str: ...

    @property
    def digest_holidays(self) -> str: ...


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
    def from_settings(cls, settings: ScheduleSettings) -> DigestSchedule:
        """The schedule of DIGEST_SCHEDULE, DIGEST_TIMEZONE and DIGEST_HOLIDAYS."""
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
