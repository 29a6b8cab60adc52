"""Store records as rows (for tables and CSV) and JSON objects, with local times."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo

from agi_scripts.flows.abuse_policy import PRIORITY_RANK
from agi_scripts.reports.moments import iso_local, shown_local
from agi_scripts.reports.render import Cell, Column, JsonValue
from agi_scripts.storage import AgentCompliments, Case, CaseEvent, Compliment, IncidentCount, IncidentDimension

PRIORITY_NAMES: dict[int, str] = {rank: name for name, rank in PRIORITY_RANK.items()}
WITHHELD = "withheld"
"""How a blank caller number (withheld or anonymous) is shown."""


def priority_name(priority: int) -> str:
    return PRIORITY_NAMES.get(priority, f"priority {priority}")


# ---------------------------------------------------------------- compliments

COMPLIMENT_COLUMNS = (
    Column("at", "when"), Column("agent", "agent"), Column("queue", "queue"), Column("campaign", "campaign"),
    Column("rating", "rating", numeric=True), Column("call_id", "call"), Column("recording", "recording"),
)
COMPLIMENT_CSV_COLUMNS = (Column("id", "id"), *COMPLIMENT_COLUMNS, Column("delivered_at", "delivered"))


def compliment_json(compliment: Compliment, tz: tzinfo) -> dict[str, JsonValue]:
    return {
        "id": compliment.id, "agent": compliment.agent, "queue": compliment.queue,
        "campaign": compliment.campaign, "rating": compliment.rating, "recording": compliment.recording,
        "call_id": compliment.call_id, "at": iso_local(compliment.created_at, tz),
        "delivered_at": iso_local(compliment.delivered_at, tz),
    }


def compliment_row(compliment: Compliment, tz: tzinfo, *, for_table: bool) -> dict[str, Cell]:
    """``for_table``: minutes in local time; otherwise ISO 8601 as in JSON."""
    when = shown_local if for_table else iso_local
    return {
        "id": compliment.id, "at": when(compliment.created_at, tz), "agent": compliment.agent,
        "queue": compliment.queue, "campaign": compliment.campaign, "rating": compliment.rating,
        "call_id": compliment.call_id, "recording": compliment.recording,
        "delivered_at": when(compliment.delivered_at, tz) if compliment.delivered_at else None,
    }


AGENT_COLUMNS = (
    Column("agent", "agent"), Column("compliments", "compliments", numeric=True),
    Column("rated", "rated", numeric=True), Column("average_rating", "average", numeric=True),
    Column("with_recording", "with recording", numeric=True),
)


def agent_row(summary: AgentCompliments) -> dict[str, Cell]:
    return {"agent": summary.agent, "compliments": summary.compliments, "rated": summary.rated,
            "average_rating": _average(summary), "with_recording": summary.with_recording}


def agent_json(summary: AgentCompliments) -> dict[str, JsonValue]:
    return {"agent": summary.agent, "compliments": summary.compliments, "rated": summary.rated,
            "average_rating": _average(summary), "with_recording": summary.with_recording}


def _average(summary: AgentCompliments) -> float | None:
    return round(summary.average_rating, 2) if summary.average_rating is not None else None


# ---------------------------------------------------------------- incidents

NONE_VALUE = "(none)"
"""A grouped dimension with no value: an incident without a team, or whose outcome was never recorded."""


def incident_columns(dimensions: Sequence[IncidentDimension]) -> tuple[Column, ...]:
    return (*(Column(d, d) for d in dimensions), Column("count", "incidents", numeric=True))


def incident_row(count: IncidentCount, dimensions: Sequence[IncidentDimension]) -> dict[str, Cell]:
    row: dict[str, Cell] = {d: _dimension_value(count, d) or NONE_VALUE for d in dimensions}
    row["count"] = count.count
    return row


def incident_json(count: IncidentCount, dimensions: Sequence[IncidentDimension]) -> dict[str, JsonValue]:
    row: dict[str, JsonValue] = {d: _dimension_value(count, d) for d in dimensions}
    row["count"] = count.count
    return row


def _dimension_value(count: IncidentCount, dimension: IncidentDimension) -> str | None:
    value: str | None = getattr(count, dimension)
    return value


# ---------------------------------------------------------------- cases

CASE_COLUMNS = (
    Column("id", "case", numeric=True), Column("priority_name", "priority"), Column("status", "status"),
    Column("category", "category"), Column("team", "team"), Column("opened_at", "opened"),
    Column("assignee", "assignee"), Column("agent", "agent"), Column("queue", "queue"),
    Column("caller", "caller"),
)


def caller_shown(caller: str) -> str:
    return caller if caller.strip() else WITHHELD


def case_json(case: Case, tz: tzinfo, transcript: JsonValue = None) -> dict[str, JsonValue]:
    """Everything about a case, caller number in full: Special Care calls the customer back.
    ``transcript``: its evidence's transcript as ``reports.transcripts.transcript_json`` makes it."""
    return {
        "id": case.id, "category": case.category, "team": case.team, "priority": case.priority,
        "priority_name": priority_name(case.priority), "status": case.status, "agent": case.agent,
        "caller": case.caller, "queue": case.queue, "call_id": case.call_id, "recording": case.recording,
        "opened_at": iso_local(case.opened_at, tz), "closed_at": iso_local(case.closed_at, tz),
        "assignee": case.assignee, "resolution": case.resolution,
        "events": [event_json(event, tz) for event in case.events],
        "transcript": transcript,
    }


def event_json(event: CaseEvent, tz: tzinfo) -> dict[str, JsonValue]:
    return {"at": iso_local(event.at, tz), "action": event.action, "detail": event.detail, "author": event.author}


def case_row(case: Case, tz: tzinfo) -> dict[str, Cell]:
    return {
        "id": case.id, "priority_name": priority_name(case.priority), "status": case.status,
        "category": case.category, "team": case.team, "opened_at": shown_local(case.opened_at, tz),
        "assignee": case.assignee, "agent": case.agent, "queue": case.queue, "caller": caller_shown(case.caller),
    }


EVENT_COLUMNS = (Column("at", "when"), Column("action", "action"), Column("detail", "detail"),
                 Column("author", "by"))


def event_row(event: CaseEvent, tz: tzinfo) -> dict[str, Cell]:
    return {"at": shown_local(event.at, tz, seconds=True), "action": event.action, "detail": event.detail,
            "author": event.author}
