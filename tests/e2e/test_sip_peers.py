"""Scripted pjsua2 peers against a real sandboxed Asterisk.

One sandbox and one SipPhoneSystem for the module. The dialplan answers, plays a prompt made by
espeak-ng, reads one digit, stores it (AstDB) and dials the agent. The tests prove, from both sides:
the agent registered, the caller heard the prompt (audio match), its RFC 4733 digit reached Read(),
the agent heard what the caller said, a hostile caller ID arrived intact, and no channel is left.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agi_scripts.sandbox.asterisk import AsteriskNotFound, AsteriskSandbox
from agi_scripts.sandbox.audio import contains_prompt
from agi_scripts.sandbox.sip import PeerState, SipAgent, SipCaller, SipPhoneSystem, pjsip_endpoints_conf

pytestmark = pytest.mark.e2e

PROMPT_TEXT = "Welcome to the respect line test. Please press seven now."
SPOKEN_TEXT = "Thank you so much, you were really helpful today."
UNHEARD_TEXT = "This sentence is never played to anybody in this test."
HOSTILE_NAME = 'Bob "the builder" & co; <evil>'
HOSTILE_NUMBER = "500&PJSIP/x"
# On the wire the name is a quoted-string with its quotes backslash-escaped (RFC 3261). Asterisk's
# res_pjsip_caller_id copies the display name without undoing those escapes, so CALLERID(name)
# holds the backslashes: Asterisk's behaviour, checked here so that it is known and stays so.
HOSTILE_NAME_IN_ASTERISK = HOSTILE_NAME.replace('"', '\\"')
CONTEXT = "rl-e2e"

EXTENSIONS_CONF = f"""[general]
static = yes
writeprotect = yes

[{CONTEXT}]
exten => 100,1,Answer()
 same => n,Wait(0.3)
 same => n,Playback(respectline-e2e/prompt)
 same => n,Read(DIGIT,,1,,1,8)
 same => n,Set(DB(e2e/digit)=${{DIGIT}})
 same => n,UserEvent(RespectlineE2E,Digit: ${{DIGIT}})
 same => n,Dial(PJSIP/agent1,20)
 same => n,Hangup()

exten => 200,1,Answer()
 same => n,Set(DB(e2e/cid_name)=${{CALLERID(name)}})
 same => n,Set(DB(e2e/cid_num)=${{CALLERID(num)}})
 same => n,Wait(10)
 same => n,Hangup()
"""


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: run `make asterisk` (scripts/install-asterisk installs sox and espeak-ng)")
    return path


def _speak(text: str, target: Path) -> Path:
    """espeak-ng sentence as the 8 kHz 16-bit mono WAV that Asterisk's format_wav plays."""
    raw = target.with_name(target.stem + "-raw.wav")
    subprocess.run([_tool("espeak-ng"), "-w", str(raw), text], check=True, capture_output=True)
    subprocess.run([_tool("sox"), str(raw), "-r", "8000", "-c", "1", "-b", "16", str(target), "norm", "-3"],
                   check=True, capture_output=True)
    return target


@dataclass
class Stage:
    sandbox: AsteriskSandbox
    phones: SipPhoneSystem
    agent: SipAgent
    caller: SipCaller
    hostile: SipCaller
    prompt: Path
    spoken: Path
    unheard: Path

    def rx(self, command: str) -> str:
        return self.sandbox.rx(command)

    def channels(self) -> list[str]:
        return self.sandbox.channels()

    def db_value(self, family: str, key: str) -> str | None:
        output = self.rx(f"database get {family} {key}")
        for line in output.splitlines():
            if line.startswith("Value: "):
                return line[len("Value: "):]
        return None

    def current_application(self) -> set[str]:
        """Dialplan applications running now (``core show channels concise``: field 6)."""
        rows = [line.split("!") for line in self.rx("core show channels concise").splitlines()]
        return {row[5] for row in rows if len(row) > 5}


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    folder = tmp_path_factory.mktemp("sip-peers")
    conf = {
        "extensions.conf": EXTENSIONS_CONF,
        "pjsip.conf": pjsip_endpoints_conf(["agent1"], ["caller1", "caller2"], CONTEXT),
    }
    try:
        sandbox = AsteriskSandbox(conf)
    except AsteriskNotFound as error:
        pytest.fail(f"Asterisk is not installed: run `make asterisk` ({error})")
    with sandbox:
        prompt_dir = sandbox.sounds_dir / "respectline-e2e"
        prompt_dir.mkdir(parents=True, exist_ok=True)
        prompt = _speak(PROMPT_TEXT, prompt_dir / "prompt.wav")
        spoken = _speak(SPOKEN_TEXT, folder / "spoken.wav")
        unheard = _speak(UNHEARD_TEXT, folder / "unheard.wav")
        with SipPhoneSystem("127.0.0.1", sandbox.sip_port, record_dir=folder / "recordings",
                            log_path=folder / "pjsua.log") as phones:
            yield Stage(
                sandbox=sandbox,
                phones=phones,
                agent=phones.agent("agent1", ring_delay=0.4),
                caller=phones.caller("caller1", caller_id_name="Alice", caller_id_number="0470123456"),
                hostile=phones.caller("caller2", caller_id_name=HOSTILE_NAME, caller_id_number=HOSTILE_NUMBER),
                prompt=prompt,
                spoken=spoken,
                unheard=unheard,
            )


