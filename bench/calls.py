"""``make bench-calls``: what Respectline adds to Asterisk's load, measured through a real Asterisk.

Two sandboxed Asterisks from the project's harness run the same generated dialplan: ``respectline``
as shipped (``screen`` before the queue, campaign hold music, ``post_call`` after the agent, with
``respectline serve`` answering), and ``baseline`` with every ``AGI()`` line removed and no server
(the routing falls through as it does when ``AGISTATUS`` is not ``SUCCESS``). Waves of N concurrent
Local-channel calls (``bench/calls_wave.py``) are originated over AMI at a fixed rate; each waits
in the queue, is answered by a Local-channel agent, and ends. At each concurrency and for each of
the three scenarios (baseline; Respectline with callers who hang up just after the agent; Respectline
with callers who take the compliment survey), the wave is repeated and the median kept.

Paired waves (the default): at concurrency N, the baseline and Respectline waves run at the same
moment, N/2 calls on each Asterisk (N calls on the machine), so whatever else the machine does hits
both alike; the overhead is the median over the pairs of each pair's ratio. Waves one after another
(``--sequential``, N calls each) drift by +-10% with the machine's load, more than the target.

Overhead = (Asterisk CPU + server CPU with Respectline) / (Asterisk CPU in the baseline) - 1, over
the same calls. Set-up time = Originate sent -> the caller joins the queue (Asterisk's own event
timestamps). Prints a table, writes ``bench/results/calls-<time>.json`` and ends with the ratio line.

Then the agent's protection (``bench/protection.py``): from the agent's key press to the first audio
of the answer at the caller, with 50 and 200 calls in progress, on SQLite and on PostgreSQL; its
table, its part of the JSON and its own last line. ``--protection-only`` and ``--no-protection``
run one part. ``bench/README.md`` explains the method.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
if str(PROJECT) not in sys.path:  # run as ``python bench/calls.py``
    sys.path.insert(0, str(PROJECT))

from bench.calls_stack import BenchCallStack, CallScript  # noqa: E402
from bench.calls_wave import WaveResult, run_wave  # noqa: E402
from agi_scripts.server.limits import lift_open_file_limit  # noqa: E402
from bench.procstat import cpu_model  # noqa: E402
from bench.protection import ProtectionSettings, print_report, run_protection, target_line  # noqa: E402
from bench.protection import add_arguments as add_protection_arguments  # noqa: E402
from bench.protection import report as protection_report  # noqa: E402
from bench.protection import settings_from as protection_settings_from  # noqa: E402
from bench.rtp_capture import check_available as check_capture  # noqa: E402
from bench.stats import median  # noqa: E402

RESULTS = PROJECT / "bench" / "results"
TARGET_OVERHEAD = 0.10
SCENARIOS = {
    "baseline": ("baseline", "hangup"),
    "hangup": ("respectline", "hangup"),
    "survey": ("respectline", "survey"),
}
"""Scenario -> (stack variant, caller behaviour). In the baseline both behaviours are the same call:
its dialplan hangs up when the agent does."""
LABELS = {
    "baseline": "baseline (no AGI)",
    "hangup": "respectline, caller leaves",
    "survey": "respectline, survey taken",
}
OTHER_LOAD_WARNING = 0.25
"""Cores used by other processes during a wave above which the report calls the run disturbed."""


@dataclass
class Settings:
    concurrencies: list[int]
    repeats: int
    arrival_rate: float
    scenarios: list[str]
    warmup_calls: int
    script: CallScript = field(default_factory=CallScript)
    paired: bool = True
    overhead: bool = True
    """Run the overhead waves (``--protection-only`` turns them off)."""
    protection: ProtectionSettings | None = field(default_factory=ProtectionSettings)
    """The agent's-protection timing (``bench/protection.py``); None with ``--no-protection``."""


@dataclass
class Run:
    concurrency: int
    """Calls on the machine at once: the wave's size, or twice it in a pair."""
    scenario: str
    repeat: int
    result: WaveResult
    partner: str | None = None
    """Paired mode: for a baseline wave, the scenario that ran at the same moment."""


# ---------------------------------------------------------------- running


