"""One AMI connection for the benchmarks: a reader thread, actions matched to their responses, the
connection's end remembered. ``bench/calls_ami.py`` (the load generator) and ``bench/protection_ami.py``
(the event log) each add what they do with events by overriding ``on_event``.

Blocking sockets and threads on purpose: the benchmarks measure the product, not this client, and must
not share an event loop with what they measure.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Mapping
from types import TracebackType

from agi_scripts.ami.client import AmiMessage, decode_message, encode_action

BANNER = b"Asterisk Call Manager"


class AmiWireError(RuntimeError):
    """The AMI connection failed, or Asterisk refused an action (login, filter)."""


class AmiWire:
    """Connects, starts the reader, logs in and installs the event filter (a regular expression that
    Asterisk matches against each event). Use as a context manager."""

    def __init__(self, port: int, username: str, secret: str, *, event_filter: str,
                 host: str = "127.0.0.1", timeout: float = 10.0, id_prefix: str = "bench") -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._write_lock = threading.Lock()
        self.lock = threading.Condition()
        """Held while ``on_event`` runs; subclasses take it to read what their events built."""
        self._action_ids = itertools.count(1)
        self._id_prefix = id_prefix
        self._responses: dict[str, AmiMessage] = {}
        self._buffer = b""
        self._banner_read = False
        self.closed_reason = ""
        self._reader = threading.Thread(target=self._read_forever, name="ami-reader", daemon=True)
        self._reader.start()
        self.call("Login", {"Username": username, "Secret": secret, "Events": "on"}, timeout)
        self.call("Filter", {"Operation": "Add", "Filter": event_filter}, timeout)

    def __enter__(self) -> AmiWire:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self._reader.join(5)

    # ------------------------------------------------------------------ for subclasses

    def on_event(self, message: AmiMessage) -> None:
        """One event (``self.lock`` is held)."""

    def on_response(self, message: AmiMessage) -> bool:
        """A response nobody waits for in ``call`` (``self.lock`` is held); True if it was taken."""
        return False

    def next_action_id(self) -> str:
        return f"{self._id_prefix}-{next(self._action_ids)}"

    def write(self, action: str, fields: Mapping[str, str], action_id: str) -> None:
        data = encode_action(action, {**fields, "ActionID": action_id})
        with self._write_lock:
            self._sock.sendall(data)

    def call(self, action: str, fields: Mapping[str, str], timeout: float) -> AmiMessage:
        """Sends ``action`` and waits for its successful response."""
        action_id = self.next_action_id()
        self.write(action, fields, action_id)
        deadline = time.monotonic() + timeout
        with self.lock:
            while action_id not in self._responses:
                left = deadline - time.monotonic()
                if left <= 0 or self.closed_reason:
                    raise AmiWireError(f"AMI {action}: no answer ({self.closed_reason or 'timeout'})")
                self.lock.wait(left)
            response = self._responses.pop(action_id)
        if response.get("Response", "").lower() != "success":
            raise AmiWireError(f"AMI {action} refused: {response.get('Message', response)}")
        return response

    # ------------------------------------------------------------------ reading

    def _read_forever(self) -> None:
        self._sock.settimeout(None)
        try:
            while True:
                chunk = self._sock.recv(65536)
                if not chunk:
                    raise ConnectionError("Asterisk closed the AMI connection")
                self._buffer += chunk
                self._drain()
        except OSError as exc:
            with self.lock:
                self.closed_reason = str(exc) or type(exc).__name__
                self.lock.notify_all()

    def _drain(self) -> None:
        if not self._banner_read:
            line, sep, rest = self._buffer.partition(b"\r\n")
            if not sep:
                return
            if not line.startswith(BANNER):
                raise ConnectionError(f"not an AMI server: {line!r}")
            self._banner_read, self._buffer = True, rest
        while True:
            raw, sep, rest = self._buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            self._buffer = rest
            self._dispatch(decode_message(raw))

    def _dispatch(self, message: AmiMessage) -> None:
        with self.lock:
            if "Event" in message:
                self.on_event(message)
            elif not self.on_response(message):
                self._responses[message.get("ActionID", "")] = message
            self.lock.notify_all()


def event_time(message: AmiMessage) -> float:
    """Asterisk's own time of the event (``timestampevents = yes``); the time we read it when the
    stamp is missing."""
    try:
        return float(message["Timestamp"])
    except (KeyError, ValueError):
        return time.time()
