"""``recording.start: connect`` through the handlers over a real FastAGI socket: screen asks the dialplan
to record (and to tell the caller first), the first flag adopts the call's spool instead of starting a
second MixMonitor, and ``call_ended`` removes the spool."""

from __future__ import annotations

import importlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agi_scripts.config.bundle import load_bundle
from agi_scripts.ground import call_spool
from agi_scripts.handlers import ROUTES
from agi_scripts.handlers.context import Services
from agi_scripts.handlers.file_work import RECORDINGS_SHARE
from agi_scripts.handlers.recordings import ShareAnswer
from agi_scripts.server.app import FastAgiServer
from agi_scripts.server.options import ServerOptions
from agi_scripts.storage import open_store
from tests.support.agi_peer import AgiPeer
from tests.support.config_tree import ConfigTree
from tests.support.fake_channel import FakeChannel
from tests.support.integration import Stack

AGENT = {"MEMBERNAME": "Member agent1", "MEMBERINTERFACE": "PJSIP/agent1", "BRIDGEPEER": "PJSIP/agent1-00000002",
         "RL_ROUTE": "support", "RL_LANGUAGE": "nl"}
SHIPPED = "    start: first_flag "


def record_from_connect(stack: Stack) -> Path:
    stack.tree.replace("flows/abuse_policy.yaml", SHIPPED, "    start: connect ")
    assert stack.server.reload()
    return stack.bundle.settings.recordings_dir


def spooled(recordings: Path, call_id: str) -> Path:
    folder = call_spool.spool_folder(recordings, call_id)
    folder.mkdir(parents=True, exist_ok=True)
    for name in call_spool.file_names(call_id):
        (folder / name).write_bytes(b"RIFF" + name.encode())
    return folder


def test_screen_asks_the_dialplan_to_tell_the_caller_and_record_the_call(stack: Stack) -> None:
    recordings = record_from_connect(stack)
    channel = FakeChannel()
    with stack.call("screen", args=["support"], uniqueid="1700000000.61") as peer:
        channel.serve(peer)
    assert channel.variables["RL_RECORDING"] == str(recordings / "calls" / "1700000000.61" / "1700000000.61")
    assert channel.variables["RL_RECORDING_NOTICE"] == "respectline/nl/recording_notice"
    # The call's folder is MixMonitor's to make: a caller gone before the recording starts leaves none.
    assert (recordings / "calls").is_dir() and not (recordings / "calls" / "1700000000.61").exists()
    assert channel.variables["RL_ROUTE"] == "support"


def test_screen_with_the_first_flag_default_records_nothing(stack: Stack) -> None:
    channel = FakeChannel()
    with stack.call("screen", args=["support"], uniqueid="1700000000.62") as peer:
        channel.serve(peer)
    assert "RL_RECORDING" not in channel.variables and "RL_RECORDING_NOTICE" not in channel.variables


def test_screen_with_a_share_that_cannot_take_the_recording_lets_the_call_through_untold(stack: Stack) -> None:
    recordings = record_from_connect(stack)
    recordings.mkdir(parents=True, exist_ok=True)
    (recordings / "calls").write_text("a file where the spools' folder should be")
    channel = FakeChannel()
    with stack.call("screen", args=["support"], uniqueid="1700000000.63") as peer:
        channel.serve(peer)
    assert channel.variables.get("RL_RECORDING", "") == ""
    assert "RL_RECORDING_NOTICE" not in channel.variables
    assert channel.variables["RL_ROUTE"] == "support"


def test_the_first_flag_adopts_the_calls_recording_and_starts_no_second_one(stack: Stack) -> None:
    recordings = record_from_connect(stack)
    spooled(recordings, "1700000000.64")
    channel = FakeChannel(dict(AGENT))
    with stack.call("flag?category=verbal_abuse", uniqueid="1700000000.64") as peer:
        channel.serve(peer)
    assert [c[2] for c in channel.sent("STREAM")] == ["respectline/nl/abuse_warning"]  # no notice at the flag
    assert not [c for c in channel.sent("EXEC") if c[1] == "MixMonitor"]
    evidence = Path(channel.variables["RL_EVIDENCE"])
    assert evidence.name == "1700000000.64.wav" and evidence.is_file()
    assert sorted(p.name for p in evidence.parent.iterdir()) == [
        "1700000000.64-agent.wav", "1700000000.64-caller.wav", "1700000000.64.wav"]


