"""``respectline report appreciation``: per thank-you round, the agents reached, not reached yet, missed and
skipped, their replies, and when. One summary row per round, or one row per agent (``--agents``).

A reply shows only its screening (held for the manager's review, or released) and when it came: the
recording stays on disk for the manager; a report carries no audio and no caller's data at all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from agi_scripts.reports.render import Cell, Column, JsonValue
from agi_scripts.storage.appreciation import Delivery

ROUND_COLUMNS = (
    Column("round", "round"), Column("agents", "agents", numeric=True), Column("reached", "reached", numeric=True),
    Column("not_reached", "not reached yet", numeric=True), Column("missed", "missed", numeric=True),
    Column("skipped", "skipped", numeric=True), Column("replies", "replies", numeric=True),
    Column("first_reached", "first reached"), Column("last_reached", "last reached"),
)
AGENT_COLUMNS = (
    Column("round", "round"), Column("agent", "agent"), Column("status", "status"),
    Column("tries", "tries", numeric=True), Column("reached_at", "reached at"), Column("reply", "reply"),
    Column("reply_at", "reply at"), Column("detail", "last try"),
)


@dataclass(frozen=True)
class RoundSummary:
    round_id: str
    agents: int
    reached: int
    not_reached: int
    """Waiting for a (next) try, or being rung now."""
    missed: int
    skipped: int
    replies: int
    first_reached: dt.datetime | None
    last_reached: dt.datetime | None


def summaries(deliveries: Sequence[Delivery]) -> list[RoundSummary]:
    """One summary per round, in round id order."""
    by_round: dict[str, list[Delivery]] = {}
    for delivery in deliveries:
        by_round.setdefault(delivery.round_id, []).append(delivery)
    result = []
    for round_id in sorted(by_round):
        rows = by_round[round_id]
        reached = [d.reached_at for d in rows if d.status == "reached" and d.reached_at is not None]
        result.append(RoundSummary(
            round_id=round_id, agents=len(rows), reached=len(reached),
            not_reached=sum(d.status in ("waiting", "ringing") for d in rows),
            missed=sum(d.status == "missed" for d in rows), skipped=sum(d.status == "skipped" for d in rows),
            replies=sum(d.reply_path is not None for d in rows),
            first_reached=min(reached) if reached else None, last_reached=max(reached) if reached else None))
    return result


def round_row(summary: RoundSummary, tz: dt.tzinfo) -> dict[str, Cell]:
    return {"round": summary.round_id, "agents": summary.agents, "reached": summary.reached,
            "not_reached": summary.not_reached, "missed": summary.missed, "skipped": summary.skipped,
            "replies": summary.replies, "first_reached": _local(summary.first_reached, tz),
            "last_reached": _local(summary.last_reached, tz)}


def agent_row(delivery: Delivery, tz: dt.tzinfo) -> dict[str, Cell]:
    reply = delivery.reply_screening if delivery.reply_path else None
    return {"round": delivery.round_id, "agent": delivery.agent_name, "status": delivery.status,
            "tries": delivery.tries, "reached_at": _local(delivery.reached_at, tz), "reply": reply,
            "reply_at": _local(delivery.reply_at, tz), "detail": delivery.detail or None}


def round_json(summary: RoundSummary, deliveries: Sequence[Delivery], tz: dt.tzinfo) -> dict[str, JsonValue]:
    agents: list[JsonValue] = [{**agent_row(d, tz), "device": d.agent, "reply_reason": d.reply_reason or None}
                               for d in deliveries if d.round_id == summary.round_id]
    return {**round_row(summary, tz), "deliveries": agents}


def _local(moment: dt.datetime | None, tz: dt.tzinfo) -> str | None:
    return moment.astimezone(tz).isoformat(timespec="seconds") if moment is not None else None
