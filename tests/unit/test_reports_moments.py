"""Dates people type and times they read, in the contact centre's zone."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from agi_scripts.reports.moments import BadMoment, check_period, iso_local, parse_moment, shown_local_with_zone

BRUSSELS = ZoneInfo("Europe/Brussels")
UTC = timezone.utc


@pytest.mark.parametrize("text, expected", [
    ("2025-03-14", datetime(2025, 3, 13, 23, 0, tzinfo=UTC)),        # winter: midnight is 23:00 UTC
    ("2025-03-31", datetime(2025, 3, 30, 22, 0, tzinfo=UTC)),        # the day after the clocks moved
    ("2025-03-14T09:30", datetime(2025, 3, 14, 8, 30, tzinfo=UTC)),  # no offset: local time
    ("2025-03-14 09:30:15", datetime(2025, 3, 14, 8, 30, 15, tzinfo=UTC)),
    ("2025-03-14T09:30Z", datetime(2025, 3, 14, 9, 30, tzinfo=UTC)),
    ("2025-07-01T12:00+02:00", datetime(2025, 7, 1, 10, 0, tzinfo=UTC)),
])
def test_dates_are_local_midnight_and_times_keep_their_offset(text: str, expected: datetime) -> None:
    parsed = parse_moment(text, BRUSSELS, option="--since")
    assert parsed == expected and parsed.utcoffset() is not None


@pytest.mark.parametrize("text", ["2025-02-30", "tomorrow", "14-03-2025", "2025-03-14T25:00", "  "])
def test_unreadable_dates_name_the_option_and_the_forms_expected(text: str) -> None:
    with pytest.raises(BadMoment) as error:
        parse_moment(text, BRUSSELS, option="--until")
    assert "--until" in str(error.value) and "YYYY-MM-DD" in str(error.value)


def test_a_period_must_not_end_before_it_starts() -> None:
    start = datetime(2025, 3, 2, tzinfo=UTC)
    check_period(start, None)
    check_period(None, start)
    with pytest.raises(BadMoment):
        check_period(start, start)


def test_times_are_shown_with_their_local_offset_and_zone() -> None:
    moment = datetime(2025, 7, 1, 10, 0, 5, tzinfo=UTC)
    assert iso_local(moment, BRUSSELS) == "2025-07-01T12:00:05+02:00"
    assert iso_local(None, BRUSSELS) is None
    assert shown_local_with_zone(moment, BRUSSELS) == "2025-07-01 12:00:05 CEST (+02:00)"
