"""The AMI events ``bench/protection.py`` reads: what the SIP phones' channels did, with Asterisk's
own timestamps (``timestampevents = yes``).

One AMI connection, a whitelist filter (DTMF, the AGI commands run on a channel, hang-ups), and only
the events of ``PJSIP/`` channels are kept: the background calls are Local channels. A ``Ping``
every half second: Asterisk 22.10.1 can hold the last event of a quiet moment back until something
else happens on the connection (see the project's notes), and the bench waits on events.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from agi_scripts.ami.client import AmiMessage
from bench.ami_wire import AmiWire, AmiWireError, event_time

EVENTS = ("DTMFBegin", "DTMFEnd", "AGIExecStart", "AGIExecEnd", "Hangup")
PING_EVERY = 0.5
PING_ID = "ping"

AmiWatchError = AmiWireError
"""The AMI connection failed, or Asterisk refused the login or the filter."""


@dataclass(frozen=True)
class ChannelEvent:
    at: float
    """Asterisk's time of the event (epoch seconds)."""
    event: str
    channel: str
    uniqueid: str
    fields: AmiMessage


class AmiEventLog(AmiWire):
    """Context manager. ``events(prefix, since)`` lists the kept events of channels whose name starts
    with ``prefix``; ``find(...)`` returns one."""

    def __init__(self, port: int, username: str, secret: str, *, host: str = "127.0.0.1",
                 keep: Callable[[str], bool] = lambda channel: channel.startswith("PJSIP/"),
                 timeout: float = 10.0) -> None:
        self._keep = keep
        self._events: list[ChannelEvent] = []
        self._stop = threading.Event()
        super().__init__(port, username, secret, host=host, timeout=timeout, id_prefix="watch",
                         event_filter="Event: (" + "|".join(EVENTS) + ")")
        self._pinger = threading.Thread(target=self._ping_forever, name="ami-ping", daemon=True)
        self._pinger.start()

    def close(self) -> None:
        self._stop.set()
        super().close()
        self._pinger.join(5)

    # ------------------------------------------------------------------ reading

    def events(self, prefix: str, since: float = 0.0, event: str | None = None) -> list[ChannelEvent]:
        with self.lock:
            return [e for e in self._events
                    if e.at >= since and e.channel.startswith(prefix) and (event is None or e.event == event)]

    def find(self, prefix: str, since: float, event: str,
             match: Callable[[ChannelEvent], bool] = lambda e: True) -> ChannelEvent | None:
        return next((e for e in self.events(prefix, since, event) if match(e)), None)

    def forget_before(self, moment: float) -> None:
        """Drop events older than ``moment`` (a long run keeps memory flat)."""
        with self.lock:
            self._events = [e for e in self._events if e.at >= moment]

    # ------------------------------------------------------------------ wire

    def on_event(self, message: AmiMessage) -> None:
        channel = message.get("Channel", "")
        if self._keep(channel):
            self._events.append(ChannelEvent(event_time(message), message.get("Event", ""), channel,
                                             message.get("Uniqueid", ""), message))

    def on_response(self, message: AmiMessage) -> bool:
        return message.get("ActionID", "") == PING_ID

    def _ping_forever(self) -> None:
        while not self._stop.wait(PING_EVERY):
            try:
                self.write("Ping", {}, PING_ID)
            except OSError:
                return
