"""When something runs, as the flow files write it: days (``mon``, ``mon-fri``, a list of both) and
lists given as one item or several. Shared by the hold campaigns and the thank-you rounds."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from yaml.nodes import Node, SequenceNode

from agi_scripts.ground.yamlsource import YamlFile

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def weekdays(source: YamlFile, node: Node | None) -> frozenset[int]:
    """The days named (Monday is 0); every day when ``node`` is absent. A range may wrap (``sat-mon``)."""
    if node is None:
        return frozenset(range(7))
    days: set[int] = set()
    for item in one_or_many(source, node):
        value = source.scalar(item, "a day")
        if value is None:
            continue
        first, dash, last = value.lower().partition("-")
        names = [first] + ([last] if dash else [])
        if not all(name in WEEKDAYS for name in names):
            source.error(item, f"{value!r} is not a day or day range",
                         "use mon, tue, wed, thu, fri, sat, sun or a range such as mon-fri")
            continue
        lo, hi = WEEKDAYS.index(names[0]), WEEKDAYS.index(names[-1])
        days.update(range(lo, hi + 1) if lo <= hi else [*range(lo, 7), *range(0, hi + 1)])
    return frozenset(days)


def one_or_many(source: YamlFile, node: Node | None) -> list[Node]:
    """``node``'s items when it is a list, else ``node`` alone; none when it is absent."""
    if node is None:
        return []
    return source.sequence(node) if isinstance(node, SequenceNode) else [node]


def within_window(at: dt.datetime, timezone: ZoneInfo, start: dt.date | None, end: dt.date | None,
                  days: frozenset[int], hours: tuple[tuple[dt.time, dt.time], ...]) -> bool:
    """Whether the aware instant ``at`` falls in the window: between the dates (both inclusive), on one of
    the days, within one of the hours (no hours: all day), all read in ``timezone``."""
    local = at.astimezone(timezone)
    if (start and local.date() < start) or (end and local.date() > end):
        return False
    if local.weekday() not in days:
        return False
    now = local.time().replace(tzinfo=None)
    return not hours or any(first <= now < last for first, last in hours)
