"""Reloading the configuration, draining on SIGTERM, and classic AGI with the same handlers."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agi_scripts.server.app import FastAgiServer
from agi_scripts.server.classic import run_classic_agi
from agi_scripts.server.options import ServerOptions
from tests.support.agi_peer import TEST_ROUTES, AgiPeer, asterisk_environment, encode_environment, load_json_bundle

PROJECT = Path(__file__).resolve().parents[2]


def write_bundle(path: Path, content: str) -> None:
    """Write, then make sure the mtime moves even on a coarse clock (the watcher compares mtime/size/inode)."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(content)
    if path.stat().st_mtime_ns == before:
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


def bundle_seen(port: int) -> str:
    """The bundle data a new session gets, as the ``echo`` handler reports it."""
    with AgiPeer(port).start("echo") as peer:
        return peer.answer_all()[2]


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_a_changed_file_is_reloaded_and_a_broken_one_keeps_the_last_good_bundle(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    path = tmp_path / "bundle.json"
    write_bundle(path, '{"version": 1}')
    server = FastAgiServer(lambda: load_json_bundle(path), routes=TEST_ROUTES,
                           options=ServerOptions(port=0, reload_poll=0.1))
    with server.run_in_thread() as running:
        assert "'version': 1" in bundle_seen(running.port)

        write_bundle(path, '{"version": 2}')
        wait_until(lambda: server.bundles.generation == 2)
        assert "'version': 2" in bundle_seen(running.port)

        write_bundle(path, '{"valid": false, "version": 3}')
        wait_until(lambda: "refused: 2 error(s)" in caplog.text)
        assert f"{path}:1:1: marked invalid" in caplog.text and f"{path}:2:3: second problem" in caplog.text
        assert "'version': 2" in bundle_seen(running.port)

        write_bundle(path, '{"version": \n  oops')
        wait_until(lambda: "refused: 1 error(s)" in caplog.text)
        assert f"{path}:2:3: Expecting value" in caplog.text
        assert "'version': 2" in bundle_seen(running.port)
        assert server.bundles.generation == 2

        write_bundle(path, '{"version": 4}')
        wait_until(lambda: server.bundles.generation == 3)
        assert "'version': 4" in bundle_seen(running.port)


def test_a_session_keeps_the_bundle_it_started_with(tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    write_bundle(path, '{"version": "old"}')
    server = FastAgiServer(lambda: load_json_bundle(path), routes=TEST_ROUTES,
                           options=ServerOptions(port=0, reload_poll=0.1))
    with server.run_in_thread() as running, AgiPeer(running.port).start("echo") as peer:
        first = peer.command()
        write_bundle(path, '{"version": "new"}')
        wait_until(lambda: server.bundles.generation == 2)
        peer.reply("200 result=1")
        rest = peer.answer_all()
        assert first.startswith("VERBOSE") and "'version': 'old'" in rest[1]
        assert "'version': 'new'" in bundle_seen(running.port)


def test_the_first_bundle_must_load_or_the_server_does_not_start(tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    write_bundle(path, '{"valid": false}')
    server = FastAgiServer(lambda: load_json_bundle(path), routes=TEST_ROUTES, options=ServerOptions(port=0))
    with pytest.raises(Exception, match="marked invalid"):
        server.run_in_thread()


# ---------------------------------------------------------------- the real serve() in a subprocess


class ServerProcess:
    def __init__(self, bundle: Path, *extra: str) -> None:
        env = {**os.environ, "RESPECTLINE_TEST_BUNDLE": str(bundle), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agi_scripts.server.app", "--listen", "127.0.0.1:0",
             "--routes", "tests.support.agi_peer:TEST_ROUTES",
             "--bundle-loader", "tests.support.agi_peer:load_bundle_from_environment", *extra],
            cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        assert first.startswith("listening on "), first + self.stderr()
        self.port = int(first.rsplit(":", 1)[1])

    def stderr(self) -> str:
        if self.proc.poll() is None:
            return ""
        assert self.proc.stderr is not None
        return self.proc.stderr.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def bundle_file(tmp_path: Path) -> Path:
    path = tmp_path / "bundle.json"
    write_bundle(path, json.dumps({"version": 1}))
    return path


@pytest.fixture
def server_process(bundle_file: Path) -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def start(*extra: str) -> ServerProcess:
        started.append(ServerProcess(bundle_file, *extra))
        return started[-1]

    yield start
    for process in started:
        process.stop()


def test_sigterm_drains_sessions_in_progress_and_the_process_exits_within_10_s(
        server_process: Callable[..., ServerProcess]) -> None:
    server = server_process("--drain-timeout", "3")
    finishing = AgiPeer(server.port).start("two")
    stalled = AgiPeer(server.port).start("two")
    assert finishing.command() == "ANSWER" and stalled.command() == "ANSWER"

    server.proc.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    time.sleep(0.3)
    with pytest.raises(ConnectionRefusedError):  # no longer accepting
        socket.create_connection(("127.0.0.1", server.port), timeout=1)

    finishing.reply("200 result=0")
    assert finishing.answer_all() == ['STREAM FILE "hold" "" "0"']  # served to its normal end
    assert stalled.is_closed(timeout=5)  # closed at the drain deadline
    closed_after = time.monotonic() - signalled
    assert 2.5 < closed_after < 4.5

    assert server.proc.wait(timeout=10) == 0
    assert time.monotonic() - signalled < 10
    log = server.stderr()
    assert "SIGTERM received" in log and "draining 2 session(s)" in log
    assert "script=two" in log and "outcome=second-done" in log and "outcome=hangup" in log
    finishing.close()
    stalled.close()


def test_sighup_reloads_the_bundle(server_process: Callable[..., ServerProcess], bundle_file: Path) -> None:
    server = server_process("--reload-poll", "3600")  # only the signal can trigger the reload
    assert "'version': 1" in bundle_seen(server.port)
    write_bundle(bundle_file, json.dumps({"version": 2}))
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while "'version': 2" not in bundle_seen(server.port):
        assert time.monotonic() < deadline, "SIGHUP did not reload the bundle"
        time.sleep(0.05)
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=10) == 0
    assert "configuration reloaded (SIGHUP)" in server.stderr()


# ---------------------------------------------------------------- classic AGI


def run_classic(script: str, answer: Callable[[AgiPeer], list[str]]) -> tuple[int, list[str]]:
    ours, theirs = socket.socketpair()
    peer = AgiPeer.over(theirs)
    seen: list[str] = []

    def asterisk() -> None:
        peer.send_raw(encode_environment(asterisk_environment("/var/lib/asterisk/agi-bin/respectline")))
        seen.extend(answer(peer))

    thread = threading.Thread(target=asterisk)
    thread.start()
    with ours.makefile("rb", buffering=0) as stdin, ours.makefile("wb", buffering=0) as stdout:
        status = run_classic_agi(script, stdin, stdout, routes=TEST_ROUTES)
    ours.close()
    thread.join(5)
    theirs.close()
    return status, seen


def test_classic_agi_runs_the_same_handler_over_stdin_and_stdout(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    status, commands = run_classic("echo?category=verbal", lambda p: p.answer_all())
    assert status == 0
    assert "script=echo params=[('category', 'verbal')]" in commands[0]
    assert any("script=echo" in r.getMessage() and "caller=+3247****12" in r.getMessage() for r in caplog.records)


def test_classic_agi_turns_sighup_into_a_hangup() -> None:
    def hang_up_after_answer(peer: AgiPeer) -> list[str]:
        first = peer.command()
        os.kill(os.getpid(), signal.SIGHUP)  # what Asterisk does to an agi-bin script on hangup
        time.sleep(0.05)
        peer.reply("200 result=0")
        return [first, *peer.answer_all()]

    previous = signal.getsignal(signal.SIGHUP)
    status, commands = run_classic("two", hang_up_after_answer)
    assert status == 0 and commands == ["ANSWER"]  # STREAM FILE never sent
    assert signal.getsignal(signal.SIGHUP) is previous  # handler restored


def test_classic_agi_answers_failure_for_an_unknown_script() -> None:
    status, commands = run_classic("no_such_script", lambda p: p.answer_all())
    assert status == 1 and commands == ["FAILURE"]
