"""The agent's protection through a real Asterisk while the store is down: the caller is warned,
then disconnected; the agent is paused and unpaused on time; once the store answers again the
flags, the case, its events and the pause are booked from the outbox, exactly once. Nothing is
reported as done that was not."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from agi_scripts.sandbox.audio import contains_prompt
from agi_scripts.sandbox.demo import demo_flows
from agi_scripts.sandbox.sip import PeerState, SipAgent, SipCaller, SipPhoneSystem
from agi_scripts.sandbox.stack import RespectlineStack, StackOptions
from agi_scripts.storage import open_store
from tests.support.calls import agent_paused, connect, shorten_pauses
from tests.support.e2e_stack import ALWAYS_ON_CAMPAIGNS, started

pytestmark = pytest.mark.e2e
RECOVERY_SECONDS = 20


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RespectlineStack]:
    folder = tmp_path_factory.mktemp("outage")
    flows = demo_flows(folder, ALWAYS_ON_CAMPAIGNS)
    shorten_pauses(flows, RECOVERY_SECONDS)
    running = started(StackOptions(agent_names={"agent1": "Agent One"}, flows_dir=flows), folder)
    try:
        yield running
    finally:
        running.stop()


def locked(db_url: str) -> sqlite3.Connection:
    """Another writer holding SQLite's write lock: every write of the server fails (busy)."""
    connection = sqlite3.connect(db_url.removeprefix("sqlite:///"), timeout=1, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    return connection


def test_with_the_store_locked_the_caller_is_warned_then_disconnected_and_the_pause_ends_on_time(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent, caller: SipCaller) -> None:
    connect(phones, caller, agent, stack.number("billing"))
    phones.pump(1.0)
    lock = locked(stack.db_url)
    try:
        agent.press("*1")
        phones.pump(20.0)  # the store's busy wait, the recording notice and the warning
        assert caller.state is PeerState.CONNECTED
        agent.press("*1")
        phones.wait_until(lambda: caller.state is PeerState.DISCONNECTED, 40, "caller disconnected while the store is down")
        phones.wait_until(lambda: agent.state is PeerState.DISCONNECTED, 10, "agent leg ended")
        phones.pump(0.3)
        assert caller.last_recording is not None
        assert contains_prompt(caller.last_recording, stack.prompt_file("abuse_warning", "en")).matched
        assert contains_prompt(caller.last_recording, stack.prompt_file("abuse_closing", "en")).matched
        phones.wait_until(lambda: agent_paused(stack.asterisk, "billing"), 5, "agent paused without the store", interval=0.2)
    finally:
        lock.execute("ROLLBACK")
        lock.close()

    # The store answers again: the keeper books both flags from the outbox, and the pause ends on time.
    phones.wait_until(lambda: not agent_paused(stack.asterisk, "billing"), RECOVERY_SECONDS + 20, "agent unpaused on time",
                      interval=0.5)
    phones.wait_until(lambda: booked_cases(stack.db_url) == 1, 20, "the case booked from the outbox", interval=0.5)
    phones.pump(6.0)  # another round of the keeper: nothing is booked twice
    store = open_store(stack.db_url)
    try:
        assert store.active_pauses() == []
        [case] = store.list_cases()
        assert [e.action for e in case.events] == ["warn", "case_opened", "agent_paused", "disconnect"]
        assert [(i.number_in_call, i.action) for i in store.list_incidents()] == [(1, "warn"), (2, "disconnect")]
    finally:
        store.close()
    with sqlite3.connect(stack.db_url.removeprefix("sqlite:///")) as db:
        assert db.execute("SELECT COUNT(*), COUNT(resumed_at) FROM agent_pauses").fetchone() == (1, 1)
    log = stack.server_log.read_text(errors="replace")
    assert "kept in the outbox, booked when the store answers" in log
    assert "case_held" in log and "store=down" in log
    assert "case_opened" not in log  # the case was not stored during the call, and the log does not claim it
    assert "booked late, from the outbox" in log
    assert list(stack.bundle.settings.spool_dir.iterdir()) == []


def booked_cases(db_url: str) -> int:
    with sqlite3.connect(db_url.removeprefix("sqlite:///"), timeout=1) as db:
        return int(db.execute("SELECT COUNT(*) FROM cases").fetchone()[0])
