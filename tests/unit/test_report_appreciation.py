"""``respectline report appreciation``: the real CLI on a store filled through AppreciationStore (SQLite and
PostgreSQL): per round reached, not reached yet, missed, skipped, replies and when; per agent; JSON; CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

from agi_scripts.storage import Store
from agi_scripts.storage.appreciation import AppreciationStore
from tests.support.cli_runner import Cli

T0 = datetime(2026, 10, 6, 8, 0, tzinfo=timezone.utc)  # 10:00 in Brussels


def a_round(store: Store) -> None:
    rounds = AppreciationStore(store)
    for device, name in (("PJSIP/agent1", "Agent One"), ("PJSIP/agent2", "Agent Two"), ("PJSIP/agent3", "Agent 3"),
                         ("PJSIP/agent4", "Agent 4")):
        rounds.enlist("contact-day", device, name, at=T0)
    rounds.ringing("contact-day", "PJSIP/agent1", at=T0)
    rounds.reached("contact-day", "PJSIP/agent1", at=T0 + timedelta(minutes=1))
    rounds.replied("contact-day", "PJSIP/agent1", "/rec/reply.wav", screening="held", reason="no transcript",
                   at=T0 + timedelta(minutes=2))
    rounds.ringing("contact-day", "PJSIP/agent2", at=T0)
    rounds.reached("contact-day", "PJSIP/agent2", at=T0 + timedelta(minutes=30))
    rounds.ringing("contact-day", "PJSIP/agent3", at=T0)
    rounds.not_reached("contact-day", "PJSIP/agent3", "no answer", tries=1, retry_at=T0)
    rounds.enlist("other", "PJSIP/agent1", "Agent One", at=T0)


def test_summary_per_round(cli: Cli, store: Store) -> None:
    a_round(store)
    out = cli.ok("report", "appreciation")
    line = next(row for row in out.splitlines() if row.startswith("contact-day"))
    assert line.split()[1:7] == ["4", "2", "1", "1", "0", "1"]  # agents reached waiting missed skipped replies
    assert "2026-10-06T10:01:00+02:00" in line and "2026-10-06T10:30:00+02:00" in line
    assert any(row.startswith("other") for row in out.splitlines())


def test_json_and_one_round(cli: Cli, store: Store) -> None:
    a_round(store)
    data = json.loads(cli.ok("report", "appreciation", "--round", "contact-day", "--format", "json"))
    assert data["timezone"] == "Europe/Brussels"
    (found,) = data["rounds"]
    assert (found["round"], found["reached"], found["missed"], found["replies"]) == ("contact-day", 2, 1, 1)
    by_agent = {d["agent"]: d for d in found["deliveries"]}
    assert by_agent["Agent One"]["reply"] == "held" and by_agent["Agent One"]["reply_reason"] == "no transcript"
    assert by_agent["Agent 3"]["status"] == "missed" and by_agent["Agent 3"]["detail"] == "no answer"
    assert by_agent["Agent 4"]["status"] == "waiting" and by_agent["Agent 4"]["tries"] == 0


def test_per_agent_csv_and_an_empty_store(cli: Cli, store: Store) -> None:
    assert "no thank-you round has reached anyone yet" in cli.ok("report", "appreciation")
    a_round(store)
    rows = list(csv.DictReader(io.StringIO(cli.ok("report", "appreciation", "--agents", "--format", "csv"))))
    assert len(rows) == 5
    assert {r["agent"] for r in rows if r["status"] == "reached"} == {"Agent One", "Agent Two"}


def test_an_unknown_round_is_an_empty_report(cli: Cli, store: Store) -> None:
    a_round(store)
    data = json.loads(cli.ok("report", "appreciation", "--round", "nope'; --", "--format", "json"))
    assert data["rounds"] == []
