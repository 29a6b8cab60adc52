"""Runs the abuse ladder for one flag: protect first, book second, announce last.

The engine knows nothing of AGI or SQL. It talks to the call through ``CallerChannel`` (implemented
over AGI by the ``flag`` handler), books through ``CaseBook`` (the store, with the outbox behind it)
and tells people through ``Notifier`` (e-mail). The order is the agent's protection first:

1. the flag is counted from the call's own memory (``FlagMemory``, kept on the caller's channel),
   so the ladder climbs whether or not the store answers;
2. the whole booking (:class:`Escalation`) is written to the outbox before anything happens, and
   the agent is paused at once: the recordings share's work for the evidence (adopting the call's
   recording, or checking room for a new one) was only started, never waited for;
3. the store starts booking it in one transaction, on a worker thread, while
4. the caller is warned, disconnected or transferred, as the rung says: the caller never waits for
   the store (nor for a slow share more than ``EVIDENCE_HEAD_START``; a late answer is acted on
   after the prompt), and a case is on the desk's inbox while the prompt still plays;
5. the ladder then waits for the booking; when the store could not take it, the outbox keeps it and
   the server's keeper books it later, exactly once (and lifts the pause on time meanwhile);
6. only what was really booked is announced (``RespectlineCase``, the case mail).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from agi_scripts.flows.abuse_policy import PRIORITY_RANK, AbusePolicy, Action, Category, length_text
from agi_scripts.ground import channel_vars
from agi_scripts.storage.base import CaseToOpen, Escalation, EscalationBooked, PauseToBook


class CallerGone(Exception):
    """The caller's channel is gone; raised by ``CallerChannel`` from a prompt or a hang-up."""


class CallerChannel(Protocol):
    def remember(self, flags: str) -> None:
        """Keep this call's flag memory on the channel (``FlagMemory.text()``); ``CallerGone`` after a hang-up."""

    def no_compliment_offer(self) -> None:
        """A caller flagged for abuse is not asked to compliment the agent afterwards."""

    def start_evidence(self, adopt: bool) -> EvidenceWork:
        """Start, on the recordings share and without waiting for it, what the first flag's evidence
        needs: with ``adopt`` (``recording.start: connect``) making the recording running since the
        agent answered this call's evidence (no second recording, no notice: the caller heard it at
        entry), else, or when there is none to adopt, checking the share can take a new recording."""

    def start_recording(self, evidence: str) -> None:
        """Tell the caller the call is recorded, and start recording it to ``evidence``."""

    def pause_agent(self, interface: str, reason: str) -> None: ...

    def play(self, prompt_id: str) -> None:
        """Play a prompt to the caller, to the end."""

    def hang_up(self) -> None: ...

    def send_to_queue(self, queue: str) -> None:
        """End the agent's leg so the dialplan sends the caller on to ``queue``."""

    def announce(self, event: str, fields: Sequence[tuple[str, str]]) -> None:
        """An AMI ``UserEvent``; still sent after the caller hung up."""


@dataclass(frozen=True)
class Evidence:
    """What the recordings share said for the first flag's evidence."""

    path: str = ""
    """The evidence file the case names; empty: the call has none."""
    to_record: bool = False
    """Nothing to adopt: the ladder tells the caller and starts recording into ``path``."""


class EvidenceWork(Protocol):
    def ready(self, within: float) -> Evidence | None:
        """The share's answer; None when it did not come ``within`` seconds (the work goes on)."""

    def no_answer(self) -> Evidence:
        """What to do when the share never answered: an adoption still running keeps its path (it is
        linked when the share answers) and no second recording is started over it; else none."""


EVIDENCE_HEAD_START = 0.25
"""How long the caller's prompt waits for the share's answer on a first flag, after the agent is
paused: a healthy share answers in milliseconds, so a new recording starts (with its notice) before
the warning and holds it; a slow or hung one costs the warning no more than this, and what it says
later is acted on after the prompt."""
LATE_ANSWER_WAIT = 2.0
"""How long, after the prompt, the flag still waits for a slow share. Caller and agent stay apart
while a flag's session runs (the agent hears hold music), so not the server's whole bound."""


