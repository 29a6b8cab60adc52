"""The abuse ladder through a real Asterisk with the store on PostgreSQL: the server started with
``--db postgresql://...`` records the call, counts the agent's two flags (warning, then disconnect),
opens one case with its timeline, and lifts the agent's recovery pause on time from the pause it
kept in PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agi_scripts.sandbox.audio import contains_prompt
from agi_scripts.sandbox.demo import demo_flows
from agi_scripts.sandbox.sip import PeerState, SipAgent, SipCaller, SipPhoneSystem
from agi_scripts.sandbox.stack import RespectlineStack, StackOptions
from agi_scripts.storage import open_store
from tests.support.calls import agent_paused, connect, shorten_pauses
from tests.support.e2e_stack import ALWAYS_ON_CAMPAIGNS, started
from tests.support.postgres_server import PostgresServer

pytestmark = pytest.mark.e2e
RECOVERY_SECONDS = 8


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer) -> Iterator[RespectlineStack]:
    folder = tmp_path_factory.mktemp("postgres-e2e")
    flows = demo_flows(folder, ALWAYS_ON_CAMPAIGNS)
    shorten_pauses(flows, RECOVERY_SECONDS)
    db_url = postgres_server.create_database("rl_e2e")
    options = StackOptions(agent_names={"agent1": "Agent One"}, flows_dir=flows, db_url=db_url)
    running = started(options, folder)
    try:
        yield running
    finally:
        running.stop()
        postgres_server.drop_database(db_url)


def test_warning_then_disconnect_opens_one_case_and_the_pause_ends_on_time_on_postgresql(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent, caller: SipCaller) -> None:
    assert stack.db_url.startswith("postgresql://")
    connect(phones, caller, agent, stack.number("support"))
    phones.pump(1.0)
    agent.press("*1")
    phones.pump(16.0)  # recording notice and warning
    assert caller.state is PeerState.CONNECTED
    agent.press("*1")
    phones.wait_until(lambda: caller.state is PeerState.DISCONNECTED, 30, "caller disconnected after the closing")
    phones.wait_until(lambda: agent.state is PeerState.DISCONNECTED, 10, "agent leg ended")
    phones.pump(0.3)
    assert caller.last_recording is not None
    assert contains_prompt(caller.last_recording, stack.prompt_file("abuse_warning", "en")).matched
    assert contains_prompt(caller.last_recording, stack.prompt_file("abuse_closing", "en")).matched

    store = open_store(stack.db_url)
    try:
        [case] = store.list_cases()
        incidents = store.list_incidents(call_id=case.call_id)
        call = store.get_call(case.call_id)
        [pause] = store.active_pauses()
    finally:
        store.close()
    assert (case.team, case.category, case.caller, case.agent, case.queue) == (
        "special_care", "verbal_abuse", "+32471234512", "Agent One", "support")
    assert [e.action for e in case.events][:4] == ["warn", "case_opened", "agent_paused", "disconnect"]
    assert [(i.number_in_call, i.action, i.case_id) for i in incidents] == [(1, "warn", None),
                                                                           (2, "disconnect", case.id)]
    assert call is not None and (call.caller, call.queue) == ("+32471234512", "support")
    assert pause.agent == "PJSIP/agent1" and pause.case_id == case.id

    # The server's pause keeper finds the due pause in PostgreSQL and lifts it through AMI.
    phones.wait_until(lambda: agent_paused(stack.asterisk), 5, "agent paused", interval=0.2)
    phones.wait_until(lambda: not agent_paused(stack.asterisk), RECOVERY_SECONDS + 15, "agent unpaused", interval=0.5)
    store = open_store(stack.db_url)
    try:
        assert store.active_pauses() == []
    finally:
        store.close()
