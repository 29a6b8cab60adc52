"""The AMI events ``bench/protection.py`` reads: what the SIP phones' channels did, with Asterisk's
own timestamps (``timestampevents = yes``).

One AMI connection, a whitelist filter (DTMF, the AGI commands run on a channel, hang-ups), and only
the events of ``PJSIP/`` channels are kept: the background calls are Local channels. A ``Ping``
every half second: Asterisk 22.10.1 can hold the last event of a quiet moment back until something
else happens on the connection (see the project's notes), and the bench waits on events.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from agi_scripts.ami.client import AmiMessage, decode_message, encode_action

EVENTS = ("DTMFBegin", "DTMFEnd", "AGIExecStart", "AGIExecEnd", "Hangup")
PING_EVERY = 0.5


class AmiWatchError(RuntimeError):
    """The AMI connection failed, or Asterisk refused the login or the filter."""


@dataclass(frozen=True)
class ChannelEvent:
    at: float
    """Asterisk's time of the event (epoch seconds)."""
    event: str
    channel: str
    uniqueid: str
    fields: AmiMessage


class AmiEventLog:
    """Context manager. ``events(prefix, since)`` lists the kept events of channels whose name starts
    with ``prefix``; ``wait_for(...)`` waits for one."""

    def __init__(self, port: int, username: str, secret: str, *, host: str = "127.0.0.1",
                 keep: Callable[[str], bool] = lambda channel: channel.startswith("PJSIP/"),
                 timeout: float = 10.0) -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._keep = keep
        self._ids = itertools.count(1)
        self._lock = threading.Condition()
        self._events: list[ChannelEvent] = []
        self._responses: dict[str, AmiMessage] = {}
        self._buffer = b""
        self._banner = False
        self.closed_reason = ""
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read_forever, name="ami-events", daemon=True)
        self._reader.start()
        self._call("Login", {"Username": username, "Secret": secret, "Events": "on"}, timeout)
        self._call("Filter", {"Operation": "Add", "Filter": "Event: (" + "|".join(EVENTS) + ")"}, timeout)
        self._pinger = threading.Thread(target=self._ping_forever, name="ami-ping", daemon=True)
        self._pinger.start()

    def __enter__(self) -> AmiEventLog:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self._reader.join(5)
        self._pinger.join(5)

    # ------------------------------------------------------------------ reading

    def events(self, prefix: str, since: float = 0.0, event: str | None = None) -> list[ChannelEvent]:
        with self._lock:
            return [e for e in self._events
                    if e.at >= since and e.channel.startswith(prefix) and (event is None or e.event == event)]

    def find(self, prefix: str, since: float, event: str,
             match: Callable[[ChannelEvent], bool] = lambda e: True) -> ChannelEvent | None:
        return next((e for e in self.events(prefix, since, event) if match(e)), None)

    def forget_before(self, moment: float) -> None:
        """Drop events older than ``moment`` (a long run keeps memory flat)."""
        with self._lock:
            self._events = [e for e in self._events if e.at >= moment]

    # ------------------------------------------------------------------ wire

    def _call(self, action: str, fields: dict[str, str], timeout: float) -> AmiMessage:
        action_id = f"watch-{next(self._ids)}"
        self._sock.sendall(encode_action(action, {**fields, "ActionID": action_id}))
        deadline = time.monotonic() + timeout
        with self._lock:
            while action_id not in self._responses:
                left = deadline - time.monotonic()
                if left <= 0 or self.closed_reason:
                    raise AmiWatchError(f"AMI {action}: no answer ({self.closed_reason or 'timeout'})")
                self._lock.wait(left)
            response = self._responses.pop(action_id)
        if response.get("Response", "").lower() != "success":
            raise AmiWatchError(f"AMI {action} refused: {response.get('Message', response)}")
        return response

    def _ping_forever(self) -> None:
        while not self._stop.wait(PING_EVERY):
            try:
                self._sock.sendall(encode_action("Ping", {"ActionID": "ping"}))
            except OSError:
                return

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
            with self._lock:
                self.closed_reason = str(exc) or type(exc).__name__
                self._lock.notify_all()

    def _drain(self) -> None:
        if not self._banner:
            line, sep, rest = self._buffer.partition(b"\r\n")
            if not sep:
                return
            if not line.startswith(b"Asterisk Call Manager"):
                raise ConnectionError(f"not an AMI server: {line!r}")
            self._banner, self._buffer = True, rest
        while True:
            raw, sep, rest = self._buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            self._buffer = rest
            message = decode_message(raw)
            with self._lock:
                if "Event" not in message:
                    action_id = message.get("ActionID", "")
                    if action_id != "ping":
                        self._responses[action_id] = message
                        self._lock.notify_all()
                    continue
                channel = message.get("Channel", "")
                if not self._keep(channel):
                    continue
                self._events.append(ChannelEvent(_stamp(message), message.get("Event", ""), channel,
                                                 message.get("Uniqueid", ""), message))
                self._lock.notify_all()


def _stamp(message: AmiMessage) -> float:
    try:
        return float(message["Timestamp"])
    except (KeyError, ValueError):
        return time.time()
