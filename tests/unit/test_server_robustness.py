"""Connections that are not well-behaved calls must never delay the ones that are."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest

from agi_scripts.server.app import FastAgiServer, RunningServer
from agi_scripts.server.core import MAX_WAITING_PER_PEER, ServerCore
from agi_scripts.server.options import ServerOptions
from tests.support.agi_peer import TEST_ROUTES, AgiPeer, asterisk_environment, encode_environment

StartServer = Callable[..., RunningServer]


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    running: list[RunningServer] = []

    def start(**options: Any) -> RunningServer:
        server = FastAgiServer(lambda: None, routes=TEST_ROUTES, options=ServerOptions(port=0, **options))
        running.append(server.run_in_thread())
        return running[-1]

    yield start
    for server in running:
        server.stop()


def timed_session(port: int, script: str = "six") -> float:
    started = time.monotonic()
    with AgiPeer(port).start(script) as peer:
        assert len(peer.answer_all()) == 6
    return time.monotonic() - started


def closed_by_server(sock: socket.socket, timeout: float) -> tuple[bool, bytes]:
    """Whether the server closed ``sock`` within ``timeout``, and what it sent before."""
    sock.settimeout(timeout)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except TimeoutError:
        return False, received
    except ConnectionResetError:
        pass
    return True, received


def test_a_session_is_served_within_a_second_while_idle_and_half_open_connections_are_held(
        start_server: StartServer) -> None:
    server = start_server()
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(50)]
    half_open = socket.create_connection(("127.0.0.1", server.port))
    half_open.sendall(encode_environment(asterisk_environment("six"))[:200])  # and then nothing
    try:
        time.sleep(0.1)
        assert timed_session(server.port) < 1.0
    finally:
        for sock in [*idle, half_open]:
            sock.close()


def test_zero_byte_probes_are_closed_quietly_and_block_no_one(
        start_server: StartServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    server = start_server()
    for _ in range(20):
        socket.create_connection(("127.0.0.1", server.port)).close()
    assert timed_session(server.port) < 1.0
    time.sleep(0.2)
    assert server.server.core.admitted == 0 and not server.server.core.connections
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_half_sent_environment_is_closed_after_the_environment_timeout(start_server: StartServer) -> None:
    server = start_server(environment_timeout=0.5)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"agi_network: yes\nagi_request: agi://127.0.0.1/six\n")
        started = time.monotonic()
        closed, received = closed_by_server(sock, timeout=3)
        assert closed and received == b""
        assert 0.4 < time.monotonic() - started < 1.5


def test_over_the_session_cap_a_connection_is_told_failure_and_closed_at_once(
        start_server: StartServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    server = start_server(max_sessions=2)
    held = [AgiPeer(server.port).start("two") for _ in range(2)]
    for peer in held:
        assert peer.command() == "ANSWER"  # both sessions are now waiting for Asterisk
    with socket.create_connection(("127.0.0.1", server.port)) as extra:
        extra.sendall(encode_environment(asterisk_environment("six")))
        started = time.monotonic()
        closed, received = closed_by_server(extra, timeout=3)
        assert closed and received == b"FAILURE\n"
        assert time.monotonic() - started < 0.5
    assert any("max_sessions" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    for peer in held:
        peer.reply("200 result=0")  # to the ANSWER read above
        assert peer.answer_all() == ['STREAM FILE "hold" "" "0"']
        peer.close()
    assert timed_session(server.port) < 1.0  # the slots were given back


def test_a_peer_outside_allowed_peers_is_closed_without_a_word(
        start_server: StartServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    server = start_server(allowed_peers=("10.0.0.0/8",))
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(encode_environment(asterisk_environment("six")))
        closed, received = closed_by_server(sock, timeout=2)
    assert closed and received == b""
    assert any("not in allowed_peers" in r.getMessage() for r in caplog.records)


def test_an_oversized_environment_is_refused(start_server: StartServer) -> None:
    server = start_server()
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        try:
            sock.sendall(b"agi_x: " + b"y" * 100_000)
        except (BrokenPipeError, ConnectionResetError):
            pass
        closed, _ = closed_by_server(sock, timeout=2)
    assert closed


def http_get(port: int, path: str) -> tuple[int, str]:
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: probe\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    head, _, body = data.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


def test_health_answers_http_on_the_agi_port_and_on_the_health_port(start_server: StartServer) -> None:
    server = start_server(health_port=0)
    health_port = server.server.health_port
    assert health_port
    code, body = http_get(health_port, "/health")
    assert code == 200 and '"status": "ok"' in body and '"sessions": 0' in body
    code, body = http_get(server.port, "/health")
    assert code == 200 and '"status": "ok"' in body and '"sessions": 0' in body  # a probe is not a call
    for port in (server.port, health_port):
        assert http_get(port, "/other")[0] == 404
    assert timed_session(server.port) < 1.0


def test_health_reports_503_while_sessions_drain(start_server: StartServer) -> None:
    server = start_server(health_port=0, drain_timeout=5)
    health_port = server.server.health_port
    assert health_port
    with AgiPeer(server.port).start("two") as peer:
        assert peer.command() == "ANSWER"
        stopping = threading.Thread(target=server.stop)
        stopping.start()
        deadline = time.monotonic() + 3
        while not server.server.core.draining:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        code, body = http_get(health_port, "/health")
        assert code == 503 and '"status": "draining"' in body and '"sessions": 1' in body
        peer.reply("200 result=0")
        peer.answer_all()
    stopping.join(10)
    assert not stopping.is_alive()


def test_a_flood_of_unrequested_lines_closes_the_connection(start_server: StartServer) -> None:
    server = start_server()
    with AgiPeer(server.port).start("two") as peer:
        assert peer.command() == "ANSWER"
        peer.sock.settimeout(2)
        try:
            peer.send_raw(b"200 result=0\n" + b"junk\n" * 1000)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert peer.is_closed(timeout=2)
    assert timed_session(server.port) < 1.0


def test_a_reply_line_over_8_kb_closes_that_connection_and_no_one_else_waits(start_server: StartServer) -> None:
    server = start_server()
    with AgiPeer(server.port).start("two") as peer:
        assert peer.command() == "ANSWER"
        try:
            peer.send_raw(b"200 result=1 (" + b"x" * 9000 + b")\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert peer.is_closed(timeout=2)
    assert timed_session(server.port) < 1.0


def test_a_520_usage_text_that_never_ends_is_cut_off_with_memory_bounded(
        start_server: StartServer, caplog: pytest.LogCaptureFixture) -> None:
    """One peer sending an endless multi-line 520 once took a server to 2 GB and one raw log line."""
    server = start_server()
    with caplog.at_level(logging.INFO), AgiPeer(server.port).start("two") as peer:
        assert peer.command() == "ANSWER"
        flood = b"520-Invalid command syntax.  Proper usage follows:\n" + b"\x1b[31mforged\rline\n" * 5000
        try:
            peer.send_raw(flood)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert peer.is_closed(timeout=3)
    assert timed_session(server.port) < 1.0
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "\x1b" not in logged and "\rline" not in logged
    assert logged.count("forged") < 20


def test_a_server_given_no_peer_list_accepts_loopback_only_and_warns_when_listening_beyond(
        start_server: StartServer, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        server = start_server(allowed_peers=(), host="0.0.0.0")
    assert "listening beyond loopback (0.0.0.0)" in caplog.text
    assert timed_session(server.port) < 1.0  # from 127.0.0.1: still served


def test_an_empty_peer_list_refuses_every_address_beyond_loopback() -> None:
    async def verdicts() -> dict[str, bool]:
        core = ServerCore(ServerOptions(port=0, allowed_peers=()), {}, cast(Any, None), None)
        return {host: core._peer_allowed(host) for host in ("127.0.0.1", "::1", "10.1.2.3", "203.0.113.9")}

    assert asyncio.run(verdicts()) == {"127.0.0.1": True, "::1": True, "10.1.2.3": False, "203.0.113.9": False}


def test_connections_that_never_send_an_environment_take_no_call_slot_and_are_capped_per_peer(
        start_server: StartServer, caplog: pytest.LogCaptureFixture) -> None:
    """2,100 idle sockets once locked real calls out (they counted against max_sessions)."""
    server = start_server(max_sessions=5, environment_timeout=30)
    idle: list[socket.socket] = []
    try:
        with caplog.at_level(logging.INFO):
            for _ in range(MAX_WAITING_PER_PEER + 40):
                idle.append(socket.create_connection(("127.0.0.1", server.port)))
            assert timed_session(server.port) < 1.0  # a real call is served all the same
        closed = sum(closed_by_server(sock, timeout=0.01)[0] for sock in idle)
        assert closed >= 40  # past the per-peer cap, the oldest idle ones were closed
        warnings = [r for r in caplog.records if "waiting without an AGI environment" in r.getMessage()]
        assert 1 <= len(warnings) <= 2  # one line for the flood, not one per connection
    finally:
        for sock in idle:
            sock.close()