def start_stacks(work: Path, settings: Settings, say: Callable[[str], None]) -> dict[str, BenchCallStack]:
    """One stack per variant that the scenarios need, each with as many agents as the largest wave."""
    agents = max(settings.concurrencies)
    variants = sorted({SCENARIOS[s][0] for s in settings.scenarios})
    stacks: dict[str, BenchCallStack] = {}
    try:
        for variant in variants:
            stack = BenchCallStack(variant, work / variant, agents=agents, script=settings.script)
            stacks[variant] = stack
            stack.start()
            say(f"  {variant}: Asterisk pid {stack.asterisk_pid}, server pid {stack.server_pid or '-'}"
                + (f", {stack.removed_agi_lines} AGI() lines removed" if variant == "baseline" else ""))
    except BaseException:
        stop_stacks(stacks)
        raise
    return stacks


def stop_stacks(stacks: dict[str, BenchCallStack]) -> None:
    for stack in stacks.values():
        stack.stop()


def warm_up(stacks: dict[str, BenchCallStack], settings: Settings) -> None:
    """An unrecorded wave on every stack at once: first opens of sound files, the server's imports."""
    if settings.warmup_calls <= 0:
        return
    run_together([partial(run_wave, stack, settings.warmup_calls, behaviour="hangup",
                          arrival_rate=settings.arrival_rate, wave_id=f"warm-{stack.variant}")
                  for stack in stacks.values()])


def measure(stacks: dict[str, BenchCallStack], settings: Settings, say: Callable[[str], None]) -> list[Run]:
    return measure_paired(stacks, settings, say) if settings.paired else measure_sequential(stacks, settings, say)


def measure_sequential(stacks: dict[str, BenchCallStack], settings: Settings,
                       say: Callable[[str], None]) -> list[Run]:
    runs: list[Run] = []
    for concurrency in settings.concurrencies:
        for repeat in range(settings.repeats):
            # The scenarios' order rotates, so none always runs first or right after another.
            shift = repeat % len(settings.scenarios)
            for scenario in settings.scenarios[shift:] + settings.scenarios[:shift]:
                variant, behaviour = SCENARIOS[scenario]
                result = run_wave(stacks[variant], concurrency, behaviour=behaviour,
                                  arrival_rate=settings.arrival_rate, wave_id=f"c{concurrency}r{repeat}{scenario[0]}")
                runs.append(Run(concurrency, scenario, repeat, result))
                say(progress_line(runs[-1]))
    return runs


def measure_paired(stacks: dict[str, BenchCallStack], settings: Settings, say: Callable[[str], None]) -> list[Run]:
    """Each Respectline scenario beside a baseline wave started at the same moment, half the calls each."""
    runs: list[Run] = []
    for concurrency in settings.concurrencies:
        half = concurrency // 2
        for repeat in range(settings.repeats):
            for scenario in [s for s in settings.scenarios if s != "baseline"]:
                variant, behaviour = SCENARIOS[scenario]
                base, point = run_together([
                    lambda: run_wave(stacks["baseline"], half, behaviour="hangup",
                                     arrival_rate=settings.arrival_rate / 2, wave_id=f"c{concurrency}r{repeat}b"),
                    lambda: run_wave(stacks[variant], half, behaviour=behaviour,
                                     arrival_rate=settings.arrival_rate / 2,
                                     wave_id=f"c{concurrency}r{repeat}{scenario[0]}")])
                # Each wave's "other" load holds its partner's Asterisk and server: not a disturbance.
                # (The generator's CPU is this whole process's, both waves', in each already.)
                base.other_cpu = max(0.0, base.other_cpu - point.respectline_cpu)
                point.other_cpu = max(0.0, point.other_cpu - base.respectline_cpu)
                runs.append(Run(concurrency, "baseline", repeat, base, partner=scenario))
                say(progress_line(runs[-1]))
                runs.append(Run(concurrency, scenario, repeat, point))
                say(progress_line(runs[-1]))
    return runs


