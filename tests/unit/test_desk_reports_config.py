"""The desk's reports (charts, tables, CSV, a period filter) and the admins' configuration view, on
SQLite and PostgreSQL: who may see them, what they count, that no caller number is ever in them,
that each view and download is audited, that bad input gets a clear answer, and that the view tells
which running server holds an older version of the files."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from starlette.testclient import TestClient

from agi_scripts.config.settings import load_settings
from agi_scripts.desk import passwords
from agi_scripts.desk.app import create_app
from agi_scripts.desk.charts import bar_chart
from agi_scripts.desk.config_view import disk_version, load_view
from agi_scripts.desk.reports_pages import SLOTS, BadPeriod, read_period
from agi_scripts.storage import Escalation, Store, StoreError
from agi_scripts.storage.base import CaseToOpen, utc_now
from agi_scripts.storage.desk import DeskStore
from agi_scripts.storage.figures import OFFERED, Figures
from agi_scripts.storage.servers import ServerRegistry
from tests.support.cli_runner import Cli
from tests.support.config_tree import PROJECT, ConfigTree
from tests.support.desk import CARE_CALLER, CHEAP_HASHER, SECURITY_CALLER, USERS, World, desk_options, fill, log_in

BRUSSELS = load_settings(PROJECT / "config" / "respectline.yaml", []).timezone
REPORT_PATHS = ("/reports", "/reports/incidents.csv", "/reports/cases.csv", "/reports/agents.csv",
                "/reports/campaigns.csv")


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "_HASHER", CHEAP_HASHER)


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    return tmp_path / "recordings"


@pytest.fixture
def world(store: Store, recordings: Path) -> World:
    return fill(store, recordings)


@pytest.fixture
def client(store: Store, store_url: str, recordings: Path, world: World) -> Iterator[TestClient]:
    with TestClient(create_app(desk_options(store_url, recordings), store)) as test_client:
        yield test_client


def flag(store: Store, call_id: str, category: str, *, at: datetime, queue: str = "support", outcome: str = "warn",
         number: int = 1, caller: str = SECURITY_CALLER, team: str | None = None) -> None:
    store.book_escalation(Escalation(
        call_id=call_id, category=category, number_in_call=number, number_in_category=number, agent="Agent One",
        caller=caller, queue=queue, at=at, outcome=outcome, team=team,
        case=CaseToOpen(team=team, priority=1) if team else None))


def in_the_period(days_ago: int) -> datetime:
    return utc_now() - timedelta(days=days_ago)


# ---------------------------------------------------------------- access


@pytest.mark.parametrize("user", sorted(USERS))
def test_reports_are_for_supervisors_and_admins_and_the_configuration_for_admins_only(
        client: TestClient, world: World, user: str) -> None:
    log_in(client, user)
    allowed_reports = user in ("boss", "root")
    for path in REPORT_PATHS:
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == (200 if allowed_reports else 403), (user, path, answer.status_code)
        assert SECURITY_CALLER not in answer.text and CARE_CALLER not in answer.text
    config = client.get("/admin/config", follow_redirects=False)
    assert config.status_code == (200 if user == "root" else 403), (user, config.status_code)
    home = client.get("/").text  # the role's first page, with the navigation
    assert ('href="/reports"' in home) == allowed_reports
    assert ('href="/admin/config"' in home) == (user == "root")


def test_an_anonymous_visitor_gets_the_login_page_or_a_refusal(client: TestClient) -> None:
    answer = client.get("/reports", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")
    assert client.get("/admin/config", follow_redirects=False).status_code == 303
    csv_answer = client.get("/reports/incidents.csv", follow_redirects=False)
    assert csv_answer.status_code in (303, 401)
    assert "grouping" not in csv_answer.text


# ---------------------------------------------------------------- reports


def test_the_reports_count_incidents_per_dimension_chart_and_table_and_audit_each_view(
        client: TestClient, store: Store, world: World) -> None:
    flag(store, "r1", "threat", at=in_the_period(3), outcome="disconnect", team="security")
    flag(store, "r2", "verbal_abuse", at=in_the_period(2), queue="billing", caller="+32470000002")
    flag(store, "r2", "verbal_abuse", at=in_the_period(2) + timedelta(seconds=30), queue="billing", number=2,
         caller="+32470000002")
    flag(store, "old", "threat", at=in_the_period(800))  # before the default period: not counted
    log_in(client, "boss")
    page = client.get("/reports")
    assert page.status_code == 200
    html = page.text
    assert "Incidents: 3" in html
    assert '<svg class="bars"' in html and 'role="img"' in html
    # The chart and its table say the same: 2 verbal abuse, 1 threat.
    assert 'data-label="Verbal abuse" data-value="2"' in html and 'data-label="Threat" data-value="1"' in html
    assert '<th scope="row">Verbal abuse</th><td class="number">2</td>' in html
    assert "+32470000002" not in html and SECURITY_CALLER not in html
    entries = DeskStore(store).audit_entries(limit=5)
    assert entries[0].action == "report_viewed" and entries[0].actor == "boss"
    assert "from " in entries[0].detail

    incidents = client.get("/reports/incidents.csv")
    assert incidents.headers["content-type"].startswith("text/csv")
    assert "attachment" in incidents.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(incidents.text)))
    by_category = {r["category"]: int(r["count"]) for r in rows if r["grouping"] == "category"}
    assert by_category == {"threat": 1, "verbal_abuse": 2}
    by_outcome = {r["outcome"]: int(r["count"]) for r in rows if r["grouping"] == "outcome"}
    assert by_outcome == {"disconnect": 1, "warn": 2}
    by_queue = {r["queue"]: int(r["count"]) for r in rows if r["grouping"] == "queue"}
    assert by_queue == {"billing": 2, "support": 1}
    assert "+32470000002" not in incidents.text
    assert DeskStore(store).audit_entries(limit=1)[0].action == "report_downloaded"
    assert DeskStore(store).audit_entries(limit=1)[0].detail.startswith("incidents.csv from ")


def test_a_period_filter_counts_only_its_days_in_local_time(client: TestClient, store: Store, world: World) -> None:
    # 23:30 UTC on 31 January is 00:30 on 1 February in Brussels: a February incident.
    flag(store, "p1", "threat", at=datetime(2025, 1, 31, 23, 30, tzinfo=timezone.utc))
    flag(store, "p2", "threat", at=datetime(2025, 1, 31, 22, 30, tzinfo=timezone.utc))
    flag(store, "p3", "threat", at=datetime(2025, 3, 1, 0, 30, tzinfo=timezone.utc))
    log_in(client, "root")
    page = client.get("/reports?from=2025-02-01&to=2025-02-28")
    assert "Incidents: 1" in page.text
    rows = list(csv.DictReader(io.StringIO(client.get("/reports/incidents.csv?from=2025-01-01&to=2025-03-31").text)))
    assert {r["month"]: int(r["count"]) for r in rows if r["grouping"] == "month"} == {
        "2025-01": 1, "2025-02": 1, "2025-03": 1}


@pytest.mark.parametrize("query, message", [
    ("from=2025-13-01", "is not a date"),
    ("from=yesterday", "must be a date written YYYY-MM-DD"),
    ("from=2025-03-01&to=2025-02-01", "ends (2025-02-01) before it begins (2025-03-01)"),
    ("from=" + "9" * 5000, "must be a date"),
    # Dates datetime cannot shift by the time zone or a day: a clear 400, not an OverflowError.
    ("from=0001-01-01", "out of range; expected a year from 1900 to 2999"),
    ("from=2025-01-01&to=9999-12-31", "out of range; expected a year from 1900 to 2999"),
    ("from=", "'from' is empty"),
    ("from=2022-01-01&to=2025-01-31", "longer than 36 months"),
])
def test_a_bad_period_gets_a_clear_message_not_a_crash(client: TestClient, world: World, query: str,
                                                       message: str) -> None:
    log_in(client, "boss")
    page = client.get(f"/reports?{query}")
    assert page.status_code == 400
    assert message in page.text.replace("&#39;", "'")
    assert "<form" in page.text  # the form, to try again
    download = client.get(f"/reports/incidents.csv?{query}")
    assert download.status_code == 400 and message in download.text


def test_one_report_at_a_time_per_session_and_a_few_in_all(client: TestClient, world: World) -> None:
    """A report holds a worker thread and a store query: a session asking for a second one while its
    first is being made, or a desk already making its share, answers "busy" at once instead of queueing."""
    csrf = log_in(client, "boss")
    try:
        SLOTS.running.add(csrf)  # this session's first report, still being made
        for path in ("/reports", "/reports/incidents.csv"):
            busy = client.get(path)
            assert busy.status_code == 503 and "still being made" in busy.text and busy.headers["Retry-After"]
        SLOTS.running.discard(csrf)
        SLOTS.running.update({"another session", "and another"})
        assert "Other reports are being made" in client.get("/reports").text
        SLOTS.running.clear()
        assert client.get("/reports").status_code == 200
        assert client.get("/reports/incidents.csv").status_code == 200
        assert SLOTS.running == set()  # given back after each
    finally:
        SLOTS.running.clear()


def test_a_period_of_36_months_is_the_longest() -> None:
    today = datetime(2026, 12, 6).date()
    longest = read_period({"from": "2024-01-01", "to": "2026-12-31"}, BRUSSELS, today)
    assert longest.first_day == "2024-01-01"
    with pytest.raises(BadPeriod, match="longer than 36 months"):
        read_period({"from": "2023-12-31"}, BRUSSELS, today)  # to today


def test_an_unknown_report_is_not_found_and_markup_in_a_period_is_escaped(client: TestClient, world: World) -> None:
    log_in(client, "boss")
    assert client.get("/reports/callers.csv").status_code == 404
    page = client.get("/reports?from=<script>x</script>")
    assert page.status_code == 400 and "<script>x" not in page.text


def test_compliments_per_agent_and_the_campaign_ab_result(client: TestClient, store: Store, world: World) -> None:
    at = in_the_period(1)
    for n, (campaign, offered, accepted, rating, recorded) in enumerate([
            ("thank-you-week-a", True, True, 5, True), ("thank-you-week-a", True, True, 4, False),
            ("thank-you-week-a", True, False, None, False), ("thank-you-week-b", True, True, None, False),
            ("thank-you-week-b", False, False, None, False)]):
        call_id = f"ab{n}"
        store.record_call_start(call_id, caller=f"+3247000{n:04d}", queue="support", language="nl", route="support",
                                campaign=campaign, started_at=at)
        if offered:
            store.update_call(call_id, agent="Agent One", outcome=OFFERED)
        if accepted:
            compliment = store.start_compliment(call_id, agent="Agent One", queue="support", campaign=campaign, at=at)
            if rating:
                store.set_compliment_rating(compliment, rating, at=at)
            if recorded:
                store.set_compliment_recording(compliment, f"/tmp/{call_id}.wav", at=at)
    results = {r.campaign: r for r in Figures(store).campaign_results(since=at - timedelta(hours=1))}
    a, b = results["thank-you-week-a"], results["thank-you-week-b"]
    assert (a.calls, a.offered, a.accepted, a.rated, a.recorded) == (3, 3, 2, 2, 1)
    assert a.average_rating == pytest.approx(4.5) and a.acceptance == pytest.approx(2 / 3)
    assert (b.calls, b.offered, b.accepted, b.rated, b.recorded) == (2, 1, 1, 0, 0)
    assert b.average_rating is None
    assert Figures(store).campaign_results(since=at + timedelta(hours=1), until=at + timedelta(hours=2)) == []

    log_in(client, "boss")
    rows = {r["campaign"]: r for r in csv.DictReader(io.StringIO(client.get("/reports/campaigns.csv").text))}
    assert rows["thank-you-week-a"]["offered"] == "3" and rows["thank-you-week-a"]["accepted"] == "2"
    assert rows["thank-you-week-a"]["weight"] == "50"  # as campaigns.yaml asks now
    assert rows["thank-you-week-a"]["acceptance"] == "0.667"
    agents = {r["agent"]: r for r in csv.DictReader(io.StringIO(client.get("/reports/agents.csv").text))}
    assert agents["Agent One"]["compliments"] == "4"  # three here and one of the world's
    page = client.get("/reports").text
    assert "thank-you-week-a" in page and "66.7 %" in page


def test_cases_closed_per_outcome(client: TestClient, store: Store, world: World) -> None:
    store.close_case(world.security_case.id, "police_report_filed", author="sec")
    store.close_case(world.care_case.id, "no_contact", author="care")
    assert sorted(Figures(store).case_resolutions()) == [("no_contact", 1), ("police_report_filed", 1)]
    assert Figures(store).case_resolutions(until=utc_now() - timedelta(days=1)) == []
    log_in(client, "boss")
    rows = list(csv.DictReader(io.StringIO(client.get("/reports/cases.csv").text)))
    assert {(r["outcome"], r["closed"]) for r in rows} == {("no_contact", "1"), ("police_report_filed", "1")}


def test_the_default_period_is_the_last_twelve_months() -> None:
    period = read_period({}, BRUSSELS, datetime(2026, 3, 15).date())
    assert period.first_day == "2025-04-01" and period.until is None
    with pytest.raises(BadPeriod):
        read_period({"from": "2026-03-15", "to": "2026-03-14"}, BRUSSELS, datetime(2026, 3, 15).date())
    one_day = read_period({"from": "2026-03-15", "to": "2026-03-15"}, BRUSSELS, datetime(2026, 3, 15).date())
    assert one_day.until is not None and one_day.since is not None
    assert one_day.until - one_day.since == timedelta(days=1)


# ---------------------------------------------------------------- the configuration view


@pytest.fixture
def tree_client(store: Store, store_url: str, recordings: Path, world: World,
                config_tree: ConfigTree) -> Iterator[tuple[TestClient, ConfigTree]]:
    options = desk_options(store_url, recordings)
    settings = load_settings(config_tree.config, [])
    # The shipped config's language.default is nl: this client asks for the English pages these tests read.
    with TestClient(create_app(replace(options, settings=settings), store),
                    headers={"Accept-Language": "en"}) as test_client:
        yield test_client, config_tree


def test_the_configuration_view_shows_what_is_in_force(tree_client: tuple[TestClient, ConfigTree],
                                                       store: Store) -> None:
    client, _tree = tree_client
    log_in(client, "root")
    html = client.get("/admin/config").text
    assert "The files on disk are valid" in html
    for section in ("Campaigns running now", "The ladder per category", "Teams", "Post-call flow",
                    "Outcomes a case is closed with"):
        assert section in html
    assert "police_report_filed" in html and "pause agent" in html
    assert "No <code>respectline serve</code> process has announced itself" in html
    assert DeskStore(store).audit_entries(limit=1)[0].action == "config_viewed"


def test_a_broken_file_shows_its_errors_with_line_column_and_hint(tree_client: tuple[TestClient, ConfigTree]) -> None:
    client, tree = tree_client
    tree.replace("flows/campaigns.yaml", "weight: 50", "weight: lots")
    line = tree.line_of("flows/campaigns.yaml", "weight: lots")
    log_in(client, "root")
    html = client.get("/admin/config").text
    assert "The files on disk have 1 error" in html
    assert f"campaigns.yaml:{line}:" in html
    assert "What is in force cannot be shown" in html


def test_a_server_with_an_older_version_of_the_files_is_named(tree_client: tuple[TestClient, ConfigTree],
                                                              store: Store) -> None:
    client, tree = tree_client
    settings = load_settings(tree.config, [])
    registry = ServerRegistry(store)
    now = utc_now()
    current = disk_version(settings)[0]
    registry.announce("agi1:100:1", host="agi1", pid=100, started_at=now, bundle_digest=current, loaded_at=now)
    registry.announce("agi2:200:1", host="agi2", pid=200, started_at=now, bundle_digest="sha256:0000000000000000",
                      loaded_at=now - timedelta(hours=1))
    registry.announce("agi3:300:1", host="agi3", pid=300, started_at=now - timedelta(hours=2),
                      bundle_digest="sha256:1111111111111111", loaded_at=now, at=now - timedelta(hours=1))
    log_in(client, "root")
    html = client.get("/admin/config").text
    assert "Server agi2 (process 200) runs an older version of the flows" in html
    assert "Server agi1" not in html.split("<table class=\"servers\"")[0]
    assert "Server agi3" not in html  # not seen for an hour: not running, so not warned about
    assert "not seen lately" in html

    tree.replace("flows/campaigns.yaml", "weight: 50", "weight: 60")  # the disk moves on
    html = client.get("/admin/config").text
    assert "Server agi1 (process 100) runs an older version" in html
    registry.stopped("agi1:100:1")
    assert "Server agi1" not in client.get("/admin/config").text.split("<table class=\"servers\"")[0]


def test_server_presence_rows_are_refreshed_not_duplicated_and_long_gone_ones_forgotten(store: Store) -> None:
    registry = ServerRegistry(store)
    start = utc_now() - timedelta(days=10)
    registry.announce("old:1:1", host="old", pid=1, started_at=start, bundle_digest="sha256:a", loaded_at=start,
                      at=start)
    now = utc_now()
    for _ in range(3):
        registry.announce("new:2:2", host="new", pid=2, started_at=now, bundle_digest="sha256:b", loaded_at=now)
    registry.announce("new:2:2", host="new", pid=2, started_at=now, bundle_digest="sha256:c", loaded_at=now)
    servers = registry.servers()
    assert [(s.host, s.bundle_digest, s.stopped_at) for s in servers] == [("new", "sha256:c", None)]
    registry.stopped("new:2:2")
    assert registry.servers()[0].stopped_at is not None
    assert not registry.servers()[0].alive(utc_now(), within=timedelta(minutes=5))


def test_the_command_line_and_the_desk_give_the_same_campaign_figures(
        cli: Cli, client: TestClient, store: Store, world: World) -> None:
    at = in_the_period(1)
    for n, campaign in enumerate(("thank-you-week-a", "thank-you-week-a", "thank-you-week-b")):
        store.record_call_start(f"cli{n}", caller=f"+3247100{n:04d}", queue="support", language="nl",
                                route="support", campaign=campaign, started_at=at)
        store.update_call(f"cli{n}", outcome=OFFERED)
    store.set_compliment_rating(store.start_compliment("cli0", agent="Agent One", queue="support",
                                                       campaign="thank-you-week-a", at=at), 3, at=at)
    since = (at - timedelta(days=1)).date().isoformat()
    printed = cli.json("report", "campaigns", "--since", since)
    assert isinstance(printed, list)
    by_campaign = {row["campaign"]: row for row in printed}
    assert (by_campaign["thank-you-week-a"]["offered"], by_campaign["thank-you-week-a"]["accepted"]) == (2, 1)
    assert by_campaign["thank-you-week-b"]["acceptance"] == 0.0
    table = cli.ok("report", "campaigns", "--since", since)
    assert "thank-you-week-a" in table and "(no campaign)" in table  # the world's compliments have none
    log_in(client, "boss")
    downloaded = client.get(f"/reports/campaigns.csv?from={since}").text
    shown = {r["campaign"]: r for r in csv.DictReader(io.StringIO(downloaded))}
    for campaign, row in by_campaign.items():
        desk_row = shown[campaign or "(no campaign)"]
        assert (int(desk_row["calls"]), int(desk_row["offered"]), int(desk_row["accepted"])) == (
            row["calls"], row["offered"], row["accepted"])
    code, _out, err = cli.run("report", "campaigns", "--since", "2025-02-30")
    assert code != 0 and "2025-02-30" in err and "Traceback" not in err


def test_incident_counts_summed_by_the_database_match_counting_each_incident_in_local_time(store: Store) -> None:
    """The store counts per local month in SQL; the same figures as taking each incident's local month."""
    kolkata = ZoneInfo("Asia/Kolkata")  # +05:30: a month starts at 18:30 UTC the day before
    start = datetime(2025, 1, 31, 18, 0, tzinfo=timezone.utc)
    expected: Counter[tuple[str, str, str]] = Counter()
    for n in range(60):
        at = start + timedelta(hours=11 * n)
        category, queue = ("threat", "verbal_abuse")[n % 2], ("support", "billing", "sales")[n % 3]
        flag(store, f"m{n}", category, at=at, queue=queue, outcome=("warn", "disconnect")[n % 5 == 0])
        expected[(category, queue, at.astimezone(kolkata).strftime("%Y-%m"))] += 1
    counted = store.incident_counts(["category", "queue", "month"], tz=kolkata)
    assert {(c.category, c.queue, c.month): c.count for c in counted} == dict(expected)
    assert [(c.category, c.queue, c.month) for c in counted] == sorted(expected)
    assert sum(c.count for c in store.incident_counts([], tz=kolkata)) == 60
    since = datetime(2025, 2, 10, tzinfo=timezone.utc)
    assert sum(c.count for c in store.incident_counts(["outcome"], since=since, tz=kolkata)) == sum(
        1 for n in range(60) if start + timedelta(hours=11 * n) >= since)
    assert store.incident_counts(["month"], since=datetime(2030, 1, 1, tzinfo=timezone.utc)) == []


