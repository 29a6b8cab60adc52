"""``abuse_policy.recording.start: connect`` on the real Asterisk: the caller hears the recording notice
at queue entry; the call is recorded from the agent's answer, each direction in its own file; a flagged
call's evidence holds what the caller said *before* the first ``*1``; an unflagged call leaves nothing
behind; a crash's leftovers are swept; a share that cannot take the recording still lets the call
through and the agent be protected."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agi_scripts.config.settings import AmiSettings
from agi_scripts.doctor.findings import Status
from agi_scripts.doctor.recordings_share import check_sweep_account
from agi_scripts.ground import call_spool
from agi_scripts.privacy.spool_sweeper import live_calls_over_ami
from agi_scripts.sandbox.audio import contains_prompt, find_prompt_times
from agi_scripts.sandbox.demo import demo_flows, record_from_connect, speak
from agi_scripts.sandbox.sip import PeerState, SipAgent, SipCaller, SipPhoneSystem
from agi_scripts.sandbox.stack import RespectlineStack, StackOptions
from agi_scripts.storage import open_store
from agi_scripts.storage.base import Case
from tests.support.calls import agent_paused, connect, shorten_pauses
from tests.support.e2e_stack import ALWAYS_ON_CAMPAIGNS, started

pytestmark = pytest.mark.e2e
PAUSE_SECONDS = 4
SPOOL_GRACE = 3
CALLER_SAYS = "I do not care, you are completely useless."
AGENT_SAYS = "Sir, I am trying to help you, please stay calm."


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RespectlineStack]:
    folder = tmp_path_factory.mktemp("connect")
    flows = record_from_connect(demo_flows(folder, ALWAYS_ON_CAMPAIGNS), f"{SPOOL_GRACE}s")
    shorten_pauses(flows, PAUSE_SECONDS)
    options = StackOptions(agents={"agent1": ["support"]}, agent_names={"agent1": "Agent One"},
                           callers=tuple(f"caller{n}" for n in range(1, 8)), flows_dir=flows)
    running = started(options, folder)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("voices")
    return speak(CALLER_SAYS, folder / "caller.wav"), speak(AGENT_SAYS, folder / "agent.wav")


def a_caller(phones: SipPhoneSystem, number: int) -> SipCaller:
    """Each test its own caller number: a case against one routes that caller's next call to the team."""
    return phones.caller(f"caller{number}", caller_id_name=f"Caller {number}",
                         caller_id_number=f"+3247555000{number}")


def channel_uniqueid(stack: RespectlineStack, endpoint: str) -> str:
    for line in stack.asterisk.rx("core show channels concise").splitlines():
        fields = line.split("!")
        if fields[0].startswith(f"PJSIP/{endpoint}-") and len(fields) >= 14:
            return fields[13].strip()
    raise AssertionError(f"no channel of {endpoint}")


def channel_name(stack: RespectlineStack, endpoint: str) -> str:
    for line in stack.asterisk.rx("core show channels concise").splitlines():
        if line.startswith(f"PJSIP/{endpoint}-"):
            return line.split("!")[0]
    raise AssertionError(f"no channel of {endpoint}")


def channel_application(stack: RespectlineStack, endpoint: str) -> str:
    for line in stack.asterisk.rx("core show channels concise").splitlines():
        fields = line.split("!")
        if fields[0].startswith(f"PJSIP/{endpoint}-") and len(fields) > 6:
            return f"{fields[5]}({fields[6]})"
    return ""


def flag_lines(stack: RespectlineStack, uniqueid: str) -> list[str]:
    return [line for line in stack.server_log.read_text(errors="replace").splitlines()
            if "script=flag" in line and f"uniqueid={uniqueid} " in line]


def wait_for_flags(phones: SipPhoneSystem, stack: RespectlineStack, uniqueid: str, count: int) -> list[str]:
    phones.wait_until(lambda: len(flag_lines(stack, uniqueid)) >= count, 30, f"flag session {count} finished",
                      interval=0.2)
    return flag_lines(stack, uniqueid)


def spool(stack: RespectlineStack, uniqueid: str) -> Path:
    return call_spool.spool_folder(stack.recordings_dir, uniqueid)


def evidence_of(stack: RespectlineStack, uniqueid: str) -> list[Path]:
    return sorted((stack.recordings_dir / "evidence").glob(f"*/*/{uniqueid}*"))