def run_together(jobs: Sequence[Callable[[], WaveResult]]) -> list[WaveResult]:
    """Run the jobs at the same moment, one thread each; their results in order, or the first error."""
    results: dict[int, WaveResult] = {}
    errors: list[BaseException] = []

    def run(index: int, job: Callable[[], WaveResult]) -> None:
        try:
            results[index] = job()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [results[i] for i in range(len(jobs))]


def pair_ratios(runs: list[Run], scenario: str, concurrency: int) -> dict[str, float]:
    """Median over the pairs of each pair's own overhead (paired mode only)."""
    ratios: list[tuple[float, float, float]] = []
    for point in (r for r in runs if r.scenario == scenario and r.concurrency == concurrency):
        base = next((r for r in runs if r.scenario == "baseline" and r.partner == scenario
                     and r.concurrency == concurrency and r.repeat == point.repeat), None)
        if base is None or not base.result.asterisk_cpu:
            continue
        b = base.result.asterisk_cpu
        ratios.append((point.result.respectline_cpu / b - 1, point.result.asterisk_cpu / b - 1,
                       point.result.server_cpu / b))
    if not ratios:
        return {}
    return {"cpu_overhead": median([r[0] for r in ratios]), "asterisk_part": median([r[1] for r in ratios]),
            "server_part": median([r[2] for r in ratios]), "pairs": float(len(ratios))}


def progress_line(run: Run) -> str:
    r = run.result
    return (f"  c={run.concurrency:<4} {LABELS[run.scenario]:<27} run {run.repeat + 1}: "
            f"asterisk {r.asterisk_cpu:6.2f} s, server {r.server_cpu:5.2f} s, queue join p50 "
            f"{_ms(r.setup_queue_ms.get('p50'))} ms, surveys {r.compliments_completed}/{r.calls}, "
            f"failed {r.failed + r.unfinished}, {r.wall_seconds:4.1f} s")


# ---------------------------------------------------------------- summary


def summarize_runs(runs: list[Run]) -> dict[str, dict[str, Any]]:
    """Per ``scenario@concurrency``: the median of each figure over the repeats (counts: summed)."""
    summary: dict[str, dict[str, Any]] = {}
    for key in dict.fromkeys(f"{run.scenario}@{run.concurrency}" for run in runs):
        group = [run.result for run in runs if f"{run.scenario}@{run.concurrency}" == key]
        calls = group[0].calls
        summary[key] = {
            "scenario": key.split("@")[0],
            "concurrency": int(key.split("@")[1]),
            "runs": len(group),
            "calls": calls,
            "asterisk_cpu_s": median([r.asterisk_cpu for r in group]),
            "server_cpu_s": median([r.server_cpu for r in group]),
            "total_cpu_s": median([r.respectline_cpu for r in group]),
            "generator_cpu_s": median([r.generator_cpu for r in group]),
            "other_cores": max(r.other_cpu / r.wall_seconds for r in group),
            "wall_s": median([r.wall_seconds for r in group]),
            "call_s": median([float(r.call_seconds.get("mean", float("nan"))) for r in group]),
            "setup_answer_ms": median([float(r.setup_answer_ms.get("p50", float("nan"))) for r in group]),
            "setup_queue_ms": median([float(r.setup_queue_ms.get("p50", float("nan"))) for r in group]),
            "setup_queue_p99_ms": median([float(r.setup_queue_ms.get("p99", float("nan"))) for r in group]),
            "setup_agent_ms": median([float(r.setup_agent_ms.get("p50", float("nan"))) for r in group]),
            "surveys_completed": sum(r.compliments_completed for r in group),
            "agents_connected": sum(r.agent_connected for r in group),
            "failed": sum(r.failed + r.unfinished for r in group),
            "peak_concurrent_calls": min(r.peak_concurrent_calls for r in group),
            "total_calls": sum(r.calls for r in group),
        }
    return summary


