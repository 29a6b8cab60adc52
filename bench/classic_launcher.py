"""Classic AGI over TCP, the way agi-bin runs it: a new process per call.

Asterisk runs an agi-bin script by forking and executing it with the call's pipes as stdin and
stdout. This launcher plays that part for the benchmark (as inetd would): it accepts each FastAGI
connection and starts ``python bench/classic_pyst2.py`` with the socket as stdin and stdout, then
forgets it; the process reads the environment, runs the handler and exits, which closes the call.
So the fake Asterisk speaks the same TCP to all peers, and the cost of starting a process per call
is paid here, in this process tree, and counted as the server's (CPU of reaped children included).

Processes are started with ``posix_spawn`` (a vfork in glibc), cheaper than Asterisk's fork of its
whole address space: classic AGI is shown at its best. Every child is reaped, so its CPU time lands in
this process's ``cutime``/``cstime``.

``python -m bench.classic_launcher --listen 127.0.0.1:0`` prints ``listening on HOST:PORT``.
"""

from __future__ import annotations

import argparse
import os
import selectors
import signal
import socket
import sys
import time
from pathlib import Path

from agi_scripts.server.limits import lift_open_file_limit

SCRIPT = Path(__file__).with_name("classic_pyst2.py")
ACCEPT_BATCH = 64
REAP_INTERVAL = 0.02
SPAWN_RETRY_DELAY = 0.05


class Launcher:
    def __init__(self, host: str, port: int, python: str, script: Path) -> None:
        self.sock = socket.create_server((host, port), backlog=4096)
        self.sock.setblocking(False)
        self.address = self.sock.getsockname()[:2]
        self.argv = [python, str(script)]
        self.env = dict(os.environ)
        self.devnull = os.open(os.devnull, os.O_WRONLY)
        self.children = 0
        self.stopping = False
        self.child_nice = os.getpriority(os.PRIO_PROCESS, 0)
        self.boosted = _boost_priority()

    def serve(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self.sock, selectors.EVENT_READ)
        while not self.stopping:
            if selector.select(REAP_INTERVAL):
                self._accept_batch()
            self._reap()
        selector.close()
        self.sock.close()
        # Children still running finish their call on their own; wait a bounded time for them.
        for _ in range(500):
            if not self.children:
                break
            time.sleep(REAP_INTERVAL)
            self._reap()

    def _accept_batch(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                conn, _peer = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            with conn:
                self._spawn(conn.fileno())

    def _spawn(self, fd: int) -> None:
        actions = [(os.POSIX_SPAWN_DUP2, fd, 0), (os.POSIX_SPAWN_DUP2, fd, 1),
                   (os.POSIX_SPAWN_DUP2, self.devnull, 2)]
        try:
            pid = os.posix_spawn(self.argv[0], self.argv, self.env, file_actions=actions)
        except OSError as exc:  # out of processes or memory: the call fails, as it would in Asterisk
            print(f"classic launcher: cannot start a process: {exc}", file=sys.stderr)
            return
        self.children += 1
        if self.boosted:
            try:  # the call's process runs at the ordinary priority, like Asterisk's agi-bin children
                os.setpriority(os.PRIO_PROCESS, pid, self.child_nice)
            except OSError:
                pass

    def _reap(self) -> None:
        while self.children:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children = 0
                return
            if pid == 0:
                return
            self.children -= 1

    def stop(self, *_args: object) -> None:
        self.stopping = True


def _boost_priority() -> bool:
    """Run the launcher ahead of the call processes (needs root; without it, calls queue up).

    Asterisk forks each call's process from that call's own thread: with a thousand calls, a thousand
    Asterisk threads share the CPU with the AGI processes, so a new call's process starts at once.
    A single launcher process among hundreds of busy call processes would get a sliver of the CPU and
    start them one at a time, leaving calls waiting unseen in the accept queue; a raised priority lets
    it keep up, as Asterisk does."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, os.getpriority(os.PRIO_PROCESS, 0) - 10)
        return True
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.classic_launcher")
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--script", type=Path, default=SCRIPT)
    args = parser.parse_args()
    lift_open_file_limit()
    host, _, port = args.listen.rpartition(":")
    launcher = Launcher(host, int(port), args.python, args.script)
    signal.signal(signal.SIGTERM, launcher.stop)
    signal.signal(signal.SIGINT, launcher.stop)
    print(f"listening on {launcher.address[0]}:{launcher.address[1]}", flush=True)
    launcher.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