def test_connect_without_a_spool_records_from_the_flag_with_the_notice(stack: Stack) -> None:
    record_from_connect(stack)
    channel = FakeChannel(dict(AGENT))
    with stack.call("flag?category=verbal_abuse", uniqueid="1700000000.65") as peer:
        channel.serve(peer)
    assert [c[2] for c in channel.sent("STREAM")] == ["respectline/nl/recording_notice", "respectline/nl/abuse_warning"]
    [mixmonitor] = [c for c in channel.sent("EXEC") if c[1] == "MixMonitor"]
    assert mixmonitor[2].endswith("1700000000.65.wav")


def test_call_ended_removes_the_spool_and_nothing_else(stack: Stack) -> None:
    recordings = stack.bundle.settings.recordings_dir
    folder = spooled(recordings, "1700000000.66")
    other = spooled(recordings, "1700000000.67")
    channel = FakeChannel()
    with stack.call("call_ended", uniqueid="1700000000.66") as peer:
        channel.serve(peer)
    assert not folder.exists() and other.is_dir()
    assert channel.sent("EXEC") == [] and channel.sent("SET") == []  # the channel is gone: nothing asked of it


def test_call_ended_with_a_hostile_uniqueid_touches_nothing(stack: Stack) -> None:
    recordings = stack.bundle.settings.recordings_dir
    other = spooled(recordings, "1700000000.68")
    channel = FakeChannel()
    with stack.call("call_ended", uniqueid="../calls") as peer:
        channel.serve(peer)
    assert other.is_dir()


BLOCKING_TIMEOUT = 4.0
"""The server's bound on blocking work in the hung-share tests: the agent's protection must come well
before it (the share's work used to be waited for twice over before the pause)."""


class TimedChannel(FakeChannel):
    """A fake channel that notes when each command reached Asterisk."""

    def __init__(self, variables: dict[str, str]) -> None:
        super().__init__(variables)
        self.started = time.monotonic()
        self.times: list[tuple[float, list[str]]] = []

    def answer(self, argv: list[str]) -> str:
        self.times.append((time.monotonic() - self.started, argv))
        return super().answer(argv)

    def when(self, *words: str) -> float:
        return next(t for t, argv in self.times if argv[:len(words)] == list(words))