def overheads(summary: dict[str, dict[str, Any]], concurrencies: Sequence[int]) -> dict[str, dict[str, float]]:
    """Per ``scenario@concurrency`` of Respectline: CPU overhead and set-up difference vs the baseline."""
    found: dict[str, dict[str, float]] = {}
    for concurrency in concurrencies:
        base = summary.get(f"baseline@{concurrency}")
        if base is None:
            continue
        for scenario in ("hangup", "survey"):
            point = summary.get(f"{scenario}@{concurrency}")
            if point is None:
                continue
            base_cpu = base["asterisk_cpu_s"]
            found[f"{scenario}@{concurrency}"] = {
                "cpu_overhead": point["total_cpu_s"] / base_cpu - 1,
                "asterisk_part": point["asterisk_cpu_s"] / base_cpu - 1,
                "server_part": point["server_cpu_s"] / base_cpu,
                "setup_queue_delta_ms": point["setup_queue_ms"] - base["setup_queue_ms"],
                "setup_queue_ratio": point["setup_queue_ms"] / base["setup_queue_ms"],
                "setup_answer_delta_ms": point["setup_answer_ms"] - base["setup_answer_ms"],
                "setup_agent_delta_ms": point["setup_agent_ms"] - base["setup_agent_ms"],
                "call_s_delta": point["call_s"] - base["call_s"],
                # Per second of call: what matters for how many calls at once one Asterisk carries.
                "cpu_per_call_second_overhead": (point["total_cpu_s"] / point["call_s"])
                / (base_cpu / base["call_s"]) - 1,
            }
    return found


def table(summary: dict[str, dict[str, Any]]) -> list[str]:
    header = (f"{'c':>4}  {'scenario':<27} {'ast cpu s':>9} {'srv cpu s':>9} {'ast ms/call':>11} "
              f"{'srv ms/call':>11} {'ast ms/call-s':>13} {'call s':>6} {'answer ms':>9} {'queue ms':>8} "
              f"{'agent ms':>8} {'surveys':>9} {'failed':>6} {'peak':>5} {'gen %':>5} {'other':>5}")
    lines = [header, "-" * len(header)]
    for point in summary.values():
        calls = point["calls"]
        per_call_second = point["asterisk_cpu_s"] * 1000 / (calls * point["call_s"])
        lines.append(
            f"{point['concurrency']:>4}  {LABELS[point['scenario']]:<27} {point['asterisk_cpu_s']:>9.2f} "
            f"{point['server_cpu_s']:>9.2f} {point['asterisk_cpu_s'] * 1000 / calls:>11.1f} "
            f"{point['server_cpu_s'] * 1000 / calls:>11.1f} {per_call_second:>13.2f} {point['call_s']:>6.1f} "
            f"{_ms(point['setup_answer_ms']):>9} {_ms(point['setup_queue_ms']):>8} {_ms(point['setup_agent_ms']):>8} "
            f"{point['surveys_completed']:>4}/{point['total_calls']:<4} {point['failed']:>6} "
            f"{point['peak_concurrent_calls']:>5} {100 * point['generator_cpu_s'] / point['wall_s']:>5.0f} "
            f"{point['other_cores']:>5.2f}")
    return lines


def overhead_lines(found: dict[str, dict[str, float]]) -> list[str]:
    lines = []
    for key, o in found.items():
        scenario, concurrency = key.split("@")
        verdict = "under" if o["cpu_overhead"] < TARGET_OVERHEAD else "ABOVE"
        lines.append(
            f"  c={concurrency:<4} {LABELS[scenario]:<27} cpu {_pct(o['cpu_overhead'])} ({verdict} 10%: "
            f"Asterisk {_pct(o['asterisk_part'])}, server {_pct(o['server_part'])} of baseline Asterisk); "
            f"set-up to queue {o['setup_queue_delta_ms']:+.1f} ms (x{o['setup_queue_ratio']:.3f}), "
            f"to answer {o['setup_answer_delta_ms']:+.1f} ms; calls {o['call_s_delta']:+.1f} s longer, "
            f"CPU per call-second {_pct(o['cpu_per_call_second_overhead'])}")
    return lines