def test_agent_registers_and_asterisk_lists_its_contact(stage: Stage) -> None:
    stage.phones.wait_until(lambda: stage.agent.registered, 10, "agent1 registered")

    contacts = stage.rx("pjsip show contacts")

    assert "agent1/sip:agent1@127.0.0.1" in contacts, contacts


def test_caller_hears_prompt_dtmf_reaches_read_and_agent_hears_caller(stage: Stage) -> None:
    phones, agent, caller = stage.phones, stage.agent, stage.caller
    phones.wait_until(lambda: agent.registered, 10, "agent1 registered")

    caller.call("100")
    phones.wait_until(lambda: caller.state is PeerState.CONNECTED, 10, "caller connected")
    # Playback ignores DTMF: press only once Read() is waiting for it.
    phones.wait_until(lambda: "Read" in stage.current_application(), 20, "dialplan reached Read()", interval=0.1)
    caller.press("7")
    phones.wait_until(lambda: agent.state is PeerState.CONNECTED, 15, "agent answered")
    assert stage.db_value("e2e", "digit") == "7"

    phones.pump(0.5)
    seconds = caller.play(stage.spoken)
    phones.wait_until(lambda: not caller.is_playing, seconds + 5, "caller finished speaking")
    phones.pump(0.7)
    caller.hangup()
    phones.wait_until(lambda: agent.state is PeerState.DISCONNECTED and caller.state is PeerState.DISCONNECTED,
                      10, "both sides disconnected")
    phones.pump(0.2)  # lets the pump loop delete the recorders, which finalises the WAV files
    stage.sandbox.wait_no_channels(10)

    assert stage.channels() == []
    assert agent.calls_answered == 1
    assert agent.last_call is not None and agent.last_call.hung_up_by_us is False
    caller_heard, agent_heard = caller.last_recording, agent.last_recording
    assert caller_heard is not None and agent_heard is not None
    prompt_match = contains_prompt(caller_heard, stage.prompt)
    assert prompt_match.matched, prompt_match
    assert 0.2 <= prompt_match.offset_seconds <= 2.0, prompt_match  # after Answer() and Wait(0.3)
    assert not contains_prompt(caller_heard, stage.unheard).matched
    spoken_match = contains_prompt(agent_heard, stage.spoken)
    assert spoken_match.matched, spoken_match
    assert not contains_prompt(agent_heard, stage.prompt).matched  # the agent joined after the prompt


def test_hostile_caller_id_reaches_the_dialplan_and_call_is_cleaned_up(stage: Stage) -> None:
    phones, hostile = stage.phones, stage.hostile

    hostile.call("200")
    phones.wait_until(lambda: hostile.state is PeerState.CONNECTED, 10, "hostile caller connected")
    phones.wait_until(lambda: stage.db_value("e2e", "cid_num") is not None, 5, "caller ID stored", interval=0.1)
    hostile.hangup()
    phones.wait_until(lambda: hostile.state is PeerState.DISCONNECTED, 10, "hostile caller disconnected")
    stage.sandbox.wait_no_channels(10)

    assert stage.db_value("e2e", "cid_num") == HOSTILE_NUMBER
    assert stage.db_value("e2e", "cid_name") == HOSTILE_NAME_IN_ASTERISK
    assert stage.channels() == []
