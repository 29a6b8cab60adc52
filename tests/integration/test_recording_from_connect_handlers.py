"""``recording.start: connect`` through the handlers over a real FastAGI socket: screen asks the dialplan
to record (and to tell the caller first), the first flag adopts the call's spool instead of starting a
second MixMonitor, and ``call_ended`` removes the spool."""

from __future__ import annotations

from pathlib import Path

from agi_scripts.ground import call_spool
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
    assert (recordings / "calls" / "1700000000.61").is_dir()
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
