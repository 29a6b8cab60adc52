"""Campaigns run by the local date, day and hour of their timezone, and share calls by weight."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agi_scripts.flows.campaigns import CampaignSet, load_campaigns
from agi_scripts.ground.errors import ConfigError

BRUSSELS = ZoneInfo("Europe/Brussels")
UTC = dt.timezone.utc


def campaigns(tmp_path: Path, text: str) -> CampaignSet:
    file = tmp_path / "campaigns.yaml"
    file.write_text(text)
    errors: list[ConfigError] = []
    loaded = load_campaigns(file, errors, BRUSSELS)
    assert errors == []
    return loaded


ONE_DAY = """\
campaigns:
  - id: contact-day
    prompt: campaign_contact_day
    queues: [support]
    from: 2026-10-06
    until: 2026-10-06
    timezone: Europe/Brussels
    hours: ["08:00-18:00"]
"""


@pytest.mark.parametrize("utc_time, running", [
    ("2026-10-05T21:59:59", False),  # 23:59:59 Brussels (CEST, +2) the day before
    ("2026-10-06T05:59:59", False),  # 07:59:59 local: before opening hours
    ("2026-10-06T06:00:00", True),   # 08:00 local
    ("2026-10-06T15:59:59", True),   # 17:59:59 local
    ("2026-10-06T16:00:00", False),  # 18:00 local: the end is exclusive
])
def test_campaign_runs_on_its_local_day_and_hours(tmp_path: Path, utc_time: str, running: bool) -> None:
    at = dt.datetime.fromisoformat(utc_time).replace(tzinfo=UTC)
    assert bool(campaigns(tmp_path, ONE_DAY).active(at, "support")) is running


def test_campaign_only_runs_on_its_queues(tmp_path: Path) -> None:
    at = dt.datetime(2026, 10, 6, 10, tzinfo=UTC)
    loaded = campaigns(tmp_path, ONE_DAY)
    assert loaded.active(at, "support") and not loaded.active(at, "billing")


def test_hours_follow_the_clock_across_the_dst_change(tmp_path: Path) -> None:
    """Brussels leaves summer time on 2026-10-25 at 03:00: 08:00 local is 06:00 UTC before, 07:00 after."""
    loaded = campaigns(tmp_path, ONE_DAY.replace("2026-10-06", "2026-10-24", 1).replace("2026-10-06", "2026-10-26"))
    assert loaded.active(dt.datetime(2026, 10, 24, 6, 0, tzinfo=UTC), "support")      # 08:00 CEST
    assert not loaded.active(dt.datetime(2026, 10, 26, 6, 30, tzinfo=UTC), "support")  # 07:30 CET
    assert loaded.active(dt.datetime(2026, 10, 26, 7, 0, tzinfo=UTC), "support")       # 08:00 CET


def test_days_and_day_ranges(tmp_path: Path) -> None:
    loaded = campaigns(tmp_path, "campaigns:\n  - id: weekend\n    prompt: p\n    days: [fri-sun]\n")
    saturday, monday = dt.datetime(2026, 11, 21, 12, tzinfo=UTC), dt.datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert loaded.active(saturday, "support") and not loaded.active(monday, "support")


def test_running_campaigns_share_calls_by_weight(tmp_path: Path) -> None:
    loaded = campaigns(tmp_path, """\
campaigns:
  - {id: a, prompt: p, weight: 75}
  - {id: b, prompt: p, weight: 25}
  - {id: paused, prompt: p, weight: 0}
""")
    rng = random.Random(7)
    at = dt.datetime(2026, 11, 23, 12, tzinfo=UTC)
    counts = Counter(c.id for c in (loaded.choose(at, "support", rng) for _ in range(4000)) if c)
    assert counts["paused"] == 0
    assert 0.70 < counts["a"] / 4000 < 0.80 and 0.20 < counts["b"] / 4000 < 0.30


def test_no_running_campaign_means_none(tmp_path: Path) -> None:
    loaded = campaigns(tmp_path, ONE_DAY)
    assert loaded.choose(dt.datetime(2027, 1, 1, tzinfo=UTC), "support") is None