class Booking(Protocol):
    def outcome(self) -> EscalationBooked | None:
        """Wait for the booking; None when the store failed (the outbox keeps it)."""


class CaseBook(Protocol):
    def hold(self, escalation: Escalation) -> None:
        """Write the escalation ahead (outbox); never raises."""

    def book(self, escalation: Escalation) -> Booking:
        """Start booking it in the store and return at once; never raises."""

    def amend(self, escalation: Escalation) -> None:
        """Replace the held copy (the evidence became known after it was held); never raises."""


class CheckIns(Protocol):
    def ask(self, escalation: Escalation, booked: EscalationBooked | None, roster: str, within: float) -> None:
        """Book a check-in someone on ``roster`` owes the agent within ``within`` seconds (``policy.checkins``
        rings them in the background); never raises."""


class Notifier(Protocol):
    def case_opened(self, escalation: Escalation, case_id: int, priority: str) -> None: ...

    def agent_paused(self, escalation: Escalation, case_id: int | None) -> None: ...


@dataclass(frozen=True)
class FlaggedCall:
    """What the handler read from the call before the ladder runs."""

    call_id: str
    agent: str
    """The agent's name (``agents:`` in the config), or the interface when unnamed."""
    member_interface: str
    """The queue member's interface (``PJSIP/anna``), empty when the channel gave none."""
    caller: str
    queue: str
    evidence: str
    """A recording of this call already running (``RL_EVIDENCE``), or empty."""
    at: dt.datetime


QUEUED_SECONDS = 1.0
"""A flag that starts this soon after the last one was done with was pressed while that one was
handled: Asterisk holds a feature pressed during a warning until the warning's session ends, and the
agent, hearing hold music meanwhile, could not have heard anything new to flag."""


@dataclass
class FlagsOfACategory:
    count: int
    started: float
    """When the last flag's handling began (epoch seconds)."""
    done: float
    """When it ended (its prompts played); ``started`` until then."""


class FlagMemory:
    """This call's flags, kept on the caller's channel (``RL_FLAGS``: ``category:count:started:done``
    items) so the ladder climbs without the store. Read back from Asterisk, so checked like any input."""

    VARIABLE = channel_vars.FLAGS
    _TIME = r"([0-9]{1,12}(?:\.[0-9]{1,6})?)"
    _ITEM = re.compile(rf"^([a-z0-9][a-z0-9_-]{{0,62}}):([0-9]{{1,3}}):{_TIME}(?::{_TIME})?$")

    def __init__(self, flags: dict[str, FlagsOfACategory] | None = None) -> None:
        self.flags = flags or {}

    @classmethod
    def read(cls, raw: str) -> FlagMemory:
        flags: dict[str, FlagsOfACategory] = {}
        for item in raw[:2000].split(","):
            match = cls._ITEM.match(item)
            if match:
                started = float(match[3])
                flags[match[1]] = FlagsOfACategory(int(match[2]), started, float(match[4] or started))
        return cls(flags)

    def count(self, category: str) -> int:
        last = self.flags.get(category)
        return last.count if last else 0

    def total(self) -> int:
        return sum(last.count for last in self.flags.values())

    def is_repeat(self, category: str, at: float, window: float) -> bool:
        """The same code again within ``window`` of the last press, or pressed while it was handled."""
        last = self.flags.get(category)
        if last is None:
            return False
        return 0 <= at - last.started < window or 0 <= at - last.done < min(window, QUEUED_SECONDS)

    def add(self, category: str, at: float) -> tuple[int, int]:
        """Count one flag; returns (its number in its category, its number in the call)."""
        number = self.count(category) + 1
        self.flags[category] = FlagsOfACategory(number, at, at)
        return number, self.total()

    def done(self, category: str, at: float) -> None:
        """This category's last flag is done with (its prompts played)."""
        last = self.flags[category]
        self.flags[category] = FlagsOfACategory(last.count, last.started, max(at, last.started))

    def text(self) -> str:
        return ",".join(f"{c}:{f.count}:{f.started:.3f}:{f.done:.3f}" for c, f in sorted(self.flags.items()))


