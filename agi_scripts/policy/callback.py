"""Calling a caller back from the desk: ring the staff member's phone through AMI ``Originate``, and follow
the call to its end, writing each step on the case's timeline.

1. :func:`start_callback` (on the desk's request, a few hundred milliseconds): connect and log in to AMI,
   send an asynchronous ``Originate`` of the staff member's endpoint into the generated
   ``[respectline-callback]`` context. Any failure here is written on the timeline
   (``callback_failed``) and returned, so the page can say it.
2. :meth:`CallbackInProgress.follow` (on a thread of its own): ``OriginateResponse`` says whether the
   staff member answered; the dialplan's ``UserEvent(RespectlineCallback)`` says when the caller
   answered and, from the ``h`` extension, how the call ended (``DIALSTATUS``); the staff channel's
   ``Hangup`` event ends the following too if that last event never comes. Every wait is bounded.

The caller's number reaches AMI only as digits and ``+`` (checked here, filtered again by the dialplan
with ``FILTER``), and only when it matches one of ``callback.allowed``'s patterns (a caller ID is the
caller's to choose: a premium-rate line, a victim's number); the dial string around it comes from
``callback.dial`` in the configuration.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NoReturn, Protocol

from agi_scripts.ami.client import AmiClient, AmiError, AmiMessage
from agi_scripts.config.callback_settings import CallbackSettings
from agi_scripts.config.settings import AmiSettings
from agi_scripts.ground import metrics
from agi_scripts.ground.redact import printable
from agi_scripts.storage.desk import PHONE_PATTERN

LOG = logging.getLogger("respectline.callback")

CONTEXT = "respectline-callback"
ANSWERED_CONTEXT = "respectline-callback-answered"
EVENT = "RespectlineCallback"
NUMBER = re.compile(r"^\+?[0-9]{3,20}$")
LANGUAGE = re.compile(r"^[a-z]{2}$")
RECORDING = re.compile(r"^/[A-Za-z0-9_./-]{1,400}$")
"""A path Asterisk's ``MixMonitor`` takes as one argument (no comma, space, ``$`` or parenthesis)."""
PING_EVERY = 1.0
"""Asterisk 22.10 can hold an AMI event back until the next input (see real-asterisk notes): ping while waiting."""
MAX_CALL_SECONDS = 3600.0
"""Following stops after this long; the timeline says so."""
AMI_TIMEOUT = 5.0

DIAL_OUTCOMES = {
    "BUSY": ("callback_caller_no_answer", "the caller's line was busy", "caller_busy"),
    "NOANSWER": ("callback_caller_no_answer", "the caller did not answer", "caller_no_answer"),
    "CONGESTION": ("callback_caller_no_answer", "the caller's number could not be reached (congestion)",
                   "caller_unreachable"),
    "CHANUNAVAIL": ("callback_caller_no_answer", "the caller's number could not be reached", "caller_unreachable"),
    "CANCEL": ("callback_ended", "the staff member hung up before the caller answered", "staff_hung_up"),
}
"""``DIALSTATUS`` of a Dial that never connected -> (event, what the timeline says, the metrics outcome)."""
STAFF_NOT_ANSWERED = {"1": "the phone was hung up or rejected", "3": "no answer", "5": "busy",
                      "8": "the phone could not be reached (congestion)", "0": "the phone could not be reached"}
"""``OriginateResponse`` reasons (Asterisk's ``AST_CONTROL_*``) when the staff phone did not answer."""


class Timeline(Protocol):
    """Where the steps go: the case's events (``Store.add_case_event``)."""

    def __call__(self, case_id: int, action: str, detail: str, author: str) -> None: ...


class CallbackRefused(ValueError):
    """The call back cannot start (AMI off or down, no usable number or phone): the reason, for people, and
    ``key``, one word naming the kind of refusal (what the desk's page says: never the text itself)."""

    def __init__(self, reason: str, key: str = "refused") -> None:
        super().__init__(reason)
        self.key = key


