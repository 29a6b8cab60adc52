"""The case page's Call back in Debian's Chromium, against a real ``respectline desk`` process whose AMI does
not answer: the section is there with a labelled button reachable by keyboard, a press tells the user in an
alert that AMI is unavailable, and the timeline shows the failed try. (The call itself is tested on the real
Asterisk in tests/e2e/test_desk_callback.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from agi_scripts.sandbox.asterisk import free_port
from agi_scripts.storage import Store
from agi_scripts.storage.desk import DeskStore
from tests.support.config_tree import ConfigTree
from tests.support.desk import PASSWORD, World, fill
from tests.support.desk_process import DeskProcess

pytestmark = pytest.mark.browser


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    made = fill(store, tmp_path / "recordings")
    DeskStore(store).set_phone("care", "PJSIP/care1")
    return made


@pytest.fixture
def desk(config_tree: ConfigTree, store_url: str, world: World, tmp_path: Path) -> Iterator[DeskProcess]:
    config = "config/respectline.yaml"
    config_tree.replace(config, '  dial: ""', "  dial: PJSIP/{number}@trunk")
    config_tree.replace(config, "  port: 5038", f"  port: {free_port()}")  # nothing listens there
    config_tree.replace(config, '  username: ""', "  username: desk")
    config_tree.replace(config, '  secret: ""', '  secret: "not-used"')
    with DeskProcess(config_tree.config, store_url, tmp_path / "desk.log") as process:
        yield process


def test_call_back_with_ami_down_says_so_and_the_timeline_shows_the_try(page: Page, desk: DeskProcess,
                                                                         world: World) -> None:
    case_page = f"/cases/{world.care_case.id}"
    page.goto(desk.url + case_page)
    page.wait_for_url("**/login?next=*")
    page.keyboard.type("care")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(desk.url + case_page)

    section = page.locator("section[aria-labelledby=callback]")
    assert section.get_by_role("heading", name="Call back").is_visible()
    button = section.get_by_role("button", name="Call back")
    assert "PJSIP/care1" in section.inner_text()
    button.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/cases/*?error=*")
    alert = page.get_by_role("alert")
    assert "The call back did not start" in alert.inner_text() and "AMI is unavailable" in alert.inner_text()
    assert "call back failed" in page.locator("ol.timeline").inner_text()
