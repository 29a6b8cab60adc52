"""The reports and the configuration view in Debian's Chromium, against a real ``respectline desk``
process, on SQLite and PostgreSQL: a supervisor reads the charts (inline SVG, with the same figures
in a table), narrows the period with the keyboard, downloads a CSV; an admin sees what is in force
and which server runs an older version of the files, then a broken file's error with its line."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page

from agi_scripts.config.settings import load_settings
from agi_scripts.desk.config_view import disk_version
from agi_scripts.storage import Escalation, Store
from agi_scripts.storage.base import CaseToOpen, utc_now
from agi_scripts.storage.desk import DeskStore
from agi_scripts.storage.servers import ServerRegistry
from tests.support.config_tree import PROJECT, ConfigTree
from tests.support.desk import CARE_CALLER, PASSWORD, SECURITY_CALLER, World, fill
from tests.support.desk_process import DeskProcess

pytestmark = pytest.mark.browser
SCREENSHOTS = PROJECT / "var" / "screenshots"
UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
    .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')).map(el => el.outerHTML)"""
CHART_BARS = """(key) => [...document.querySelectorAll(`#${key}-caption ~ svg g.bar`)]
    .map(g => [g.dataset.label, g.dataset.value, Number(g.querySelector('rect').getAttribute('width'))])"""
TABLE_ROWS = """(key) => [...document.querySelectorAll(`#${key}-table tbody tr`)]
    .map(tr => [tr.querySelector('th').textContent, tr.querySelector('td').textContent])"""


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    return tmp_path / "recordings"


@pytest.fixture
def world(store: Store, recordings: Path) -> World:
    return fill(store, recordings)


@pytest.fixture
def desk(store_url: str, recordings: Path, world: World, config_tree: ConfigTree,
         tmp_path: Path) -> Iterator[DeskProcess]:
    with DeskProcess(config_tree.config, store_url, tmp_path / "desk.log", recordings=(recordings,)) as process:
        yield process


def log_in(page: Page, desk: DeskProcess, name: str, path: str) -> None:
    page.goto(desk.url + path)
    page.wait_for_url("**/login?next=*")
    page.keyboard.type(name)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(desk.url + path)


def flag(store: Store, call_id: str, category: str, days_ago: int, queue: str = "support") -> None:
    store.book_escalation(Escalation(
        call_id=call_id, category=category, number_in_call=1, number_in_category=1, agent="Agent One",
        caller="+32475551234", queue=queue, at=utc_now() - timedelta(days=days_ago), outcome="warn",
        team="security", case=CaseToOpen(team="security", priority=2)))


def test_a_supervisor_reads_the_charts_narrows_the_period_and_downloads_a_csv(
        page: Page, desk: DeskProcess, store: Store, world: World) -> None:
    flag(store, "b1", "threat", 2)
    flag(store, "b2", "verbal_abuse", 2, queue="billing")
    flag(store, "b3", "verbal_abuse", 40, queue="billing")
    log_in(page, desk, "boss", "/reports")
    assert page.evaluate(UNLABELLED) == []
    assert page.get_by_role("heading", name="Incidents: 3").count() == 1
    # Every chart is an image with a name and a description, and its table says the same.
    for chart in page.locator("svg.bars").all():
        assert chart.get_attribute("role") == "img"
        assert chart.evaluate("svg => svg.querySelector('title').textContent && svg.querySelector('desc').textContent")
    bars = page.evaluate(CHART_BARS, "category")
    assert [(label, value) for label, value, _ in bars] == [("Verbal abuse", "2"), ("Threat", "1")]
    assert bars[0][2] == 2 * bars[1][2]  # the bars' lengths are the figures'
    assert page.evaluate(TABLE_ROWS, "category") == [["Verbal abuse", "2"], ["Threat", "1"]]
    assert page.locator("svg.bars").first.bounding_box()["height"] > 20  # type: ignore[index]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "reports.png"), full_page=True)

    # The last ten days only, sent from the period form with the Enter key.
    today = utc_now().date()
    page.fill("#period-from", (today - timedelta(days=10)).isoformat())
    page.fill("#period-to", today.isoformat())
    page.focus("#period-to")
    page.keyboard.press("Enter")
    page.wait_for_url("**/reports?from=*")
    assert page.get_by_role("heading", name="Incidents: 2").count() == 1
    assert SECURITY_CALLER not in page.content() and "+32475551234" not in page.content()

    with page.expect_download() as download:
        page.get_by_role("link", name="Download incidents (CSV)").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert {r["queue"]: r["count"] for r in rows if r["grouping"] == "queue"} == {"billing": "1", "support": "1"}
    actions = [e.action for e in DeskStore(store).audit_entries(limit=3)]
    assert actions[:3] == ["report_downloaded", "report_viewed", "report_viewed"]


def test_an_agent_cannot_reach_the_reports_and_a_supervisor_not_the_configuration(
        page: Page, desk: DeskProcess, world: World) -> None:
    log_in(page, desk, "one", "/my/compliments")
    assert page.locator('a[href="/reports"]').count() == 0
    page.goto(desk.url + "/reports")
    assert "Not allowed" in page.content() and CARE_CALLER not in page.content()
    page.goto(desk.url + "/admin/config")
    assert "Not allowed" in page.content()


def test_an_admin_sees_the_configuration_in_force_and_a_server_on_an_older_version(
        page: Page, desk: DeskProcess, store: Store, world: World, config_tree: ConfigTree) -> None:
    settings = load_settings(config_tree.config, [])
    registry = ServerRegistry(store)
    now = utc_now()
    registry.announce("agi-a:11:1", host="agi-a", pid=11, started_at=now,
                      bundle_digest=disk_version(settings)[0], loaded_at=now)
    registry.announce("agi-b:22:1", host="agi-b", pid=22, started_at=now, bundle_digest="sha256:00000000deadbeef",
                      loaded_at=now - timedelta(days=1))
    log_in(page, desk, "root", "/admin/users")
    page.get_by_role("link", name="Configuration").click()
    page.wait_for_url("**/admin/config")
    assert page.get_by_role("heading", level=1).inner_text() == "Configuration in force"
    for name in ("Validation of the files on disk", "Servers", "Campaigns running now", "The ladder per category",
                 "Teams", "Post-call flow", "Outcomes a case is closed with"):
        assert page.get_by_role("heading", name=name, exact=True).count() == 1, name
    assert "Server agi-b (process 22) runs an older version of the flows" in page.locator("#main").inner_text()
    assert page.locator('tr[data-server="agi-a:11:1"]').inner_text().count("same as on disk") == 1
    assert page.locator("table.ladder tbody tr").count() >= 3
    page.screenshot(path=str(SCREENSHOTS / "configuration.png"), full_page=True)

    config_tree.replace("flows/abuse_policy.yaml", "label: Threat", "label: [Threat")
    line = config_tree.line_of("flows/abuse_policy.yaml", "label: [Threat")
    page.reload()
    errors = page.locator("ul.config-errors li").all_inner_texts()
    assert errors and errors[0].startswith(f"abuse_policy.yaml:{line}:")
    assert page.get_by_role("alert").count() == 1
    assert "Server agi-a (process 11) runs an older version" in page.locator("#main").inner_text()
