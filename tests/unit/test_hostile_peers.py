"""Hostile FastAGI peers against a real server process, while a well-behaved call is served.

Each hostile pattern once stalled every call or ballooned the server (issue: an endless 520 usage
text, a reply of unclosed parentheses, idle sockets, a trickled line). With them all running, a
concurrent good call's per-command latency stays under 50 ms and the server stays under 200 MB.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.config_tree import PROJECT
from tests.support.agi_peer import AgiPeer, asterisk_environment, encode_environment

MAX_COMMAND_LATENCY = 0.050
MAX_RSS_MB = 200


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """(port, pid) of ``python -m agi_scripts.server.app`` serving the test routes; its log to a file."""
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "agi_scripts.server.app", "--listen", "127.0.0.1:0", "--environment-timeout", "30",
         "--command-timeout", "5", "--routes", "tests.support.agi_peer:TEST_ROUTES"],
        cwd=PROJECT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("listening on "), first
        yield int(first.rsplit(":", 1)[1]), proc.pid
    finally:
        proc.kill()
        proc.wait()
        log.close()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def good_call_latencies(port: int) -> list[float]:
    """One well-behaved call of six commands: seconds from each reply to the server's next command."""
    latencies = []
    with AgiPeer(port, timeout=5).start("six") as peer:
        peer.command()
        while True:
            sent = time.perf_counter()
            peer.reply("200 result=0")
            line = peer.read_line(5)
            if line is None:
                return latencies
            latencies.append(time.perf_counter() - sent)


def flood(port: int, stop: threading.Event, payload: Callable[[], bytes]) -> None:
    """Open a session, take its first command, then send ``payload`` chunks until told to stop."""
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.sendall(encode_environment(asterisk_environment("six")))
                sock.recv(4096)
                while not stop.is_set():
                    sock.sendall(payload())
        except OSError:
            time.sleep(0.01)  # closed by the server, as it should: start again


def test_a_good_call_is_served_promptly_while_hostile_peers_do_their_worst(server: tuple[int, int]) -> None:
    port, pid = server
    stop = threading.Event()
    endless_usage = b"520-Invalid command syntax.  Proper usage follows:\n" + b"usage " * 170 + b"\n"
    parentheses = b"200 result=1 " + b"a=1 (" * 1600 + b"\n"
    patterns: list[Callable[[], bytes]] = [lambda: endless_usage, lambda: parentheses,
                                           lambda: b"200 result=1 (" + b"x" * 60000]
    threads = [threading.Thread(target=flood, args=(port, stop, p), daemon=True) for p in patterns for _ in range(2)]
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(300)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        latencies: list[float] = []
        peak = 0.0
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            latencies += good_call_latencies(port)
            peak = max(peak, rss_mb(pid))
    finally:
        stop.set()
        for sock in idle:
            sock.close()
        for thread in threads:
            thread.join(5)
    latencies.sort()
    worst, p99 = latencies[-1], latencies[int(len(latencies) * 0.99)]
    print(f"\nhostile peers: {len(latencies)} commands of good calls, p99 {p99 * 1000:.1f} ms, "
          f"worst {worst * 1000:.1f} ms; server RSS peak {peak:.0f} MB")
    assert len(latencies) >= 30
    assert worst < MAX_COMMAND_LATENCY
    assert peak < MAX_RSS_MB
