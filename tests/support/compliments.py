"""What the end-to-end tests of compliments do with phones: a caller leaves one, an agent calls the
compliments line (``*88``), the team lead reviews through the real ``respectline`` command."""

from __future__ import annotations

import wave
from pathlib import Path

from agi_scripts.cli.main import main
from agi_scripts.sandbox.sip import PeerState, SipAgent, SipCaller, SipPhoneSystem
from agi_scripts.sandbox.stack import RespectlineStack
from agi_scripts.storage import open_store
from agi_scripts.storage.screening import ScreenedCompliment, ScreeningStore
from tests.support.calls import connect, running_applications


def seconds_of(wav_file: Path) -> float:
    with wave.open(str(wav_file), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def leave_compliment(stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent, caller: SipCaller,
                     rating: str, spoken: Path) -> ScreenedCompliment:
    """The caller talks to the agent, the agent hangs up; the caller accepts, rates, speaks ``spoken``
    and presses #. The compliment as the store has it once post_call ended."""
    connect(phones, caller, agent, stack.number("support"))
    phones.pump(1.0)
    agent.hangup()
    phones.wait_until(lambda: "AGI" in running_applications(stack.asterisk), 10, "post_call started", interval=0.2)
    recordings = stack.recordings_dir / "compliments"
    before = set(recordings.rglob("*.wav"))
    for key in ("1", rating, "1"):  # accept, the rating, record a message
        phones.pump(2.0)
        caller.press(key)
    phones.wait_until(lambda: bool(set(recordings.rglob("*.wav")) - before), 30, "recording started", interval=0.1)
    phones.pump(0.5)
    phones.pump(caller.play(spoken) + 0.5)
    caller.press("#")
    phones.wait_until(lambda: caller.state is PeerState.DISCONNECTED, 40, "post_call thanked and hung up")
    phones.pump(1.0)  # post_call screens once the caller's flow is over
    return newest(stack)


def newest(stack: RespectlineStack) -> ScreenedCompliment:
    store = open_store(stack.db_url)
    try:
        [latest] = store.list_compliments(limit=1)
        found = ScreeningStore(store).get(latest.id)
    finally:
        store.close()
    assert found is not None
    return found


def screened(stack: RespectlineStack, compliment_id: int) -> ScreenedCompliment:
    store = open_store(stack.db_url)
    try:
        found = ScreeningStore(store).get(compliment_id)
    finally:
        store.close()
    assert found is not None
    return found


def review(stack: RespectlineStack, *argv: str) -> None:
    """``respectline compliments review ...`` on the stack's config and store, as a team lead runs it."""
    code = main(["compliments", "review", *argv, "--config", str(stack.config_path), "--db", stack.db_url])
    assert code == 0, argv


_LINE_PHONES: dict[int, SipCaller] = {}


def _line_phone(phones: SipPhoneSystem) -> SipCaller:
    """The agent's own phone as a caller (one per phone system, reused for every call to the line)."""
    if id(phones) not in _LINE_PHONES or _LINE_PHONES[id(phones)] not in phones.peers:
        _LINE_PHONES[id(phones)] = phones.caller("agent1")
    return _LINE_PHONES[id(phones)]


def call_the_line(stack: RespectlineStack, phones: SipPhoneSystem, *, ask_for_older: bool = False,
                  hang_up_after: float | None = None) -> Path:
    """The agent's own phone calls the compliments line; what it heard. With ``ask_for_older`` it presses 1
    every second and a half: only a press during or after "press 1 to hear older ones" counts (the
    line listens for no key while anything else plays). With ``hang_up_after`` the agent hangs up then."""
    line = _line_phone(phones)
    line.call(stack.bundle.settings.compliments.agent_line)
    phones.wait_until(lambda: line.state is PeerState.CONNECTED, 10, "agents' line answered")
    if hang_up_after is not None:
        phones.pump(hang_up_after)
        line.hangup()
    deadline = 120.0
    while ask_for_older and line.state is not PeerState.DISCONNECTED and deadline > 0:
        phones.pump(1.5)
        deadline -= 1.5
        if line.state is PeerState.CONNECTED:
            line.press("1")
    phones.wait_until(lambda: line.state is PeerState.DISCONNECTED, 120, "agents' line finished")
    phones.pump(0.3)
    assert line.last_recording is not None
    return line.last_recording
