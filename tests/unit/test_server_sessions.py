"""FastAGI sessions end to end over TCP: routing, escaping, hangups, timeouts, errors, the call log."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agi_scripts.handlers.context import Services
from agi_scripts.server.app import FastAgiServer, RunningServer
from agi_scripts.server.options import ServerOptions
from agi_scripts.server.registry import Session
from agi_scripts.storage.base import StoreError
from tests.support.agi_peer import HOSTILE_CALLER_NAME, TEST_ROUTES, AgiPeer, parse_agi_args

DEAD_CHANNEL = "511 Command Not Permitted on a dead channel or intercept routine"
StartServer = Callable[..., RunningServer]


class SlowStore:
    """A store whose write takes as long as a slow fsync, and which records the thread it ran on."""

    def __init__(self) -> None:
        self.threads: list[str] = []

    def record_call(self, call_id: str) -> str:
        self.threads.append(threading.current_thread().name)
        time.sleep(0.5)
        return f"stored {call_id}"


def _uses_store(ctx: Session[Any, Services]) -> None:
    store: Any = ctx.services.store  # a test double, not the product's Store
    try:
        ctx.outcome = store.record_call(ctx.request.env["agi_uniqueid"])
    except StoreError as failure:  # what every real handler catches to let the call through
        ctx.outcome = f"store failed: {failure}"
    ctx.agi.verbose(ctx.outcome)


ROUTES = {**TEST_ROUTES, "uses_store": _uses_store}


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    running: list[RunningServer] = []

    def start(store: Any = None, **options: Any) -> RunningServer:
        services = Services.offloaded(store) if store is not None else None
        server = FastAgiServer(lambda: None, routes=ROUTES, services=services,
                               options=ServerOptions(port=0, **options))
        running.append(server.run_in_thread())
        return running[-1]

    yield start
    for server in running:
        server.stop()


def call_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "respectline.calls"]


def wait_for_call_line(caplog: pytest.LogCaptureFixture, needle: str, timeout: float = 3.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in call_lines(caplog):
            if needle in line:
                return line
        time.sleep(0.01)
    raise AssertionError(f"no call log line with {needle!r}: {call_lines(caplog)}")


def test_route_query_and_dialplan_arguments_reach_the_handler(start_server: StartServer) -> None:
    server = start_server()
    with AgiPeer(server.port).start("echo?category=verbal&x=1", args=["first", "second arg"]) as peer:
        commands = peer.answer_all()
    assert [parse_agi_args(c)[1] for c in commands] == [
        "script=echo params=[('category', 'verbal'), ('x', '1')]",
        "args=first|second arg",
        "bundle=None",
    ]


def test_a_six_command_session_runs_with_pyst2s_api(start_server: StartServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    server = start_server()
    with AgiPeer(server.port).start("six") as peer:
        commands = peer.answer_all()
    assert [c.split(" ")[0] for c in commands] == ["ANSWER", "GET", "SET", "STREAM", "GET", "VERBOSE"]
    line = wait_for_call_line(caplog, "script=six")
    assert "outcome=six" in line and "channel=PJSIP/alice-00000001" in line and "duration_ms=" in line


def test_the_call_log_masks_the_caller_number_and_nothing_prints_it(
        start_server: StartServer, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    server = start_server()
    for script in ("six", "boom", "no_such_script"):
        with AgiPeer(server.port).start(script, callerid="+32471234512") as peer:
            peer.answer_all()
    wait_for_call_line(caplog, "script=no_such_script")
    assert "caller=+3247****12" in wait_for_call_line(caplog, "script=six")
    captured = capfd.readouterr()
    for text in (caplog.text, captured.err, captured.out):
        assert "71234512" not in text


def test_a_hostile_caller_name_stays_one_argument_on_one_line(start_server: StartServer) -> None:
    server = start_server()
    with AgiPeer(server.port).start("caller_name", calleridname=HOSTILE_CALLER_NAME.replace("\n", " ")) as peer:
        commands = peer.answer_all()
    assert peer.received.count(b"\n") == 1
    assert parse_agi_args(commands[0]) == ["SET", "VARIABLE", "RL_NAME", 'Bob" EXEC System "touch /tmp/p']


def test_a_hangup_mid_flow_ends_the_session_promptly_as_a_hangup(
        start_server: StartServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    server = start_server()
    with AgiPeer(server.port).start("two") as peer:
        assert peer.command() == "ANSWER"
        peer.reply("200 result=0")
        assert peer.command().startswith("STREAM FILE")
        started = time.monotonic()
        peer.reply("200 result=-1 endpos=1200", "HANGUP")  # what Asterisk writes when the caller hangs up
        assert peer.is_closed(timeout=1.0)
        assert time.monotonic() - started < 1.0
    assert "outcome=first-done hangup" in wait_for_call_line(caplog, "script=two")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_511_after_a_hangup_ends_the_session_without_failure(
        start_server: StartServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    server = start_server()
    with AgiPeer(server.port).start("six") as peer:
        answers = iter(["200 result=0", "200 result=1 (nl)", DEAD_CHANNEL])
        commands = peer.answer_all(lambda _c: next(answers))
    assert len(commands) == 3  # nothing after the 511, and no FAILURE line
    assert "outcome=hangup" in wait_for_call_line(caplog, "script=six")


def test_100_trying_then_200_through_the_server(start_server: StartServer) -> None:
    server = start_server()
    with AgiPeer(server.port).start("six") as peer:
        commands = peer.answer_all(lambda c: "100 result=0 Trying...\n200 result=0" if c == "ANSWER" else "200 result=0")
    assert len(commands) == 6


def test_a_520_usage_reply_fails_the_session_with_a_clear_error(
        start_server: StartServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    server = start_server()
    usage = "520-Invalid command syntax.  Proper usage follows:\n Usage: ANSWER\n520 End of proper usage."
    with AgiPeer(server.port).start("six") as peer:
        commands = peer.answer_all(lambda c: usage if c == "ANSWER" else None)
    assert commands == ["ANSWER", "FAILURE"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and "Proper usage" not in errors[0].getMessage()
    assert errors[0].exc_info and "Usage: ANSWER" in str(errors[0].exc_info[1])


def test_a_slow_reply_within_the_timeout_is_served(start_server: StartServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    server = start_server(command_timeout=1.0)

    def slowly(_command: str) -> str:
        time.sleep(0.6)
        return "200 result=0"

    with AgiPeer(server.port).start("two") as peer:
        commands = peer.answer_all(slowly)
    assert len(commands) == 2
    assert "outcome=second-done" in wait_for_call_line(caplog, "script=two")


def test_a_dead_client_hits_the_command_timeout_and_the_session_ends(
        start_server: StartServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    server = start_server(command_timeout=0.5, media_timeout=0.0)
    with AgiPeer(server.port).start("two") as peer:
        assert peer.command() == "ANSWER"
        started = time.monotonic()
        assert peer.command(timeout=3) == "FAILURE"  # no reply from us: the server gives up
        assert 0.4 < time.monotonic() - started < 1.5
        assert peer.is_closed()
    assert "outcome=timeout" in wait_for_call_line(caplog, "script=two")


def test_an_unknown_script_is_answered_failure_and_logged(
        start_server: StartServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    server = start_server()
    with AgiPeer(server.port).start("no_such_script") as peer:
        assert peer.answer_all() == ["FAILURE"]
    assert "outcome=unknown-script" in wait_for_call_line(caplog, "script=no_such_script")
    assert any("no AGI script named 'no_such_script'" in r.getMessage() for r in caplog.records)


def test_a_handler_exception_is_logged_with_its_traceback_and_the_session_ends_cleanly(
        start_server: StartServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    server = start_server()
    with AgiPeer(server.port).start("boom") as peer:
        assert peer.answer_all() == ["ANSWER", "FAILURE"]
    assert "outcome=error=KeyError" in wait_for_call_line(caplog, "script=boom")
    failures = [r for r in caplog.records if r.levelno == logging.ERROR and r.exc_info]
    assert failures and "deliberate failure" in str(failures[0].exc_info[1])  # type: ignore[index]
    with AgiPeer(server.port).start("six") as peer:  # the server is unharmed
        assert len(peer.answer_all()) == 6


def test_store_calls_run_on_worker_threads_without_blocking_other_sessions(start_server: StartServer) -> None:
    store = SlowStore()
    server = start_server(store=store)
    with AgiPeer(server.port).start("uses_store", uniqueid="42.1") as slow:
        time.sleep(0.1)  # the slow session is now inside its 0.5 s store call
        started = time.monotonic()
        with AgiPeer(server.port).start("six") as quick:
            assert len(quick.answer_all()) == 6
        assert time.monotonic() - started < 0.3
        commands = slow.answer_all()
    assert parse_agi_args(commands[0])[1] == "stored 42.1"
    assert store.threads and all(name.startswith("respectline-worker") for name in store.threads)


def test_a_store_call_past_the_blocking_limit_reaches_the_handler_as_a_store_error(start_server: StartServer) -> None:
    server = start_server(store=SlowStore(), blocking_timeout=0.1)  # the store takes 0.5 s
    with AgiPeer(server.port).start("uses_store", uniqueid="42.2") as peer:
        commands = peer.answer_all()
    reply = parse_agi_args(commands[0])[1]
    assert reply.startswith("store failed: no answer in time") and "0.1 s" in reply
