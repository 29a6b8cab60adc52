"""Times typed by people and times shown to them, in the contact centre's time zone.

The store keeps UTC; people think in local days. ``2025-03-01`` means local midnight, and a month
in a report is a local calendar month.
"""

from __future__ import annotations

import datetime as dt
from datetime import tzinfo

DATE_HELP = "YYYY-MM-DD (local midnight) or an ISO 8601 date and time such as 2025-03-14T09:30 or 2025-03-14T08:30Z"
FIRST_YEAR = 1900
LAST_YEAR = 2999
"""Years a moment may fall in: far around any record, far inside what ``datetime`` can shift by a time
zone or a day (``0001-01-01`` in Brussels is before ``datetime.min`` in UTC)."""


class BadMoment(ValueError):
    """A date or time on the command line that cannot be read; the message says what is expected."""


def parse_moment(text: str, tz: tzinfo, *, option: str = "date") -> dt.datetime:
    """A timezone-aware UTC datetime from ``YYYY-MM-DD`` (local midnight in ``tz``) or ISO 8601.

    A date and time without an offset is local time in ``tz``; one with an offset or ``Z`` is taken as is.
    """
    value = text.strip()
    if not value:
        raise BadMoment(f"{option} is empty; expected {DATE_HELP}")
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            local = dt.datetime.combine(day, dt.time(0, 0), tzinfo=tz)
        else:
            parsed = dt.datetime.fromisoformat(value)
            local = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)
    except ValueError:
        raise BadMoment(f"{option} {text!r} is not a date; expected {DATE_HELP}") from None
    if not FIRST_YEAR <= local.year <= LAST_YEAR:
        raise BadMoment(f"{option} {text!r} is out of range; expected a year from {FIRST_YEAR} to {LAST_YEAR}")
    return local.astimezone(dt.timezone.utc)


def check_period(since: dt.datetime | None, until: dt.datetime | None) -> None:
    if since is not None and until is not None and until <= since:
        raise BadMoment(f"--until ({until.isoformat()}) must be later than --since ({since.isoformat()})")


def iso_local(moment: dt.datetime | None, tz: tzinfo) -> str | None:
    """ISO 8601 with the local offset (``2025-03-14T10:00:00+01:00``): exact for programs, readable for people."""
    return moment.astimezone(tz).isoformat() if moment is not None else None


def shown_local(moment: dt.datetime | None, tz: tzinfo, *, seconds: bool = False) -> str:
    """``2025-03-14 10:00`` in ``tz`` for tables; empty for no time."""
    if moment is None:
        return ""
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def shown_local_with_zone(moment: dt.datetime, tz: tzinfo) -> str:
    """``2025-03-14 10:00:05 CET (+01:00)``: for documents that leave the building."""
    local = moment.astimezone(tz)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()} ({offset[:3]}:{offset[3:]})"
