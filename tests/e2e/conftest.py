"""End-to-end fixtures: a whole Respectline (Asterisk, prompts, server) and pjsua2 phones.

Every test here runs against the real Asterisk built by scripts/install-asterisk; a missing
Asterisk fails the test with the command to run, it is never skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agi_scripts.sandbox.sip import SipAgent, SipCaller, SipPhoneSystem
from agi_scripts.sandbox.stack import RespectlineStack
from tests.support.e2e_stack import start_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RespectlineStack]:
    running = start_stack(tmp_path_factory.mktemp("stack"), callers=("caller1", "caller2"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def phones(stack: RespectlineStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SipPhoneSystem]:
    folder = tmp_path_factory.mktemp("phones")
    with SipPhoneSystem("127.0.0.1", stack.sip_port, record_dir=folder / "recordings",
                        log_path=folder / "pjsua.log") as system:
        yield system


@pytest.fixture(scope="module")
def agent(phones: SipPhoneSystem) -> SipAgent:
    agent = phones.agent("agent1", ring_delay=0.3)
    phones.wait_until(lambda: agent.registered, 10, "agent1 registered")
    return agent


@pytest.fixture(scope="module")
def caller(phones: SipPhoneSystem) -> SipCaller:
    """A caller with a Belgian mobile number."""
    return phones.caller("caller1", caller_id_name="Alice", caller_id_number="+32471234512")


@pytest.fixture(autouse=True)
def no_call_left_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every end-to-end test: every phone hung up and zero channels in Asterisk."""
    yield
    if "stack" not in request.fixturenames or "phones" not in request.fixturenames:
        return
    stack: RespectlineStack = request.getfixturevalue("stack")
    phones: SipPhoneSystem = request.getfixturevalue("phones")
    for peer in phones.peers:
        if peer.in_call:
            peer.hangup()
    phones.pump(0.5)
    stack.asterisk.wait_no_channels(15)
