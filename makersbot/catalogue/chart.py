"""The small activity chart: geometry for an inline SVG bar chart, computed here, drawn by
the template.

Why an inline SVG: it is part of the page (no JavaScript, no image request, no library),
scales with the text, prints, and keeps its colours in high-contrast modes through
`currentColor`. It is one picture for sighted readers; the same numbers are in a table
beside it (inside a details element), which is what screen readers and keyboard users get,
so the picture is marked as an image with a one-sentence summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from makersbot.domain.catalogue import Bucket

WIDTH = 640
HEIGHT = 200
_TOP = 24  # room for the value above the tallest bar
_BOTTOM = 28  # room for the labels under the bars
_GAP = 0.25  # share of each slot left empty between bars


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int
    centre: float


@dataclass(frozen=True)
class Chart:
    """What the template draws, and what it says about it."""

    width: int
    height: int
    baseline: float
    bars: tuple[Bar, ...]
    summary: str


def bar_chart(buckets: Sequence[Bucket], *, what: str) -> Chart:
    """Bars of gives + takes per bucket, scaled to the largest; a summary sentence."""
    slot = WIDTH / max(len(buckets), 1)
    peak = max((b.total for b in buckets), default=0)
    room = HEIGHT - _TOP - _BOTTOM
    baseline = float(HEIGHT - _BOTTOM)
    bars = []
    for i, bucket in enumerate(buckets):
        height = room * bucket.total / peak if peak else 0.0
        x = i * slot + slot * _GAP / 2
        bars.append(
            Bar(
                x=round(x, 1),
                y=round(baseline - height, 1),
                width=round(slot * (1 - _GAP), 1),
                height=round(height, 1),
                label=_short(bucket.label),
                value=bucket.total,
                centre=round(i * slot + slot / 2, 1),
            )
        )
    return Chart(WIDTH, HEIGHT, baseline, tuple(bars), _summary(buckets, what))


def _short(label: str) -> str:
    # "Nov 2026" -> "Nov"; "Q4 2026" -> "Q4 26": the table beside the chart has the full text.
    first, _, year = label.partition(" ")
    return f"{first} {year[2:]}" if first.startswith("Q") else first


def _summary(buckets: Sequence[Bucket], what: str) -> str:
    if not buckets:
        return f"No {what} to show."
    total = sum(b.total for b in buckets)
    first, last = buckets[0].label, buckets[-1].label
    if total == 0:
        return f"No {what} from {first} to {last}."
    busiest = max(buckets, key=lambda b: b.total)
    return (
        f"{total:,} {what} from {first} to {last}; the most, {busiest.total:,}, in {busiest.label}."
    )
