"""The fake Asterisk: opens FastAGI calls against one server and replays the bench sessions.

Run in its own process (``python -m bench.loadgen ...``, one run per measured point); prints one
JSON document on stdout.

Per call, as Asterisk 22 does: a new TCP connection (given up after 2 s, when Asterisk would set
``AGISTATUS=FAILURE``), the environment, then one reply per command line, until the server closes
the connection. A session fails when the connection is refused or times out, the server sends
``FAILURE`` or any command other than the expected one, closes early, or exceeds the session time limit.

Two modes (see ``bench/README.md``):

- ``closed``: C calls at all times, each slot starting a new call when its last one ended. The
  window opens once every slot has turned over once (warm-up), lasts ``--window`` seconds (or as long
  as the warm-up took, up to ``--max-window``); then no new calls, those in progress finish (bounded
  by ``--drain``). Throughput counts calls that ended inside the window; latency is recorded for
  calls that started inside it.
- ``open``: calls start at ``--rate`` per second (Poisson arrivals, seeded), never waiting for each
  other, for ``--warmup`` + ``--window`` seconds; latency is recorded for calls started after the warm-up.

``--media-delay S`` paces calls as real ones are paced: Asterisk answers ``STREAM FILE`` (and
``EXEC``, e.g. a playback or MixMonitor) only after the media took its time, here S/2 to 3S/2
seconds (uniform, seeded: prompts differ in length, and calls that all started together must not
stay in lock-step), while variables are answered at once. With it, C calls in progress are C real-looking calls, not C
clients firing commands back to back, and per-command latency is the server's own response time.

Latencies: per command, from the moment our reply (or the environment) was written to the moment
the server's next command line arrived; ``first`` is environment to first command (accept, parse,
handler start); ``close`` is last reply to the server closing the connection; ``session`` is
connect to close. Server CPU time is read from ``/proc/<pid>/stat`` (threads and reaped children
included) at the window's edges.

Single-threaded on ``epoll`` with non-blocking sockets: the cheapest way Python has to drive
thousands of connections, so the generator disturbs the servers as little as it can. Its own CPU use
is reported; near 100% of a core, the results are bounded by the generator, not the server.
"""

from __future__ import annotations

import argparse
import errno
import heapq
import json
import os
import random
import select
import socket
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agi_scripts.server.limits import lift_open_file_limit
from bench.procstat import cpu_seconds, machine_busy_seconds
from bench.sessions import SESSION_KINDS, SessionScript, Step, all_scripts, environment
from bench.stats import summarize

CONNECT_TIMEOUT = 2.0
"""Asterisk's FastAGI connect timeout: after it, the dialplan goes on with AGISTATUS=FAILURE."""
CHECK_INTERVAL = 0.05
MAX_LINE = 8192
MEDIA_VERBS = ("STREAM FILE", "EXEC")
"""Commands Asterisk answers only when the media has played (with ``--media-delay``)."""
OPEN_LOOP_MAX_IN_FLIGHT = 3000
"""Open loop: beyond this many calls in progress the server is overloaded; further arrivals fail."""


@dataclass
class Call:
    sock: socket.socket
    fd: int
    script: SessionScript
    uniqueid: str
    env: bytes
    started: float
    measured: bool
    connected: bool = False
    step: int = 0
    wrote_at: float = 0.0
    buffer: bytes = b""
    deadline: float = 0.0


@dataclass
class Samples:
    session: list[float] = field(default_factory=list)
    command: list[float] = field(default_factory=list)
    first: list[float] = field(default_factory=list)
    close: list[float] = field(default_factory=list)
    by_verb: dict[str, list[float]] = field(default_factory=dict)


