"""Report figures beyond ``Store``'s own: the A/B result of the hold campaigns.

One row per campaign (the variant a call was given when it entered the queue, kept on the call and
on its compliment): calls that got it, compliments offered after them (``post_call`` marks the call
``OFFERED``), accepted (a compliment was started), rated and recorded, and the average rating. Calls
are counted by when they started, compliments by when they were given. Both the desk's reports and
``respectline report campaigns`` read it (one query, two faces). No caller number is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from agi_scripts.storage.base import Store, as_utc
from agi_scripts.storage.sql import SqlStore

OFFERED = "compliment_offered"
"""``calls.outcome`` of a call after which the post-call compliment flow ran (the caller was asked)."""


@dataclass(frozen=True)
class CampaignResult:
    campaign: str | None
    """None: calls and compliments without a campaign."""
    calls: int
    offered: int
    accepted: int
    rated: int
    recorded: int
    average_rating: float | None

    @property
    def acceptance(self) -> float | None:
        """Accepted per offered, 0 to 1; None when nothing was offered."""
        return self.accepted / self.offered if self.offered else None


class Figures:
    """Report queries on an opened store's dialect (SQLite or PostgreSQL)."""

    def __init__(self, store: Store) -> None:
        if not isinstance(store, SqlStore):
            raise TypeError("report figures need a SQL store (SQLite or PostgreSQL)")
        self.dialect = store.dialect

    def campaign_results(self, *, since: datetime | None = None, until: datetime | None = None) -> list[CampaignResult]:
        """Per campaign, most calls first; ``since`` inclusive, ``until`` exclusive."""
        call_where, call_params = _period("started_at", since, until)
        given_where, given_params = _period("created_at", since, until)
        with self.dialect.snapshot() as tx:
            calls = tx.rows("SELECT campaign, COUNT(*) AS calls,"
                            " SUM(CASE WHEN outcome = ? THEN 1 ELSE 0 END) AS offered"
                            f" FROM calls{call_where} GROUP BY campaign", (OFFERED, *call_params))
            given = tx.rows("SELECT campaign, COUNT(*) AS accepted, COUNT(rating) AS rated,"
                            " COUNT(recording) AS recorded, CAST(AVG(rating) AS DOUBLE PRECISION) AS average_rating"
                            f" FROM compliments{given_where} GROUP BY campaign", given_params)
        called = {row["campaign"]: (int(row["calls"]), int(row["offered"] or 0)) for row in calls}
        answered = {row["campaign"]: row for row in given}
        results = []
        for campaign in {*called, *answered}:
            number, offered = called.get(campaign, (0, 0))
            row = answered.get(campaign)
            average = row["average_rating"] if row else None
            results.append(CampaignResult(
                campaign=campaign, calls=number, offered=offered, accepted=int(row["accepted"]) if row else 0,
                rated=int(row["rated"]) if row else 0, recorded=int(row["recorded"]) if row else 0,
                average_rating=float(average) if average is not None else None))
        return sorted(results, key=lambda r: (r.campaign is None, -r.calls, r.campaign or ""))


    def case_resolutions(self, *, since: datetime | None = None,
                         until: datetime | None = None) -> list[tuple[str | None, int]]:
        """Cases closed in the period per outcome (``resolution``), most first; None: closed without one."""
        where, params = _period("closed_at", since, until)
        condition = (where + " AND" if where else " WHERE") + " status = 'closed'"
        with self.dialect.read() as tx:
            rows = tx.rows(f"SELECT resolution, COUNT(*) AS closed FROM cases{condition} GROUP BY resolution", params)
        counted = [(row["resolution"], int(row["closed"])) for row in rows]
        return sorted(counted, key=lambda item: (-item[1], item[0] or ""))


def _period(column: str, since: datetime | None, until: datetime | None) -> tuple[str, tuple[object, ...]]:
    """`` WHERE column >= ? AND column < ?`` for the bounds given (column from this module only)."""
    conditions: list[str] = []
    params: list[object] = []
    if since is not None:
        conditions.append(f"{column} >= ?")
        params.append(as_utc(since))
    if until is not None:
        conditions.append(f"{column} < ?")
        params.append(as_utc(until))
    return (" WHERE " + " AND ".join(conditions) if conditions else "", tuple(params))
