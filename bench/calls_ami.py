"""The load generator of ``bench/calls.py``: originates calls over AMI and records, per call, the
times Asterisk stamped on its events.

One AMI connection; actions are written by the caller's thread, everything Asterisk sends is read by
one reader thread. A whitelist filter keeps only the events the benchmark needs, so the connection
costs Asterisk little and the same in both variants. Set-up times use the ``Timestamp`` Asterisk puts
on each event (``timestampevents = yes``), not the moment Python read it, so a busy load generator
does not lengthen them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from agi_scripts.ami.client import AmiMessage
from bench.ami_wire import AmiWire, AmiWireError, event_time

EVENTS = ("OriginateResponse", "QueueCallerJoin", "AgentConnect", "Hangup", "UserEvent")
EVENT_FILTER = "Event: (" + "|".join(EVENTS) + ")"
"""A regular expression Asterisk matches against each event; prefixes also let through a few
others (HangupRequest...), which are ignored."""
COMPLIMENT_EVENT = "RespectlineCompliment"
"""The ``UserEvent`` post_call sends when a caller completed the compliment flow."""


AmiLoadError = AmiWireError
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


class AmiLoadGenerator(AmiWire):
    """Originates Local-channel calls and follows them to their end. Use as a context manager."""

    def __init__(self, port: int, username: str, secret: str, *, host: str = "127.0.0.1",
                 timeout: float = 10.0) -> None:
        self._calls: dict[str, CallTimes] = {}
        self._by_action: dict[str, CallTimes] = {}
        self.events_read = 0
        super().__init__(port, username, secret, host=host, timeout=timeout, event_filter=EVENT_FILTER)

    # ------------------------------------------------------------------ calls

    def originate(self, call_id: str, *, channel: str, context: str, caller_number: str,
                  answer_timeout: float = 60.0) -> CallTimes:
        """Starts one call (asynchronously): ``channel`` runs the dialplan under test, its other half
        runs ``context``'s ``s`` extension once answered."""
        action_id = self.next_action_id()
        call = CallTimes(call_id=call_id, sent=time.time(), channels_up={call_id, f"{call_id}-2"})
        with self.lock:
            self._calls[call.call_id] = call
            self._calls[call.dialplan_id] = call
            self._by_action[action_id] = call
        self.write("Originate", {
            "Channel": channel, "Context": context, "Exten": "s", "Priority": "1",
            "CallerID": f"<{caller_number}>", "Async": "true", "Timeout": str(int(answer_timeout * 1000)),
            "ChannelId": call.call_id, "OtherChannelId": call.dialplan_id,
        }, action_id)
        return call

    def wait_all_done(self, calls: list[CallTimes], timeout: float) -> bool:
        """True once every call ended (both halves hung up, or the originate failed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if all(call.done for call in calls):
                    return True
                if self.closed_reason:
                    return False
            time.sleep(0.05)
        return False

    # ------------------------------------------------------------------ events

    def on_event(self, message: AmiMessage) -> None:
        self.events_read += 1
        handler = _EVENT_HANDLERS.get(message.get("Event", ""))
        if handler is not None:
            handler(self, message)

    def on_response(self, message: AmiMessage) -> bool:
        call = self._by_action.get(message.get("ActionID", ""))
        if call is None:
            return False
        if message.get("Response", "").lower() != "success":
            call.failure = f"originate refused: {message.get('Message', '')}"
        return True

    def _call_of(self, event: AmiMessage) -> CallTimes | None:
        return self._calls.get(event.get("Uniqueid", ""))

    def _on_originate_response(self, event: AmiMessage) -> None:
        call = self._by_action.get(event.get("ActionID", ""))
        if call is None:
            return
        if event.get("Response", "").lower() == "success":
            call.answered = event_time(event)
        else:
            call.failure = f"originate failed (reason {event.get('Reason', '?')})"

    def _on_queue_join(self, event: AmiMessage) -> None:
        call = self._call_of(event)
        if call is not None and call.joined_queue is None:
            call.joined_queue = event_time(event)

    def _on_agent_connect(self, event: AmiMessage) -> None:
        call = self._call_of(event)
        if call is not None and call.agent_connected is None:
            call.agent_connected = event_time(event)
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
                call.ended = event_time(event)


_EVENT_HANDLERS = {
    "OriginateResponse": AmiLoadGenerator._on_originate_response,
    "QueueCallerJoin": AmiLoadGenerator._on_queue_join,
    "AgentConnect": AmiLoadGenerator._on_agent_connect,
    "UserEvent": AmiLoadGenerator._on_user_event,
    "Hangup": AmiLoadGenerator._on_hangup,
}