@dataclass
class LadderTrace:
    """What one flag did, for the call's log line and for tests."""

    duplicate: bool = False
    number: int = 0
    done: list[str] = field(default_factory=list)
    caller_gone: bool = False
    booked: EscalationBooked | None = None
    escalation: Escalation | None = None

    def summary(self, category: str) -> str:
        if self.duplicate:
            return f"duplicate category={category}"
        held = "" if self.booked is not None else " store=down"
        return f"category={category} flag={self.number} actions={','.join(self.done)}{held}"


def run_ladder(policy: AbusePolicy, category: Category, call: FlaggedCall, memory: FlagMemory,
               channel: CallerChannel, book: CaseBook, notifier: Notifier,
               clock: Callable[[], float] = time.time, check_ins: CheckIns | None = None) -> LadderTrace:
    trace = LadderTrace()
    if memory.is_repeat(category.id, call.at.timestamp(), policy.dedupe_window):
        trace.duplicate = True  # a key pressed twice is one flag
        return trace
    number, number_in_call = memory.add(category.id, call.at.timestamp())
    trace.number = number
    rung = category.rung(number)
    evidence_work = None
    if number_in_call == 1 and not call.evidence and policy.recording_start != "off":
        # Started, not waited for: the share may hang, and the agent's protection never waits for it.
        evidence_work = channel.start_evidence(adopt=policy.recording_start == "connect")
    escalation = _escalation(policy, category, call, rung, number, number_in_call, call.evidence)
    book.hold(escalation)
    _pause(escalation, channel, trace)
    evidence = evidence_work.ready(EVIDENCE_HEAD_START) if evidence_work is not None else None
    booking = None
    if evidence_work is None or evidence is not None:
        escalation = _with_evidence(escalation, evidence, book)
        booking = book.book(escalation)
    trace.escalation = escalation
    _protect(policy, escalation, rung, channel, trace,
             evidence.path if evidence is not None and evidence.to_record else "")
    # Kept on the channel after the prompt, not before it (each command before it delays the caller's
    # warning): Asterisk runs one call's features one after another, so the next press sees it.
    # When this flag was done with: a key pressed again during its warning reaches us only now.
    memory.done(category.id, clock())
    try:
        channel.remember(memory.text())
        channel.no_compliment_offer()
    except CallerGone:
        trace.caller_gone = True  # the call is over: there is no next press to count
    if booking is None and evidence_work is not None:
        # The share answered late (or not at all): acted on now, after the prompt.
        late = evidence_work.ready(LATE_ANSWER_WAIT) or evidence_work.no_answer()
        outcome = _outcome(rung)
        if late.to_record and not trace.caller_gone and (outcome is None or outcome.kind == "warn"):
            _record(channel, late.path, trace)  # the conversation goes on: recorded from now
        elif late.to_record:
            late = Evidence()  # the call is over or leaves the agent: nothing left to record
        escalation = _with_evidence(escalation, late, book)
        trace.escalation = escalation
        booking = book.book(escalation)
    trace.booked = booked = booking.outcome() if booking is not None else None
    _announce(category, escalation, rung, booked, channel, notifier, trace)
    check_in = next((a for a in rung if a.kind == "check_in" and a.roster), None)
    if check_in is not None and check_ins is not None:
        # Last: the caller's prompts and the announcements never wait for it.
        check_ins.ask(escalation, booked, check_in.roster or "", check_in.seconds)
        trace.done.append("check_in")
    return trace


def _with_evidence(escalation: Escalation, evidence: Evidence | None, book: CaseBook) -> Escalation:
    """The escalation with the first flag's evidence, held again when the evidence changed it."""
    if evidence is None or not evidence.path or escalation.case is None:
        return escalation
    amended = dataclasses.replace(escalation, case=dataclasses.replace(escalation.case, recording=evidence.path))
    book.amend(amended)
    return amended