def test_a_bar_chart_draws_lengths_in_proportion_and_keeps_every_figure_in_its_table() -> None:
    chart = bar_chart("c", "Per queue", [("billing", 2), ("support", 4), ("sales", 0)])
    assert [(b.label, b.shown, b.width) for b in chart.bars] == [("support", "4", 330), ("billing", "2", 165),
                                                                 ("sales", "0", 0)]
    assert chart.description == "3 bars; the largest is support with 4; 6 in all"
    many = bar_chart("m", "Per month", [(f"m{n:03d}", n) for n in range(100)], keep_order=True)
    assert many.hidden == 100 - len(many.bars) and many.bars[-1].label == "m099"  # the latest months drawn
    assert len(many.rows) == 100 and many.rows[0] == ("m000", "0")
    tiny = bar_chart("t", "t", [("a", 1000), ("b", 1)])
    assert tiny.bars[1].width == 1  # a value above zero is never invisible
    long = bar_chart("l", "l", [("x" * 60, 1)])
    assert long.bars[0].label.endswith("…") and len(long.bars[0].label) <= 22 and long.rows[0][0] == "x" * 60
    assert bar_chart("e", "e", []).description == "No data in this period."


def test_the_campaigns_running_now_per_queue_with_their_share_and_each_languages_prompt(
        config_tree: ConfigTree, store: Store) -> None:
    settings = load_settings(config_tree.config, [])
    tuesday = datetime(2026, 11, 17, 10, 0, tzinfo=BRUSSELS)  # inside both thank-you weeks' hours
    view = load_view(settings, ServerRegistry(store), tuesday)
    running = {queue["queue"]: [(one["campaign"].id, one["share"]) for one in queue["running"]]
               for queue in view["campaigns"]}
    assert running == {"support": [("thank-you-week-a", 50), ("thank-you-week-b", 50)],
                       "billing": [("thank-you-week-a", 100)]}
    prompts = {language: prompt for language, prompt, _present in view["campaigns"][0]["running"][1]["prompts"]}
    assert set(prompts) == set(view["languages"]) and set(prompts.values()) == {"campaign_thank_you_week"}
    sunday = datetime(2026, 11, 22, 10, 0, tzinfo=BRUSSELS)
    assert all(not queue["running"] for queue in load_view(settings, ServerRegistry(store), sunday)["campaigns"])


def test_the_configuration_view_still_shows_the_files_when_the_store_does_not_answer(
        tree_client: tuple[TestClient, ConfigTree], monkeypatch: pytest.MonkeyPatch) -> None:
    client, _tree = tree_client
    log_in(client, "root")

    def down(self: ServerRegistry, *, limit: int = 200) -> list[object]:
        raise StoreError("database is locked")

    monkeypatch.setattr(ServerRegistry, "servers", down)
    page = client.get("/admin/config")
    assert page.status_code == 200
    assert "The store did not answer: database is locked" in page.text
    assert "The files on disk are valid" in page.text and "The ladder per category" in page.text
