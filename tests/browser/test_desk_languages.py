"""The desk in Dutch, French and English, with the keyboard only, in Debian's Chromium against a real
``respectline desk`` process, on SQLite and PostgreSQL.

Each language: the browser's language picks the pages' language before anyone chooses; the inbox
(due times, an overdue case marked in words), a case and the live view are checked for names of
every control, headings and contrast, and photographed into ``docs/screenshots/`` (the README shows
these, so they are as true as the last test run). One user walks the inbox and a case by keyboard
alone, from the skip link to closing the case; another chooses their language on My settings.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from agi_scripts.storage import Escalation, Store
from agi_scripts.storage.base import CaseToOpen, PauseToBook, utc_now
from agi_scripts.storage.desk import DeskStore
from tests.support.config_tree import PROJECT
from tests.support.desk import PASSWORD, World, fill, tone
from tests.support.desk_a11y import control_count, focused, heading_problems, low_contrast, unnamed_controls
from tests.support.desk_process import DeskProcess

pytestmark = pytest.mark.browser
SCREENSHOTS = PROJECT / "docs" / "screenshots"
LOCALES = {"nl": "nl-BE", "fr": "fr-BE", "en": "en-GB"}
WORDS = {
    # language: (inbox h1, overdue marker start, case section, live h1, the note typed)
    "nl": ("Inbox: alle teams", "te laat", "Over deze zaak", "Live", "Beller teruggebeld; hij verontschuldigde zich."),
    "fr": ("Boîte de réception : toutes les équipes", "en retard de", "À propos de ce dossier", "En direct",
           "Appelant rappelé ; il s'est excusé."),
    "en": ("Inbox: all teams", "overdue by", "About this case", "Live", "Called the caller back; he apologised."),
}


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    return tmp_path / "recordings"


@pytest.fixture
def world(store: Store, recordings: Path) -> World:
    world = fill(store, recordings)
    now = utc_now()
    # An overdue high case and a recent low one, so the inbox shows both kinds of due time.
    store.open_case(category="verbal_abuse", team="security", priority=2, caller="+32475550007", agent="Agent Two",
                    queue="billing", call_id="c7", at=now - timedelta(hours=6))
    store.open_case(category="discrimination", team="special_care", priority=4, caller="", agent="Agent One",
                    queue="support", call_id="c8", at=now - timedelta(minutes=20))
    store.book_escalation(Escalation(
        call_id="c9", category="threat", number_in_call=1, number_in_category=1, agent="Agent One",
        caller="+32475550009", queue="support", at=now, outcome="disconnect", team="security",
        case=CaseToOpen(team="security", priority=1),
        pause=PauseToBook(agent="PJSIP/agent1", reason="recovery", resume_at=now + timedelta(minutes=15))))
    return world


@pytest.fixture
def desk(store_url: str, recordings: Path, world: World, tmp_path: Path) -> Iterator[DeskProcess]:
    with DeskProcess(PROJECT / "config" / "respectline.yaml", store_url, tmp_path / "desk.log",
                     recordings=(recordings,)) as process:
        yield process


def context_in(browser: Browser, language: str) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=LOCALES[language])
    context.set_default_timeout(10_000)
    return context


def keyboard_log_in(page: Page, desk: DeskProcess, name: str, path: str) -> None:
    page.goto(desk.url + path)
    page.wait_for_url("**/login?next=*")
    page.keyboard.type(name)  # the name field has the focus
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(desk.url + path)


def accessible(page: Page) -> None:
    """Every control named for a screen reader, headings in order, enough contrast."""
    assert control_count(page) > 0
    assert unnamed_controls(page) == []
    assert heading_problems(page) == []
    assert low_contrast(page) == []


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


@pytest.mark.parametrize("language", ["nl", "fr", "en"])
def test_the_desk_in_each_language_is_accessible_and_photographed(
        browser: Browser, desk: DeskProcess, store: Store, world: World, recordings: Path, language: str) -> None:
    inbox_title, overdue, about, live_title, note = WORDS[language]
    context = context_in(browser, language)
    try:
        page = context.new_page()
        keyboard_log_in(page, desk, "boss", "/inbox")
        assert page.get_attribute("html", "lang") == language
        assert page.locator("h1").inner_text() == inbox_title
        late = page.locator("tr.overdue")
        assert late.count() >= 1 and overdue in late.first.locator("td.due").inner_text()
        assert "⚠" in late.first.inner_text()  # a sign next to the words, not colour alone
        accessible(page)
        shoot(page, f"inbox-{language}.png")

        page.locator(f'tr[data-case-id="{world.security_case.id}"] a').click()
        page.wait_for_url(f"**/cases/{world.security_case.id}")
        assert page.get_attribute("html", "lang") == language
        assert page.locator("#about").inner_text() == about
        page.click("#assign-me")
        page.wait_for_load_state()
        page.fill("#note-text", note)
        page.click("#add-note")
        page.wait_for_load_state()
        assert note in page.locator("ol.timeline").inner_text()
        accessible(page)
        shoot(page, f"case-{language}.png")

        page.goto(desk.url + "/live")
        assert page.locator("h1").inner_text() == live_title
        assert page.locator("[data-pause-id]").count() == 1
        accessible(page)
        shoot(page, f"live-{language}.png")
    finally:
        context.close()


def tab_to(page: Page, wanted: Any, *, most: int = 60) -> list[dict[str, Any]]:
    """Press Tab until ``wanted(focus)`` holds; every element passed on the way, each checked for a
    visible focus ring (an outline of at least 2 px, drawn because the keyboard moved there)."""
    passed = []
    for _ in range(most):
        page.keyboard.press("Tab")
        focus = focused(page)
        assert focus is not None, "the focus left the page"
        assert focus["visible"] and focus["outline"] != "none" and focus["width"] >= 2, focus
        passed.append(focus)
        if wanted(focus):
            return passed
    raise AssertionError(f"not reached with {most} presses of Tab: {passed}")


def submit_by_keyboard(page: Page) -> None:
    """Enter on the focused button, and wait for the page the form leads to (the same address here)."""
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state()


def test_the_inbox_and_a_case_with_the_keyboard_only(page: Page, desk: DeskProcess, store: Store,
                                                     world: World) -> None:
    keyboard_log_in(page, desk, "sec", "/inbox")
    accessible(page)
    first = tab_to(page, lambda f: True)[0]
    assert first["href"] == "#main" and first["text"] == "Skip to the content"
    page.keyboard.press("Enter")
    # Past the skip link the next stop is the first filter, not the menu again.
    assert tab_to(page, lambda f: True)[0]["id"] == "priority"
    page.keyboard.press("ArrowDown")  # the first priority: urgent
    tab_to(page, lambda f: f["id"] == "apply-filters")
    page.keyboard.press("Enter")
    page.wait_for_url("**/inbox?priority=urgent*")
    assert page.locator("tr[data-case-id]").count() == 2  # fill()'s threat case and the booked one
    case_link = tab_to(page, lambda f: (f["href"] or "").startswith("/cases/"))[-1]
    case_id = int(case_link["href"].rsplit("/", 1)[1])
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/cases/{case_id}")
    accessible(page)

    tab_to(page, lambda f: f["id"] == "assign-me")
    submit_by_keyboard(page)
    assert page.locator("#case-assignee").inner_text() == "sec"
    tab_to(page, lambda f: f["id"] == "note-text")
    page.keyboard.type("Spoke to the caller by keyboard.")
    tab_to(page, lambda f: f["id"] == "add-note")
    submit_by_keyboard(page)
    assert "Spoke to the caller by keyboard." in page.locator("ol.timeline").inner_text()
    tab_to(page, lambda f: f["id"] == "outcome")
    page.keyboard.press("ArrowDown")  # the first outcome of the list
    tab_to(page, lambda f: f["id"] == "close-case")
    submit_by_keyboard(page)
    assert page.locator("#case-status").get_attribute("data-status") == "closed"
    assert store.get_case(case_id).status == "closed"  # type: ignore[union-attr]


def test_a_user_chooses_their_language_in_the_browser(browser: Browser, desk: DeskProcess, store: Store,
                                                      world: World) -> None:
    context = context_in(browser, "fr")
    try:
        page = context.new_page()
        keyboard_log_in(page, desk, "care", "/my/settings")
        assert page.get_attribute("html", "lang") == "fr"
        assert page.is_checked("#language-fr")  # the browser's, until chosen
        accessible(page)
        page.check("#language-nl")
        page.click("#save-settings")
        page.wait_for_url("**/my/settings?saved=1")
        assert page.get_attribute("html", "lang") == "nl"
        assert page.locator("[role=status]").inner_text() == "Opgeslagen. De desk spreekt nu uw taal."
        page.goto(desk.url + "/inbox")
        assert page.locator("h1").inner_text() == "Inbox: Special Care"
        user = DeskStore(store).user_named("care")
        assert user is not None and user.language == "nl"
    finally:
        context.close()


def test_a_new_case_appears_on_a_filtered_dutch_inbox_without_a_reload(
        browser: Browser, desk: DeskProcess, store: Store, world: World, recordings: Path) -> None:
    """The filters keep the live updates: a new urgent case appears on an inbox showing urgent ones only,
    a new low one does not."""
    context = context_in(browser, "nl")
    try:
        page = context.new_page()
        keyboard_log_in(page, desk, "sec", "/inbox?priority=urgent")
        page.evaluate("window.stillTheSamePage = true")
        page.wait_for_timeout(300)
        low = store.open_case(category="threat", team="security", priority=4, caller="+32475550010",
                              agent="Agent One", queue="support", call_id="c10")
        urgent = store.open_case(category="threat", team="security", priority=1, caller="+32475550011",
                                 agent="Agent One", queue="support", call_id="c11",
                                 recording=str(tone(recordings / "evidence" / "c11.wav")))
        booked = time.monotonic()
        page.locator(f'tr[data-case-id="{urgent.id}"]').wait_for(timeout=3000)
        assert time.monotonic() - booked < 3.0
        assert page.evaluate("window.stillTheSamePage") is True
        assert page.locator(f'tr[data-case-id="{low.id}"]').count() == 0
        status = page.locator("#inbox-status").inner_text()
        assert re.fullmatch(r"Bijgewerkt om \d{2}:\d{2}:\d{2}\.", status), status
    finally:
        context.close()


def test_the_checks_catch_what_they_look_for(page: Page) -> None:
    """The rude twin of the checks above: an unnamed field, two h1s, pale text are each found."""
    page.set_content('<html lang="en"><body><h1>One</h1><h1>Two</h1><h3>Skipped</h3>'
                     '<input id="nameless"><button></button><label>Named <input id="named"></label>'
                     '<p style="color:#bbbbbb">pale</p><p style="color:#595959">dark enough</p></body></html>')
    assert sorted(item["role"] for item in unnamed_controls(page)) == ["button", "textbox"]
    problems = heading_problems(page)
    assert any("one h1" in p for p in problems) and any("h3 'Skipped' follows h1" in p for p in problems)
    assert low_contrast(page) == [["pale", 1.92]]  # #bbb on white; the WCAG AA minimum is 4.5
