"""The call paths through a real Asterisk with real SIP phones: screen, queue, flag, post_call,
and the fall-through to the queue when Respectline is not there."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agi_scripts.sandbox.audio import contains_prompt
from agi_scripts.sandbox.sip import PeerState, SipAgent, SipCaller, SipPhoneSystem
from agi_scripts.sandbox.stack import RespectlineStack
from agi_scripts.storage import open_store
from tests.support.calls import connect, hang_up, running_applications

pytestmark = pytest.mark.e2e


def server_log_has(stack: RespectlineStack, text: str) -> bool:
    return text in stack.server_log.read_text(errors="replace")


def test_caller_reaches_the_agent_through_screen_and_the_queue(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent, caller: SipCaller) -> None:
    connect(phones, caller, agent, stack.number("support"))
    hang_up(phones, caller, agent)
    assert server_log_has(stack, "route=support campaign=e2e-always")


def test_agent_code_runs_flag_on_the_callers_channel_and_only_the_caller_hears_the_warning(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent, caller: SipCaller) -> None:
    connect(phones, caller, agent, stack.number("support"))
    phones.pump(1.0)
    agent.press("*1")
    warning = stack.prompt_file("abuse_warning", "en")
    phones.pump(2.0)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not server_log_has(stack, "category=verbal_abuse flag=1"):
        phones.pump(0.2)
    phones.pump(12.0)  # the recording notice and the warning
    hang_up(phones, caller, agent)
    assert server_log_has(stack, "category=verbal_abuse flag=1")
    assert caller.last_recording is not None and agent.last_recording is not None
    assert contains_prompt(caller.last_recording, warning).matched
    assert not contains_prompt(agent.last_recording, warning).matched


def test_the_callers_own_code_does_nothing(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent, caller: SipCaller) -> None:
    before = stack.server_log.read_text(errors="replace").count("flag")
    connect(phones, caller, agent, stack.number("support"))
    phones.pump(1.0)
    caller.press("*1")
    phones.pump(4.0)
    hang_up(phones, caller, agent)
    assert stack.server_log.read_text(errors="replace").count("flag") == before


def test_callers_keys_reach_post_call_after_the_agent_hangs_up(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent, caller: SipCaller,
        tmp_path: Path) -> None:
    connect(phones, caller, agent, stack.number("support"))
    phones.pump(1.0)
    agent.hangup()
    phones.wait_until(lambda: agent.state is PeerState.DISCONNECTED, 10, "agent hung up")
    phones.wait_until(lambda: "AGI" in running_applications(stack.asterisk), 10, "post_call started", interval=0.2)
    # The caller stays on the line in post_call: accept (1), rate 5, decline the message (2).
    # Each key interrupts the prompt it answers.
    for key in "152":
        phones.pump(2.0)
        caller.press(key)
    phones.wait_until(lambda: caller.state is PeerState.DISCONNECTED, 40, "post_call ended the call")
    store = open_store(stack.db_url)
    try:
        compliments = store.list_compliments(agent="Agent One")
    finally:
        store.close()
    assert compliments and compliments[0].rating == 5


def test_caller_still_reaches_an_agent_when_respectline_is_stopped(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent, caller: SipCaller) -> None:
    assert stack.stop_server() == 0
    try:
        started = time.monotonic()
        connect(phones, caller, agent, stack.number("billing"))
        seconds_to_agent = time.monotonic() - started
        hang_up(phones, caller, agent)
    finally:
        stack.start_server()
    assert seconds_to_agent < 10