def cases_of(stack: RespectlineStack, uniqueid: str) -> list[Case]:
    store = open_store(stack.db_url)
    try:
        return [case for case in store.list_cases() if case.call_id == uniqueid]
    finally:
        store.close()


def mixmonitors_on(stack: RespectlineStack, channel: str) -> int:
    """How many MixMonitors run on ``channel`` (``mixmonitor list``: one line per recording)."""
    listing = stack.asterisk.rx(f"mixmonitor list {channel}")
    return sum(1 for line in listing.splitlines() if line.startswith("0x"))


def heard_times(stack: RespectlineStack, caller: SipCaller, prompt: str) -> list[float]:
    assert caller.last_recording is not None
    return find_prompt_times(caller.last_recording, stack.prompt_file(prompt, "en"))


def wait_unpaused(phones: SipPhoneSystem, stack: RespectlineStack) -> None:
    phones.wait_until(lambda: not agent_paused(stack.asterisk), PAUSE_SECONDS + 20, "agent1 unpaused", interval=0.5)


def test_a_flagged_calls_evidence_holds_what_the_caller_said_before_the_first_flag(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent, voices: tuple[Path, Path]) -> None:
    caller_words, agent_words = voices
    caller = a_caller(phones, 1)
    connect(phones, caller, agent, stack.number("support"))
    uniqueid = channel_uniqueid(stack, caller.username)
    phones.pump(0.5)
    # The insult that makes the agent press *1, said before any flag; the agent answers with other words.
    phones.pump(caller.play(caller_words) + 0.3)
    phones.pump(agent.play(agent_words) + 0.5)
    assert (spool(stack, uniqueid) / f"{uniqueid}-caller.wav").is_file()
    agent.press("*1")
    [warned] = wait_for_flags(phones, stack, uniqueid, 1)
    assert "recording" not in warned.split("outcome=", 1)[1], warned  # no second recording, no notice at the flag
    assert mixmonitors_on(stack, channel_name(stack, caller.username)) == 1
    phones.pump(4.0)  # the dedupe window after the warning
    agent.press("*1")  # pressed twice within the window: one flag
    agent.press("*1")
    phones.wait_until(lambda: caller.state is PeerState.DISCONNECTED, 40, "caller disconnected by the ladder")
    phones.wait_until(lambda: agent.state is PeerState.DISCONNECTED, 10, "agent leg ended")
    phones.pump(0.5)
    lines = wait_for_flags(phones, stack, uniqueid, 2)
    # The press that followed at once is one flag: counted as a duplicate, or never run (the caller gone).
    assert len(lines) in (2, 3) and all("duplicate" in line for line in lines[2:]), lines
    [case] = cases_of(stack, uniqueid)
    assert case.recording is not None
    mixed = Path(case.recording)
    caller_file, agent_file = call_spool.direction_files(mixed)
    assert mixed.name == f"{uniqueid}.wav" and mixed.parent.parent.parent == stack.recordings_dir / "evidence"
    assert sorted(evidence_of(stack, uniqueid)) == sorted([mixed, caller_file, agent_file])
    assert contains_prompt(mixed, caller_words).matched and contains_prompt(mixed, agent_words).matched
    assert contains_prompt(caller_file, caller_words).matched
    assert not contains_prompt(caller_file, agent_words).matched
    assert contains_prompt(agent_file, agent_words).matched
    assert not contains_prompt(agent_file, caller_words).matched
    # What the caller heard from Asterisk during the call (the warning) is on the agent's side: the
    # transcription reads that file as "agent".
    warning = stack.prompt_file("abuse_warning", "en")
    assert contains_prompt(agent_file, warning).matched and not contains_prompt(caller_file, warning).matched
    # The caller was told once, when the call entered the queue, before the agent answered.
    assert len(heard_times(stack, caller, "recording_notice")) == 1
    assert heard_times(stack, caller, "recording_notice")[0] < heard_times(stack, caller, "abuse_warning")[0]
    # The spool went at hang-up; the evidence stayed.
    phones.wait_until(lambda: not spool(stack, uniqueid).exists(), 10, "spool removed at hang-up", interval=0.2)
    assert mixed.is_file() and mixed.stat().st_size > 44
    wait_unpaused(phones, stack)


