"""Reports for supervisors and admins (``/reports``): charts, their tables, and CSV downloads.

The figures are the ones ``respectline report`` prints, from the same store queries (one query,
two faces): incidents per month, category, team, queue and outcome (``Store.incident_counts``, the
register a Dutch or Belgian employer keeps for its risk inventory), cases closed per outcome,
compliments per agent (``Store.compliments_per_agent``) and the hold campaigns' A/B result
(``storage.figures``). No report reads or shows a caller's number.

A period filter (``from`` and ``to``, local dates, both inclusive) applies to every figure; bad
dates get a clear message and the page with the form. A period starts somewhere (``from`` may not be
empty) and spans at most ``MAX_PERIOD_MONTHS``: a report reads every incident of its period. Each
session makes one report at a time and the desk ``MAX_REPORTS_AT_ONCE`` in all (a press more gets
"busy", 503), so reports never take the worker threads the inbox and the case pages need. Every view
and every download is written to the audit log with its period.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agi_scripts.desk import i18n
from agi_scripts.desk.app import Desk, page
from agi_scripts.desk.charts import BarChart, bar_chart
from agi_scripts.desk.i18n import N_
from agi_scripts.flows.campaigns import load_campaigns
from agi_scripts.ground.errors import ConfigError
from agi_scripts.reports.moments import BadMoment, iso_local, parse_moment
from agi_scripts.reports.render import Cell, Column, csv_text
from agi_scripts.reports.views import AGENT_COLUMNS, NONE_VALUE, agent_row, incident_columns, incident_row
from agi_scripts.storage import INCIDENT_DIMENSIONS, AgentCompliments, IncidentCount, IncidentDimension
from agi_scripts.storage.desk import DeskSession, Role
from agi_scripts.storage.figures import CampaignResult, Figures

REPORT_ROLES: tuple[Role, ...] = ("supervisor", "admin")
DEFAULT_MONTHS = 12
"""Without a period: the current month and the eleven before it."""
MAX_MONTHS_SHOWN = 60
"""Empty months are filled in between the period's ends, up to this many."""
MAX_PERIOD_MONTHS = 36
"""The longest period a report covers (calendar months touched, ``from``'s to ``to``'s or this month)."""
MAX_REPORTS_AT_ONCE = 2
"""Reports being made at once by one desk process (each holds a worker thread and a store query)."""
CSV_NAMES = ("incidents", "cases", "agents", "campaigns")
CAMPAIGN_COLUMNS = (
    Column("campaign", "campaign"), Column("weight", "weight now", numeric=True),
    Column("calls", "calls", numeric=True),
    Column("offered", "offered", numeric=True), Column("accepted", "accepted", numeric=True),
    Column("acceptance", "accepted per offered", numeric=True), Column("rated", "rated", numeric=True),
    Column("average_rating", "average rating", numeric=True), Column("recorded", "recorded", numeric=True),
)
CASE_COLUMNS = (Column("outcome", "outcome"), Column("closed", "cases closed", numeric=True))
NO_CAMPAIGN = "(no campaign)"


class BadPeriod(ValueError):
    """The period filter cannot be read; the message says what is expected."""


@dataclass(frozen=True)
class Period:
    since: dt.datetime | None
    until: dt.datetime | None
    """Exclusive: local midnight after the ``to`` day."""
    first_day: str
    last_day: str
    """As typed (``YYYY-MM-DD``), for the form and the links."""

    def query(self) -> str:
        return urlencode({"from": self.first_day, "to": self.last_day})

    def audit_text(self, tz: tzinfo) -> str:
        return f"from {iso_local(self.since, tz) or 'the first record'} to {iso_local(self.until, tz) or 'now'}"


