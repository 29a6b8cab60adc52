"""The load generator of ``bench/calls.py``: originates calls over AMI and records, per call, the
times Asterisk stamped on its events.

One AMI connection; actions are written by the caller's thread, everything Asterisk sends is read by
one reader thread. A whitelist filter keeps only the events the benchmark needs, so the connection
costs Asterisk little and the same in both variants. Set-up times use the ``Timestamp`` Asterisk puts
on each event (``timestampevents = yes``), not the moment Python read it, so a busy load generator
does not lengthen them.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType

from agi_scripts.ami.client import AmiMessage, decode_message, encode_action

EVENTS = ("OriginateResponse", "QueueCallerJoin", "AgentConnect", "Hangup", "UserEvent")
EVENT_FILTER = "Event: (" + "|".join(EVENTS) + ")"
"""A regular expression Asterisk matches against each event; prefixes also let through a few
others (HangupRequest...), which are ignored."""
COMPLIMENT_EVENT = "RespectlineCompliment"
"""The ``UserEvent`` post_call sends when a caller completed the compliment flow."""


class AmiLoadError(RuntimeError):
    """The AMI connection failed or Asterisk refused the login or the filter."""


@dataclass
class CallTimes:
    """One originated call: the caller is the Local channel pair ``call_id`` (;1, the caller's
    script) and ``call_id-2`` (;2, the call that goes through the dialplan). Times are epoch seconds."""

    call_id: str
    sent: float
    answered: float | None = None
    joined_queue: float | None = None
    agent_connected: float | None = None
    agent: str = ""
    compliment_completed: bool = False
    ended: float | None = None
    failure: str = ""
    channels_up: set[str] = field(default_factory=set)

    @property
    def dialplan_id(self) -> str:
        return f"{self.call_id}-2"

    @property
    def done(self) -> bool:
        return bool(self.failure) or (self.answered is not None and not self.channels_up)


class AmiLoadGenerator:
    """Originates Local-channel calls and follows them to their end. Use as a context manager."""

    def __init__(self, port: int, username: str, secret: str, *, host: str = "127.0.0.1",
                 timeout: float = 10.0) -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._action_ids = itertools.count(1)
        self._responses: dict[str, AmiMessage] = {}
        self._response_ready = threading.Condition(self._state_lock)
        self._calls: dict[str, CallTimes] = {}
        self._by_action: dict[str, CallTimes] = {}
        self.events_read = 0
        self.closed_reason = ""
        self._buffer = b""
        self._banner_read = False
        self._reader = threading.Thread(target=self._read_forever, name="ami-reader", daemon=True)
        self._reader.start()
        self._expect_success("Login", {"Username": username, "Secret": secret, "Events": "on"}, timeout)
        self._expect_success("Filter", {"Operation": "Add", "Filter": EVENT_FILTER}, timeout)

    def __enter__(self) -> AmiLoadGenerator:
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

    # ------------------------------------------------------------------ calls

    def originate(self, call_id: str, *, channel: str, context: str, caller_number: str,
                  answer_timeout: float = 60.0) -> CallTimes:
        """Starts one call (asynchronously): ``channel`` runs the dialplan under test, its other half
        runs ``context``'s ``s`` extension once answered."""
        action_id = self._next_action_id()
        call = CallTimes(call_id=call_id, sent=time.time(), channels_up={call_id, f"{call_id}-2"})
        with self._state_lock:
            self._calls[call.call_id] = call
            self._calls[call.dialplan_id] = call
            self._by_action[action_id] = call
        self._write("Originate", {
            "Channel": channel, "Context": context, "Exten": "s", "Priority": "1",
            "CallerID": f"<{caller_number}>", "Async": "true", "Timeout": str(int(answer_timeout * 1000)),
            "ChannelId": call.call_id, "OtherChannelId": call.dialplan_id,
        }, action_id)
        return call

    def wait_all_done(self, calls: list[CallTimes], timeout: float) -> bool:
        """True once every call ended (both halves hung up, or the originate failed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._state_lock:
                if all(call.done for call in calls):
                    return True
                if self.closed_reason:
                    return False
            time.sleep(0.05)
        return False

    # ------------------------------------------------------------------ wire

    def _next_action_id(self) -> str:
        return f"bench-{next(self._action_ids)}"

    def _write(self, action: str, fields: Mapping[str, str], action_id: str) -> None:
        data = encode_action(action, {**fields, "ActionID": action_id})
        with self._write_lock:
            self._sock.sendall(data)

    def _expect_success(self, action: str, fields: Mapping[str, str], timeout: float) -> None:
        action_id = self._next_action_id()
        self._write(action, fields, action_id)
        deadline = time.monotonic() + timeout
        with self._response_ready:
            while action_id not in self._responses:
                left = deadline - time.monotonic()
                if left <= 0 or self.closed_reason:
                    raise AmiLoadError(f"AMI {action}: no answer ({self.closed_reason or 'timeout'})")
                self._response_ready.wait(left)
            response = self._responses.pop(action_id)
        if response.get("Response", "").lower() != "success":
            raise AmiLoadError(f"AMI {action} refused: {response.get('Message', response)}")

    def _read_forever(self) -> None:
        self._sock.settimeout(None)
        try:
            while True:
                chunk = self._sock.recv(65536)
                if not chunk:
                    raise ConnectionError("Asterisk closed the AMI connection")
                self._buffer += chunk
                self._handle_buffer()
        except OSError as exc:
            with self._response_ready:
                self.closed_reason = str(exc) or type(exc).__name__
                self._response_ready.notify_all()

    def _handle_buffer(self) -> None:
        if not self._banner_read:
            line, sep, rest = self._buffer.partition(b"\r\n")
            if not sep:
                return
            if not line.startswith(b"Asterisk Call Manager"):
                raise ConnectionError(f"not an AMI server: {line!r}")
            self._banner_read, self._buffer = True, rest
        while True:
            raw, sep, rest = self._buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            self._buffer = rest
            self._handle(decode_message(raw))

    def _handle(self, message: AmiMessage) -> None:
        with self._response_ready:
            if "Response" in message and "Event" not in message:
                self._on_response(message)
                return
            self.events_read += 1
            handler = _EVENT_HANDLERS.get(message.get("Event", ""))
            if handler is not None:
                handler(self, message)

    def _on_response(self, message: AmiMessage) -> None:
        action_id = message.get("ActionID", "")
        call = self._by_action.get(action_id)
        if call is None:
            self._responses[action_id] = message
            self._response_ready.notify_all()
        elif message.get("Response", "").lower() != "success":
            call.failure = f"originate refused: {message.get('Message', '')}"

    def _call_of(self, event: AmiMessage) -> CallTimes | None:
        return self._calls.get(event.get("Uniqueid", ""))

    def _on_originate_response(self, event: AmiMessage) -> None:
        call = self._by_action.get(event.get("ActionID", ""))
        if call is None:
            return
        if event.get("Response", "").lower() == "success":
            call.answered = _stamp(event)
        else:
            call.failure = f"originate failed (reason {event.get('Reason', '?')})"

    def _on_queue_join(self, event: AmiMessage) -> None:
        call = self._call_of(event)
        if call is not None and call.joined_queue is None:
            call.joined_queue = _stamp(event)

    def _on_agent_connect(self, event: AmiMessage) -> None:
        call = self._call_of(event)
        if call is not None and call.agent_connected is None:
            call.agent_connected = _stamp(event)
            call.agent = event.get("MemberName", "")

    def _on_user_event(self, event: AmiMessage) -> None:
        call = self._call_of(event)
        if call is not None and event.get("UserEvent") == COMPLIMENT_EVENT:
            call.compliment_completed = True

    def _on_hangup(self, event: AmiMessage) -> None:
        uniqueid = event.get("Uniqueid", "")
        call = self._calls.get(uniqueid)
        if call is not None:
            call.channels_up.discard(uniqueid)
            if not call.channels_up:
                call.ended = _stamp(event)


_EVENT_HANDLERS = {
    "OriginateResponse": AmiLoadGenerator._on_originate_response,
    "QueueCallerJoin": AmiLoadGenerator._on_queue_join,
    "AgentConnect": AmiLoadGenerator._on_agent_connect,
    "UserEvent": AmiLoadGenerator._on_user_event,
    "Hangup": AmiLoadGenerator._on_hangup,
}


def _stamp(event: AmiMessage) -> float:
    """Asterisk's own time of the event; the time we read it when the stamp is missing."""
    try:
        return float(event["Timestamp"])
    except (KeyError, ValueError):
        return time.time()
