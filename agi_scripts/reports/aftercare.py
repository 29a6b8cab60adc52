"""``respectline report aftercare``: did somebody talk to the agent after a hard call, and when.

One row per check-in (an incident whose rung asked for one, or an agent's own request on their line):
the agent, the category, when it was flagged, when and by whom the check-in happened, how many people
were tried before, and the pause minutes taken and extended. The figures an employer's risk inventory
asks for; never a caller's number (the store keeps none with a check-in).
"""

from __future__ import annotations

import datetime as dt

from agi_scripts.reports.render import Cell, Column
from agi_scripts.storage.checkins import AftercareRow

AFTERCARE_COLUMNS = (
    Column("agent", "agent"), Column("category", "category"), Column("flagged_at", "flagged"),
    Column("check_in_at", "check-in"), Column("check_in_by", "by"), Column("outcome", "outcome"),
    Column("tries_before", "tries before", numeric=True), Column("minutes_to_check_in", "min to check-in", numeric=True),
    Column("pause_minutes", "pause min", numeric=True), Column("extended_minutes", "extended min", numeric=True),
)


def aftercare_row(row: AftercareRow, tz: dt.tzinfo) -> dict[str, Cell]:
    waited = (row.check_in_at - row.flagged_at).total_seconds() / 60 if row.check_in_at else None
    return {
        "agent": row.agent, "category": row.category, "flagged_at": _local(row.flagged_at, tz),
        "check_in_at": _local(row.check_in_at, tz) if row.check_in_at else None, "check_in_by": row.check_in_by,
        "outcome": row.outcome, "tries_before": row.tries_before,
        "minutes_to_check_in": round(waited, 1) if waited is not None else None,
        "pause_minutes": row.pause_minutes, "extended_minutes": row.extended_minutes,
    }


def _local(moment: dt.datetime, tz: dt.tzinfo) -> str:
    return moment.astimezone(tz).isoformat(timespec="seconds")