def read_period(params: dict[str, str], tz: tzinfo, today: dt.date) -> Period:
    """``from``/``to`` as local dates (inclusive); without ``from``, the last ``DEFAULT_MONTHS`` months."""
    first = params.get("from", "").strip()[:40]
    last = params.get("to", "").strip()[:40]
    if "from" not in params:
        month = today.month - (DEFAULT_MONTHS - 1)
        year = today.year + (month - 1) // 12
        first = dt.date(year, (month - 1) % 12 + 1, 1).isoformat()
    if not first:
        raise BadPeriod(f"'from' is empty: a report covers at most {MAX_PERIOD_MONTHS} months from a date "
                        "written YYYY-MM-DD")
    since = _day(first, tz, "from")
    until = None
    last_day = today
    if last:
        to_day = _day(last, tz, "to")
        last_day = to_day.astimezone(tz).date()
        until = parse_moment((last_day + dt.timedelta(days=1)).isoformat(), tz)
    if until is not None and until <= since:
        raise BadPeriod(f"the period ends ({last}) before it begins ({first})")
    first_day = since.astimezone(tz).date()
    if (last_day.year - first_day.year) * 12 + last_day.month - first_day.month >= MAX_PERIOD_MONTHS:
        raise BadPeriod(f"the period from {first} to {last or 'today'} is longer than {MAX_PERIOD_MONTHS} months; "
                        "choose a shorter one")
    return Period(since, until, first, last)


def _day(text: str, tz: tzinfo, name: str) -> dt.datetime:
    if len(text) != 10:
        raise BadPeriod(f"'{name}' must be a date written YYYY-MM-DD, not {text!r}")
    try:
        return parse_moment(text, tz, option=f"'{name}'")
    except BadMoment as error:
        raise BadPeriod(str(error)) from None


# ---------------------------------------------------------------- the figures


@dataclass(frozen=True)
class ReportFigures:
    total: int
    by: dict[str, list[tuple[str, int]]]
    """Dimension -> (value shown, incidents)."""
    counts: list[IncidentCount]
    cases: list[tuple[str | None, int]]
    agents: list[AgentCompliments]
    campaigns: list[CampaignResult]
    weights: dict[str, int]


def collect(desk: Desk, period: Period) -> ReportFigures:
    """Every figure of the page (blocking: the store and the campaign file)."""
    tz = desk.tz
    counts = desk.store.incident_counts(INCIDENT_DIMENSIONS, since=period.since, until=period.until, tz=tz)
    figures = Figures(desk.store)
    return ReportFigures(
        total=sum(c.count for c in counts), by=rolled_up(counts, period, tz), counts=counts,
        cases=figures.case_resolutions(since=period.since, until=period.until),
        agents=desk.store.compliments_per_agent(since=period.since, until=period.until),
        campaigns=figures.campaign_results(since=period.since, until=period.until),
        weights=_campaign_weights(desk))


def rolled_up(counts: list[IncidentCount], period: Period, tz: tzinfo) -> dict[str, list[tuple[str, int]]]:
    """The one query's rows (every dimension grouped) summed per single dimension; months in order,
    the empty ones between the period's ends included."""
    by: dict[str, list[tuple[str, int]]] = {}
    for dimension in INCIDENT_DIMENSIONS:
        summed: Counter[str] = Counter()
        for count in counts:
            summed[getattr(count, dimension) or NONE_VALUE] += count.count
        by[dimension] = sorted(summed.items())
    months = dict(by["month"])
    for month in _months_between(period, tz, months):
        months.setdefault(month, 0)
    by["month"] = sorted(months.items())
    return by


def _months_between(period: Period, tz: tzinfo, seen: dict[str, int]) -> list[str]:
    start = period.since.astimezone(tz).date() if period.since else None
    end = (period.until - dt.timedelta(microseconds=1)).astimezone(tz).date() if period.until \
        else dt.datetime.now(tz).date()
    if start is None:
        if not seen:
            return []
        year, month = (int(part) for part in min(seen).split("-"))
        start = dt.date(year, month, 1)
    months: list[str] = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month) and len(months) < MAX_MONTHS_SHOWN:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _campaign_weights(desk: Desk) -> dict[str, int]:
    """Each campaign's weight in the file now (the A/B split it asks for); {} when the file has errors."""
    errors: list[ConfigError] = []
    settings = desk.options.settings
    campaigns = load_campaigns(settings.flow_files["campaigns"], errors, settings.timezone)
    return {} if errors else {c.id: c.weight for c in campaigns.campaigns}


