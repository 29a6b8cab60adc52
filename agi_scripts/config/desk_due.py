"""``desk: due:`` of ``config/respectline.yaml``: how long a case of each priority may wait.

The inbox shows each open case's due time (opened + the time of its priority), marks the late ones
and can show only those. A priority left out keeps its default.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from yaml.nodes import Node

from agi_scripts.flows.abuse_policy import PRIORITY_RANK
from agi_scripts.ground.yamlsource import YamlFile

DEFAULT_DUE: Mapping[str, float] = {"urgent": 3600.0, "high": 4 * 3600.0, "normal": 86400.0, "low": 3 * 86400.0}
MAX_DUE = 365 * 86400.0


@dataclass(frozen=True)
class DueTimes:
    """Seconds a case may stay open, per priority name (``urgent``, ``high``, ``normal``, ``low``)."""

    seconds: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_DUE))

    def of_rank(self, rank: int) -> dt.timedelta:
        """The time of a priority rank as the store keeps it (1 urgent ... 4 low); an unknown rank: low's."""
        for name, known in PRIORITY_RANK.items():
            if known == rank:
                return dt.timedelta(seconds=self.seconds[name])
        return dt.timedelta(seconds=self.seconds["low"])

    def due_at(self, rank: int, opened_at: dt.datetime) -> dt.datetime:
        return opened_at + self.of_rank(rank)

    def overdue_cutoffs(self, now: dt.datetime) -> tuple[tuple[int, dt.datetime], ...]:
        """Per priority rank, the opening time before which a case of that rank is late at ``now``."""
        return tuple((rank, now - self.of_rank(rank)) for rank in PRIORITY_RANK.values())


def read_due(source: YamlFile, node: Node | None) -> DueTimes:
    """``due: {urgent: 1h, high: 4h, normal: 1d, low: 3d}``; every error reported at its place."""
    section = source.mapping(node, optional=tuple(PRIORITY_RANK), what="'desk.due' section (priority: duration)")
    if section is None:
        return DueTimes()
    seconds = dict(DEFAULT_DUE)
    for name in PRIORITY_RANK:
        value_node = section.get(name)
        if value_node is None:
            continue
        value = source.duration(value_node, f"the due time of a {name} case", minimum=60.0, maximum=MAX_DUE)
        if value is not None:
            seconds[name] = value
    order = [name for name in PRIORITY_RANK]
    for more_urgent, less_urgent in zip(order, order[1:]):
        if seconds[more_urgent] > seconds[less_urgent] and section.get(more_urgent) is not None:
            source.error(section.get(more_urgent),
                         f"a {more_urgent} case is due later ({_text(seconds[more_urgent])}) than a "
                         f"{less_urgent} one ({_text(seconds[less_urgent])})",
                         "a more urgent priority needs the same or a shorter due time")
    return DueTimes(seconds)


def _text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
