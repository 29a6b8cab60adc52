"""The agent's protection, timed through a real Asterisk: from the agent's key press to the first
audio of the answer at the caller, with C calls in progress, the store on SQLite and on PostgreSQL.

Part of ``make bench-calls`` (``bench/calls.py``; ``--protection-only`` runs this part alone, so does
``python bench/protection.py``). Per store, one sandboxed Asterisk of the project's harness with
``respectline serve``; pjsua2 phones make the measured calls (``bench/protection_calls.py``), Local
channels through the same dialplan keep C - pairs other calls in progress (``support`` queue, each
screened, answered, ended with ``post_call`` and replaced, so the server serves new calls all along).

For each press: ``t0`` is the first RFC 4733 end packet of the code's last digit as Asterisk received
it (the moment it can know the code), ``t1`` the RTP packet to the caller that holds the prompt's
first sample (found by correlation with the prompt's audio); both are the kernel's receive times.
Between them, Asterisk's AMI timestamps and the server's log give the split: key -> the server's
first AGI command -> ``STREAM FILE`` -> audio. ``bench/README.md`` describes the method.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent
if str(PROJECT) not in sys.path:  # run as ``python bench/protection.py``
    sys.path.insert(0, str(PROJECT))

from bench.calls_stack import BenchCallStack, CallScript  # noqa: E402
from bench.procstat import cpu_seconds, machine_busy_seconds  # noqa: E402
from bench.protection_ami import AmiEventLog  # noqa: E402
from bench.protection_callers import CallerProcess  # noqa: E402
from bench.protection_calls import (  # noqa: E402
    DIALPLAN, KINDS, MAX_CALLS, MEASURED_QUEUE, BackgroundCalls, BenchPhones, Plan, Press, PressRun, ServerLog,
    numbers)
from bench.rtp_capture import RtpCapture  # noqa: E402
from bench.stats import summarize  # noqa: E402

RESULTS = PROJECT / "bench" / "results"
TARGET_P99_MS = 250.0
STORES = ("sqlite", "postgresql")
RECOVERY_PAUSE = "1s"
"""The ladder's agent pauses in the bench's copy of the flows: a paused pjsua2 agent takes no
measured call, and there are only four."""
SPLITS = {
    "key_to_connect": ("key_up", "wire_connect"),
    "environment": ("wire_connect", "wire_env_end"),
    "server_first_command": ("wire_env_end", "wire_first_command"),
    "commands_to_stream": ("wire_first_command", "wire_stream"),
    "stream_to_audio": ("wire_stream", "heard"),
    "key_down_to_audio": ("key_down", "heard"),
    "first_key_down_to_audio": ("first_digit_down", "heard"),
    "server_accept_lag": ("wire_connect", "session_start"),
    "ami_dtmf_lag": ("key_up", "asterisk_dtmf_end"),
    "ami_stream_lag": ("wire_stream", "stream_start"),
}
"""Name -> (from, to) attributes of a press; what each part of the latency is. The first five add
up to the latency, all on the wire (kernel times); the ``ami_`` ones show how late Asterisk's own
event stamps can be on a busy machine, which is why the split does not use them."""


@dataclass
class ProtectionSettings:
    concurrencies: list[int] = field(default_factory=lambda: [50, 200])
    stores: list[str] = field(default_factory=lambda: list(STORES))
    pairs: int = 4
    presses: int = 40
    long_every: int = 2
    second_presses: tuple[str, ...] = ("warning", "closing")
    background_talk: float = 60.0
    background_rate: float = 40.0
    digit_timeout_ms: int | None = None
    feature_codes: dict[str, str] = field(default_factory=dict)
    warm_up: bool = True

    @property
    def agents(self) -> int:
        """One more than the pairs: an agent paused by a closing press leaves the others free."""
        return self.pairs + 1

    def codes(self) -> dict[str, str]:
        verbal = self.feature_codes.get("verbal_abuse", "*1")
        return {"first": verbal, "warning": self.feature_codes.get("discrimination", "*3"), "closing": verbal}


# ---------------------------------------------------------------- the sandbox


def shorten_pauses(flows: Path) -> None:
    policy = flows / "abuse_policy.yaml"
    text = policy.read_text()
    policy.write_text(re.sub(r"(pause_agent:\s*)[0-9]+[smhd]?", rf"\g<1>{RECOVERY_PAUSE}", text))


def features_editor(settings: ProtectionSettings) -> Callable[[str], str] | None:
    """Experiments on the sandbox's features.conf only: another ``featuredigittimeout``, other codes."""
    if settings.digit_timeout_ms is None and not settings.feature_codes:
        return None

    def edit(text: str) -> str:
        if settings.digit_timeout_ms is not None:
            text, count = re.subn(r"(?m)^featuredigittimeout\s*=\s*\d+", f"featuredigittimeout = {settings.digit_timeout_ms}",
                                  text)
            if not count:
                text = f"[general]\nfeaturedigittimeout = {settings.digit_timeout_ms}\n\n" + text
        for category, code in settings.feature_codes.items():
            text, count = re.subn(rf"(?m)^(rl_{re.escape(category)} => )[^,]+", rf"\g<1>{code}", text)
            if not count:
                raise ValueError(f"no feature rl_{category} in the generated features.conf")
        return text
    return edit