def test_an_unflagged_call_leaves_no_recording_behind(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent, voices: tuple[Path, Path]) -> None:
    caller_words, _agent_words = voices
    caller = a_caller(phones, 2)
    connect(phones, caller, agent, stack.number("support"))
    uniqueid = channel_uniqueid(stack, caller.username)
    phones.pump(caller.play(caller_words) + 0.5)
    recorded = spool(stack, uniqueid) / f"{uniqueid}.wav"
    assert recorded.is_file() and recorded.stat().st_size > 8000  # it was being recorded
    caller.hangup()
    phones.wait_until(lambda: caller.state is PeerState.DISCONNECTED and agent.state is PeerState.DISCONNECTED,
                      15, "call ended")
    phones.wait_until(lambda: not spool(stack, uniqueid).exists(), 60, "spool removed within the minute",
                      interval=0.2)
    assert evidence_of(stack, uniqueid) == [] and not list(stack.recordings_dir.rglob(f"{uniqueid}*"))
    assert len(heard_times(stack, caller, "recording_notice")) == 1  # told at entry all the same
    # Removed by the hangup handler at once, not left to the sweep.
    phones.wait_until(lambda: any("script=call_ended" in line and f"uniqueid={uniqueid} " in line
                                  and "spool-removed files=3" in line
                                  for line in stack.server_log.read_text(errors="replace").splitlines()),
                      10, "call_ended logged", interval=0.2)


def test_a_caller_who_hangs_up_as_the_agent_answers_leaves_nothing(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent) -> None:
    caller = a_caller(phones, 3)
    connect(phones, caller, agent, stack.number("support"))
    uniqueid = channel_uniqueid(stack, caller.username)
    caller.hangup()
    phones.wait_until(lambda: caller.state is PeerState.DISCONNECTED and agent.state is PeerState.DISCONNECTED,
                      15, "call ended")
    phones.wait_until(lambda: not spool(stack, uniqueid).exists(), 60, "spool removed", interval=0.2)
    assert not list(stack.recordings_dir.rglob(f"{uniqueid}*"))


def test_a_caller_who_hangs_up_during_the_notice_leaves_no_spool_folder(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent) -> None:
    caller = a_caller(phones, 6)
    answered = agent.calls_answered
    caller.call(stack.number("support"))
    phones.wait_until(lambda: caller.state is PeerState.CONNECTED, 15, "caller answered by Asterisk")
    uniqueid = channel_uniqueid(stack, caller.username)
    phones.wait_until(lambda: "Playback" in channel_application(stack, caller.username), 5, "the notice playing",
                      interval=0.1)
    phones.pump(1.0)
    # screen made only the spools' folder: the call's own is MixMonitor's, after the notice.
    assert (stack.recordings_dir / "calls").is_dir() and not spool(stack, uniqueid).exists()
    caller.hangup()
    phones.wait_until(lambda: caller.state is PeerState.DISCONNECTED, 15, "caller gone")
    phones.pump(1.0)
    assert agent.calls_answered == answered and not list(stack.recordings_dir.rglob(f"{uniqueid}*"))


def test_a_spool_the_hang_up_did_not_remove_is_swept_by_the_server(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent, voices: tuple[Path, Path]) -> None:
    caller_words, _agent_words = voices
    caller = a_caller(phones, 4)
    connect(phones, caller, agent, stack.number("support"))
    uniqueid = channel_uniqueid(stack, caller.username)
    phones.pump(caller.play(caller_words) + 0.3)
    assert stack.stop_server() == 0  # a crash or a restart: nobody answers the hangup handler
    try:
        caller.hangup()
        phones.wait_until(lambda: caller.state is PeerState.DISCONNECTED and agent.state is PeerState.DISCONNECTED,
                          15, "call ended")
        phones.pump(1.0)
        assert (spool(stack, uniqueid) / f"{uniqueid}.wav").is_file()  # left behind
    finally:
        stack.start_server()
    phones.wait_until(lambda: not spool(stack, uniqueid).exists(), SPOOL_GRACE + 30, "spool swept", interval=0.5)
    assert "call spools: 1 recording(s) of ended unflagged calls removed" in stack.server_log.read_text(
        errors="replace")