def ratio_line(found: dict[str, dict[str, float]], concurrencies: Sequence[int]) -> str:
    main = [(c, found[f"hangup@{c}"]) for c in concurrencies if f"hangup@{c}" in found]
    survey = [(c, found[f"survey@{c}"]) for c in concurrencies if f"survey@{c}" in found]
    parts = [f"c={c} {_pct(o['cpu_overhead'])} cpu, {o['setup_queue_delta_ms']:+.0f} ms setup" for c, o in main]
    met = all(o["cpu_overhead"] < TARGET_OVERHEAD for _, o in main)
    line = "asterisk overhead vs no-AGI dialplan: " + "; ".join(parts)
    line += f" (target < 10%: {'met' if met else 'NOT met'})" if main else ""
    if survey:
        line += "; with the compliment survey taken: " + ", ".join(
            f"c={c} {_pct(o['cpu_overhead'])} ({o['call_s_delta']:+.1f} s per call)" for c, o in survey)
    return line


def _pct(value: float) -> str:
    return f"{100 * value:+.1f}%"


def _ms(value: Any) -> str:
    return "-" if value is None or value != value else f"{float(value):.1f}"


# ---------------------------------------------------------------- main


def machine_info() -> dict[str, Any]:
    cpu = cpu_model()
    return {"cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)), "cpu": cpu,
            "python": platform.python_version(), "platform": platform.platform(),
            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def parse_settings(argv: Sequence[str] | None) -> Settings:
    parser = argparse.ArgumentParser(prog="python bench/calls.py",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--concurrency", default="50,200", help="comma-separated call counts per wave")
    parser.add_argument("--repeats", type=int, default=3, help="waves per point; the median is reported")
    parser.add_argument("--arrival-rate", type=float, default=40.0, help="calls originated per second")
    parser.add_argument("--scenarios", default="baseline,hangup",
                        help="baseline, hangup (callers leave after the agent), survey (callers rate the agent)")
    # 40-second calls: still far shorter than a contact centre's minutes-long calls, so the per-call
    # cost of the AGI sessions weighs more here than in production (5-second calls: --ring 3 --talk 2).
    parser.add_argument("--ring", type=float, default=10.0, help="seconds an agent rings (the caller waits)")
    parser.add_argument("--talk", type=float, default=30.0, help="seconds an agent talks before hanging up")
    parser.add_argument("--silent-legs", action="store_true",
                        help="callers and agents send no audio (by default they do, as phones do)")
    parser.add_argument("--warmup-calls", type=int, default=10, help="calls of the unrecorded warm-up wave")
    parser.add_argument("--quick", action="store_true", help="one run per point")
    parser.add_argument("--sequential", action="store_true",
                        help="waves one after another, N calls each, instead of paired waves of N/2 at once")
    part = parser.add_mutually_exclusive_group()
    part.add_argument("--protection-only", action="store_true",
                      help="only the agent's protection: key press -> first audio at the caller")
    part.add_argument("--no-protection", action="store_true", help="only the overhead waves")
    add_protection_arguments(parser.add_argument_group("the agent's protection (bench/protection.py)"),
                             prefix="protection-")
    args = parser.parse_args(argv)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown or "baseline" not in scenarios:
        parser.error(f"--scenarios must include baseline and name only {', '.join(SCENARIOS)}")
    return Settings(
        concurrencies=[int(c) for c in args.concurrency.split(",")],
        repeats=1 if args.quick else args.repeats,
        arrival_rate=args.arrival_rate,
        scenarios=scenarios,
        warmup_calls=args.warmup_calls,
        script=CallScript(ring=args.ring, talk=args.talk, audio=not args.silent_legs),
        paired=not args.sequential,
        overhead=not args.protection_only,
        protection=None if args.no_protection else protection_settings_from(args, parser),
    )


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_settings(argv)
    started = time.monotonic()
    soft, hard = lift_open_file_limit()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {text}", flush=True)

    machine = machine_info()
    say(f"{machine['usable_cores']} cores ({machine['cpu']}), shared by Asterisk, respectline serve and this "
        f"load generator; open files {soft}/{hard}")
    if settings.protection is not None:
        check_capture()  # the protection part reads the loopback: fail now, not after the overhead part
    overhead = run_overhead(settings, say) if settings.overhead else None
    points = run_protection(settings.protection, say) if settings.protection is not None else None
    if points is not None:
        print_report(points)
    path = write_json(settings, machine, overhead, points, time.monotonic() - started)
    print(f"results: {path.relative_to(PROJECT)}; took {time.monotonic() - started:.0f} s")
    ok = True
    if overhead is not None:
        _runs, summary, found = overhead
        print(ratio_line(found, settings.concurrencies))
        ok = all(p["failed"] == 0 for p in summary.values())
    if points is not None:
        print(target_line(points))
        ok = ok and all(not p.summary()["failed"] for p in points)
    return 0 if ok else 1


Overhead = tuple[list[Run], dict[str, dict[str, Any]], dict[str, dict[str, float]]]


def run_overhead(settings: Settings, say: Callable[[str], None]) -> Overhead:
    """The overhead waves and their tables; the runs, the summary and the overheads."""
    script = settings.script
    say(f"calls: originated at {settings.arrival_rate:g}/s; agent rings {script.ring:g} s, talks {script.talk:g} s; "
        f"callers leave {script.hangup_after:g} s after the agent, or take the survey (keys {script.keys}); "
        + ("callers and agents send audio" if script.audio else "callers and agents send NO audio (--silent-legs)"))
    with tempfile.TemporaryDirectory(prefix="rl-bc-") as temporary:
        say("starting the sandboxed Asterisks (and respectline serve) ...")
        stacks = start_stacks(Path(temporary), settings, say)
        try:
            say(f"warm-up: {settings.warmup_calls} calls on each stack")
            warm_up(stacks, settings)
            runs = measure(stacks, settings, say)
        finally:
            stop_stacks(stacks)
    summary = summarize_runs(runs)
    found = overheads(summary, settings.concurrencies)
    if settings.paired:
        for key, o in found.items():
            scenario, concurrency = key.split("@")
            o.update(pair_ratios(runs, scenario, int(concurrency)))
    print()
    print("\n".join(table(summary)))
    print()
    print("Overhead vs the baseline (AGI() lines removed; "
          + ("each pair's own ratio, median of " if settings.paired else "medians of ")
          + f"{settings.repeats} {'pair' if settings.paired else 'run'}{'s' if settings.repeats > 1 else ''}):")
    print("\n".join(overhead_lines(found)))
    for note in notes(summary, settings):
        print(note)
    return runs, summary, found


def notes(summary: dict[str, dict[str, Any]], settings: Settings) -> list[str]:
    lines = ["Notes: ms/call-s = Asterisk CPU per second of call. 'gen %' = this load generator's CPU in % "
             "of one core; 'other' = cores used by anything else on the machine during the wave."]
    disturbed = [key for key, point in summary.items() if point["other_cores"] > OTHER_LOAD_WARNING]
    if disturbed:
        lines.append(f"  Other processes used over {OTHER_LOAD_WARNING} cores during: {', '.join(disturbed)}; "
                     "those figures carry their noise.")
    failed = [key for key, point in summary.items() if point["failed"]]
    if failed:
        lines.append(f"  FAILED calls in: {', '.join(failed)} (see the JSON for the reasons)")
    short = [key for key, point in summary.items() if point["peak_concurrent_calls"] < point["calls"]]
    if short:
        lines.append(f"  Peak concurrency below the wave size in: {', '.join(short)}")
    return lines


def write_json(settings: Settings, machine: dict[str, Any], overhead: Overhead | None,
               points: list[Any] | None, seconds: float) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"calls-{time.strftime('%Y%m%d-%H%M%S')}.json"
    report: dict[str, Any] = {"machine": machine, "settings": asdict(settings)}
    if overhead is not None:
        runs, summary, found = overhead
        report.update({
            "runs": [{"concurrency": r.concurrency, "scenario": r.scenario, "repeat": r.repeat,
                      "partner": r.partner, **r.result.as_json()} for r in runs],
            "summary": summary,
            "overheads": found,
            "ratio_line": ratio_line(found, settings.concurrencies),
        })
    if points is not None and settings.protection is not None:
        report["protection"] = protection_report(points, settings.protection)
    report["seconds"] = seconds
    path.write_text(json.dumps(report, indent=2, default=float) + "\n")
    return path


if __name__ == "__main__":
    sys.exit(main())
