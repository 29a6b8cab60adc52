"""The desk in Debian's Chromium, against a real ``respectline desk`` process, on SQLite and PostgreSQL:
a Security user's inbox shows a new case without a reload, they work it to the end (evidence played,
report downloaded, assigned, noted, closed with an outcome) and the audit log shows each step; an
agent hears their compliment and it stops being new."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page

from agi_scripts.storage import Escalation, Store
from agi_scripts.storage.base import CaseToOpen, PauseToBook, utc_now
from tests.support.config_tree import PROJECT
from tests.support.desk import CARE_CALLER, PASSWORD, SECURITY_CALLER, World, fill, tone
from tests.support.desk_process import DeskProcess

pytestmark = pytest.mark.browser
SCREENSHOTS = PROJECT / "var" / "screenshots"

PLAY = """async (id) => {
    const audio = document.getElementById(id);
    await audio.play();
    while (!(audio.duration > 0) || audio.currentTime === 0) { await new Promise(r => setTimeout(r, 50)); }
    audio.pause();
    return audio.duration;
}"""
UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
    .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')).map(el => el.outerHTML)"""


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    return tmp_path / "recordings"


@pytest.fixture
def world(store: Store, recordings: Path) -> World:
    return fill(store, recordings)


@pytest.fixture
def desk(store_url: str, recordings: Path, world: World, tmp_path: Path) -> Iterator[DeskProcess]:
    with DeskProcess(PROJECT / "config" / "respectline.yaml", store_url, tmp_path / "desk.log",
                     recordings=(recordings,)) as process:
        yield process


def log_in(page: Page, desk: DeskProcess, name: str, path: str) -> None:
    """With the keyboard only, as a screen-reader user would."""
    page.goto(desk.url + path)
    page.wait_for_url("**/login?next=*")
    assert page.evaluate(UNLABELLED) == []
    page.keyboard.type(name)  # the name field has the focus
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(desk.url + path)


def test_security_sees_a_new_case_without_a_reload_and_works_it_to_the_end(
        page: Page, desk: DeskProcess, store: Store, recordings: Path, world: World) -> None:
    log_in(page, desk, "sec", "/inbox")
    assert page.locator("tr[data-case-id]").count() == 1
    assert page.evaluate(UNLABELLED) == []
    page.evaluate("window.stillTheSamePage = true")
    page.wait_for_timeout(300)  # the live inbox is connected

    evidence = tone(recordings / "evidence" / "2025" / "03" / "c5.wav", seconds=3.0)
    booked = time.monotonic()
    case = store.open_case(category="threat", team="security", priority=1, caller="+32475550005", agent="Agent One",
                           queue="support", call_id="c5", recording=str(evidence))
    row = page.locator(f'tr[data-case-id="{case.id}"]')
    row.wait_for(timeout=3000)
    shown_after = time.monotonic() - booked
    assert shown_after < 3.0
    assert page.evaluate("window.stillTheSamePage") is True  # no reload
    assert page.locator("tr[data-case-id]").first.get_attribute("data-case-id") == str(world.security_case.id)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "inbox.png"), full_page=True)

    row.get_by_role("link").click()
    page.wait_for_url(f"**/cases/{case.id}")
    assert page.locator("#case-caller").inner_text() == "+32475550005"
    assert page.evaluate(PLAY, "evidence-audio") == pytest.approx(3.0, abs=0.1)
    with page.expect_download() as download:
        page.click("#report-link")
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF")
    page.click("#assign-me")
    page.wait_for_load_state()
    assert page.locator("#case-assignee").inner_text() == "sec"
    page.fill("#note-text", "Called the caller back; he apologised.")
    page.click("#add-note")
    page.wait_for_load_state()
    page.select_option("#outcome", "spoke_with_caller")
    page.click("#close-case")
    page.wait_for_load_state()
    assert page.locator("#case-status").inner_text() == "closed: Spoke with the caller"
    assert "he apologised" in page.locator("ol.timeline").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "case.png"), full_page=True)
    actions = page.locator("#audit-log tbody tr").evaluate_all("rows => rows.map(r => r.dataset.action)")
    # Each form sends the browser back to the case page: a view after each change, the last one included.
    assert actions == ["case_viewed", "evidence_played", "report_exported", "assigned", "case_viewed",
                       "note_added", "case_viewed", "closed", "case_viewed"]
    assert store.get_case(case.id).status == "closed"  # type: ignore[union-attr]

    # The closed case leaves the inbox, again without a reload of the inbox page.
    page.goto(desk.url + "/inbox")
    assert page.locator(f'tr[data-case-id="{case.id}"]').count() == 0


def test_an_agent_hears_their_compliment_and_it_is_no_longer_new(
        page: Page, desk: DeskProcess, store: Store, world: World) -> None:
    log_in(page, desk, "one", "/my/compliments")
    item = page.locator(f'li[data-compliment-id="{world.compliment_one}"]')
    assert item.locator(".badge.new").count() == 1
    assert page.locator("li[data-compliment-id]").count() == 1  # Agent Two's is not here
    item.locator("audio").evaluate("audio => audio.id = 'mine'")
    assert page.evaluate(PLAY, "mine") > 0
    assert store.get_compliment(world.compliment_one).delivered_at is not None  # type: ignore[union-attr]
    page.reload()
    assert page.locator(".badge.new").count() == 0
    page.goto(desk.url + "/my/incidents")
    body = page.content()
    assert SECURITY_CALLER not in body and CARE_CALLER not in body
    page.goto(desk.url + f"/cases/{world.security_case.id}")
    assert SECURITY_CALLER not in page.content() and "Not allowed" in page.content()


def test_a_supervisors_live_view_shows_a_flag_its_case_and_the_agents_pause_without_a_reload(
        page: Page, desk: DeskProcess, store: Store, world: World) -> None:
    log_in(page, desk, "boss", "/live")
    assert page.locator("[data-pause-id]").count() == 0
    page.evaluate("window.stillTheSamePage = true")
    page.wait_for_timeout(300)
    now = utc_now()
    booked_at = time.monotonic()
    booked = store.book_escalation(Escalation(
        call_id="c6", category="threat", number_in_call=1, number_in_category=1, agent="Agent One",
        caller="+32475550006", queue="support", at=now, outcome="disconnect", team="security",
        case=CaseToOpen(team="security", priority=1),
        pause=PauseToBook(agent="PJSIP/agent1", reason="recovery", resume_at=now + timedelta(minutes=15))))
    pause = page.locator(f'tr[data-pause-id="{booked.pause_id}"]')
    pause.wait_for(timeout=3000)
    assert time.monotonic() - booked_at < 3.0
    assert page.evaluate("window.stillTheSamePage") is True
    assert "Agent One" in pause.inner_text() and "14 min" in pause.inner_text()
    assert page.locator(f'tr[data-flag-id="{booked.incident_id}"]').count() == 1
    assert page.locator('[data-team="security"]').inner_text() == "2"
    assert "+32475550006" not in page.content()
    page.screenshot(path=str(SCREENSHOTS / "live.png"), full_page=True)