class LoadGenerator:
    def __init__(self, host: str, port: int, mix: Sequence[str], session_timeout: float,
                 media_delay: float = 0.0) -> None:
        self.address = (host, port)
        self.media_delay = media_delay
        self.delayed: list[tuple[float, int, Call, bytes]] = []
        """Replies waiting for their media to end: (due, order, call, reply), a heap."""
        self.delayed_order = 0
        self.media_rng = random.Random(1)
        self.port = port
        self.scripts = all_scripts()
        self.mix = [self.scripts[kind] for kind in mix]
        self.session_timeout = session_timeout
        self.epoll = select.epoll()
        self.calls: dict[int, Call] = {}
        self.serial = 0
        self.uniqueid_base = int(time.time() * 1000)
        self.samples = Samples()
        self.failures: Counter[str] = Counter()
        self.failure_examples: list[str] = []
        self.completed = 0
        self.window: tuple[float, float] = (float("inf"), float("inf"))
        self.completed_in_window = 0
        self.commands_in_window = 0
        self.started_calls = 0

    # ------------------------------------------------------------ one call

    def start_call(self, now: float, measured: bool) -> None:
        self.serial += 1
        script = self.mix[self.serial % len(self.mix)]
        uniqueid = f"{self.uniqueid_base}.{self.serial}"
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        fd = sock.fileno()
        call = Call(sock, fd, script, uniqueid, environment(script, self.port, self.serial, uniqueid), now,
                    measured, deadline=now + CONNECT_TIMEOUT)
        self.calls[fd] = call
        self.started_calls += 1
        code = sock.connect_ex(self.address)
        if code == 0:
            self.epoll.register(fd, select.EPOLLIN)
            self._connected(call, now)
        elif code == errno.EINPROGRESS:
            self.epoll.register(fd, select.EPOLLOUT)
        else:
            self._fail(call, f"connect: {errno.errorcode.get(code, code)}")

    def _connected(self, call: Call, now: float) -> None:
        call.connected = True
        call.deadline = call.started + self.session_timeout
        try:
            call.sock.send(call.env)  # ~700 bytes into an empty socket buffer: always whole
        except OSError as exc:
            self._fail(call, f"send environment: {exc.strerror or exc}")
            return
        call.wrote_at = time.perf_counter()

    def on_event(self, fd: int, mask: int, now: float) -> None:
        call = self.calls.get(fd)
        if call is None:
            return
        if not call.connected:
            error = call.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                self._fail(call, f"connect: {errno.errorcode.get(error, error)}")
                return
            self.epoll.modify(fd, select.EPOLLIN)
            self._connected(call, now)
            return
        try:
            data = call.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(call, f"recv: {exc.strerror or exc}")
            return
        if not data:
            self._closed_by_server(call, now)
            return
        buffer = call.buffer + data if call.buffer else data
        while True:
            end = buffer.find(b"\n")
            if end < 0:
                break
            line = buffer[:end]
            buffer = buffer[end + 1:]
            if not self._on_line(call, line[:-1] if line.endswith(b"\r") else line, now):
                return
        if len(buffer) > MAX_LINE:
            self._fail(call, "line too long")
            return
        call.buffer = buffer

    def _on_line(self, call: Call, line: bytes, now: float) -> bool:
        steps = call.script.steps
        index = call.step
        if index >= len(steps):
            self._fail(call, "a command after the expected ones", line)
            return False
        step: Step = steps[index]
        if not step.accepts(line, call.uniqueid):
            reason = "FAILURE" if line.startswith(b"FAILURE") else f"unexpected command at step {index + 1}"
            self._fail(call, reason, line)
            return False
        gap = now - call.wrote_at
        if call.measured:
            if index == 0:
                self.samples.first.append(gap)
            else:
                self.samples.command.append(gap)
                self.samples.by_verb.setdefault(step.verb, []).append(gap)
        if self.window[0] <= now < self.window[1]:
            self.commands_in_window += 1
        call.step = index + 1
        if self.media_delay and step.verb.startswith(MEDIA_VERBS):
            self.delayed_order += 1
            delay = self.media_delay * self.media_rng.uniform(0.5, 1.5)
            heapq.heappush(self.delayed, (now + delay, self.delayed_order, call, step.reply))
            return True
        try:
            call.sock.send(step.reply)
        except OSError as exc:
            self._fail(call, f"send reply: {exc.strerror or exc}")
            return False
        call.wrote_at = time.perf_counter()
        return True

    def send_delayed(self, now: float) -> None:
        """Send the replies whose media has ended (the call may have failed meanwhile)."""
        while self.delayed and self.delayed[0][0] <= now:
            _due, _order, call, reply = heapq.heappop(self.delayed)
            if self.calls.get(call.fd) is not call:
                continue  # failed meanwhile (its descriptor may belong to a newer call by now)
            try:
                call.sock.send(reply)
            except OSError as exc:
                self._fail(call, f"send reply: {exc.strerror or exc}")
                continue
            call.wrote_at = time.perf_counter()

    def _closed_by_server(self, call: Call, now: float) -> None:
        if call.step < len(call.script.steps):
            self._fail(call, f"closed after {call.step} of {len(call.script.steps)} commands")
            return
        self._forget(call)
        self.completed += 1
        if self.window[0] <= now < self.window[1]:
            self.completed_in_window += 1
        if call.measured:
            self.samples.session.append(now - call.started)
            self.samples.close.append(now - call.wrote_at)

    def _fail(self, call: Call, reason: str, line: bytes = b"") -> None:
        self._forget(call)
        self.failures[f"{call.script.kind}: {reason}"] += 1
        if len(self.failure_examples) < 5:
            self.failure_examples.append(f"{call.script.kind} step {call.step + 1}: {reason} "
                                         f"{line[:160].decode('utf-8', 'replace')!r}")

    def _forget(self, call: Call) -> None:
        del self.calls[call.fd]
        call.sock.close()  # also leaves the epoll set

    def check_deadlines(self, now: float) -> None:
        for call in [c for c in self.calls.values() if c.deadline <= now]:
            self._fail(call, "connect timeout (2 s)" if not call.connected else
                       f"no end within {self.session_timeout:.0f} s")

    # ------------------------------------------------------------ event loop

    def poll(self, timeout: float) -> float:
        if self.delayed:
            timeout = min(timeout, self.delayed[0][0] - time.perf_counter())
        events = self.epoll.poll(max(timeout, 0.0), 1024)
        now = time.perf_counter()
        for fd, mask in events:
            self.on_event(fd, mask, now)
        self.send_delayed(now)
        return now

    def run_closed(self, concurrency: int, warmup: float, max_warmup: float, window: float, max_window: float,
                   drain: float, server_pid: int | None) -> dict[str, Any]:
        start = time.perf_counter()
        measure: dict[str, Any] = {}
        window_end = float("inf")
        last_check = start
        now = start
        while True:
            if now < window_end:
                for _ in range(concurrency - len(self.calls)):  # bounded even if every connect fails
                    self.start_call(now, measured=self.window[0] <= now)
            if self.window[0] == float("inf"):
                ready = now - start >= warmup and self.completed + sum(self.failures.values()) >= concurrency
                if ready or now - start >= max_warmup:
                    # At least as long as the warm-up: with calls that last seconds (a process per
                    # call), completions come in waves and a short window would catch one or a gap.
                    length = max(window, min(now - start, max_window))
                    self.window = (now, now + length)
                    window_end = now + length
                    measure = self._open_measure(server_pid)
            elif now >= window_end and not measure.get("closed"):
                self._close_measure(measure, server_pid)
            if now >= window_end and (not self.calls or now >= window_end + drain):
                break
            now = self.poll(CHECK_INTERVAL if now >= window_end else min(CHECK_INTERVAL, window_end - now))
            if now - last_check >= CHECK_INTERVAL:
                self.check_deadlines(now)
                last_check = now
        self._abandon("unfinished when the drain ended")
        return self._result(measure, {"mode": "closed", "concurrency": concurrency,
                                      "warmup_s": self.window[0] - start})

    def run_open(self, rate: float, warmup: float, window: float, drain: float, seed: int,
                 server_pid: int | None) -> dict[str, Any]:
        rng = random.Random(seed)
        start = time.perf_counter()
        self.window = (start + warmup, start + warmup + window)
        arrivals_end = self.window[1]
        next_arrival = start
        measure: dict[str, Any] = {}
        last_check = now = start
        while True:
            while next_arrival <= now and next_arrival < arrivals_end:
                if len(self.calls) >= OPEN_LOOP_MAX_IN_FLIGHT:
                    self.failures["overload: too many calls in progress"] += 1
                else:
                    self.start_call(now, measured=next_arrival >= self.window[0])
                next_arrival += rng.expovariate(rate)
            if not measure and now >= self.window[0]:
                measure = self._open_measure(server_pid)
            if measure and now >= self.window[1] and not measure.get("closed"):
                self._close_measure(measure, server_pid)
            if now >= arrivals_end and (not self.calls or now >= arrivals_end + drain):
                break
            wait = min(next_arrival, arrivals_end) - now if now < arrivals_end else CHECK_INTERVAL
            now = self.poll(min(CHECK_INTERVAL, max(0.0, wait)))
            if now - last_check >= CHECK_INTERVAL:
                self.check_deadlines(now)
                last_check = now
        self._abandon("unfinished when the drain ended")
        return self._result(measure, {"mode": "open", "rate": rate, "seed": seed})

    def _abandon(self, reason: str) -> None:
        for call in list(self.calls.values()):
            self._fail(call, reason)

    def _open_measure(self, server_pid: int | None) -> dict[str, Any]:
        return {"server_cpu": cpu_seconds(server_pid) if server_pid else None,
                "self_cpu": _own_cpu(), "machine_busy": machine_busy_seconds(), "at": time.perf_counter()}

    def _close_measure(self, measure: dict[str, Any], server_pid: int | None) -> None:
        elapsed = time.perf_counter() - measure["at"]
        measure["elapsed"] = elapsed
        measure["self_cpu"] = _own_cpu() - measure["self_cpu"]
        if server_pid and measure["server_cpu"] is not None:
            measure["server_cpu"] = cpu_seconds(server_pid) - measure["server_cpu"]
        # Whatever else ran on the machine meanwhile (other jobs, the runner): it competed for the cores.
        busy = machine_busy_seconds() - measure["machine_busy"]
        measure["other_cpu"] = max(0.0, busy - measure["self_cpu"] - (measure["server_cpu"] or 0.0))
        measure["closed"] = True

    def _result(self, measure: dict[str, Any], head: dict[str, Any]) -> dict[str, Any]:
        elapsed = measure.get("elapsed") or 0.0
        completed = self.completed_in_window
        server_cpu = measure.get("server_cpu")
        samples = self.samples
        return {
            **head,
            "window_s": elapsed,
            "sessions_completed_in_window": completed,
            "sessions_per_s": completed / elapsed if elapsed else 0.0,
            "commands_per_s": self.commands_in_window / elapsed if elapsed else 0.0,
            "sessions_started": self.started_calls,
            "sessions_completed": self.completed,
            "failed": sum(self.failures.values()),
            "failures": dict(self.failures),
            "failure_examples": self.failure_examples,
            "server_cpu_s": server_cpu,
            "server_cpu_s_per_1000": (server_cpu / completed * 1000) if server_cpu is not None and completed else None,
            "loadgen_cpu_share": measure.get("self_cpu", 0.0) / elapsed if elapsed else None,
            "other_cpu_cores": measure.get("other_cpu", 0.0) / elapsed if elapsed else None,
            "latency_ms": {
                "session": summarize(samples.session),
                "command": summarize(samples.command),
                "first": summarize(samples.first),
                "close": summarize(samples.close),
                "by_verb": {verb: summarize(v) for verb, v in sorted(samples.by_verb.items())},
            },
        }


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--server-pid", type=int, help="read this process's CPU time around the window")
    parser.add_argument("--mode", choices=("closed", "open"), default="closed")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rate", type=float, default=100.0, help="open loop: calls started per second")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--max-warmup", type=float, default=30.0)
    parser.add_argument("--window", type=float, default=3.0)
    parser.add_argument("--max-window", type=float, default=30.0,
                        help="closed loop: the window lasts as long as the warm-up, up to this")
    parser.add_argument("--drain", type=float, default=30.0)
    parser.add_argument("--session-timeout", type=float, default=60.0)
    parser.add_argument("--mix", default=",".join(SESSION_KINDS), help="session kinds, in turn")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--media-delay", type=float, default=0.0,
                        help="seconds before STREAM FILE and EXEC are answered (0: at once)")
    args = parser.parse_args(argv)
    lift_open_file_limit()
    mix = [kind for kind in args.mix.split(",") if kind]
    generator = LoadGenerator(args.host, args.port, mix, args.session_timeout, args.media_delay)
    if args.mode == "closed":
        result = generator.run_closed(args.concurrency, args.warmup, args.max_warmup, args.window,
                                      args.max_window, args.drain, args.server_pid)
    else:
        result = generator.run_open(args.rate, args.warmup, args.window, args.drain, args.seed, args.server_pid)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
