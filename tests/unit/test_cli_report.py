"""``respectline report``: the real CLI on a real SQLite store filled through the Store API."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from agi_scripts.cli.main import main
from agi_scripts.storage import Escalation, Store, open_store
from tests.support.cli_runner import Cli
from tests.support.config_tree import ConfigTree

UTC = timezone.utc
T0 = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)  # 10:00 in Brussels (CET)
CALLER = "+32470123456"


def compliment(store: Store, call_id: str, agent: str, at: datetime, rating: int | None = None,
               recording: str | None = None, campaign: str | None = "cc-day", queue: str = "support") -> int:
    compliment_id = store.start_compliment(call_id, agent=agent, queue=queue, campaign=campaign, at=at)
    if rating is not None:
        store.set_compliment_rating(compliment_id, rating, at=at)
    if recording is not None:
        store.set_compliment_recording(compliment_id, recording, at=at)
    return compliment_id


def three_compliments(store: Store) -> list[int]:
    return [
        compliment(store, "c1", "PJSIP/anna", T0, rating=5, recording="/rec/c1.wav"),
        compliment(store, "c2", "PJSIP/anna", T0 + timedelta(days=1), rating=4),
        compliment(store, "c3", "PJSIP/bob", T0 + timedelta(days=2), campaign=None, queue="billing"),
    ]


def flag(store: Store, call_id: str, category: str, at: datetime, *, team: str | None = "special_care",
         queue: str = "support", outcome: str | None = "warn") -> None:
    """The call's next flag, booked as the ladder books it."""
    earlier = store.list_incidents(call_id=call_id)
    store.book_escalation(Escalation(
        call_id=call_id, category=category, number_in_call=len(earlier) + 1,
        number_in_category=sum(1 for incident in earlier if incident.category == category) + 1,
        agent="PJSIP/anna", caller=CALLER, queue=queue, at=at, outcome=outcome, team=team))


# ------------------------------------------------------------------ compliments


def test_compliments_json_has_every_field_newest_first(cli: Cli, store: Store) -> None:
    first, second, third = three_compliments(store)
    rows = cli.json("report", "compliments")
    assert isinstance(rows, list)
    assert [row["id"] for row in rows] == [third, second, first]
    newest, _, oldest = rows
    assert newest == {"id": third, "agent": "PJSIP/bob", "queue": "billing", "campaign": None, "rating": None,
                      "recording": None, "call_id": "c3", "at": "2025-03-16T10:00:00+01:00", "delivered_at": None}
    assert (oldest["agent"], oldest["rating"], oldest["recording"], oldest["campaign"]) == (
        "PJSIP/anna", 5, "/rec/c1.wav", "cc-day")
    assert datetime.fromisoformat(oldest["at"]) == T0


