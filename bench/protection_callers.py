"""The measured calls' callers, in a process of their own.

The pjsua2 wheel allows 4 calls per process (``PJSUA_MAX_CALLS``): 4 agents' calls in the bench's
process, 4 callers' calls here. The bench sends commands (call a number, hang up) and this process
reports every change of a caller's state with the RTP port of its call, which is all the bench needs
from a caller: what it hears is read from the loopback (``bench/rtp_capture.py``).
"""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.connection import Connection
from typing import Any

from agi_scripts.sandbox.sip import PeerState, SipCaller

READY_TIMEOUT = 20.0


def _serve(conn: Connection, server_port: int, names: list[str]) -> None:
    from bench.protection_calls import BenchPhones  # pjsua2 starts in this process only

    try:
        with BenchPhones("127.0.0.1", server_port) as phones:
            callers = {name: phones.caller(name) for name in names}
            sent: dict[str, tuple[str, int, str]] = {}
            conn.send(("ready",))
            while True:
                phones.pump(0.01)
                while conn.poll():
                    command = conn.recv()
                    if command[0] == "quit":
                        return
                    caller = callers[command[1]]
                    if command[0] == "call":
                        try:
                            caller.call(command[2])
                        except Exception as error:  # noqa: BLE001 - reported to the bench
                            info = error.info() if hasattr(error, "info") else repr(error)
                            conn.send(("failed", command[1], str(info)))
                    elif command[0] == "hangup":
                        caller.hangup()
                for name, caller in callers.items():
                    state = (caller.state.value, _rtp_port(caller), caller.disconnect_reason)
                    if sent.get(name) != state:
                        sent[name] = state
                        conn.send(("state", name, *state))
    except Exception as error:  # noqa: BLE001 - the bench reports it
        conn.send(("error", repr(error)))


def _rtp_port(caller: SipCaller) -> int:
    call = caller._call  # noqa: SLF001 - the sandbox's peer keeps its pjsua2 call private
    if call is None or caller.state is not PeerState.CONNECTED:
        return 0
    try:
        return int(str(call.getMedTransportInfo(0).localRtpName).rsplit(":", 1)[1])
    except Exception:  # noqa: BLE001 - no media yet
        return 0


class RemoteCaller:
    """What the bench sees of one caller of the process: its state, its RTP port."""

    def __init__(self, link: CallerProcess, username: str) -> None:
        self.link = link
        self.username = username
        self.state = PeerState.IDLE
        self.rtp_port = 0
        self.disconnect_reason = ""

    @property
    def in_call(self) -> bool:
        return self.state in (PeerState.CALLING, PeerState.RINGING, PeerState.CONNECTED)

    def call(self, number: str) -> None:
        self.state, self.rtp_port, self.disconnect_reason = PeerState.CALLING, 0, ""
        self.link.send(("call", self.username, number))

    def hangup(self) -> None:
        self.link.send(("hangup", self.username))


class CallerProcess:
    """Starts the callers' process; :meth:`poll` applies what it reported. Context manager."""

    def __init__(self, server_port: int, names: list[str]) -> None:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: pjsua2 must not be forked
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, server_port, names), name="bench-callers",
                                        daemon=True)
        self._process.start()
        child.close()
        self.callers = {name: RemoteCaller(self, name) for name in names}
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._conn.poll(0.1):
                message = self._conn.recv()
                if message[0] == "ready":
                    return
                self.close()
                raise RuntimeError(f"the callers' process failed: {message}")
        self.close()
        raise RuntimeError("the callers' process did not start")

    def __enter__(self) -> CallerProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def send(self, message: tuple[Any, ...]) -> None:
        self._conn.send(message)

    def poll(self) -> None:
        while self._conn.poll():
            message = self._conn.recv()
            if message[0] == "state":
                caller = self.callers[message[1]]
                caller.state, caller.rtp_port, caller.disconnect_reason = PeerState(message[2]), message[3], message[4]
            elif message[0] == "failed":
                caller = self.callers[message[1]]
                caller.state, caller.disconnect_reason = PeerState.DISCONNECTED, f"call failed: {message[2]}"
            elif message[0] == "error":
                raise RuntimeError(f"the callers' process failed: {message[1]}")

    def close(self) -> None:
        if self._process.is_alive():
            try:
                self._conn.send(("quit",))
            except OSError:
                pass
            self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
        self._conn.close()