def build_stack(folder: Path, settings: ProtectionSettings, db_url: str | None) -> BenchCallStack:
    background = max(settings.concurrencies) - settings.pairs
    script = CallScript(ring=1.0, talk=settings.background_talk)
    return BenchCallStack(
        "respectline", folder, agents=max(background, 0) + 10, script=script,
        sip_agents={f"agent{i + 1}": [MEASURED_QUEUE] for i in range(settings.agents)},
        sip_callers=[f"caller{i + 1}" for i in range(settings.pairs)], db_url=db_url,
        edit_flows=shorten_pauses, edit_features=features_editor(settings), extra_dialplan=DIALPLAN)


# ---------------------------------------------------------------- running


@dataclass
class Point:
    store: str
    store_url: str
    """The stack's store (not in the report: a PostgreSQL URL holds a password)."""
    concurrency: int
    background: int
    in_progress: list[int]
    presses: list[Press]
    failures: list[str]
    seconds: float
    asterisk_cpu: float
    server_cpu: float
    bench_cpu: float
    other_cores: float

    def summary(self) -> dict[str, Any]:
        ok = [p for p in self.presses if p.latency is not None]
        return {
            "store": self.store, "concurrency": self.concurrency, "background_calls": self.background,
            "in_progress_min": min(self.in_progress) if self.in_progress else 0,
            "presses": len(self.presses), "failed": len(self.presses) - len(ok) + len(self.failures),
            "latency_ms": summarize([p.latency for p in ok if p.latency is not None]),
            "by_kind": {kind: summarize([p.latency for p in ok if p.kind == kind and p.latency is not None])
                        for kind in KINDS},
            "splits_ms": {name: summarize(_span(ok, a, b)) for name, (a, b) in SPLITS.items()},
            "server_part_ms": summarize([p.server_part for p in ok if p.server_part is not None]),
            "asterisk_part_ms": summarize([p.asterisk_part for p in ok if p.asterisk_part is not None]),
            "prompt_confirmed": sum(p.prompt_start is not None for p in ok),
            "seconds": self.seconds, "asterisk_cpu_s": self.asterisk_cpu, "server_cpu_s": self.server_cpu,
            "bench_cpu_s": self.bench_cpu, "other_cores": self.other_cores,
        }


def _span(presses: Sequence[Press], start: str, end: str) -> list[float]:
    values = []
    for press in presses:
        a, b = getattr(press, start), getattr(press, end)
        if a is not None and b is not None:
            values.append(b - a)
    return values