# ---------------------------------------------------------------- charts and CSV


def charts(desk: Desk, figures: ReportFigures) -> dict[str, BarChart]:
    by = figures.by
    shown: dict[str, Any] = {"category": desk.category, "team": desk.team_name}
    labelled = {d: [(shown[d](v) if d in shown and v != NONE_VALUE else v, n) for v, n in rows]
                for d, rows in by.items()}
    acceptance = [(r.campaign or NO_CAMPAIGN, 100.0 * r.acceptance) for r in figures.campaigns
                  if r.acceptance is not None]
    return {
        "month": bar_chart("month", N_("Incidents per month"), labelled["month"], keep_order=True),
        "category": bar_chart("category", N_("Incidents per category"), labelled["category"]),
        "queue": bar_chart("queue", N_("Incidents per queue"), labelled["queue"]),
        "outcome": bar_chart("outcome", N_("Incidents per outcome (what the caller got)"), labelled["outcome"]),
        "team": bar_chart("team", N_("Incidents per team"), labelled["team"]),
        "cases": bar_chart("cases", N_("Cases closed per outcome"),
                           [(desk.options.policy.case_outcomes.get(o or "", o or NONE_VALUE), n)
                            for o, n in figures.cases]),
        "agents": bar_chart("agents", N_("Compliments per agent"), [(a.agent, a.compliments) for a in figures.agents]),
        "campaigns": bar_chart("campaigns", N_("Compliments accepted per offer, per campaign"), acceptance, unit=" %",
                               decimals=1),
    }


def incidents_csv(counts: list[IncidentCount]) -> str:
    """As ``respectline report incidents --format csv``: one breakdown per dimension, told apart by
    the ``grouping`` column."""
    columns = (Column("grouping", "grouping"), *incident_columns(INCIDENT_DIMENSIONS))
    rows: list[dict[str, Cell]] = []
    for dimension in INCIDENT_DIMENSIONS:
        by: tuple[IncidentDimension, ...] = (dimension,)
        summed: Counter[str | None] = Counter()
        for count in counts:
            summed[getattr(count, dimension)] += count.count
        for value, number in sorted(summed.items(), key=lambda item: item[0] or ""):
            row = incident_row(IncidentCount(count=number, **{dimension: value}), by)
            row["grouping"] = dimension
            rows.append(row)
    return csv_text(columns, rows)


def campaign_row(result: CampaignResult, weights: dict[str, int]) -> dict[str, Cell]:
    return {"campaign": result.campaign or NO_CAMPAIGN, "weight": weights.get(result.campaign or ""),
            "calls": result.calls, "offered": result.offered, "accepted": result.accepted,
            "acceptance": round(result.acceptance, 3) if result.acceptance is not None else None,
            "rated": result.rated,
            "average_rating": round(result.average_rating, 2) if result.average_rating is not None else None,
            "recorded": result.recorded}


def csv_of(name: str, desk: Desk, period: Period) -> str:
    """One report as CSV, reading only what it needs (blocking)."""
    since, until = period.since, period.until
    if name == "incidents":
        return incidents_csv(desk.store.incident_counts(INCIDENT_DIMENSIONS, since=since, until=until, tz=desk.tz))
    if name == "cases":
        return csv_text(CASE_COLUMNS, [{"outcome": o or NONE_VALUE, "closed": n}
                                       for o, n in Figures(desk.store).case_resolutions(since=since, until=until)])
    if name == "agents":
        return csv_text(AGENT_COLUMNS, [agent_row(a) for a in desk.store.compliments_per_agent(since=since,
                                                                                               until=until)])
    weights = _campaign_weights(desk)
    return csv_text(CAMPAIGN_COLUMNS, [campaign_row(r, weights) for r in
                                       Figures(desk.store).campaign_results(since=since, until=until)])


