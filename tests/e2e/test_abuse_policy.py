"""The abuse ladder on a real Asterisk: warning, then disconnect with a case for Special Care, the
agent's recovery pause ending on time even across a server restart, and the caller's next call
routed to the team."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from agi_scripts.sandbox.audio import contains_prompt
from agi_scripts.sandbox.demo import demo_flows, speak
from agi_scripts.sandbox.sip import PeerState, SipAgent, SipCaller, SipPhoneSystem
from agi_scripts.sandbox.stack import RespectlineStack, StackOptions
from agi_scripts.storage import open_store
from tests.support.calls import agent_paused, connect, shorten_pauses
from tests.support.e2e_stack import ALWAYS_ON_CAMPAIGNS, started

pytestmark = pytest.mark.e2e
RECOVERY_SECONDS = 20
AGENT_SAYS = "Sir, I am trying to help you, please stay calm."
CALLER_SAYS = "I do not care, you are completely useless."


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RespectlineStack]:
    folder = tmp_path_factory.mktemp("abuse")
    flows = demo_flows(folder, ALWAYS_ON_CAMPAIGNS)
    shorten_pauses(flows, RECOVERY_SECONDS)
    policy = flows / "abuse_policy.yaml"
    text = policy.read_text()
    # Discrimination here moves the caller to Security at once, to test the transfer action.
    text = text.replace("        - [warn: abuse_warning_discrimination]\n", "        - [transfer: security]\n")
    policy.write_text(text)
    options = StackOptions(agents={"agent1": ["support", "billing"], "care1": ["special-care"], "sec1": ["security"]},
                           agent_names={"agent1": "Agent One", "care1": "Sam", "sec1": "Security Desk"},
                           callers=("caller1", "caller2", "caller3"), flows_dir=flows)
    running = started(options, folder)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def care(phones: SipPhoneSystem) -> SipAgent:
    care = phones.agent("care1", ring_delay=0.3)
    phones.wait_until(lambda: care.registered, 10, "care1 registered")
    return care


def test_second_flag_disconnects_opens_a_case_pauses_the_agent_and_routes_the_next_call(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent, care: SipAgent,
        caller: SipCaller, tmp_path: Path) -> None:
    connect(phones, caller, agent, stack.number("billing"))
    phones.pump(1.0)
    agent.press("*1")
    phones.pump(16.0)  # recording notice and warning
    assert caller.state is PeerState.CONNECTED
    # The conversation resumes; the evidence recording now holds both sides.
    agent_words, caller_words = speak(AGENT_SAYS, tmp_path / "agent.wav"), speak(CALLER_SAYS, tmp_path / "caller.wav")
    phones.pump(agent.play(agent_words) + 0.5)
    phones.pump(caller.play(caller_words) + 0.5)
    agent.press("*1")
    phones.wait_until(lambda: caller.state is PeerState.DISCONNECTED, 30, "caller disconnected after the closing")
    phones.wait_until(lambda: agent.state is PeerState.DISCONNECTED, 10, "agent leg ended")
    phones.pump(0.3)
    assert caller.last_recording is not None
    assert contains_prompt(caller.last_recording, stack.prompt_file("abuse_warning", "en")).matched
    assert contains_prompt(caller.last_recording, stack.prompt_file("abuse_closing", "en")).matched
    assert agent.last_recording is not None
    assert not contains_prompt(agent.last_recording, stack.prompt_file("abuse_closing", "en")).matched

    store = open_store(stack.db_url)
    try:
        [case] = store.list_cases()
    finally:
        store.close()
    assert (case.team, case.category, case.caller, case.agent, case.queue) == (
        "special_care", "verbal_abuse", "+32471234512", "Agent One", "billing")
    assert case.recording is not None and Path(case.recording).is_file()  # MixMonitor's evidence
    assert contains_prompt(Path(case.recording), agent_words).matched
    assert contains_prompt(Path(case.recording), caller_words).matched
    assert [e.action for e in case.events][:4] == ["warn", "case_opened", "agent_paused", "disconnect"]
    assert case.events[2].detail == f"Agent One for {RECOVERY_SECONDS} s"  # a short pause is not "0 min"

    # The agent is paused for recovery; the pause ends on time even though the server restarts.
    phones.wait_until(lambda: agent_paused(stack.asterisk), 5, "agent paused", interval=0.2)
    store = open_store(stack.db_url)
    try:
        [pause] = store.active_pauses()
    finally:
        store.close()
    assert pause.agent == "PJSIP/agent1" and pause.resume_at is not None
    assert stack.stop_server() == 0
    phones.pump(max(0.0, (pause.resume_at - datetime.now(timezone.utc)).total_seconds()) + 1.5)
    assert agent_paused(stack.asterisk), "nobody should lift the pause while the server is down"
    stack.start_server()
    phones.wait_until(lambda: not agent_paused(stack.asterisk), 15, "agent unpaused after the restart", interval=0.5)

    # Next call from the same number goes to Special Care, not to a regular agent.
    answered_before = agent.calls_answered
    caller.call(stack.number("billing"))
    phones.wait_until(lambda: care.state is PeerState.CONNECTED, 40, "Special Care answered")
    phones.pump(1.0)
    care.hangup()
    phones.wait_until(lambda: caller.state is PeerState.DISCONNECTED, 15, "call ended")
    phones.pump(0.3)
    assert agent.calls_answered == answered_before
    assert contains_prompt(caller.last_recording, stack.prompt_file("routed_special_care", "en")).matched


@pytest.fixture(scope="module")
def security(phones: SipPhoneSystem) -> SipAgent:
    desk = phones.agent("sec1", ring_delay=0.3)
    phones.wait_until(lambda: desk.registered, 10, "sec1 registered")
    return desk


def test_threat_ends_the_call_at_once_with_an_urgent_case_for_security(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent) -> None:
    caller = phones.caller("caller2", caller_id_name="Carl", caller_id_number="+32475555501")
    phones.wait_until(lambda: not agent_paused(stack.asterisk), 40, "agent available", interval=0.5)
    connect(phones, caller, agent, stack.number("support"))
    phones.pump(1.0)
    agent.press("*2")
    phones.wait_until(lambda: caller.state is PeerState.DISCONNECTED, 40, "caller disconnected")
    phones.pump(0.3)
    assert caller.last_recording is not None
    assert contains_prompt(caller.last_recording, stack.prompt_file("abuse_closing_threat", "en")).matched
    store = open_store(stack.db_url)
    try:
        [case] = store.list_cases(team="security")
    finally:
        store.close()
    assert (case.category, case.priority, case.caller) == ("threat", 1, "+32475555501")
    assert "disconnect" in [e.action for e in case.events]


def test_transfer_moves_the_caller_from_the_agent_to_the_teams_queue(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent, security: SipAgent) -> None:
    caller = phones.caller("caller3", caller_id_name="Dora", caller_id_number="+32475555502")
    phones.wait_until(lambda: not agent_paused(stack.asterisk), 60, "agent available", interval=0.5)
    answered = security.calls_answered
    connect(phones, caller, agent, stack.number("support"))
    phones.pump(1.0)
    agent.press("*3")
    phones.wait_until(lambda: agent.state is PeerState.DISCONNECTED, 20, "agent's leg released")
    phones.wait_until(lambda: security.calls_answered > answered and security.state is PeerState.CONNECTED,
                      40, "Security answered the transferred caller")
    assert caller.state is PeerState.CONNECTED
    security.hangup()
    phones.wait_until(lambda: caller.state is PeerState.DISCONNECTED, 15, "call ended")