def run_store(store: str, folder: Path, settings: ProtectionSettings, db_url: str | None,
              say: Callable[[str], None], caller_numbers: Iterator[str]) -> list[Point]:
    stack = build_stack(folder, settings, db_url)
    points: list[Point] = []
    try:
        stack.start()
        asterisk = stack.asterisk
        say(f"  {store}: Asterisk pid {stack.asterisk_pid}, server pid {stack.server_pid}, store "
            f"{'PostgreSQL' if db_url else 'SQLite'}")
        with ExitStack() as context:
            phones = BenchPhones("127.0.0.1", stack.sip_port, log_path=folder / "pjsua.log", log_level=3)
            context.enter_context(phones)
            capture = context.enter_context(RtpCapture(agi_port=stack.agi_port))
            ami = context.enter_context(AmiEventLog(asterisk.ami_port, asterisk.ami_username, asterisk.ami_secret))
            agents = [phones.agent(f"agent{i + 1}", ring_delay=0.2) for i in range(settings.agents)]
            callers = context.enter_context(CallerProcess(stack.sip_port, [f"caller{i + 1}" for i in range(settings.pairs)]))
            phones.wait_until(lambda: all(a.registered for a in agents), 15, "agents registered")
            server_log = ServerLog(stack.server_log)
            background = BackgroundCalls(stack, rate=settings.background_rate)
            context.callback(_end_calls, stack, phones, callers, background)

            def measure(presses: int, plan: Plan) -> PressRun:
                run = PressRun(stack, phones, callers, agents, capture, ami, server_log, presses=presses, plan=plan,
                               numbers=caller_numbers)
                run.run(timeout=90 + presses * 40 / settings.pairs)
                return run

            if settings.warm_up:
                measure(settings.pairs, Plan(long_every=0, codes=settings.codes()))
            for concurrency in settings.concurrencies:
                target = max(0, concurrency - settings.pairs)
                background.target = target
                reached = _pump_until(phones, background.reached, target / settings.background_rate + 40)
                phones.pump(2.0)
                if not reached:
                    say(f"  c={concurrency}: only {background.in_progress()} of {target} background calls came up")
                before = _cpu(stack, callers)
                in_progress = [background.in_progress()]
                run = measure(settings.presses, Plan(long_every=settings.long_every, seconds=settings.second_presses,
                                                     codes=settings.codes()))
                in_progress.append(background.in_progress())
                after = _cpu(stack, callers)
                ami.forget_before(time.time() - 60)
                capture.forget_sessions_before(time.time() - 60)
                wall = after[3] - before[3]
                asterisk_cpu, server_cpu, bench_cpu = after[0] - before[0], after[1] - before[1], after[4] - before[4]
                busy = after[2] - before[2]
                point = Point(store, stack.db_url, concurrency, target, in_progress, [p for pair in run.pairs for p in pair.presses],
                              run.failures + background.failed()[:10], wall, asterisk_cpu, server_cpu, bench_cpu,
                              max(0.0, busy - asterisk_cpu - server_cpu - bench_cpu) / wall if wall > 0 else 0.0)
                points.append(point)
                say(progress_line(point))
    finally:
        stack.stop()
    return points