@dataclass(frozen=True)
class CallbackRequest:
    case_id: int
    staff: str
    """The desk user calling back: the timeline's author."""
    endpoint: str
    """Their own phone (``PJSIP/care1``)."""
    number: str
    """The caller's number: digits and an optional leading ``+``."""
    staff_language: str = "en"
    caller_language: str = "nl"
    recording: str = ""
    """Where Asterisk records the conversation (the caller hears the recording notice first)."""
    callback_id: str = ""

    def checked(self) -> CallbackRequest:
        """This request with an id, or CallbackRefused naming what is wrong."""
        # fullmatch: with match and '$', a final newline would slip through into AMI's Variable header.
        if not NUMBER.fullmatch(self.number):
            raise CallbackRefused("this case holds no phone number that can be called back", "no_number")
        if not PHONE_PATTERN.fullmatch(self.endpoint):
            raise CallbackRefused(f"your phone {self.endpoint!r} is not an endpoint such as PJSIP/care1", "endpoint")
        if not LANGUAGE.fullmatch(self.staff_language) or not LANGUAGE.fullmatch(self.caller_language):
            raise CallbackRefused("a language is not a two-letter code", "language")
        if self.recording and not RECORDING.fullmatch(self.recording):
            raise CallbackRefused("the recordings folder has characters Asterisk cannot take in a path "
                                  "(use letters, digits, '_', '.', '-' and '/')", "recording_path")
        if self.callback_id:
            return self
        return replace(self, callback_id=secrets.token_hex(8))


Connect = Callable[[AmiSettings], AmiClient]


def ami_connection(settings: AmiSettings) -> AmiClient:
    client = AmiClient(settings.host, settings.port, timeout=AMI_TIMEOUT)
    try:
        client.login(settings.username, settings.secret)
    except AmiError:
        client.close()
        raise
    return client


def start_callback(request: CallbackRequest, ami: AmiSettings, settings: CallbackSettings, timeline: Timeline,
                   connect: Connect = ami_connection) -> CallbackInProgress:
    """Ring the staff phone (asynchronously); CallbackRefused, already on the timeline, when it cannot start."""
    try:
        request = request.checked()
        if not settings.enabled:
            raise CallbackRefused("calling back is off: the configuration has no callback.dial", "off")
        # The number is the caller's caller ID: anyone can set it to a premium-rate line or a victim's number.
        if not settings.allows(request.number):
            raise CallbackRefused(f"{request.number} is not a number callback.allowed lets the desk call",
                                  "not_allowed")
    except CallbackRefused as error:
        _failed(request, timeline, str(error), "refused", error.key)
    if not ami.enabled:
        _failed(request, timeline, "AMI is not configured (the ami section of the configuration has no username)",
                key="ami_off")
    try:
        client = connect(ami)
    except (AmiError, OSError) as error:
        _failed(request, timeline, f"Asterisk's AMI is unavailable ({printable(str(error), 200)})", key="ami_down")
    try:
        # Async: Asterisk answers at once; OriginateResponse, with this ActionID, says later who answered.
        action_id = client.send_action("Originate", _originate_fields(request, settings)).get("ActionID", "")
    except (AmiError, OSError, ValueError) as error:
        client.close()
        _failed(request, timeline, f"Asterisk refused to ring the phone ({printable(str(error), 200)})",
                key="ami_refused")
    _write(timeline, request, "callback_started", f"ringing {request.endpoint}")
    return CallbackInProgress(request, settings, client, action_id, timeline)


def _write(timeline: Timeline, request: CallbackRequest, action: str, detail: str) -> None:
    """A step on the timeline; a store that fails loses the step (logged), never the call in progress."""
    try:
        timeline(request.case_id, action, detail, request.staff)
    except Exception:
        LOG.exception("call back of case %d: could not write %s on the timeline", request.case_id, action)


def _failed(request: CallbackRequest, timeline: Timeline, reason: str, outcome: str = "ami_unavailable",
            key: str = "refused") -> NoReturn:
    _write(timeline, request, "callback_failed", reason)
    metrics.callback_outcome(outcome)
    LOG.warning("call back of case %d by %s not started: %s", request.case_id, printable(request.staff),
                printable(reason, 300))
    raise CallbackRefused(reason, key)


def _originate_fields(request: CallbackRequest, settings: CallbackSettings) -> dict[str, str]:
    variables = {"RL_CALLBACK": request.callback_id, "RL_CALLBACK_TO": request.number,
                 "RL_CALLBACK_LANG": request.staff_language, "RL_CALLBACK_CALLER_LANG": request.caller_language,
                 "__RL_CALLBACK_RECORDING": request.recording}
    return {"Channel": request.endpoint, "Context": CONTEXT, "Exten": "s", "Priority": "1",
            "Timeout": str(int(settings.ring_staff * 1000)), "CallerID": f'"Call back case {request.case_id}" <>',
            "Async": "true", "Variable": ",".join(f"{key}={value}" for key, value in variables.items())}


