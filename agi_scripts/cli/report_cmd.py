"""``respectline report``: compliments and incident figures for supervisors.

Supervisors' reports never show a caller's number: compliments carry none, and incident figures
are counts per category, team, queue, month and outcome (what an employer's risk inventory, the
RI&E, asks for).
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

from agi_scripts.cli.common import (
    ReportContext,
    add_store_arguments,
    emit,
    guarded,
    load_context,
    moment_option,
)
from agi_scripts.reports.aftercare import AFTERCARE_COLUMNS, aftercare_row
from agi_scripts.reports.appreciation import AGENT_COLUMNS as APPRECIATION_AGENT_COLUMNS
from agi_scripts.reports.appreciation import ROUND_COLUMNS, round_json, round_row, summaries
from agi_scripts.reports.appreciation import agent_row as appreciation_agent_row
from agi_scripts.reports.moments import DATE_HELP, check_period, iso_local, shown_local
from agi_scripts.reports.render import FORMATS, Cell, Column, csv_text, json_text, table
from agi_scripts.reports.views import (
    AGENT_COLUMNS,
    COMPLIMENT_COLUMNS,
    COMPLIMENT_CSV_COLUMNS,
    agent_json,
    agent_row,
    compliment_json,
    compliment_row,
    incident_columns,
    incident_json,
    incident_row,
)
from agi_scripts.storage import INCIDENT_DIMENSIONS, IncidentCount, IncidentDimension, Store
from agi_scripts.storage.appreciation import AppreciationStore
from agi_scripts.storage.checkins import CheckInBook
from agi_scripts.storage.figures import Figures

Counted = list[tuple[tuple[IncidentDimension, ...], list[IncidentCount]]]
"""Each breakdown (the dimensions grouped by) with its rows."""

DEFAULT_GROUPINGS: tuple[tuple[IncidentDimension, ...], ...] = tuple((d,) for d in INCIDENT_DIMENSIONS)
"""Without --by: one breakdown per dimension, the figures a risk inventory lists side by side."""


def register(commands: Any) -> None:
    report = commands.add_parser(
        "report", help="compliments and incident figures for supervisors",
        description="Reports for supervisors, read from the store. Times and months are in the configured "
                    "time zone. No report shows a caller's phone number.")
    reports = report.add_subparsers(dest="report", metavar="REPORT", required=True)

    compliments = reports.add_parser(
        "compliments", help="one row per compliment, newest first",
        description="Every compliment (rating and/or spoken message), newest first. "
                    "--summary gives one row per agent instead.")
    _period_arguments(compliments)
    compliments.add_argument("--agent", help="only this agent (as stored, e.g. PJSIP/anna)")
    compliments.add_argument("--summary", action="store_true",
                             help="per agent: compliments, rated, average rating, with recording")
    _format_argument(compliments)
    add_store_arguments(compliments)
    compliments.set_defaults(func=run_compliments)

    agents = reports.add_parser(
        "agents", help="compliments per agent (same as compliments --summary)",
        description="Per agent: compliments (partial ones included), how many were rated, the average "
                    "rating and how many hold a spoken message; most complimented first.")
    _period_arguments(agents)
    agents.add_argument("--agent", help="only this agent")
    _format_argument(agents)
    add_store_arguments(agents)
    agents.set_defaults(func=run_agents)

    campaigns = reports.add_parser(
        "campaigns", help="the hold campaigns' A/B result: calls, compliments offered, accepted, rated, recorded",
        description="Per campaign (the variant each call got by the weights in campaigns.yaml): calls that "
                    "got it, compliments offered after them, accepted, rated and recorded, and the average "
                    "rating. Calls count by when they started, compliments by when they were given. The "
                    "desk's reports page shows the same figures.")
    _period_arguments(campaigns)
    _format_argument(campaigns)
    add_store_arguments(campaigns)
    campaigns.set_defaults(func=run_campaigns)

    incidents = reports.add_parser(
        "incidents", help="incident counts per category, team, queue, month, outcome",
        description="How many times agents flagged abuse, counted per category, team, queue, month (local "
                    "calendar months) and outcome (warn, disconnect, transfer). Without --by: one "
                    "breakdown per dimension. With --by: one table of every combination of the dimensions "
                    "given. A value shown as (none) was not recorded (an incident without a team, or "
                    "whose outcome is unknown).")
    _period_arguments(incidents)
    incidents.add_argument("--by", type=_dimensions, metavar="DIMENSIONS",
                           help=f"comma-separated, from {','.join(INCIDENT_DIMENSIONS)}; e.g. --by category,month")
    _format_argument(incidents)
    add_store_arguments(incidents)
    incidents.set_defaults(func=run_incidents)

    aftercare = reports.add_parser(
        "aftercare", help="per hard call: who checked in on the agent, when, after how many tries",
        description="One row per check-in the abuse ladder (check_in) or an agent's own line asked for: the "
                    "agent, the category, when it was flagged, when and by whom somebody talked to the agent "
                    "(or said someone had), the people tried before, and the recovery pause's minutes taken "
                    "and extended by the agent. Never a caller's number.")
    _period_arguments(aftercare)
    _format_argument(aftercare)
    add_store_arguments(aftercare)
    aftercare.set_defaults(func=run_aftercare)

    appreciation = reports.add_parser(
        "appreciation", help="thank-you rounds: agents reached, not reached yet, missed, replies, and when",
        description="Per round of flows/appreciation.yaml: the agents it is for, how many heard the message, "
                    "how many wait for a (next) try, how many were missed after the configured tries or "
                    "skipped on a recovery pause, how many replied, and when the first and last heard it. "
                    "--agents gives one row per agent.")
    appreciation.add_argument("--round", metavar="ID", help="only this round")
    appreciation.add_argument("--agents", action="store_true", help="one row per agent and round")
    _format_argument(appreciation)
    add_store_arguments(appreciation)
    appreciation.set_defaults(func=run_appreciation)


def _period_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", metavar="DATE", help=f"from this moment on (inclusive): {DATE_HELP}")
    parser.add_argument("--until", metavar="DATE", help="up to this moment (exclusive), same forms as --since")


def _format_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=FORMATS, default="table",
                        help="table (default, for people), json, or csv (cells starting with = + - @ get a "
                             "leading ' so spreadsheets do not run them)")


def _dimensions(text: str) -> tuple[IncidentDimension, ...]:
    chosen: list[IncidentDimension] = []
    for name in (part.strip() for part in text.split(",")):
        match = next((d for d in INCIDENT_DIMENSIONS if d == name), None)
        if match is None:
            raise argparse.ArgumentTypeError(
                f"cannot group by {name!r}; choose from {', '.join(INCIDENT_DIMENSIONS)}")
        if match not in chosen:
            chosen.append(match)
    return tuple(chosen)


# ---------------------------------------------------------------- compliments


@guarded
def run_compliments(args: argparse.Namespace) -> int:
    if args.summary:
        return run_agents(args)
    context = load_context(args.config, args.db)
    since, until = _period(args, context)
    tz = context.settings.timezone
    with context.store() as store:
        compliments = [c for c in store.list_compliments(agent=args.agent, since=since)
                       if until is None or c.created_at < until]
    if args.format == "json":
        emit(json_text([compliment_json(c, tz) for c in compliments]))
    elif args.format == "csv":
        emit(csv_text(COMPLIMENT_CSV_COLUMNS, [compliment_row(c, tz, for_table=False) for c in compliments]))
    else:
        rows = [compliment_row(c, tz, for_table=True) for c in compliments]
        emit(table(COMPLIMENT_COLUMNS, rows, empty="no compliments"))
        if rows:
            emit(f"{len(rows)} compliment{'s' if len(rows) != 1 else ''}; times in {tz.key}\n")
    return 0


@guarded
def run_agents(args: argparse.Namespace) -> int:
    context = load_context(args.config, args.db)
    since, until = _period(args, context)
    with context.store() as store:
        summaries = [s for s in store.compliments_per_agent(since=since, until=until)
                     if args.agent is None or s.agent == args.agent]
    rows = [agent_row(s) for s in summaries]
    if args.format == "json":
        emit(json_text([agent_json(s) for s in summaries]))
    elif args.format == "csv":
        emit(csv_text(AGENT_COLUMNS, rows))
    else:
        emit(table(AGENT_COLUMNS, rows, empty="no compliments"))
    return 0


# ---------------------------------------------------------------- campaigns

CAMPAIGN_COLUMNS = (
    Column("campaign", "campaign"), Column("calls", "calls", numeric=True), Column("offered", "offered", numeric=True),
    Column("accepted", "accepted", numeric=True), Column("acceptance", "accepted/offered", numeric=True),
    Column("rated", "rated", numeric=True), Column("average_rating", "average", numeric=True),
    Column("recorded", "recorded", numeric=True),
)


@guarded
def run_campaigns(args: argparse.Namespace) -> int:
    context = load_context(args.config, args.db)
    since, until = _period(args, context)
    with context.store() as store:
        results = Figures(store).campaign_results(since=since, until=until)
    rows: list[dict[str, Cell]] = [{
        "campaign": r.campaign, "calls": r.calls, "offered": r.offered, "accepted": r.accepted,
        "acceptance": round(r.acceptance, 3) if r.acceptance is not None else None, "rated": r.rated,
        "average_rating": round(r.average_rating, 2) if r.average_rating is not None else None,
        "recorded": r.recorded} for r in results]
    if args.format == "json":
        emit(json_text([dict(row) for row in rows]))
    elif args.format == "csv":
        emit(csv_text(CAMPAIGN_COLUMNS, rows))
    else:
        shown = [{**row, "campaign": row["campaign"] or "(no campaign)"} for row in rows]
        emit(table(CAMPAIGN_COLUMNS, shown, empty="no calls or compliments"))
    return 0


# ---------------------------------------------------------------- incidents


@guarded
def run_incidents(args: argparse.Namespace) -> int:
    context = load_context(args.config, args.db)
    since, until = _period(args, context)
    tz = context.settings.timezone
    groupings = (args.by,) if args.by else DEFAULT_GROUPINGS
    with context.store() as store:
        total = _total(store, since, until, context)
        counted: Counted = [(by, store.incident_counts(by, since=since, until=until, tz=tz)) for by in groupings]
    if args.format == "json":
        emit(json_text({
            "since": iso_local(since, tz), "until": iso_local(until, tz), "timezone": tz.key, "total": total,
            "groupings": [{"by": list(by), "rows": [incident_json(c, by) for c in counts]}
                          for by, counts in counted],
        }))
    elif args.format == "csv":
        emit(_incidents_csv(counted))
    else:
        emit(_incidents_table(counted, total, since, until, context))
    return 0


def _total(store: Store, since: dt.datetime | None, until: dt.datetime | None, context: ReportContext) -> int:
    return sum(c.count for c in store.incident_counts((), since=since, until=until, tz=context.settings.timezone))


def _incidents_csv(counted: Counted) -> str:
    """One CSV for every breakdown: a ``grouping`` column says which rows belong together."""
    used = [d for d in INCIDENT_DIMENSIONS if any(d in by for by, _ in counted)]
    columns = (Column("grouping", "grouping"), *incident_columns(used))
    rows: list[dict[str, Cell]] = []
    for by, counts in counted:
        for count in counts:
            row = incident_row(count, by)
            row["grouping"] = "+".join(by)
            rows.append(row)
    return csv_text(columns, rows)


def _incidents_table(counted: Counted, total: int, since: dt.datetime | None, until: dt.datetime | None,
                     context: ReportContext) -> str:
    tz = context.settings.timezone
    period = f"from {shown_local(since, tz) or 'the first record'} to {shown_local(until, tz) or 'now'}"
    out = [f"Incidents {period} ({tz.key}): {total}\n"]
    for by, counts in counted:
        out.append(f"\nBy {' and '.join(by)}\n")
        out.append(table(incident_columns(by), [incident_row(c, by) for c in counts], empty="no incidents"))
    return "".join(out)


# ---------------------------------------------------------------- aftercare


@guarded
def run_aftercare(args: argparse.Namespace) -> int:
    context = load_context(args.config, args.db)
    since, until = _period(args, context)
    tz = context.settings.timezone
    with context.store() as store:
        rows = [aftercare_row(row, tz) for row in CheckInBook(store).aftercare_rows(since=since, until=until)]
    if args.format == "json":
        emit(json_text([dict(row) for row in rows]))
    elif args.format == "csv":
        emit(csv_text(AFTERCARE_COLUMNS, rows))
    else:
        emit(table(AFTERCARE_COLUMNS, rows, empty="no check-ins"))
        if rows:
            emit(f"times in {tz.key}\n")
    return 0


def _period(args: argparse.Namespace, context: ReportContext) -> tuple[dt.datetime | None, dt.datetime | None]:
    since = moment_option(args.since, context, "--since")
    until = moment_option(args.until, context, "--until")
    check_period(since, until)
    return since, until



# ---------------------------------------------------------------- thank-you rounds


@guarded
def run_appreciation(args: argparse.Namespace) -> int:
    context = load_context(args.config, args.db)
    tz = context.settings.timezone
    with context.store() as store:
        deliveries = AppreciationStore(store).deliveries(args.round)
    found = summaries(deliveries)
    if args.format == "json":
        emit(json_text({"timezone": tz.key, "rounds": [round_json(s, deliveries, tz) for s in found]}))
    elif args.agents:
        rows = [appreciation_agent_row(d, tz) for d in deliveries]
        emit(csv_text(APPRECIATION_AGENT_COLUMNS, rows) if args.format == "csv"
             else table(APPRECIATION_AGENT_COLUMNS, rows, empty="no thank-you round has reached anyone yet"))
    else:
        rows = [round_row(s, tz) for s in found]
        emit(csv_text(ROUND_COLUMNS, rows) if args.format == "csv"
             else table(ROUND_COLUMNS, rows, empty="no thank-you round has reached anyone yet"))
    return 0
