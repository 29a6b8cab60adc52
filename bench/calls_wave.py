"""One measured wave of calls through a real Asterisk: the core of ``bench/calls.py``.

A wave originates ``calls`` Local-channel calls at a fixed arrival rate, follows each through the
dialplan to its end, and reads the CPU time of Asterisk, of ``respectline serve`` and of this
process (the load generator) from ``/proc`` just before the first call and just after the last one
ended. Then it checks that Asterisk has no channel left.
"""

from __future__ import annotations

import resource
import time
from dataclasses import asdict, dataclass
from typing import Any

from bench.calls_ami import AmiLoadGenerator, CallTimes
from bench.calls_stack import BENCH_QUEUE, BenchCallStack
from bench.procstat import cpu_seconds, machine_busy_seconds
from bench.stats import summarize

END_MARGIN = 30.0
"""Seconds a wave may run past its last caller's scripted hang-up before it counts as stuck."""
NO_CHANNELS_TIMEOUT = 20.0


@dataclass
class CpuReading:
    asterisk: float
    server: float
    generator: float
    machine_busy: float
    wall: float


@dataclass
class WaveResult:
    variant: str
    behaviour: str
    calls: int
    arrival_rate: float
    wall_seconds: float
    asterisk_cpu: float
    server_cpu: float
    generator_cpu: float
    other_cpu: float
    answered: int
    joined_queue: int
    agent_connected: int
    compliments_completed: int
    failed: int
    unfinished: int
    peak_concurrent_calls: int
    setup_answer_ms: dict[str, float | int]
    setup_queue_ms: dict[str, float | int]
    setup_agent_ms: dict[str, float | int]
    call_seconds: dict[str, float | int]
    failures: list[str]
    call_ids: list[str]

    @property
    def respectline_cpu(self) -> float:
        """What the calls cost with this variant: Asterisk plus our server."""
        return self.asterisk_cpu + self.server_cpu

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("call_ids")
        return data


def read_cpu(stack: BenchCallStack) -> CpuReading:
    server_pid = stack.server_pid
    own = resource.getrusage(resource.RUSAGE_SELF)
    return CpuReading(
        asterisk=cpu_seconds(stack.asterisk_pid),
        server=cpu_seconds(server_pid) if server_pid is not None else 0.0,
        generator=own.ru_utime + own.ru_stime,
        machine_busy=machine_busy_seconds(),
        wall=time.monotonic(),
    )


def caller_number(index: int) -> str:
    """A distinct Belgian mobile number per caller in a wave (the same callers in every wave)."""
    return f"+32470{index:06d}"


def run_wave(stack: BenchCallStack, calls: int, *, behaviour: str, arrival_rate: float, wave_id: str
             ) -> WaveResult:
    """Originates ``calls`` calls ``1/arrival_rate`` s apart, whose callers act as ``behaviour``
    (``hangup`` or ``survey``), waits for all of them to end, and measures."""
    asterisk = stack.asterisk
    interval = 1.0 / arrival_rate
    context = stack.script.caller_context(behaviour)
    expected_end = calls * interval + stack.script.caller_seconds(behaviour) + 2.0
    with AmiLoadGenerator(asterisk.ami_port, asterisk.ami_username, asterisk.ami_secret) as load:
        before = read_cpu(stack)
        started = time.monotonic()
        placed: list[CallTimes] = []
        for index in range(calls):
            _sleep_until(started + index * interval)
            placed.append(load.originate(
                f"{wave_id}-c{index:04d}", channel=f"Local/{BENCH_QUEUE}@respectline-queue/n",
                context=context, caller_number=caller_number(index)))
        all_done = load.wait_all_done(placed, expected_end + END_MARGIN)
        after = read_cpu(stack)
    asterisk.wait_no_channels(NO_CHANNELS_TIMEOUT)
    return _result(stack, behaviour, placed, before, after, arrival_rate, all_done)


def _sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def _result(stack: BenchCallStack, behaviour: str, placed: list[CallTimes], before: CpuReading,
            after: CpuReading, arrival_rate: float, all_done: bool) -> WaveResult:
    asterisk_cpu = after.asterisk - before.asterisk
    server_cpu = after.server - before.server
    generator_cpu = after.generator - before.generator
    busy = after.machine_busy - before.machine_busy
    failures = [f"{call.call_id}: {call.failure}" for call in placed if call.failure]
    if not all_done:
        failures += [f"{call.call_id}: did not end in time" for call in placed if not call.done]
    return WaveResult(
        variant=stack.variant,
        behaviour=behaviour,
        calls=len(placed),
        arrival_rate=arrival_rate,
        wall_seconds=after.wall - before.wall,
        asterisk_cpu=asterisk_cpu,
        server_cpu=server_cpu,
        generator_cpu=generator_cpu,
        other_cpu=max(0.0, busy - asterisk_cpu - server_cpu - generator_cpu),
        answered=sum(call.answered is not None for call in placed),
        joined_queue=sum(call.joined_queue is not None for call in placed),
        agent_connected=sum(call.agent_connected is not None for call in placed),
        compliments_completed=sum(call.compliment_completed for call in placed),
        failed=sum(bool(call.failure) for call in placed),
        unfinished=sum(not call.done for call in placed),
        peak_concurrent_calls=peak_concurrency(placed),
        setup_answer_ms=summarize(_delays(placed, "answered")),
        setup_queue_ms=summarize(_delays(placed, "joined_queue")),
        setup_agent_ms=summarize(_delays(placed, "agent_connected")),
        call_seconds={k: v / 1000 if k != "n" else v for k, v in summarize(_delays(placed, "ended")).items()},
        failures=failures[:20],
        call_ids=[call.dialplan_id for call in placed],
    )


def _delays(placed: list[CallTimes], moment: str) -> list[float]:
    """Seconds from sending each call's Originate to ``moment`` (an attribute of CallTimes)."""
    delays = []
    for call in placed:
        value = getattr(call, moment)
        if isinstance(value, float):
            delays.append(value - call.sent)
    return delays


def peak_concurrency(placed: list[CallTimes]) -> int:
    """The most calls that were up at once (from Originate to the last channel's hang-up)."""
    edges: list[tuple[float, int]] = []
    for call in placed:
        if call.ended is not None and not call.failure:
            edges += [(call.sent, 1), (call.ended, -1)]
    peak = current = 0
    for _, step in sorted(edges):
        current += step
        peak = max(peak, current)
    return peak
