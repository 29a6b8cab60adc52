"""The team lead's review of held compliments in Debian's Chromium, against a real ``respectline desk``
process, on SQLite and PostgreSQL: a supervisor reads why a compliment waits, plays the held message,
releases it to the agent and closes a follow-up with a note, with the keyboard and labelled fields only;
the agent then finds the released compliment on their own page, and never the held one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from agi_scripts.storage import Store
from agi_scripts.storage.desk import DeskStore
from agi_scripts.storage.screening import ScreeningStore
from tests.support.config_tree import PROJECT
from tests.support.desk import PASSWORD, World, fill, tone
from tests.support.desk_process import DeskProcess

pytestmark = pytest.mark.browser

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


def held(store: Store, recordings: Path, name: str, rating: int, reason: str) -> int:
    compliment_id = store.start_compliment(f"c-{name}", agent="Agent One", queue="support", campaign=None)
    store.set_compliment_rating(compliment_id, rating)
    store.set_compliment_recording(compliment_id, str(tone(recordings / "compliments" / f"{name}.wav", 2.0)))
    ScreeningStore(store).screen(compliment_id, "held", reason, only_from=("unscreened",))
    return compliment_id


def log_in(page: Page, desk: DeskProcess, name: str, path: str) -> None:
    page.goto(desk.url + path)
    page.wait_for_url("**/login?next=*")
    # Filled field by field: typing blind lost the first letters once, when the focus came late on a busy machine.
    page.fill('input[name="name"]', name)
    page.fill('input[name="password"]', PASSWORD)
    page.press('input[name="password"]', "Enter")
    page.wait_for_url(desk.url + path)


def test_a_supervisor_plays_releases_and_follows_up_and_the_agent_then_finds_the_compliment(
        page: Page, desk: DeskProcess, store: Store, recordings: Path, world: World) -> None:
    kind = held(store, recordings, "kind", 4, "spoken message without a transcript (transcription is off)")
    low = held(store, recordings, "low", 1, "rating 1 (at or below 2)")
    follow_up = ScreeningStore(store).open_follow_up(low)
    assert follow_up is not None

    log_in(page, desk, "boss", "/review/compliments")
    assert page.evaluate(UNLABELLED) == []
    row = page.locator(f'tr[data-compliment-id="{kind}"]')
    assert "spoken message without a transcript" in row.inner_text()
    row.locator("audio").evaluate("audio => audio.id = 'held'")
    assert page.evaluate(PLAY, "held") > 1.5
    row.get_by_role("button", name="Release to the agent").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/review/compliments?done=released")
    assert page.locator(f'tr[data-compliment-id="{kind}"]').count() == 0
    assert page.locator(f'tr[data-compliment-id="{low}"]').count() == 1  # the low one still waits

    page.get_by_label("What was done").fill("called the customer back")
    page.keyboard.press("Enter")
    page.wait_for_url("**/review/compliments?done=closed")
    assert page.locator("tr[data-follow-up-id]").count() == 0
    actions = [entry.action for entry in DeskStore(store).audit_entries()]
    assert {"compliment_reviewed", "compliment_released", "follow_up_closed"} <= set(actions)

    page.context.clear_cookies()
    log_in(page, desk, "one", "/my/compliments")
    assert page.locator(f'li[data-compliment-id="{kind}"]').count() == 1
    assert page.locator(f'li[data-compliment-id="{low}"]').count() == 0