def test_compliments_csv_parses_back_to_the_json_values(cli: Cli, store: Store) -> None:
    three_compliments(store)
    as_json = cli.json("report", "compliments")
    code, out, _ = cli.run("report", "compliments", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert isinstance(as_json, list) and len(rows) == len(as_json) == 3
    for row, expected in zip(rows, as_json):
        for key in ("id", "agent", "queue", "campaign", "rating", "recording", "call_id", "at"):
            assert row[key] == ("" if expected[key] is None else str(expected[key])), key


def test_compliments_table_shows_a_row_per_compliment_in_local_time(cli: Cli, store: Store) -> None:
    three_compliments(store)
    code, out, _ = cli.run("report", "compliments")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["when", "agent", "queue", "campaign", "rating", "call", "recording"]
    body = [line for line in lines[2:] if line.startswith("2025-")]
    assert len(body) == 3
    assert body[0].startswith("2025-03-16 10:00") and "PJSIP/bob" in body[0]
    assert "PJSIP/anna" in body[2] and "/rec/c1.wav" in body[2] and " 5 " in body[2]
    assert "3 compliments" in out


def test_compliments_filter_by_agent_and_local_dates(cli: Cli, store: Store) -> None:
    three_compliments(store)
    compliment(store, "late", "PJSIP/anna", datetime(2025, 3, 16, 23, 30, tzinfo=UTC))  # 17 March, local
    by_anna = cli.json("report", "compliments", "--agent", "PJSIP/anna")
    assert isinstance(by_anna, list)
    assert {row["call_id"] for row in by_anna} == {"c1", "c2", "late"}
    since_15th = cli.json("report", "compliments", "--since", "2025-03-15", "--until", "2025-03-17")
    assert isinstance(since_15th, list)
    assert [row["call_id"] for row in since_15th] == ["c3", "c2"]
    since_17th = cli.json("report", "compliments", "--since", "2025-03-17")
    assert isinstance(since_17th, list)
    assert [row["call_id"] for row in since_17th] == ["late"]


def test_compliments_since_takes_a_full_iso_time(cli: Cli, store: Store) -> None:
    three_compliments(store)
    rows = cli.json("report", "compliments", "--since", "2025-03-15T09:00:01Z")
    assert isinstance(rows, list)
    assert [row["call_id"] for row in rows] == ["c3"]


def test_summary_counts_rated_average_and_recordings_per_agent(cli: Cli, store: Store) -> None:
    three_compliments(store)
    rows = cli.json("report", "compliments", "--summary")
    assert rows == [
        {"agent": "PJSIP/anna", "compliments": 2, "rated": 2, "average_rating": 4.5, "with_recording": 1},
        {"agent": "PJSIP/bob", "compliments": 1, "rated": 0, "average_rating": None, "with_recording": 0},
    ]
    assert isinstance(rows, list)
    assert cli.json("report", "agents", "--agent", "PJSIP/bob") == [rows[1]]
    code, out, _ = cli.run("report", "agents")
    assert code == 0 and "4.50" in out and "PJSIP/bob" in out


def test_no_compliments_says_so(cli: Cli) -> None:
    code, out, _ = cli.run("report", "compliments")
    assert (code, out) == (0, "no compliments\n")
    assert cli.json("report", "compliments") == []


def test_csv_cells_a_spreadsheet_would_run_get_an_apostrophe(cli: Cli, store: Store) -> None:
    compliment(store, "c1", '=HYPERLINK("http://x","y")', T0, rating=3)
    code, out, _ = cli.run("report", "compliments", "--format", "csv")
    assert code == 0
    (row,) = list(csv.DictReader(io.StringIO(out)))
    assert row["agent"] == '\'=HYPERLINK("http://x","y")'


def test_terminal_escapes_in_stored_values_do_not_reach_the_table(cli: Cli, store: Store) -> None:
    compliment(store, "c1", "PJSIP/\x1b[2Jevil", T0, rating=3)
    code, out, _ = cli.run("report", "compliments")
    assert code == 0
    assert "\x1b" not in out and "PJSIP/\\x1b[2Jevil" in out


# ------------------------------------------------------------------ dates and errors


@pytest.mark.parametrize("bad", ["2025-13-01", "yesterday", "14/03/2025", ""])
def test_a_bad_date_is_a_clear_error_without_traceback(cli: Cli, store: Store, bad: str) -> None:
    code, out, err = cli.run("report", "compliments", "--since", bad)
    assert code == 2 and out == ""
    assert "--since" in err and "YYYY-MM-DD" in err and "Traceback" not in err


def test_until_before_since_is_refused(cli: Cli) -> None:
    code, _, err = cli.run("report", "incidents", "--since", "2025-03-02", "--until", "2025-03-01")
    assert code == 2 and "--until" in err and "later than --since" in err


def test_a_missing_store_is_an_error_and_is_not_created(cli: Cli, tmp_path: Path) -> None:
    cli.db = f"sqlite:///{tmp_path / 'typo.sqlite'}"
    code, _, err = cli.run("report", "compliments")
    assert code == 1 and "does not exist" in err
    assert not (tmp_path / "typo.sqlite").exists()


def test_a_file_that_is_not_a_store_is_a_clear_error(cli: Cli, tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    cli.db = f"sqlite:///{junk}"
    code, _, err = cli.run("report", "incidents")
    assert code == 1 and err.startswith("error: cannot open the store:") and "Traceback" not in err


def test_an_unsupported_store_url_is_a_clear_error(cli: Cli) -> None:
    cli.db = "mysql://user:secret@db/respectline"
    code, _, err = cli.run("report", "compliments")
    assert code == 1 and "'mysql' is not supported" in err and "secret" not in err


def test_an_unreachable_postgresql_store_is_a_clear_error_without_the_password(cli: Cli) -> None:
    cli.db = "postgresql://user:s3cret-pw@127.0.0.1:1/respectline"
    code, _, err = cli.run("report", "compliments")
    assert code == 1 and err.startswith("error: cannot open the store:") and "Traceback" not in err
    assert "s3cret-pw" not in err


def test_without_db_the_store_comes_from_the_config(capsys: pytest.CaptureFixture[str],
                                                    config_tree: ConfigTree) -> None:
    # The shipped config says sqlite:///../var/respectline.sqlite, relative to the config folder.
    configured = open_store(f"sqlite:///{config_tree.root / 'var' / 'respectline.sqlite'}")
    try:
        compliment(configured, "from-config", "PJSIP/anna", T0, rating=5)
    finally:
        configured.close()
    assert main(["report", "compliments", "--format", "json", "--config", str(config_tree.config)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["call_id"] for row in rows] == ["from-config"]


def test_a_broken_config_is_needed_without_db_and_ignored_with_it(cli: Cli, store: Store,
                                                                   config_tree: ConfigTree) -> None:
    three_compliments(store)
    config_tree.replace("config/respectline.yaml", "timezone: Europe/Brussels", "timezone: Mars/Olympus")
    code, out, err = cli.run("report", "compliments", db=False)
    assert code == 1 and out == "" and "cannot read the configuration" in err and "respectline.yaml:" in err
    code, out, err = cli.run("report", "compliments", "--format", "json")
    assert code == 0 and "note:" in err and len(json.loads(out)) == 3


def test_with_db_a_missing_config_is_not_needed(capsys: pytest.CaptureFixture[str], store: Store,
                                                store_url: str, tmp_path: Path) -> None:
    three_compliments(store)
    code = main(["report", "compliments", "--format", "json", "--config", str(tmp_path / "none.yaml"),
                 "--db", store_url])
    captured = capsys.readouterr()
    assert code == 0 and captured.err == ""
    assert json.loads(captured.out)[0]["at"] == "2025-03-16T10:00:00+01:00"  # default zone: Brussels


# ------------------------------------------------------------------ incidents


def fill_incidents(store: Store) -> None:
    flag(store, "a", "verbal_abuse", T0)
    flag(store, "a", "verbal_abuse", T0 + timedelta(seconds=20), outcome="disconnect")
    flag(store, "b", "threat", T0 + timedelta(days=1), team="security", queue="billing", outcome="disconnect")
    # 22:30 UTC on 31 March is 00:30 on 1 April in Brussels (CEST).
    flag(store, "c", "discrimination", datetime(2025, 3, 31, 22, 30, tzinfo=UTC), team=None, outcome=None)


def test_incidents_default_gives_a_breakdown_per_dimension(cli: Cli, store: Store) -> None:
    fill_incidents(store)
    report = cli.json("report", "incidents")
    assert isinstance(report, dict)
    assert report["total"] == 4 and report["timezone"] == "Europe/Brussels"
    by = {tuple(g["by"]): {tuple(v for k, v in row.items() if k != "count"): row["count"] for row in g["rows"]}
          for g in report["groupings"]}
    assert by[("category",)] == {("verbal_abuse",): 2, ("threat",): 1, ("discrimination",): 1}
    assert by[("team",)] == {(None,): 1, ("security",): 1, ("special_care",): 2}
    assert by[("queue",)] == {("billing",): 1, ("support",): 3}
    assert by[("month",)] == {("2025-03",): 3, ("2025-04",): 1}
    assert by[("outcome",)] == {(None,): 1, ("disconnect",): 2, ("warn",): 1}


def test_incidents_by_combines_the_dimensions_given(cli: Cli, store: Store) -> None:
    fill_incidents(store)
    report = cli.json("report", "incidents", "--by", "category,month")
    assert isinstance(report, dict)
    (grouping,) = report["groupings"]
    assert grouping["by"] == ["category", "month"]
    assert grouping["rows"] == [
        {"category": "discrimination", "month": "2025-04", "count": 1},
        {"category": "threat", "month": "2025-03", "count": 1},
        {"category": "verbal_abuse", "month": "2025-03", "count": 2},
    ]


def test_incident_months_follow_the_configured_time_zone(cli: Cli, store: Store, config_tree: ConfigTree) -> None:
    fill_incidents(store)
    config_tree.replace("config/respectline.yaml", "timezone: Europe/Brussels", "timezone: UTC")
    report = cli.json("report", "incidents", "--by", "month")
    assert isinstance(report, dict)
    assert report["groupings"][0]["rows"] == [{"month": "2025-03", "count": 4}]


def test_incidents_since_is_local_midnight(cli: Cli, store: Store) -> None:
    fill_incidents(store)
    report = cli.json("report", "incidents", "--since", "2025-04-01", "--by", "category")
    assert isinstance(report, dict)
    assert report["total"] == 1 and report["since"] == "2025-04-01T00:00:00+02:00"
    assert report["groupings"][0]["rows"] == [{"category": "discrimination", "count": 1}]
    until = cli.json("report", "incidents", "--until", "2025-03-15", "--by", "outcome")
    assert isinstance(until, dict)
    assert until["total"] == 2


def test_incidents_table_and_csv_hold_the_same_counts(cli: Cli, store: Store) -> None:
    fill_incidents(store)
    code, out, _ = cli.run("report", "incidents")
    assert code == 0
    assert out.splitlines()[0].endswith(": 4")
    assert "By category" in out and "By month" in out and "(none)" in out
    assert any(line.split() == ["verbal_abuse", "2"] for line in out.splitlines())
    code, out, _ = cli.run("report", "incidents", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {row["grouping"] for row in rows} == {"category", "team", "queue", "month", "outcome"}
    for grouping in ("category", "month", "outcome"):
        assert sum(int(row["count"]) for row in rows if row["grouping"] == grouping) == 4
    assert {"grouping": "month", "category": "", "team": "", "queue": "", "month": "2025-04", "outcome": "",
            "count": "1"} in rows


def test_incident_reports_hold_no_phone_numbers(cli: Cli, store: Store) -> None:
    fill_incidents(store)
    for extra in ([], ["--by", "category,team,queue,month,outcome"]):
        for form in ("table", "json", "csv"):
            code, out, _ = cli.run("report", "incidents", "--format", form, *extra)
            assert code == 0 and CALLER not in out and "470123456" not in out


def test_an_unknown_dimension_is_a_usage_error(cli: Cli) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.run("report", "incidents", "--by", "category,caller")
    assert exited.value.code == 2
    assert "cannot group by 'caller'" in cli.capsys.readouterr().err