def _pump_until(phones: BenchPhones, done: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        phones.pump(0.1)
    return False


def _cpu(stack: BenchCallStack, callers: CallerProcess) -> tuple[float, float, float, float, float]:
    """Asterisk, the server, the machine, the clock, and this bench (its process and the callers')."""
    server = stack.server_pid
    own = resource.getrusage(resource.RUSAGE_SELF)
    bench = own.ru_utime + own.ru_stime + (cpu_seconds(callers.pid) if callers.pid else 0.0)
    return (cpu_seconds(stack.asterisk_pid), cpu_seconds(server) if server else 0.0, machine_busy_seconds(),
            time.monotonic(), bench)


def _end_calls(stack: BenchCallStack, phones: BenchPhones, callers: CallerProcess,
               background: BackgroundCalls) -> None:
    background.target = 0
    for peer in phones.peers:
        peer.hangup()
    for caller in callers.callers.values():
        caller.hangup()
    try:
        phones.wait_until(lambda: not any(peer.in_call for peer in phones.peers), 10, "phones hung up")
    finally:
        background.close()
        try:
            stack.asterisk.rx("channel request hangup all")
            stack.asterisk.wait_no_channels(30)
        except Exception:  # noqa: BLE001 - the stack stops anyway
            pass


def run_protection(settings: ProtectionSettings, say: Callable[[str], None]) -> list[Point]:
    """Every store's points, one sandboxed stack per store."""
    points: list[Point] = []
    caller_numbers = numbers()
    with tempfile.TemporaryDirectory(prefix="rl-bp-") as temporary, ExitStack() as context:
        for store in settings.stores:
            db_url = None
            if store == "postgresql":
                from tests.support.postgres_server import PostgresServer  # the tests' throw-away cluster
                server = context.enter_context(PostgresServer())
                db_url = server.create_database("rl_bench")
            say(f"protection, store {store}: starting the sandboxed Asterisk and respectline serve ...")
            points += run_store(store, Path(temporary) / store, settings, db_url, say, caller_numbers)
    return points


# ---------------------------------------------------------------- report


def progress_line(point: Point) -> str:
    s = point.summary()
    latency = s["latency_ms"]
    return (f"  {point.store:<10} c={point.concurrency:<4} {s['presses']:3d} presses, key -> audio p50 "
            f"{_ms(latency.get('p50'))} ms, p99 {_ms(latency.get('p99'))} ms, max {_ms(latency.get('max'))} ms; "
            f"failed {s['failed']}; {s['in_progress_min']}+{len({p.pair for p in point.presses})} calls in "
            f"progress; {point.seconds:.0f} s")


def table(points: Sequence[Point]) -> list[str]:
    header = (f"{'store':<10} {'c':>4} {'n':>4} {'p50':>6} {'p90':>6} {'p99':>6} {'max':>6} | "
              f"{'first p50/max':>14} {'warning p50/max':>16} {'closing p50/max':>16} | {'failed':>6} {'other':>5}")
    lines = [header, "-" * len(header)]
    for point in points:
        s = point.summary()
        lat = s["latency_ms"]
        kinds = [f"{_ms(s['by_kind'][k].get('p50'))}/{_ms(s['by_kind'][k].get('max'))} ({s['by_kind'][k]['n']})"
                 for k in KINDS]
        lines.append(f"{point.store:<10} {point.concurrency:>4} {lat['n']:>4} {_ms(lat.get('p50')):>6} "
                     f"{_ms(lat.get('p90')):>6} {_ms(lat.get('p99')):>6} {_ms(lat.get('max')):>6} | {kinds[0]:>14} "
                     f"{kinds[1]:>16} {kinds[2]:>16} | {s['failed']:>6} {point.other_cores:>5.2f}")
    return lines


def split_table(points: Sequence[Point]) -> list[str]:
    names = ["key_to_connect", "environment", "server_first_command", "commands_to_stream", "stream_to_audio"]
    header = (f"{'store':<10} {'c':>4} | " + " ".join(f"{n:>20}" for n in names)
              + f" | {'server part':>13} {'asterisk part':>14} | {'cores: ast srv bench other':>26}")
    lines = [header, "-" * len(header)]
    for point in points:
        summary = point.summary()
        splits = summary["splits_ms"]
        cells = [f"{_ms(splits[n].get('p50'))} / {_ms(splits[n].get('p99'))}" for n in names]
        parts = [f"{_ms(summary[k].get('p50'))} / {_ms(summary[k].get('p99'))}"
                 for k in ("server_part_ms", "asterisk_part_ms")]
        cores = (f"{point.asterisk_cpu / point.seconds:.2f} {point.server_cpu / point.seconds:.2f} "
                 f"{point.bench_cpu / point.seconds:.2f} {point.other_cores:.2f}") if point.seconds else "-"
        lines.append(f"{point.store:<10} {point.concurrency:>4} | " + " ".join(f"{c:>20}" for c in cells)
                     + f" | {parts[0]:>13} {parts[1]:>14} | {cores:>26}")
    return lines


def target_line(points: Sequence[Point]) -> str:
    if not points:
        return "protection: nothing measured"
    parts = [f"{p.store} c={p.concurrency} p50 {_ms(p.summary()['latency_ms'].get('p50'))} / p99 "
             f"{_ms(p.summary()['latency_ms'].get('p99'))} ms" for p in points]
    met = all(p.summary()["latency_ms"].get("p99", float("inf")) < TARGET_P99_MS and not p.summary()["failed"]
              for p in points)
    return ("protection, agent's key -> first audio at the caller: " + "; ".join(parts)
            + f" (target p99 < {TARGET_P99_MS:.0f} ms: {'met' if met else 'NOT met'})")


def source_state() -> dict[str, Any]:
    """The commit measured, and the product's files changed in the working tree at the time (the
    figures are those of the code as it was, not necessarily of the commit)."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=PROJECT, capture_output=True, text=True, check=False)
        return done.stdout.rstrip("\n")
    changed = git("status", "--porcelain", "--", "agi_scripts", "flows", "config", "audio_prompts")
    return {"head": git("rev-parse", "HEAD"), "changed": [line[3:] for line in changed.splitlines()]}


def report(points: Sequence[Point], settings: ProtectionSettings) -> dict[str, Any]:
    return {
        "source": source_state(),
        "settings": asdict(settings),
        "points": [{**p.summary(), "press_list": [press.as_json() for press in p.presses],
                    "failures": p.failures[:20]} for p in points],
        "target_line": target_line(points),
    }


def print_report(points: Sequence[Point]) -> None:
    print()
    print("Key press -> first audio of the answer at the caller, ms (t0: the code's last digit released, "
          "as Asterisk received it; t1: the packet with the prompt's first sample):")
    print("\n".join(table(points)))
    print()
    print("Where the time goes, ms (p50 / p99 of each part, on the wire): Asterisk runs the feature and connects "
          "to the server; writes the environment; the server's first AGI command; the commands up to its STREAM "
          "FILE; the first audio packet at the caller. Server part = the server's own time between Asterisk's "
          "messages and its next command, up to the STREAM FILE; Asterisk part = the rest. Cores used during the "
          "presses by Asterisk, the server, this bench (its phones, capture and load) and everything else:")
    print("\n".join(split_table(points)))
    failures = [f"{p.store} c={p.concurrency}: {press.kind} {press.failure}" for p in points for press in p.presses
                if press.failure] + [f"{p.store} c={p.concurrency}: {f}" for p in points for f in p.failures]
    if failures:
        print("Failures:")
        print("\n".join(f"  {line}" for line in failures[:20]))


def _ms(value: Any) -> str:
    return "-" if value is None or value != value else f"{float(value):.1f}"


# ---------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, prefix: str = "") -> None:
    """The protection part's options; ``prefix`` (``protection-``) when they sit beside others."""
    parser.add_argument(f"--{prefix}concurrency", dest="p_concurrency", default="50,200",
                        help="calls in progress during the presses (the measured pairs count)")
    parser.add_argument(f"--{prefix}stores", dest="p_stores", default=",".join(STORES), help="sqlite, postgresql")
    parser.add_argument(f"--{prefix}presses", dest="p_presses", type=int, default=40,
                        help="presses measured per store and concurrency")
    parser.add_argument(f"--{prefix}pairs", dest="p_pairs", type=int, default=4,
                        help=f"pjsua2 callers pressing at once, at most {MAX_CALLS} (agents: one more)")
    parser.add_argument(f"--{prefix}long-every", dest="p_long_every", type=int, default=2,
                        help="every Nth call presses twice (first, then warning or closing); 0: first only")
    parser.add_argument(f"--{prefix}background-talk", dest="p_talk", type=float, default=60.0,
                        help="seconds each background call talks before it ends and is replaced")
    parser.add_argument("--digit-timeout", dest="p_digit_timeout", type=int, default=None,
                        help="experiment: featuredigittimeout (ms) in the sandbox's features.conf")
    parser.add_argument("--feature-code", dest="p_feature_codes", action="append", default=[],
                        metavar="CATEGORY=CODE",
                        help="experiment: another code for a category in the sandbox's features.conf only")


def settings_from(args: argparse.Namespace, parser: argparse.ArgumentParser) -> ProtectionSettings:
    stores = [s.strip() for s in args.p_stores.split(",") if s.strip()]
    if not stores or any(s not in STORES for s in stores):
        parser.error(f"stores must be among {', '.join(STORES)}")
    if not 1 <= args.p_pairs <= MAX_CALLS:
        parser.error(f"pairs must be 1 to {MAX_CALLS} (pjsua2 has {MAX_CALLS} calls per process)")
    codes = {}
    for item in args.p_feature_codes:
        category, sep, code = item.partition("=")
        if not sep or not re.fullmatch(r"[0-9*#A-D]{1,11}", code):
            parser.error(f"--feature-code takes CATEGORY=CODE, not {item!r}")
        codes[category] = code
    return ProtectionSettings(concurrencies=[int(c) for c in args.p_concurrency.split(",") if c.strip()],
                              stores=stores, pairs=args.p_pairs, presses=args.p_presses,
                              long_every=args.p_long_every, background_talk=args.p_talk,
                              digit_timeout_ms=args.p_digit_timeout, feature_codes=codes)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/protection.py", description=(__doc__ or "").split("\n\n")[0])
    add_arguments(parser)
    settings = settings_from(parser.parse_args(argv), parser)
    started = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {text}", flush=True)

    points = run_protection(settings, say)
    print_report(points)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"protection-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({**report(points, settings), "seconds": time.monotonic() - started}, indent=2,
                               default=float) + "\n")
    print(f"results: {path.relative_to(PROJECT)}; took {time.monotonic() - started:.0f} s")
    print(target_line(points))
    return 0 if all(not p.summary()["failed"] for p in points) else 1


if __name__ == "__main__":
    sys.exit(main())
