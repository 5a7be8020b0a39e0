"""Pure arithmetic of the catalogue: quarters, month and quarter buckets, CHAOSS metrics."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from makersbot.domain.catalogue import Bucket, Diversity, Period

_PERIOD = re.compile(r"^(?P<year>\d{4})-Q(?P<q>[1-4])$")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _quarter_start(year: int, quarter: int, zone: ZoneInfo) -> datetime:
    return datetime(year, 3 * (quarter - 1) + 1, 1, tzinfo=zone)


def quarter(year: int, number: int, zone: ZoneInfo) -> Period:
    """Calendar quarter `number` (1-4) of `year`, midnight to midnight in `zone`."""
    start = _quarter_start(year, number, zone)
    end = (
        _quarter_start(year + 1, 1, zone) if number == 4 else _quarter_start(year, number + 1, zone)
    )
    return Period(key=f"{year}-Q{number}", start=start, end=end)


def quarter_of(moment: datetime, zone: ZoneInfo) -> Period:
    """The calendar quarter (in `zone`) that contains `moment`."""
    local = moment.astimezone(zone)
    return quarter(local.year, (local.month - 1) // 3 + 1, zone)


def previous(period: Period, zone: ZoneInfo) -> Period:
    """The quarter before `period`."""
    return quarter_of(period.start - timedelta(days=1), zone)


def quarter_label(period: Period) -> str:
    """ "Q4 2026" for the period 2026-Q4."""
    year, number = period.key.split("-")
    return f"{number} {year}"


def parse_period(text: str, zone: ZoneInfo) -> Period:
    """A quarter written as `2026-Q4`; ValueError for anything else."""
    found = _PERIOD.match(text.strip())
    if not found:
        raise ValueError("a period is a calendar quarter written like 2026-Q4")
    return quarter(int(found["year"]), int(found["q"]), zone)


def last_quarters(now: datetime, zone: ZoneInfo, count: int) -> list[Period]:
    """The `count` quarters up to and including the one containing `now`, oldest first."""
    periods = [quarter_of(now, zone)]
    while len(periods) < count:
        periods.append(previous(periods[-1], zone))
    return periods[::-1]


def last_months(now: datetime, zone: ZoneInfo, count: int) -> list[tuple[str, datetime]]:
    """(label, start) of the `count` calendar months up to the one containing `now`."""
    local = now.astimezone(zone)
    year, month = local.year, local.month
    months: list[tuple[str, datetime]] = []
    for _ in range(count):
        months.append((f"{MONTHS[month - 1]} {year}", datetime(year, month, 1, tzinfo=zone)))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return months[::-1]


def buckets(
    counts: Sequence[tuple[int, int]], starts: Sequence[tuple[str, datetime]]
) -> tuple[Bucket, ...]:
    """Buckets from (gives, takes) per period and the periods' (label, start)."""
    return tuple(
        Bucket(label=label, start=_local_date(start), gives=g, takes=t)
        for (label, start), (g, t) in zip(starts, counts, strict=True)
    )


def _local_date(moment: datetime) -> date:
    return date(moment.year, moment.month, moment.day)


def elephant_factor(gives: Iterable[int]) -> int:
    """CHAOSS Elephant Factor: the fewest organisations that together account for at least
    half of all contributions (0 when there are none)."""
    counts = sorted((n for n in gives if n > 0), reverse=True)
    total = sum(counts)
    if total == 0:
        return 0
    running = 0
    for rank, n in enumerate(counts, start=1):
        running += n
        if 2 * running >= total:
            return rank
    return len(counts)  # pragma: no cover - the loop always returns


def diversity(figures: tuple[int, int, int, int] | None, period: Period) -> Diversity:
    """CHAOSS organisational diversity from the store's (contributing councils, new ones,
    elephant factor, attributed gives); no figures means nobody gave yet."""
    contributing, new, factor, gives = figures or (0, 0, 0, 0)
    return Diversity(
        contributing=contributing,
        new_this_quarter=new,
        elephant_factor=factor,
        quarter=period.key,
        attributed_gives=gives,
    )
