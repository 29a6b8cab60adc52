"""The store's rules that do not depend on the database: pure functions the SQL store calls.

The store calls them through the module (``rules.name(...)``), so a test can replace one to make a
transaction fail half-way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any, TypeVar

from agi_scripts.storage.base import CASE_STATUSES, UTC, Case, Incident, SchemaTooNew

Row = TypeVar("Row", bound=Mapping[str, Any])


def check_schema_version(current: int, latest: int) -> None:
    """Refuse a database written by a newer Respectline (its schema is past our last migration)."""
    if current > latest:
        raise SchemaTooNew(
            f"the database has schema version {current}, but this Respectline knows versions up to"
            f" {latest}: it was written by a newer Respectline. Upgrade Respectline, or restore a"
            " backup made by this version.")


def check_rating(rating: int) -> None:
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ValueError(f"a rating is a whole number from 1 to 5, got {rating!r}")


def check_case_status(status: str | None) -> None:
    if status is not None and status not in CASE_STATUSES:
        raise ValueError(f"case status is one of {', '.join(CASE_STATUSES)}, got {status!r}")


def check_escalation_events(events: Iterable[tuple[str, str]]) -> None:
    """An escalation's case events each name what happened: one without an action is refused
    (ValueError) before anything is written, so a damaged outbox file cannot put a nameless event in
    a case."""
    for number, (action, _detail) in enumerate(events, start=1):
        if not action.strip():
            raise ValueError(f"event {number} of the escalation has no action")


def case_opened_detail(category: str, team: str) -> str:
    """The detail of a case's first event, ``case_opened``."""
    return f"category {category}, team {team}"


def flag_detail(number_in_call: int, category: str) -> str:
    """How a flag appears in a case's timeline (as the detail of an event named after its action)."""
    return f"flag {number_in_call}: {category}"


def carried_flag_events(incidents: Iterable[Incident], before: datetime) -> list[tuple[str, str, datetime]]:
    """The case's timeline starts with what happened on its call before it was opened (the warning):
    each earlier incident with an action, as (action, detail, at), in the order given."""
    return [(incident.action, flag_detail(incident.number_in_call, incident.category), incident.at)
            for incident in incidents if incident.action and incident.at < before]


def longest_window(window_days_by_team: Mapping[str, float]) -> timedelta:
    """How far back a closed case can still route a repeat caller, whatever its team."""
    return timedelta(days=max(window_days_by_team.values(), default=0.0))


def case_in_window(closed: Iterable[Case], now: datetime, window_days_by_team: Mapping[str, float]) -> Case | None:
    """The first of these closed cases (most recently closed first) closed less than its team's window
    before ``now``; teams not listed have no window."""
    for case in closed:
        window = timedelta(days=window_days_by_team.get(case.team, 0.0))
        if case.closed_at is not None and now - case.closed_at < window:
            return case
    return None


def split_for_erasure(case_rows: Sequence[Row], closed_before: datetime) -> tuple[list[Row], list[Row]]:
    """A caller's cases as (erased, kept): a case loses the number only when it was closed before
    ``closed_before`` (its retention is over); open ones, and ones closed since, are kept as evidence."""
    erased = [r for r in case_rows if r["status"] == "closed" and r["closed_at"] is not None
              and r["closed_at"] < closed_before]
    erased_ids = {r["id"] for r in erased}
    return erased, [r for r in case_rows if r["id"] not in erased_ids]


def free_recordings(erased: Iterable[Mapping[str, Any]], shared: set[str]) -> tuple[str, ...]:
    """Recordings of the erased cases that no other case points at (``shared``), each once."""
    return tuple(dict.fromkeys(r["recording"] for r in erased if r["recording"] and r["recording"] not in shared))


MAX_REPORT_MONTHS = 1200
"""A report spans at most a century of months; a longer span is refused rather than made into SQL."""


def local_months(first: datetime, last: datetime, tz: tzinfo) -> list[tuple[str, datetime]]:
    """The calendar months of ``tz`` from ``first``'s to ``last``'s: each as (``YYYY-MM``, its start in UTC).

    A month starts at local midnight of its first day, as ``datetime`` puts it in ``tz`` (on the rare
    zone whose clocks go back at that midnight, its first repeated hour counts to the month before)."""
    start, end = first.astimezone(tz), last.astimezone(tz)
    year, month = start.year, start.month
    months: list[tuple[str, datetime]] = []
    while (year, month) <= (end.year, end.month):
        if len(months) >= MAX_REPORT_MONTHS:
            raise ValueError(f"a report spans at most {MAX_REPORT_MONTHS} months; give a shorter period")
        months.append((f"{year:04d}-{month:02d}", datetime(year, month, 1, tzinfo=tz).astimezone(UTC)))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months