class CallbackInProgress:
    """A call back whose staff phone is ringing: :meth:`follow` writes the rest of its timeline."""

    def __init__(self, request: CallbackRequest, settings: CallbackSettings, client: AmiClient, action_id: str,
                 timeline: Timeline) -> None:
        self.request, self.settings, self.client, self.action_id = request, settings, client, action_id
        self.timeline = timeline
        self.outcome = ""

    def follow(self, clock: Callable[[], float] = time.monotonic) -> str:
        """Until the call ends (or following is no longer possible); returns the outcome word."""
        try:
            self.outcome = self._follow(clock)
        except (AmiError, OSError) as error:
            self._step("callback_unfollowed", f"Asterisk's AMI connection was lost while following the call "
                                              f"({printable(str(error), 200)}); its outcome is not known")
            self.outcome = "unfollowed"
        finally:
            self.client.logoff()
            self.client.close()
        metrics.callback_outcome(self.outcome)
        return self.outcome

    def _follow(self, clock: Callable[[], float]) -> str:
        answered = self._wait(clock() + self.settings.ring_staff + 15, clock, self._is_originate_response)
        if answered is None:
            self._step("callback_staff_no_answer", "Asterisk did not say whether your phone answered")
            return "staff_no_answer"
        if answered.get("Response", "").lower() != "success":
            reason = STAFF_NOT_ANSWERED.get(answered.get("Reason", ""), "the phone did not answer")
            self._step("callback_staff_no_answer", f"{self.request.endpoint}: {reason}")
            return "staff_no_answer"
        self._step("callback_staff_answered", f"{self.request.endpoint} answered; dialling the caller")
        staff_channel = answered.get("Uniqueid", "")
        caller_answered = False
        deadline = clock() + MAX_CALL_SECONDS
        while True:
            event = self._wait(deadline, clock, lambda e: self._is_step(e) or self._is_hangup(e, staff_channel))
            if event is None:
                self._step("callback_unfollowed", f"still going after {MAX_CALL_SECONDS / 3600:.0f} h; "
                                                  "no longer followed")
                return "unfollowed"
            step = event.get("Step", "") if event.get("Event") == "UserEvent" else "hung_up"
            if step == "caller_answered" and not caller_answered:
                caller_answered = True
                self._step("callback_caller_answered", "the caller answered and heard the recording notice")
            elif step == "hung_up":
                return self._ended(event.get("DialStatus", ""), caller_answered)

    def _ended(self, dial_status: str, caller_answered: bool) -> str:
        if caller_answered or dial_status == "ANSWER":
            self._step("callback_ended", "the conversation ended")
            return "caller_answered"
        action, detail, outcome = DIAL_OUTCOMES.get(
            dial_status, ("callback_ended", "the staff member hung up before the caller was dialled", "staff_hung_up"))
        self._step(action, detail)
        return outcome

    def _wait(self, deadline: float, clock: Callable[[], float],
              wanted: Callable[[AmiMessage], bool]) -> AmiMessage | None:
        while (left := deadline - clock()) > 0:
            event = self.client.next_event(timeout=min(PING_EVERY, left))
            if event is None:
                self.client.send_action("Ping", check=False)  # flushes an event Asterisk may hold back
                continue
            if wanted(event):
                return event
        return None

    def _is_originate_response(self, event: AmiMessage) -> bool:
        return event.get("Event") == "OriginateResponse" and event.get("ActionID") == self.action_id

    def _is_step(self, event: AmiMessage) -> bool:
        return (event.get("Event") == "UserEvent" and event.get("UserEvent") == EVENT
                and event.get("Callback") == self.request.callback_id)

    @staticmethod
    def _is_hangup(event: AmiMessage, uniqueid: str) -> bool:
        return bool(uniqueid) and event.get("Event") == "Hangup" and event.get("Uniqueid") == uniqueid

    def _step(self, action: str, detail: str) -> None:
        _write(self.timeline, self.request, action, detail)  # the store down: the log keeps it, the call goes on
