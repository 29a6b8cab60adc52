"""Call back from the desk on the real Asterisk: the staff member's pjsua2 phone rings through AMI Originate,
they answer and hear the intro, the caller's phone rings, the caller answers and hears the recording
notice, audio passes both ways (checked by correlation), and the case's timeline holds each step.
Rude twins: the staff member does not answer; the caller does not answer; the caller is busy; Asterisk's AMI
refuses the desk."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from agi_scripts.config.bundle import load_bundle
from agi_scripts.desk.app import DeskOptions, create_app
from agi_scripts.sandbox.audio import contains_prompt
from agi_scripts.sandbox.sip import PeerState, SipAgent, SipPhoneSystem
from agi_scripts.sandbox.stack import PROJECT_ROOT, RespectlineStack
from agi_scripts.storage import Store, open_store
from agi_scripts.storage.desk import DeskStore
from tests.support.desk import CHEAP_HASHER, PASSWORD, log_in
from tests.support.e2e_stack import start_stack

pytestmark = pytest.mark.e2e

CALLER_NUMBER = "0470000001"
"""The caller's number on the case; the sandbox has a phone (a pjsip endpoint) of that name."""
STAFF_PHONE = "care1"


def _callback_config(folder: Path) -> Path:
    """The shipped config with call back on: the sandbox dials the caller's number as an endpoint name."""
    text = (PROJECT_ROOT / "config" / "respectline.yaml").read_text(encoding="utf-8")
    for old, new in (('  dial: ""', "  dial: PJSIP/{number}"), ("  ring_staff: 30s", "  ring_staff: 8s"),
                     ("  ring_caller: 40s", "  ring_caller: 8s")):
        assert old in text, f"the shipped config has no {old!r} in its callback section"
        text = text.replace(old, new)
    config = folder / "config" / "respectline.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text, encoding="utf-8")
    return config


@dataclass
class Stage:
    stack: RespectlineStack
    store: Store
    phones: SipPhoneSystem
    staff: SipAgent
    caller: SipAgent
    desk: TestClient
    csrf: str
    options: DeskOptions


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    folder = tmp_path_factory.mktemp("callback")
    stack = start_stack(folder, config_file=_callback_config(folder),
                        agents={"agent1": ["support"], STAFF_PHONE: [], CALLER_NUMBER: []})
    store = open_store(stack.db_url)
    try:
        DeskStore(store).add_user("care", "special_care", CHEAP_HASHER.hash(PASSWORD), team="special_care",
                                  phone=f"PJSIP/{STAFF_PHONE}")
        bundle = load_bundle(stack.config_path)  # as the desk reads it: with the sandbox's AMI account
        options = DeskOptions(store_url=stack.db_url, settings=bundle.settings, policy=bundle.abuse_policy,
                              recordings=(stack.recordings_dir,))
        with SipPhoneSystem("127.0.0.1", stack.sip_port, record_dir=folder / "heard",
                            log_path=folder / "pjsua.log") as phones, TestClient(create_app(options, store)) as desk:
            staff = phones.agent(STAFF_PHONE, ring_delay=1.0)
            caller = phones.agent(CALLER_NUMBER, ring_delay=1.0)
            phones.wait_until(lambda: staff.registered and caller.registered, 10, "both phones registered")
            yield Stage(stack, store, phones, staff, caller, desk, log_in(desk, "care"), options)
    finally:
        store.close()
        stack.stop()


def _new_case(stage: Stage, call_id: str) -> int:
    stage.store.record_call_start(call_id, caller=CALLER_NUMBER, queue="support", language="en", route="support")
    case = stage.store.open_case(category="verbal_abuse", team="special_care", priority=3, caller=CALLER_NUMBER,
                                 agent="Agent One", queue="support", call_id=call_id)
    return case.id