@pytest.fixture
def hung_share(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """The recordings share hangs (as a hard NFS mount whose server is gone) until the event is set."""
    answers = threading.Event()
    flag = importlib.import_module("agi_scripts.handlers.flag")  # the module; the package exports its function
    real = flag.first_flag_evidence

    def hanging(recordings: Path, call_id: str, evidence: Path, *, adopt: bool) -> ShareAnswer:
        answers.wait(60)
        return real(recordings, call_id, evidence, adopt=adopt)

    monkeypatch.setattr(flag, "first_flag_evidence", hanging)
    try:
        yield answers
    finally:
        answers.set()
        deadline = time.monotonic() + 10
        while RECORDINGS_SHARE.running and time.monotonic() < deadline:
            time.sleep(0.05)


@pytest.fixture
def slow_stack(config_tree: ConfigTree, tmp_path: Path) -> Iterator[Stack]:
    """The integration stack with a shorter bound on blocking work, recording from connect."""
    config_tree.replace("config/respectline.yaml", "recordings: ../var/recordings",
                        f"recordings: {tmp_path / 'recordings'}")
    config_tree.replace("config/respectline.yaml", "agents: {}", "agents:\n  Agent One: PJSIP/agent1")
    config_tree.replace("flows/abuse_policy.yaml", SHIPPED, "    start: connect ")
    store = open_store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    server = FastAgiServer(lambda: load_bundle(config_tree.config), routes=ROUTES, services=Services.offloaded(store),
                           options=ServerOptions(port=0, reload_poll=0.2, blocking_timeout=BLOCKING_TIMEOUT)
                           ).run_in_thread()
    try:
        yield Stack(server, store, load_bundle(config_tree.config), config_tree)
    finally:
        server.stop()
        store.close()


def test_a_hung_share_never_holds_up_the_pause_nor_the_disconnect_and_starts_no_second_recording(
        slow_stack: Stack, hung_share: threading.Event) -> None:
    recordings = slow_stack.bundle.settings.recordings_dir
    folder = spooled(recordings, "1700000000.69")
    channel = TimedChannel(dict(AGENT))
    with AgiPeer(slow_stack.server.port, timeout=30).start("flag?category=threat", uniqueid="1700000000.69") as peer:
        channel.serve(peer, timeout=30)
    # The pause and the closing prompt came long before the share's work could time out.
    assert channel.when("EXEC", "PauseQueueMember") < BLOCKING_TIMEOUT / 2, channel.times
    assert channel.when("STREAM", "FILE", "respectline/nl/abuse_closing_threat") < BLOCKING_TIMEOUT / 2
    assert channel.when("EXEC", "PauseQueueMember") < channel.when("STREAM", "FILE")
    # No second MixMonitor over the evidence path the late adoption may still link (its O_TRUNC would
    # cut the running recording), and no second notice.
    assert not [c for c in channel.sent("EXEC") if c[1] == "MixMonitor"]
    assert [c[2] for c in channel.sent("STREAM")] == ["respectline/nl/abuse_closing_threat"]
    evidence = Path(channel.variables["RL_EVIDENCE"])
    [case] = [c for c in slow_stack.store.list_cases() if c.call_id == "1700000000.69"]
    assert case.recording == str(evidence) and not evidence.exists()
    hung_share.set()  # the share answers again: the adoption it was doing finishes
    deadline = time.monotonic() + 10
    while not evidence.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.stat(evidence).st_ino == os.stat(folder / "1700000000.69.wav").st_ino


def test_a_share_already_hung_by_earlier_calls_is_not_waited_for_at_all(
        slow_stack: Stack, hung_share: threading.Event, monkeypatch: pytest.MonkeyPatch) -> None:
    # Earlier calls' share work still hangs: the pool of the share is full.
    stuck = threading.Event()
    for _ in range(RECORDINGS_SHARE.max_stuck):
        RECORDINGS_SHARE.start(stuck.wait, 30)
    time.sleep(RECORDINGS_SHARE.stuck_after + 0.2)
    try:
        started = time.monotonic()
        channel = FakeChannel()
        with AgiPeer(slow_stack.server.port, timeout=30).start("screen", args=["support"],
                                                               uniqueid="1700000000.70") as peer:
            channel.serve(peer, timeout=30)
        assert time.monotonic() - started < BLOCKING_TIMEOUT / 2
        assert channel.variables.get("RL_RECORDING", "") == "" and "RL_RECORDING_NOTICE" not in channel.variables
        assert channel.variables["RL_ROUTE"] == "support"  # the call goes on, unrecorded and untold
        threat = TimedChannel(dict(AGENT))
        with AgiPeer(slow_stack.server.port, timeout=30).start("flag?category=threat",
                                                               uniqueid="1700000000.70") as peer:
            threat.serve(peer, timeout=30)
        assert threat.when("EXEC", "PauseQueueMember") < BLOCKING_TIMEOUT / 2
        assert "RL_EVIDENCE" not in threat.variables and not [c for c in threat.sent("EXEC") if c[1] == "MixMonitor"]
    finally:
        stuck.set()


def test_a_hang_up_during_a_late_adoption_removes_the_spool_only_once_the_evidence_is_linked(
        slow_stack: Stack, hung_share: threading.Event) -> None:
    recordings = slow_stack.bundle.settings.recordings_dir
    folder = spooled(recordings, "1700000000.71")
    flagged = TimedChannel(dict(AGENT))
    with AgiPeer(slow_stack.server.port, timeout=30).start("flag?category=threat", uniqueid="1700000000.71") as peer:
        flagged.serve(peer, timeout=30)
    evidence = Path(flagged.variables["RL_EVIDENCE"])
    hung_up = FakeChannel()
    with slow_stack.call("call_ended", uniqueid="1700000000.71") as peer:
        hung_up.serve(peer)
    assert folder.is_dir() and not evidence.exists()  # the link still to come: the spool stays for it
    hung_share.set()
    deadline = time.monotonic() + 10
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not folder.exists()
    assert evidence.read_bytes() == b"RIFF" + b"1700000000.71.wav"  # linked first, then the spool went
    assert evidence.with_name("1700000000.71-caller.wav").is_file()
