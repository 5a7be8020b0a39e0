"""The digest's chart: give and take per council over the last eight weeks, as a PNG.

matplotlib draws through the Agg canvas directly (no pyplot, so no GUI backend and no global
figure state shared between threads); it is imported on first use because it takes a moment
to load and only the process that uploads charts needs it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from makersbot.domain.digest import ChartRow
from makersbot.render_digest_parts import day

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# GOV.UK colours: green for giving, blue for taking; dark grey text.
GAVE_COLOUR = "#00703c"
TOOK_COLOUR = "#1d70b8"
TEXT_COLOUR = "#0b0c0c"
ALT_TEXT_LIMIT = 1000  # what files.getUploadURLExternal accepts as alt_txt


def title(end: datetime) -> str:
    """The chart's title: the eight weeks to `end`, dated in the zone `end` carries."""
    return f"Give and take per council, 8 weeks to {day(end)}"


def render_png(rows: Sequence[ChartRow], *, title: str) -> bytes:
    """A horizontal bar chart, most giving council at the top, each bar labelled."""
    buffer = io.BytesIO()
    draw(rows, title=title).savefig(buffer, format="png")
    return buffer.getvalue()


def draw(rows: Sequence[ChartRow], *, title: str) -> Figure:
    """The chart's figure: rows in the order given (most giving first), from the top."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    names = [_short(row.council) for row in rows][::-1]
    gave = [row.gave for row in rows][::-1]
    took = [row.took for row in rows][::-1]
    height = max(3.0, 0.55 * len(rows) + 1.6)
    figure = Figure(figsize=(9, height), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    bar = 0.38
    positions = range(len(rows))
    gave_bars = axes.barh(
        [p + bar / 2 for p in positions], gave, height=bar, color=GAVE_COLOUR, label="gave"
    )
    took_bars = axes.barh(
        [p - bar / 2 for p in positions], took, height=bar, color=TOOK_COLOUR, label="took"
    )
    for bars, values in ((gave_bars, gave), (took_bars, took)):
        # A zero needs no label: the missing bar says it.
        labels = [str(value) if value else "" for value in values]
        axes.bar_label(bars, labels=labels, padding=3, fontsize=9, color=TEXT_COLOUR)
    # Counts are whole numbers: no 0.5 ticks on the axis.
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_yticks(list(positions), names, fontsize=10, color=TEXT_COLOUR)
    axes.set_xlabel("times in the last 8 weeks", color=TEXT_COLOUR)
    axes.set_title(title, loc="left", fontsize=12, color=TEXT_COLOUR)
    axes.margins(x=0.12)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    # Above the bars, beside the title, so it never hides the shortest bar.
    axes.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2, frameon=False)
    figure.tight_layout()
    return figure


def alt_text(rows: Sequence[ChartRow], *, title: str) -> str:
    """The chart in words, for screen readers."""
    parts = [f"{row.council}: gave {row.gave}, took {row.took}" for row in rows]
    text = f"{title}. " + "; ".join(parts) + "."
    return text if len(text) <= ALT_TEXT_LIMIT else text[: ALT_TEXT_LIMIT - 1] + "…"


def _short(name: str, limit: int = 28) -> str:
    name = name if len(name) <= limit else name[: limit - 1] + "…"
    # A "$" would start matplotlib's mathtext.
    return name.replace("$", r"\$")