def _press_call_back(stage: Stage, case_id: int) -> None:
    answer = stage.desk.post(f"/cases/{case_id}/callback", data={"csrf": stage.csrf}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/cases/{case_id}", answer.headers["location"]


def _timeline(stage: Stage, case_id: int) -> list[str]:
    case = stage.store.get_case(case_id)
    assert case is not None
    return [event.action for event in case.events if event.action.startswith("callback")]


def _wait_for_step(stage: Stage, case_id: int, action: str, timeout: float = 20.0) -> None:
    stage.phones.wait_until(lambda: action in _timeline(stage, case_id), timeout, f"timeline has {action}",
                            interval=0.1)


def _outcomes(stage: Stage, case_id: int, timeout: float = 10.0) -> list[str | None]:
    """The booked call backs' outcomes once each has ended (the follower books the end last)."""
    desk = DeskStore(stage.store)
    stage.phones.wait_until(lambda: all(c.ended_at for c in desk.callbacks_of_case(case_id)), timeout,
                            "call backs booked as ended", interval=0.1)
    return [c.outcome for c in desk.callbacks_of_case(case_id)]


def _hang_up_all(stage: Stage) -> None:
    for phone in (stage.staff, stage.caller):
        phone.hangup()
    stage.phones.wait_until(lambda: not stage.staff.in_call and not stage.caller.in_call, 15, "phones idle")
    stage.phones.pump(0.3)
    stage.stack.asterisk.wait_no_channels(15)


def test_staff_answers_the_caller_answers_and_they_hear_each_other(stage: Stage) -> None:
    case_id = _new_case(stage, "cb-1")
    staff_answered, caller_answered = stage.staff.calls_answered, stage.caller.calls_answered
    _press_call_back(stage, case_id)
    stage.phones.wait_until(lambda: stage.staff.calls_answered > staff_answered, 15, "staff phone rang and answered")
    stage.phones.wait_until(lambda: stage.caller.calls_answered > caller_answered, 30, "caller phone rang and answered")
    stage.phones.wait_until(lambda: stage.staff.state is PeerState.CONNECTED
                            and stage.caller.state is PeerState.CONNECTED, 10, "both connected")
    _wait_for_step(stage, case_id, "callback_caller_answered")
    # The caller hears the recording notice before being connected (about 5 s): talk after it.
    stage.phones.pump(6.0)
    staff_says = stage.stack.prompt_file("compliment_thanks", "en")
    caller_says = stage.stack.prompt_file("abuse_warning", "en")
    seconds = stage.staff.play(staff_says)
    stage.phones.wait_until(lambda: not stage.staff.is_playing, seconds + 5, "staff finished speaking")
    seconds = stage.caller.play(caller_says)
    stage.phones.wait_until(lambda: not stage.caller.is_playing, seconds + 5, "caller finished speaking")
    stage.phones.pump(0.8)
    stage.staff.hangup()
    stage.phones.wait_until(lambda: not stage.staff.in_call and not stage.caller.in_call, 15, "both hung up")
    stage.phones.pump(0.3)
    _wait_for_step(stage, case_id, "callback_ended")

    staff_heard, caller_heard = stage.staff.last_recording, stage.caller.last_recording
    assert staff_heard is not None and caller_heard is not None
    assert contains_prompt(staff_heard, stage.stack.prompt_file("callback_intro", "en")).matched
    assert contains_prompt(caller_heard, stage.stack.prompt_file("recording_notice", "en")).matched
    assert not contains_prompt(staff_heard, stage.stack.prompt_file("recording_notice", "en")).matched
    assert contains_prompt(caller_heard, staff_says).matched, "the caller did not hear the staff member"
    assert contains_prompt(staff_heard, caller_says).matched, "the staff member did not hear the caller"
    assert _timeline(stage, case_id) == ["callback_started", "callback_staff_answered", "callback_caller_answered",
                                         "callback_ended"]
    assert _outcomes(stage, case_id) == ["caller_answered"]
    case = stage.store.get_case(case_id)
    assert case is not None and {e.author for e in case.events if e.action.startswith("callback")} == {"care"}
    # The conversation was recorded, as the caller was told.
    recordings = list((stage.stack.recordings_dir / "callbacks").glob(f"case-{case_id}-*.wav"))
    assert len(recordings) == 1 and recordings[0].stat().st_size > 1000
    page = stage.desk.get(f"/cases/{case_id}")
    assert "callback_caller_answered" in page.text or "caller answered" in page.text
    stage.stack.asterisk.wait_no_channels(15)


def test_staff_does_not_answer_and_the_caller_is_never_rung(stage: Stage) -> None:
    case_id = _new_case(stage, "cb-2")
    stage.staff.auto_answer = False
    try:
        offered, caller_offered = stage.staff.calls_offered, stage.caller.calls_offered
        _press_call_back(stage, case_id)
        stage.phones.wait_until(lambda: stage.staff.calls_offered > offered, 15, "staff phone rang")
        _wait_for_step(stage, case_id, "callback_staff_no_answer", timeout=30)
    finally:
        stage.staff.auto_answer = True
    _hang_up_all(stage)
    assert stage.caller.calls_offered == caller_offered
    assert _timeline(stage, case_id) == ["callback_started", "callback_staff_no_answer"]
    assert _outcomes(stage, case_id) == ["staff_no_answer"]


def test_caller_does_not_answer(stage: Stage) -> None:
    case_id = _new_case(stage, "cb-3")
    stage.caller.auto_answer = False
    try:
        caller_offered = stage.caller.calls_offered
        _press_call_back(stage, case_id)
        stage.phones.wait_until(lambda: stage.caller.calls_offered > caller_offered, 30, "caller phone rang")
        _wait_for_step(stage, case_id, "callback_caller_no_answer", timeout=30)
    finally:
        stage.caller.auto_answer = True
    _hang_up_all(stage)
    assert _timeline(stage, case_id) == ["callback_started", "callback_staff_answered", "callback_caller_no_answer"]
    case = stage.store.get_case(case_id)
    assert case is not None
    [last] = [e for e in case.events if e.action == "callback_caller_no_answer"]
    assert "did not answer" in last.detail
    assert _outcomes(stage, case_id) == ["caller_no_answer"]


def test_a_second_press_while_the_phone_rings_is_refused(stage: Stage) -> None:
    case_id = _new_case(stage, "cb-4")
    stage.staff.auto_answer = False
    try:
        offered = stage.staff.calls_offered
        _press_call_back(stage, case_id)
        stage.phones.wait_until(lambda: stage.staff.calls_offered > offered, 15, "staff phone rang")
        again = stage.desk.post(f"/cases/{case_id}/callback", data={"csrf": stage.csrf}, follow_redirects=False)
        assert again.status_code == 303 and again.headers["location"].endswith("?error=still_running")
        _wait_for_step(stage, case_id, "callback_staff_no_answer", timeout=30)
    finally:
        stage.staff.auto_answer = True
    _hang_up_all(stage)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _timeline(stage, case_id).count("callback_started") != 1:
        time.sleep(0.1)
    assert _timeline(stage, case_id).count("callback_started") == 1
    assert stage.staff.calls_offered == offered + 1


def test_ami_refusing_the_desk_is_said_on_the_page_and_on_the_timeline_and_nothing_rings(stage: Stage) -> None:
    case_id = _new_case(stage, "cb-5")
    settings = stage.options.settings
    wrong = dataclasses.replace(settings, ami=dataclasses.replace(settings.ami, secret="not-the-secret"))
    offered, caller_offered = stage.staff.calls_offered, stage.caller.calls_offered
    with TestClient(create_app(dataclasses.replace(stage.options, settings=wrong), stage.store)) as desk:
        csrf = log_in(desk, "care")
        answer = desk.post(f"/cases/{case_id}/callback", data={"csrf": csrf}, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].endswith("?error=ami_down")
        page = desk.get(answer.headers["location"]).text
    # The message named by its key, in the user's language (Dutch here); never text from the link.
    assert "Het terugbellen is niet gestart: de AMI van Asterisk is niet bereikbaar" in page
    stage.phones.pump(2.0)
    assert stage.staff.calls_offered == offered and stage.caller.calls_offered == caller_offered
    assert _timeline(stage, case_id) == ["callback_failed"]
    assert _outcomes(stage, case_id) == ["not_started"]


def test_a_number_callback_allowed_does_not_list_rings_no_phone(stage: Stage) -> None:
    """A caller ID set to a premium-rate number: refused before AMI is asked, nothing rings."""
    case = stage.store.open_case(category="verbal_abuse", team="special_care", priority=3, caller="+3290012345",
                                 agent="Agent One", queue="support", call_id="cb-premium")
    offered, caller_offered = stage.staff.calls_offered, stage.caller.calls_offered
    assert 'id="callback-button"' not in stage.desk.get(f"/cases/{case.id}").text
    answer = stage.desk.post(f"/cases/{case.id}/callback", data={"csrf": stage.csrf}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].endswith("?error=not_allowed")
    stage.phones.pump(2.0)
    assert stage.staff.calls_offered == offered and stage.caller.calls_offered == caller_offered
    assert _timeline(stage, case.id) == ["callback_failed"]
    assert _outcomes(stage, case.id) == ["not_started"]


def test_caller_busy_on_another_call(stage: Stage) -> None:
    case_id = _new_case(stage, "cb-6")
    stage.caller.auto_answer = False
    try:
        offered = stage.caller.calls_offered
        # Another call rings the caller's phone first; the phone answers a second one with 486 Busy Here.
        stage.stack.asterisk.rx(f"channel originate PJSIP/{CALLER_NUMBER} application Wait 30")
        stage.phones.wait_until(lambda: stage.caller.calls_offered > offered, 15, "caller phone busy ringing")
        _press_call_back(stage, case_id)
        _wait_for_step(stage, case_id, "callback_caller_no_answer", timeout=30)
    finally:
        stage.caller.auto_answer = True
    _hang_up_all(stage)
    assert _timeline(stage, case_id) == ["callback_started", "callback_staff_answered", "callback_caller_no_answer"]
    case = stage.store.get_case(case_id)
    assert case is not None
    [last] = [e for e in case.events if e.action == "callback_caller_no_answer"]
    assert "busy" in last.detail
    assert _outcomes(stage, case_id) == ["caller_busy"]
