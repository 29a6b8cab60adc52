"""Runs a post-call flow: one step after another, each with its own timeout and retries.

The engine knows nothing of AGI: it talks to the caller through ``CallerIO`` (implemented over AGI
by the ``post_call`` handler) and reports what the caller gave through ``ComplimentSink`` as soon as
it is given, so a caller who hangs up mid-flow loses nothing already said.

Most callers end by hanging up, not by pressing ``#``. A hang-up (``CallerGone``, or a recording
that ends with one) stops the flow where it is; when the caller had given a rating or a message by
then, the compliment is completed and announced as the flow's ``log`` step would have done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from agi_scripts.flows.post_call import END, MAX_STEPS_PER_CALL, PostCallFlow, Step


@dataclass(frozen=True)
class Recording:
    path: Path
    """The file as Asterisk wrote it, extension included."""
    kept: bool
    """False for a recording that was too short or silent: it has been discarded."""
    caller_hung_up: bool = False
    """The recording ended because the caller hung up (what they said before is kept all the same)."""


class CallerGone(Exception):
    """The caller hung up; raised by ``CallerIO`` from any prompt or wait."""


class CallerIO(Protocol):
    def play(self, prompt_id: str) -> None:
        """Play a prompt to the end."""

    def ask(self, prompt_id: str, digits: str, timeout: float) -> str:
        """Play a prompt that a key among ``digits`` interrupts, then wait up to ``timeout`` seconds.

        Returns the key pressed (which may be one not in ``digits`` if pressed while waiting),
        or ``""`` when none was.
        """

    def record(self, step: Step) -> Recording | None:
        """Record the caller per the step's limits; None when nothing was recorded.

        A hang-up during the recording is reported in the result, not raised, so what was said is kept."""


class ComplimentSink(Protocol):
    def accepted(self) -> None:
        """The caller chose to leave a compliment (first valid key): keep one from now on."""

    def rated(self, rating: int) -> None: ...

    def recorded(self, path: Path) -> None: ...

    def completed(self) -> None:
        """The flow reached its ``log`` step."""


@dataclass
class FlowTrace:
    """What happened, for the call's log line and for tests."""

    steps: list[str] = field(default_factory=list)
    outcome: str = "ended"
    given: bool = False
    """The caller rated or left a message: a compliment worth completing even if they hang up."""
    completed: bool = False


def run_post_call(flow: PostCallFlow, io: CallerIO, sink: ComplimentSink) -> FlowTrace:
    trace = FlowTrace()
    step_id = flow.start
    try:
        while step_id != END:
            if len(trace.steps) >= MAX_STEPS_PER_CALL:
                trace.outcome = "step-limit"
                break
            step = flow.steps[step_id]
            trace.steps.append(step_id)
            step_id = _run_step(step, io, sink, trace)
    except CallerGone:
        _caller_hung_up(flow, step_id, sink, trace)
    return trace


def _caller_hung_up(flow: PostCallFlow, step_id: str, sink: ComplimentSink, trace: FlowTrace) -> None:
    """Complete what the caller gave, as the flow's ``log`` step would have: only when one could
    still be reached from where they hung up (a caller who chose "no, withdraw it" is not announced)."""
    trace.outcome = "caller-hung-up"
    if trace.given and not trace.completed and _leads_to_log(flow, step_id):
        sink.completed()
        trace.completed = True
        trace.outcome = "completed-after-hangup"


def _leads_to_log(flow: PostCallFlow, step_id: str) -> bool:
    seen: set[str] = set()
    waiting = [step_id]
    while waiting:
        current = waiting.pop()
        if current == END or current in seen:
            continue
        seen.add(current)
        step = flow.steps[current]
        if step.type == "log":
            return True
        waiting.extend(step.targets())
    return False


def _run_step(step: Step, io: CallerIO, sink: ComplimentSink, trace: FlowTrace) -> str:
    assert step.prompt is not None or step.type in ("log", "hangup")
    if step.type == "play":
        io.play(step.prompt or "")
        return step.next
    if step.type == "ask":
        key = _ask(step, io, "".join(step.choices))
        if key:
            sink.accepted()
            return step.choices[key]
        return step.on_timeout
    if step.type == "rate":
        allowed = "".join(str(n) for n in range(step.min_rating, step.max_rating + 1))
        key = _ask(step, io, allowed)
        if key:
            sink.accepted()
            sink.rated(int(key))
            trace.given = True
            return step.next
        return step.on_timeout
    if step.type == "record":
        io.play(step.prompt or "")
        recording = io.record(step)
        if recording is not None and recording.kept:
            sink.recorded(recording.path)
            trace.given = True
        if recording is not None and recording.caller_hung_up:
            raise CallerGone()
        return step.next
    if step.type == "log":
        if not trace.completed:
            sink.completed()
            trace.completed = True
        trace.outcome = "completed"
        return step.next
    trace.outcome = "hangup"
    return END


def _ask(step: Step, io: CallerIO, allowed: str) -> str:
    """The first valid key within ``1 + retries`` attempts, or ``""``."""
    for _attempt in range(step.retries + 1):
        key = io.ask(step.prompt or "", allowed, step.timeout)
        if key and key in allowed:
            return key
        if key and step.invalid_prompt:
            io.play(step.invalid_prompt)
    return ""
