"""From a real call to a closed case: on the real Asterisk a pjsua2 agent presses ``*2`` (threat); the
Security user's inbox, open in Chromium on a real ``respectline desk`` sharing the stack's store, shows
the case without a reload; they open it, play the evidence Asterisk recorded (its audio element reports
a duration), close it with an outcome, and the audit log shows each step.

The inbox is timed twice, and both times are printed: from the moment the case is in the store (the
desk's own part, held under 3 s) and from the agent's key press. The second is held to the recording
notice's length plus those 3 s: a ladder that announces the recording (4.2 s) before it starts its
booking puts the case on the inbox about 4.7 s after the key press; one that books first, 0.6 s.
"""

from __future__ import annotations

import time
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from agi_scripts.desk.accounts import NewAccount, add_account
from agi_scripts.sandbox.demo import demo_flows
from agi_scripts.sandbox.sip import PeerState, SipPhoneSystem
from agi_scripts.sandbox.stack import RespectlineStack, StackOptions
from agi_scripts.storage import open_store
from tests.support.calls import connect
from tests.support.e2e_stack import ALWAYS_ON_CAMPAIGNS, started
from tests.support.desk import PASSWORD
from tests.support.desk_process import DeskProcess

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.timeout(240)]
CALLER_NUMBER = "+32475555501"
DESK_SHARE = 3.0
"""Seconds from the case being in the store to its row in the open inbox."""
PLAY = """async () => {
    const audio = document.getElementById('evidence-audio');
    await audio.play();
    while (!(audio.duration > 0) || audio.currentTime === 0) { await new Promise(r => setTimeout(r, 50)); }
    audio.pause();
    return audio.duration;
}"""


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[RespectlineStack]:
    options = StackOptions(agents={"agent1": ["support"]}, agent_names={"agent1": "Agent One"}, callers=("caller1",),
                           flows_dir=demo_flows(tmp_path, ALWAYS_ON_CAMPAIGNS))
    running = started(options, tmp_path)
    try:
        yield running
    finally:
        running.stop()


def seconds_of(wav: Path) -> float:
    with wave.open(str(wav), "rb") as audio:
        return audio.getnframes() / audio.getframerate()


def test_a_threat_on_a_real_call_reaches_the_security_inbox_live_and_is_worked_to_the_end(
        stack: RespectlineStack, page: Page, tmp_path: Path) -> None:
    store = open_store(stack.db_url)
    try:
        add_account(store, NewAccount("sec", "security", team="security"), PASSWORD)
        with DeskProcess(stack.config_path, stack.db_url, tmp_path / "desk.log") as desk, \
                SipPhoneSystem("127.0.0.1", stack.sip_port, record_dir=tmp_path / "phones",
                               log_path=tmp_path / "pjsua.log") as phones:
            agent = phones.agent("agent1", ring_delay=0.3)
            phones.wait_until(lambda: agent.registered, 10, "agent1 registered")
            caller = phones.caller("caller1", caller_id_name="Carl", caller_id_number=CALLER_NUMBER)

            page.goto(desk.url + "/inbox")
            page.fill("#name", "sec")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(desk.url + "/inbox")
            assert page.locator("tr[data-case-id]").count() == 0
            page.evaluate("window.stillTheSamePage = true")

            connect(phones, caller, agent, stack.number("support"))
            phones.pump(1.0)
            pressed = time.monotonic()
            agent.press("*2")
            booked = shown = None
            while time.monotonic() - pressed < 45 and shown is None:
                phones.pump(0.05)
                if booked is None and store.list_cases(team="security"):
                    booked = time.monotonic()
                if page.locator("tr[data-case-id]").count():
                    shown = time.monotonic()
            assert booked is not None and shown is not None, "the case never reached the store or the inbox"
            print(f"\nkey press -> case in the store {booked - pressed:.2f} s; store -> inbox {shown - booked:.2f} s;"
                  f" key press -> inbox {shown - pressed:.2f} s")
            assert shown - booked < DESK_SHARE
            # The promise: the case is on the inbox within 3 s of the key press (the ladder books it
            # while the recording notice and the closing play).
            assert shown - pressed < DESK_SHARE
            assert page.evaluate("window.stillTheSamePage") is True

            phones.wait_until(lambda: caller.state is PeerState.DISCONNECTED and agent.state is PeerState.DISCONNECTED,
                              30, "the threat ended the call")
            phones.pump(0.5)  # MixMonitor closes the evidence file with the call
            [case] = store.list_cases(team="security")
            assert case.recording and Path(case.recording).is_file()

            page.locator(f'tr[data-case-id="{case.id}"]').get_by_role("link").click()
            page.wait_for_url(f"**/cases/{case.id}")
            assert page.locator("#case-caller").inner_text() == CALLER_NUMBER
            timeline = page.locator("ol.timeline").inner_text()
            assert "call ended by Respectline" in timeline and "agent paused to recover" in timeline
            duration = page.evaluate(PLAY)
            assert duration > 0
            assert duration == pytest.approx(seconds_of(Path(case.recording)), abs=0.2)
            page.select_option("#outcome", "police_report_filed")
            page.fill("#close-note", "Threat reported to the police.")
            page.click("#close-case")
            page.wait_for_load_state()
            assert page.locator("#case-status").inner_text() == "closed: Police report filed"
            rows = page.locator("#audit-log tbody tr")
            steps = rows.evaluate_all("rows => rows.map(r => [r.dataset.action, r.cells[1].innerText])")
            assert steps == [["case_viewed", "sec (Security)"], ["evidence_played", "sec (Security)"],
                             ["closed", "sec (Security)"], ["case_viewed", "sec (Security)"]]
            closed = store.get_case(case.id)
            assert closed is not None and (closed.status, closed.resolution) == ("closed", "police_report_filed")
            stack.asterisk.wait_no_channels(15)
    finally:
        store.close()