def test_a_caller_who_waits_longer_than_the_grace_keeps_the_recording_the_first_flag_adopts(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent, voices: tuple[Path, Path]) -> None:
    caller_words, _agent_words = voices
    caller = a_caller(phones, 7)
    answered = agent.calls_answered
    stack.asterisk.rx("queue pause member PJSIP/agent1 queue support reason busy")  # nobody free: the caller waits
    try:
        caller.call(stack.number("support"))
        phones.wait_until(lambda: caller.state is PeerState.CONNECTED, 15, "caller answered by Asterisk")
        uniqueid = channel_uniqueid(stack, caller.username)
        phones.wait_until(lambda: len(list(spool(stack, uniqueid).glob("*.wav"))) == 3, 15,
                          "MixMonitor opened its three files", interval=0.2)
        phones.pump(SPOOL_GRACE * 4)  # several sweeps, each past the grace
        waiting = sorted(spool(stack, uniqueid).glob("*.wav"))
        # Still there, and still only WAV headers: the case the sweep used to take for an ended call.
        assert len(waiting) == 3 and all(f.stat().st_size <= call_spool.WAV_HEADER_BYTES for f in waiting), waiting
        # What the server's sweep asks Asterisk: the waiting call is alive.
        servers_account = AmiSettings(host="127.0.0.1", port=stack.asterisk.ami_port,
                                      username=stack.asterisk.ami_username, secret=stack.asterisk.ami_secret)
        live = live_calls_over_ami(servers_account)()
        assert live is not None and uniqueid in live
        assert check_sweep_account(servers_account, 5).status is Status.OK  # what doctor says of it
    finally:
        stack.asterisk.rx("queue unpause member PJSIP/agent1 queue support")
    phones.wait_until(lambda: agent.calls_answered > answered and agent.state is PeerState.CONNECTED, 30,
                      "agent answered the waiting caller")
    phones.pump(0.5)
    phones.pump(caller.play(caller_words) + 0.5)
    agent.press("*1")
    [warned] = wait_for_flags(phones, stack, uniqueid, 1)
    assert "recording" not in warned.split("outcome=", 1)[1], warned  # adopted: no second notice, no new recording
    mixed = next(f for f in evidence_of(stack, uniqueid) if f.name == f"{uniqueid}.wav")
    caller_file, _agent_file = call_spool.direction_files(mixed)
    phones.pump(1.0)
    caller.hangup()
    phones.wait_until(lambda: caller.state is PeerState.DISCONNECTED and agent.state is PeerState.DISCONNECTED,
                      15, "call ended")
    phones.wait_until(lambda: not spool(stack, uniqueid).exists(), 10, "spool removed at hang-up", interval=0.2)
    assert contains_prompt(caller_file, caller_words).matched  # the words said after the long wait are evidence
    assert "did not say which calls are alive" not in stack.server_log.read_text(errors="replace")
    assert len(heard_times(stack, caller, "recording_notice")) == 1
    wait_unpaused(phones, stack)


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """The recordings share read-only: as root a mode does nothing, so an empty read-only tmpfs in its
    place (as a share mounted ``ro``); unprivileged, the mode bits."""
    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(mode)
        return
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k,mode=0755", "rl-connect", str(folder)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"cannot mount a tmpfs as root: {done.stderr.strip()}"
    try:
        yield
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


def test_with_the_share_read_only_the_call_goes_through_unrecorded_and_the_agent_is_still_protected(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent) -> None:
    caller = a_caller(phones, 5)
    with read_only(stack.recordings_dir):
        connect(phones, caller, agent, stack.number("support"))
        uniqueid = channel_uniqueid(stack, caller.username)
        assert mixmonitors_on(stack, channel_name(stack, caller.username)) == 0
        phones.pump(0.5)
        agent.press("*2")  # a threat: disconnect, urgent case, pause
        phones.wait_until(lambda: agent_paused(stack.asterisk), 5, "agent paused", interval=0.2)
        phones.wait_until(lambda: caller.state is PeerState.DISCONNECTED, 40, "caller disconnected by the ladder")
        phones.wait_until(lambda: agent.state is PeerState.DISCONNECTED, 10, "agent leg ended")
        phones.pump(0.5)
        [closed] = wait_for_flags(phones, stack, uniqueid, 1)
    assert heard_times(stack, caller, "abuse_closing_threat")
    assert not heard_times(stack, caller, "recording_notice")  # not told of a recording that is not made
    [case] = cases_of(stack, uniqueid)
    assert case.team == "security" and case.recording is None
    log = stack.server_log.read_text(errors="replace")
    assert "this call is not recorded" in log and "recording" not in closed.split("outcome=", 1)[1]
    wait_unpaused(phones, stack)