def _escalation(policy: AbusePolicy, category: Category, call: FlaggedCall, rung: tuple[Action, ...],
                number: int, number_in_call: int, evidence: str) -> Escalation:
    case = next((a for a in rung if a.kind == "open_case" and a.team), None)
    pause = next((a for a in rung if a.kind == "pause_agent"), None) if call.member_interface else None
    outcome = _outcome(rung)
    events: list[tuple[str, str]] = []
    if case is not None and pause is not None:
        events.append(("agent_paused", f"{call.agent} for {length_text(pause.seconds)}"))
    if case is not None and outcome is not None:
        events.append((outcome.kind, outcome.prompt or outcome.team or ""))
    return Escalation(
        call_id=call.call_id, category=category.id, number_in_call=number_in_call, number_in_category=number,
        agent=call.agent, caller=call.caller, queue=call.queue, at=call.at,
        outcome=outcome.kind if outcome else None, team=case.team if case else None,
        case=CaseToOpen(team=case.team or "", priority=PRIORITY_RANK[case.priority], recording=evidence or None)
        if case is not None else None,
        pause=PauseToBook(agent=call.member_interface, reason=f"Respectline recovery after {category.label}",
                          resume_at=call.at + dt.timedelta(seconds=pause.seconds))
        if pause is not None else None,
        events=tuple(events))


def _outcome(rung: tuple[Action, ...]) -> Action | None:
    return next((a for a in rung if a.kind in ("warn", "disconnect", "transfer")), None)


def _pause(escalation: Escalation, channel: CallerChannel, trace: LadderTrace) -> None:
    """The agent first: the pause is silent and instant, and waits for nothing but its own record."""
    if escalation.pause is not None:
        channel.pause_agent(escalation.pause.agent, escalation.pause.reason)
        trace.done.append("agent_paused")


def _record(channel: CallerChannel, evidence: str, trace: LadderTrace) -> None:
    try:
        channel.start_recording(evidence)
        trace.done.append("recording")
    except CallerGone:
        trace.caller_gone = True


def _protect(policy: AbusePolicy, escalation: Escalation, rung: tuple[Action, ...], channel: CallerChannel,
             trace: LadderTrace, new_recording: str) -> None:
    """After the pause: the recording notice (when a recording starts now), then the caller."""
    outcome = _outcome(rung)
    if new_recording:
        _record(channel, new_recording, trace)
    if outcome is None:
        return
    trace.done.append(outcome.kind)
    try:
        if outcome.kind == "warn":
            channel.play(outcome.prompt or "")
        elif outcome.kind == "disconnect":
            try:
                channel.play(outcome.prompt or "")
            finally:
                channel.hang_up()  # also when the prompt failed: the ladder said this call ends
        else:
            channel.send_to_queue(policy.teams[outcome.team or ""].queue)
    except CallerGone:
        trace.caller_gone = True  # the caller left first: the book-keeping still happens


def _announce(category: Category, escalation: Escalation, rung: tuple[Action, ...],
              booked: EscalationBooked | None, channel: CallerChannel, notifier: Notifier,
              trace: LadderTrace) -> None:
    case_action = next((a for a in rung if a.kind == "open_case" and a.team), None)
    case_id = booked.case_id if booked is not None else None
    if case_action is not None:
        trace.done.append("case_opened" if case_id is not None else "case_held")
    # Booked by somebody else first (the keeper, from the outbox): they announced it.
    fresh = booked is not None and not booked.already
    if fresh and case_id is not None and case_action is not None:
        channel.announce("RespectlineCase", (
            ("CaseId", str(case_id)), ("Team", case_action.team or ""), ("Category", category.id),
            ("Priority", case_action.priority), ("Agent", escalation.agent), ("Queue", escalation.queue)))
        notifier.case_opened(escalation, case_id, case_action.priority)
    for action in rung:
        if action.kind == "ami_event":
            channel.announce("RespectlineFlag", (
                ("Category", category.id), ("Agent", escalation.agent), ("Queue", escalation.queue),
                ("CaseId", str(case_id or "")), ("Notify", "/".join(action.targets))))
            trace.done.append("notified")
    if escalation.pause is not None and (fresh or booked is None):
        notifier.agent_paused(escalation, case_id)
