"""SafeAGI over a real socket pair: pyst2's API, Asterisk's reply stream, and none of pyst2's traps."""

from __future__ import annotations

import io
import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import cast

import pytest
from asterisk.agi import AGI, AGIAppError, AGIHangup, AGIInvalidCommand, AGIUsageError

from agi_scripts.protocol import ChannelHungUp, CommandTimeout, CommandTimeouts, FileLineTransport, SafeAGI, UsageError
from tests.support.agi_peer import HOSTILE_CALLER_NAME, asterisk_environment, parse_agi_args

USAGE_REPLY = [
    "520-Invalid command syntax.  Proper usage follows:",
    " Usage: GET DATA <file to be streamed> [timeout] [max digits]",
    "520 End of proper usage.",
]


class Peer:
    """Asterisk's end of the socket pair."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def reply(self, *lines: str) -> None:
        self.sock.sendall("".join(line + "\n" for line in lines).encode())

    def sent(self, timeout: float = 0.2) -> list[str]:
        """Every line the AGI side wrote so far (waits ``timeout`` for more)."""
        self.sock.settimeout(timeout)
        try:
            while chunk := self.sock.recv(65536):
                self.buffer += chunk
        except TimeoutError:
            pass
        lines, _, self.buffer = self.buffer.rpartition(b"\n")
        return lines.decode().split("\n") if lines else []


@pytest.fixture
def pair() -> Iterator[tuple[SafeAGI, Peer]]:
    ours, theirs = socket.socketpair()
    transport = FileLineTransport(ours.makefile("rb", buffering=0), ours.makefile("wb", buffering=0))
    agi = SafeAGI(asterisk_environment("test"), transport, CommandTimeouts(command_timeout=2, media_timeout=2))
    yield agi, Peer(theirs)
    ours.close()
    theirs.close()


def test_hostile_caller_name_is_sent_as_one_argument_on_one_line(pair: tuple[SafeAGI, Peer]) -> None:
    agi, peer = pair
    peer.reply("200 result=1")
    agi.set_variable("CALLERNAME", HOSTILE_CALLER_NAME)
    lines = peer.sent()
    assert len(lines) == 1
    assert parse_agi_args(lines[0]) == ["SET", "VARIABLE", "CALLERNAME", 'Bob" EXEC System "touch /tmp/p']


def test_pyst2_methods_send_what_asterisk_expects(pair: tuple[SafeAGI, Peer]) -> None:
    agi, peer = pair
    peer.reply("200 result=0 endpos=8000", "200 result=123 (timeout)", "200 result=1 (nl)", "200 result=49",
               "200 result=1", "200 result=1 (stored value)", "200 result=0", "200 result=1")
    assert agi.stream_file("beep", "12") == ""
    assert agi.get_data("enter-number", 3000, 4) == "123"
    assert agi.get_variable("CHANNEL(language)") == "nl"
    assert agi.wait_for_digit(1500) == "1"
    agi.hangup()
    assert agi.database_get("family", "key") == "stored value"
    agi.exec_command("Playback", "hello", "noanswer")
    agi.verbose('say "hi"', 2)
    assert [parse_agi_args(line) for line in peer.sent()] == [
        ["STREAM", "FILE", "beep", "12", "0"],
        ["GET", "DATA", "enter-number", "3000", "4"],
        ["GET", "VARIABLE", "CHANNEL(language)"],
        ["WAIT", "FOR", "DIGIT", "1500"],
        ["HANGUP"],
        ["DATABASE", "GET", "family", "key"],
        ["EXEC", "Playback", "hello,noanswer"],
        ["VERBOSE", 'say "hi"', "2"],
    ]


def test_hangup_line_then_511_ends_with_channel_hung_up(pair: tuple[SafeAGI, Peer]) -> None:
    agi, peer = pair
    # the caller hangs up while the command is on its way: Asterisk writes HANGUP, then refuses it
    threading.Timer(0.1, peer.reply, ["HANGUP", "511 Command Not Permitted on a dead channel or intercept routine"]).start()
    with pytest.raises(ChannelHungUp):
        agi.stream_file("beep")
    with pytest.raises(ChannelHungUp):
        agi.verbose("not sent")
    assert len(peer.sent()) == 1
    assert agi.hung_up


def test_a_hangup_line_already_arrived_stops_the_command_before_it_is_sent(pair: tuple[SafeAGI, Peer]) -> None:
    agi, peer = pair
    peer.reply("HANGUP")
    time.sleep(0.05)
    with pytest.raises(ChannelHungUp):
        agi.stream_file("beep")
    assert peer.sent() == []


def test_hangup_line_between_commands_stops_the_next_one_before_it_is_sent(pair: tuple[SafeAGI, Peer]) -> None:
    agi, peer = pair
    peer.reply("200 result=0", "HANGUP")
    agi.answer()
    time.sleep(0.05)
    with pytest.raises(AGIHangup):  # pyst2's own class, so handlers written for pyst2 still catch it
        agi.get_variable("X")
    assert peer.sent() == ["ANSWER"]


def test_511_alone_when_agisighup_is_no_is_a_hangup(pair: tuple[SafeAGI, Peer]) -> None:
    agi, peer = pair
    peer.reply("511 Command Not Permitted on a dead channel or intercept routine")
    with pytest.raises(ChannelHungUp):
        agi.set_variable("X", "1")
    with pytest.raises(ChannelHungUp):
        agi.set_variable("Y", "1")
    assert len(peer.sent()) == 1


def test_100_trying_is_followed_by_the_real_result(pair: tuple[SafeAGI, Peer]) -> None:
    agi, peer = pair
    peer.reply("100 result=0 Trying...", "200 result=0 Gosub complete")
    result = agi.execute("GOSUB", "sub-check", "s", "1")
    assert result["result"] == ("0", "")
    assert parse_agi_args(peer.sent()[0]) == ["GOSUB", "sub-check", "s", "1"]


def test_multi_line_520_raises_a_clear_usage_error_and_keeps_the_stream_in_step(pair: tuple[SafeAGI, Peer]) -> None:
    agi, peer = pair
    peer.reply(*USAGE_REPLY, "200 result=1")
    with pytest.raises(UsageError) as error:
        agi.execute("GET DATA")
    assert isinstance(error.value, AGIUsageError)
    assert "GET DATA" in str(error.value) and "Usage: GET DATA <file to be streamed>" in str(error.value)
    agi.verbose("next command reads its own reply")  # not the leftovers of the usage text


def test_single_line_520_raises_a_usage_error(pair: tuple[SafeAGI, Peer]) -> None:
    agi, peer = pair
    peer.reply("520 Invalid command syntax.  Proper usage not available.", "200 result=1")
    with pytest.raises(UsageError, match="Proper usage not available"):
        agi.execute("SPEECH CREATE")
    agi.verbose("still in step")


def test_510_unknown_command(pair: tuple[SafeAGI, Peer]) -> None:
    agi, peer = pair
    peer.reply("510 Invalid or unknown command")
    with pytest.raises(AGIInvalidCommand, match="FOO BAR"):
        agi.execute("FOO BAR")


def test_result_minus_one_is_pyst2s_app_error_unless_the_channel_hung_up(pair: tuple[SafeAGI, Peer]) -> None:
    agi, peer = pair
    # -1, and CHANNEL STATUS says the channel is up (6): a real error, not a hangup.
    peer.reply("200 result=-1 endpos=0", "200 result=6")
    with pytest.raises(AGIAppError) as plain:
        agi.stream_file("missing-file")
    assert not isinstance(plain.value, AGIHangup)
    assert not agi.hung_up

    peer.reply("200 result=-1 endpos=1200", "HANGUP")
    time.sleep(0.05)
    with pytest.raises(ChannelHungUp):
        agi.stream_file("interrupted")


def test_result_minus_one_then_a_dead_channel_is_a_hangup(pair: tuple[SafeAGI, Peer]) -> None:
    """What a real Asterisk does when the caller hangs up during STREAM FILE."""
    agi, peer = pair
    peer.reply("200 result=-1 endpos=2400", "511 Command Not Permitted on a dead channel or intercept routine")
    with pytest.raises(ChannelHungUp):
        agi.stream_file("prompt")
    assert agi.hung_up


def test_record_file_hangup_result_is_a_hangup(pair: tuple[SafeAGI, Peer]) -> None:
    agi, peer = pair
    peer.reply("200 result=-1 (hangup) endpos=4000")
    with pytest.raises(ChannelHungUp):
        agi.record_file("/tmp/x", "wav")


def test_a_slow_reply_within_the_timeout_is_read(pair: tuple[SafeAGI, Peer]) -> None:
    agi, peer = pair
    threading.Timer(0.5, peer.reply, ["200 result=1 (late)"]).start()
    assert agi.get_variable("X") == "late"


def test_no_reply_hits_the_timeout_and_later_commands_are_refused(pair: tuple[SafeAGI, Peer]) -> None:
    agi, peer = pair
    agi._timeouts = CommandTimeouts(command_timeout=0.3, media_timeout=0)
    started = time.monotonic()
    with pytest.raises(CommandTimeout):
        agi.get_variable("X")
    assert 0.25 < time.monotonic() - started < 1.5
    peer.reply("200 result=1 (too late)")
    with pytest.raises(CommandTimeout):  # its reply would be read as this command's: out of step
        agi.verbose("never sent")
    assert len(peer.sent()) == 1


def test_a_closed_connection_is_a_hangup(pair: tuple[SafeAGI, Peer]) -> None:
    agi, peer = pair
    peer.sock.shutdown(socket.SHUT_WR)
    with pytest.raises(ChannelHungUp):
        agi.answer()


def test_nothing_reaches_stderr_and_no_signal_handler_is_installed(
        pair: tuple[SafeAGI, Peer], capfd: pytest.CaptureFixture[str]) -> None:
    agi, peer = pair
    before = signal.getsignal(signal.SIGHUP)
    peer.reply("200 result=1 (nl)", "200 result=0")
    agi.get_variable("CALLERID(num)")
    agi.answer()
    assert signal.getsignal(signal.SIGHUP) is before
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


def test_it_can_be_built_off_the_main_thread_where_pyst2s_agi_cannot() -> None:
    outcomes: dict[str, object] = {}

    def build() -> None:
        try:
            AGI(stdin=io.StringIO("agi_request: x\n\n"), stdout=io.StringIO(), stderr=io.StringIO())
            outcomes["pyst2"] = "built"
        except ValueError as exc:  # signal only works in main thread
            outcomes["pyst2"] = exc
        transport = FileLineTransport(io.BytesIO(b""), io.BytesIO())
        outcomes["safe"] = SafeAGI({"agi_request": "x"}, transport)

    worker = threading.Thread(target=build)
    worker.start()
    worker.join()
    assert isinstance(outcomes["pyst2"], ValueError)
    assert isinstance(outcomes["safe"], SafeAGI)


def test_classic_sighup_flag_stops_the_next_command(pair: tuple[SafeAGI, Peer]) -> None:
    agi, peer = pair
    cast(FileLineTransport, agi._transport).got_sighup = True
    with pytest.raises(ChannelHungUp):
        agi.answer()
    assert peer.sent() == []


def test_exec_even_if_hung_up_reaches_asterisk_after_a_hangup_line_and_nothing_else_does(
        pair: tuple[SafeAGI, Peer]) -> None:
    """Asterisk runs EXEC in a dead FastAGI session: what the caller gave can still be announced."""
    agi, peer = pair
    peer.reply("HANGUP")
    time.sleep(0.05)
    with pytest.raises(ChannelHungUp):
        agi.stream_file("not-sent")
    peer.reply("200 result=0")
    assert agi.exec_even_if_hung_up("UserEvent", "RespectlineCompliment", "Rating: 5") is True
    assert [parse_agi_args(line) for line in peer.sent()] == [
        ["EXEC", "UserEvent", "RespectlineCompliment,Rating: 5"]]
    with pytest.raises(ChannelHungUp):
        agi.verbose("still not sent")
    assert peer.sent() == []


def test_exec_even_if_hung_up_sends_nothing_once_the_connection_is_closed(pair: tuple[SafeAGI, Peer]) -> None:
    agi, peer = pair
    peer.sock.shutdown(socket.SHUT_WR)  # Asterisk closed its end
    with pytest.raises(ChannelHungUp):
        agi.get_variable("X")
    peer.sent()  # what was written before the close
    assert agi.exec_even_if_hung_up("UserEvent", "RespectlineCompliment") is False
    assert peer.sent() == []


def test_exec_even_if_hung_up_says_false_when_asterisk_refuses_on_the_dead_channel(
        pair: tuple[SafeAGI, Peer]) -> None:
    agi, peer = pair
    peer.reply("HANGUP", "511 Command Not Permitted on a dead channel or intercept routine")
    time.sleep(0.05)
    assert agi.exec_even_if_hung_up("UserEvent", "RespectlineCompliment") is False


def test_a_520_usage_text_past_any_of_asterisks_is_cut_off_and_the_session_stops_reading(
        pair: tuple[SafeAGI, Peer]) -> None:
    agi, peer = pair
    peer.reply("520-Invalid command syntax.  Proper usage follows:", *(["\x1b[2Jforged"] * 1000))
    with pytest.raises(UsageError) as refused:
        agi.get_data("prompt", 1000, 4)
    assert len(refused.value.usage.splitlines()) <= 6
    assert "\x1b" not in str(refused.value) and "\n" not in str(refused.value)
    with pytest.raises(CommandTimeout):  # replies are out of step: nothing more is sent
        agi.verbose("not sent")
    assert [parse_agi_args(line) for line in peer.sent()] == [["GET", "DATA", "prompt", "1000", "4"]]


def test_exec_even_if_hung_up_says_false_when_asterisk_does_not_answer_in_time(pair: tuple[SafeAGI, Peer]) -> None:
    ours, theirs = socket.socketpair()
    transport = FileLineTransport(ours.makefile("rb", buffering=0), ours.makefile("wb", buffering=0))
    agi = SafeAGI(asterisk_environment("test"), transport, CommandTimeouts(command_timeout=0.2, media_timeout=0.2))
    assert agi.exec_even_if_hung_up("UserEvent", "RespectlineCompliment") is False
    ours.close()
    theirs.close()


def test_a_peer_that_answers_a_channel_probe_with_endless_trying_lines_is_cut_off_at_the_deadline(
        pair: tuple[SafeAGI, Peer]) -> None:
    agi, peer = pair  # command timeout 2 s
    stop = threading.Event()

    def trying() -> None:
        peer.reply("200 result=-1 endpos=0")
        while not stop.is_set():
            try:
                peer.reply("100 Trying...")
            except OSError:
                return
            time.sleep(0.1)

    threading.Thread(target=trying, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(CommandTimeout):
        agi.stream_file("prompt")
    stop.set()
    assert time.monotonic() - started < 3.5