# ---------------------------------------------------------------- routes


class ReportSlots:
    """Who is making a report now (sessions, by their CSRF token) in this desk process. Used on the event
    loop only: taking a slot never waits, so a refused report ties up nothing."""

    def __init__(self, limit: int = MAX_REPORTS_AT_ONCE) -> None:
        self.limit = limit
        self.running: set[str] = set()

    def take(self, session: DeskSession) -> str:
        """"" when taken; else why not, for the page."""
        if session.csrf_token in self.running:
            return "Your previous report is still being made; wait for it, then try again."
        if len(self.running) >= self.limit:
            return "Other reports are being made right now; try again in a moment."
        self.running.add(session.csrf_token)
        return ""

    def give_back(self, session: DeskSession) -> None:
        self.running.discard(session.csrf_token)


SLOTS = ReportSlots()


def _busy(message: str) -> Response:
    return Response(f"{message}\n", status_code=503, media_type="text/plain", headers={"Retry-After": "5"})


def _period_of(request: Request, desk: Desk) -> Period:
    params = {key: request.query_params[key] for key in ("from", "to") if key in request.query_params}
    return read_period(params, desk.tz, dt.datetime.now(desk.tz).date())


@page(*REPORT_ROLES)
async def reports_page(request: Request, desk: Desk, session: DeskSession) -> Response:
    try:
        period = _period_of(request, desk)
    except BadPeriod as error:
        return desk.render(request, "reports.html", {
            "title": desk.catalog_for(request, session).gettext("Reports"), "error": str(error), "first_day": request.query_params.get("from", "")[:40],
            "last_day": request.query_params.get("to", "")[:40]}, status=400, session=session)

    def load() -> ReportFigures:
        figures = collect(desk, period)
        desk.audit(session, "report_viewed", detail=period.audit_text(desk.tz))
        return figures

    busy = SLOTS.take(session)
    if busy:
        return _busy(busy)
    try:
        figures = await run_in_threadpool(load)
    finally:
        SLOTS.give_back(session)
    catalog = desk.catalog_for(request, session)
    with i18n.rendering(catalog):  # the charts' descriptions, read by screen readers, in the user's language
        drawn = charts(desk, figures)
    return desk.render(request, "reports.html", {
        "title": catalog.gettext("Reports"), "error": "", "first_day": period.first_day, "last_day": period.last_day,
        "timezone": desk.tz.key,
        "query": period.query(), "figures": figures, "charts": drawn,
        "campaign_rows": [campaign_row(r, figures.weights) for r in figures.campaigns],
        "agent_rows": [agent_row(a) for a in figures.agents]}, session=session)


@page(*REPORT_ROLES)
async def report_csv(request: Request, desk: Desk, session: DeskSession) -> Response:
    name = request.path_params["name"]
    if name not in CSV_NAMES:
        return Response(f"no report named {name[:40]!r}; choose from {', '.join(CSV_NAMES)}\n", status_code=404,
                        media_type="text/plain")
    try:
        period = _period_of(request, desk)
    except BadPeriod as error:
        return Response(f"{error}\n", status_code=400, media_type="text/plain")

    def export() -> str:
        text = csv_of(name, desk, period)
        desk.audit(session, "report_downloaded", detail=f"{name}.csv {period.audit_text(desk.tz)}")
        return text

    busy = SLOTS.take(session)
    if busy:
        return _busy(busy)
    try:
        text = await run_in_threadpool(export)
    finally:
        SLOTS.give_back(session)
    filename = f"respectline-{name}-{period.first_day or 'start'}-{period.last_day or 'now'}.csv"
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})


def routes() -> list[Route]:
    return [Route("/reports", reports_page), Route("/reports/{name}.csv", report_csv)]
