"""Bar charts drawn on the server as inline SVG: the geometry here, the markup in ``_chart.html``.

No script and no chart library: the page works with scripts off, prints, and passes the desk's
content security policy (SVG presentation attributes, no inline style). Each chart is an image with
a title and a one-line description for screen readers, and the same figures stand in a table next
to it; the bars only repeat them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agi_scripts.desk import i18n

LABEL_WIDTH = 150
"""Room for the labels on the left, in SVG units."""
BAR_AREA = 330
VALUE_WIDTH = 60
BAR_HEIGHT = 22
GAP = 8
MAX_BARS = 40
"""A chart with more bars shows the largest and says how many more there are in the table."""
MAX_LABEL = 22


@dataclass(frozen=True)
class Bar:
    label: str
    """As shown in the chart, cut to ``MAX_LABEL`` characters (the table has the whole text)."""
    full_label: str
    value: float
    shown: str
    """The value as text (``12``, ``4.5``)."""
    y: int
    width: int
    """The bar's length in SVG units; 0 for a zero value, at least 1 for any other."""


@dataclass(frozen=True)
class BarChart:
    key: str
    """Unique on the page: ids of the title, description and table derive from it."""
    title: str
    description: str
    bars: tuple[Bar, ...]
    hidden: int
    """Bars left out of the picture (they are in the table)."""
    rows: tuple[tuple[str, str], ...]
    """Every (label, value shown), in the chart's order: the table beside the picture."""
    width: int
    height: int
    label_width: int = LABEL_WIDTH
    value_x: int = LABEL_WIDTH + BAR_AREA + 6


def bar_chart(key: str, title: str, rows: Sequence[tuple[str, float]], *, unit: str = "",
              keep_order: bool = False, decimals: int = 0) -> BarChart:
    """A horizontal bar chart of ``(label, value)``: largest first unless ``keep_order`` (months)."""
    ordered = list(rows) if keep_order else sorted(rows, key=lambda row: (-row[1], row[0]))
    # Too many for one picture: the largest, or for a time line (``keep_order``) the latest.
    shown_rows = ordered[-MAX_BARS:] if keep_order else ordered[:MAX_BARS]
    top = max((value for _, value in shown_rows), default=0.0)
    bars = tuple(
        Bar(label=_cut(label), full_label=label, value=value, shown=_number(value, decimals),
            y=GAP + index * (BAR_HEIGHT + GAP), width=_length(value, top))
        for index, (label, value) in enumerate(shown_rows))
    total = sum(value for _, value in ordered)
    if ordered:
        largest = max(ordered, key=lambda row: row[1])
        values = {"bars": len(ordered), "label": largest[0], "value": _number(largest[1], decimals) + unit,
                  "total": _number(total, 0) + unit}
        description = (i18n.gettext("%(bars)s bars; the largest is %(label)s with %(value)s") % values if decimals
                       else i18n.gettext("%(bars)s bars; the largest is %(label)s with %(value)s; %(total)s in all")
                       % values)
    else:
        description = i18n.gettext("No data in this period.")
    return BarChart(key=key, title=title, description=description, bars=bars, hidden=len(ordered) - len(bars),
                    rows=tuple((label, _number(value, decimals)) for label, value in ordered),
                    width=LABEL_WIDTH + BAR_AREA + VALUE_WIDTH, height=max(len(bars), 1) * (BAR_HEIGHT + GAP) + GAP)


def _length(value: float, top: float) -> int:
    if value <= 0 or top <= 0:
        return 0
    return max(1, round(BAR_AREA * value / top))


def _number(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}" if decimals else str(int(round(value)))


def _cut(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[:MAX_LABEL - 1] + "…"
