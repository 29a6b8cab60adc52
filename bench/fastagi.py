"""``make bench``: our FastAGI server against panoramisk 1.4 and classic one-process-per-call pyst2 AGI.

Peers, each in its own process, all started at the beginning and measured one after another on the
same sessions (``bench/sessions.py``) by the same fake Asterisk (``bench/loadgen.py``, its own
process, a fresh one per point):

- ``ours``: ``python -m agi_scripts.server.app`` with the bench handlers (the fair comparison);
- ``ours-real``: ``respectline serve`` with the shipped handlers, flows and a SQLite store (informative);
- ``panoramisk``: panoramisk 1.4's ``fast_agi.Application`` with the same handlers written async;
- ``classic``: pyst2 in a new process per call, started by a forking TCP launcher.

Closed loop at each concurrency (throughput), repeated, median reported; then an open loop at a fixed
offered rate, and paced calls (200 calls in progress whose prompts take time, as real ones do): the
per-command latency a caller feels. Prints a table, writes ``bench/results/fastagi-<time>.json`` and
ends with the ratio line. ``bench/README.md`` explains the method and how to read the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import IO, Any

PROJECT = Path(__file__).resolve().parent.parent
if str(PROJECT) not in sys.path:  # run as ``python bench/fastagi.py``
    sys.path.insert(0, str(PROJECT))

from bench import realstack  # noqa: E402
from agi_scripts.server.limits import lift_open_file_limit  # noqa: E402
from bench.procstat import children, cpu_model, peak_rss_bytes, reset_peak_rss, tree_pss_bytes  # noqa: E402
from bench.stats import median  # noqa: E402

RESULTS = PROJECT / "bench" / "results"
START_TIMEOUT = 30.0
SETTLE_TIMEOUT = 60.0
RATIO_CONCURRENCIES_FROM = 50
"""The ratio line covers the loaded points (c=1 measures one call's round trips, not a server)."""
CLASSIC_BYTES_PER_CALL = 12 * 2**20
"""Memory of one classic AGI process (Python 3.11 + pyst2: about 7.5 MiB PSS, 13 MiB RSS), with margin."""
OTHER_LOAD_WARNING = 0.25
"""Cores used by other processes during a window above which the point is called disturbed."""
LABELS = {
    "ours": "ours (bench handlers)",
    "ours-real": "ours (real handlers+SQLite)",
    "panoramisk": "panoramisk 1.4",
    "classic": "classic pyst2 (process/call)",
}


@dataclass
class PeerSpec:
    key: str
    label: str
    argv: list[str]
    process_per_call: bool = False


@dataclass
class Peer:
    spec: PeerSpec
    process: subprocess.Popen[str]
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class Settings:
    concurrencies: list[int]
    repeats: int
    warmup: float
    window: float
    open_fraction: float
    open_window: float
    classic_repeats_at_1000: int
    peers: list[str]
    quick: bool
    mix: str = "screen,post_call,flag"
    paced_concurrency: int = 200
    media_delay: float = 0.5
    paced_window: float = 4.0


# ---------------------------------------------------------------- peers


def peer_specs(tmp: Path) -> dict[str, PeerSpec]:
    python = sys.executable
    config = realstack.prepare(tmp / "real")
    return {
        "ours": PeerSpec("ours", LABELS["ours"], [
            python, "-m", "agi_scripts.server.app", "--listen", "127.0.0.1:0",
            "--routes", "bench.ours_routes:ROUTES", "--log-level", "WARNING"]),
        "ours-real": PeerSpec("ours-real", LABELS["ours-real"],
                              realstack.serve_argv(config, tmp / "real" / "store.sqlite")),
        "panoramisk": PeerSpec("panoramisk", LABELS["panoramisk"], [python, "-m", "bench.panoramisk_peer"]),
        "classic": PeerSpec("classic", LABELS["classic"], [python, "-m", "bench.classic_launcher"],
                            process_per_call=True),
    }


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def start_peer(spec: PeerSpec, logs: Path) -> Peer:
    log = logs / f"{spec.key}.log"
    with log.open("w") as err:
        process = subprocess.Popen(spec.argv, cwd=PROJECT, env=child_env(), stdout=subprocess.PIPE, stderr=err,
                                   text=True)
    assert process.stdout is not None
    line = _read_line(process.stdout, START_TIMEOUT)
    if not line.startswith("listening on "):
        process.kill()
        process.wait(5)
        raise RuntimeError(f"{spec.label} did not start (said {line!r}); see {log}")
    return Peer(spec, process, int(line.strip().rsplit(":", 1)[1]), log)


def _read_line(stream: IO[str], timeout: float) -> str:
    ready, _, _ = select.select([stream], [], [], timeout)
    return stream.readline() if ready else ""


def stop_peer(peer: Peer) -> None:
    if peer.process.poll() is None:
        peer.process.terminate()
        try:
            peer.process.wait(15)
        except subprocess.TimeoutExpired:
            peer.process.kill()
            peer.process.wait(5)
    if peer.process.stdout is not None:
        peer.process.stdout.close()


def settle(peer: Peer) -> None:
    """Wait until a process-per-call peer has no call process left (they would steal the next point's CPU)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while peer.spec.process_per_call and children(peer.pid) and time.monotonic() < deadline:
        time.sleep(0.05)


# ---------------------------------------------------------------- one point


class TreeMemorySampler:
    """Peak of (launcher + call processes) PSS, sampled: a process per call has no single VmHWM.

    Reading PSS walks each process's page tables (about 0.2 ms a process): the interval grows with
    the number of processes so the sampling itself takes at most ~5% of a core from the server."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            self.peak = max(self.peak, tree_pss_bytes(self.pid))
            self._stop.wait(max(self.interval, 20 * (time.monotonic() - began)))


def run_loadgen(peer: Peer, args: Sequence[str], timeout: float) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.loadgen", "--port", str(peer.port), "--server-pid", str(peer.pid), *args]
    done = subprocess.run(argv, cwd=PROJECT, env=child_env(), capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed against {peer.spec.label}: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def measure(peer: Peer, args: Sequence[str], timeout: float) -> dict[str, Any]:
    if peer.process.poll() is not None:
        raise RuntimeError(f"{peer.spec.label} exited (status {peer.process.returncode}); see {peer.log}")
    if peer.spec.process_per_call:
        with TreeMemorySampler(peer.pid) as sampler:
            result = run_loadgen(peer, args, timeout)
        result["peak_rss_bytes"] = sampler.peak
        result["peak_rss_kind"] = "PSS of launcher and call processes, summed, sampled every 0.5 s or more"
    else:
        reset = reset_peak_rss(peer.pid)
        result = run_loadgen(peer, args, timeout)
        result["peak_rss_bytes"] = peak_rss_bytes(peer.pid)
        result["peak_rss_kind"] = "VmHWM during the point" if reset else "VmHWM since start"
    settle(peer)
    return result


def closed_point(peer: Peer, concurrency: int, settings: Settings) -> dict[str, Any]:
    slow = peer.spec.process_per_call
    args = ["--mode", "closed", "--concurrency", str(concurrency), "--warmup", str(settings.warmup),
            "--window", str(settings.window), "--mix", settings.mix,
            "--max-warmup", "40" if slow else "10", "--max-window", "30" if slow else str(settings.window),
            "--drain", "60" if slow else "20", "--session-timeout", "120" if slow else "60"]
    return measure(peer, args, timeout=200 if slow else 60)


def open_point(peer: Peer, rate: float, seed: int, settings: Settings) -> dict[str, Any]:
    args = ["--mode", "open", "--rate", f"{rate:.1f}", "--warmup", "0.5", "--window", str(settings.open_window),
            "--mix", settings.mix, "--seed", str(seed), "--drain", "30"]
    return measure(peer, args, timeout=120)


def paced_point(peer: Peer, settings: Settings) -> dict[str, Any]:
    """C calls in progress at all times, media answered after ``media_delay``: a busy contact centre."""
    longest = 5 * settings.media_delay  # post_call: four prompts and a UserEvent
    args = ["--mode", "closed", "--concurrency", str(settings.paced_concurrency), "--media-delay",
            str(settings.media_delay), "--warmup", str(longest), "--max-warmup", str(4 * longest + 5),
            "--window", str(settings.paced_window), "--max-window", str(settings.paced_window),
            "--drain", str(4 * longest + 5), "--mix", settings.mix]
    return measure(peer, args, timeout=120)


def warm_up(peer: Peer, settings: Settings) -> None:
    """A short unrecorded run: imports, caches and the store's first pages, before anything counts."""
    c = "4" if peer.spec.process_per_call else "20"
    measure(peer, ["--mode", "closed", "--concurrency", c, "--warmup", "0.3", "--window", "0.7",
                   "--max-warmup", "5", "--max-window", "1", "--mix", settings.mix], timeout=60)


# ---------------------------------------------------------------- the run


def run(settings: Settings, out: Callable[[str], None]) -> dict[str, Any]:
    began = time.monotonic()
    soft, hard = lift_open_file_limit()
    machine = machine_info(soft, hard)
    out(f"cores: {machine['cores']} ({machine['cpu']}); {machine['python']}; panoramisk {machine['panoramisk']}, "
        f"pyst2 {machine['pyst2']}; open files: soft limit raised to {soft} (hard {hard})")
    out("sessions, in turn: " + settings.mix + " (bench/sessions.py); loopback 127.0.0.1 only")
    closed: list[dict[str, Any]] = []
    opened: list[dict[str, Any]] = []
    paced: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="respectline-bench-") as tmp_name:
        tmp = Path(tmp_name)
        specs = peer_specs(tmp)
        peers: list[Peer] = []
        try:
            for key in settings.peers:
                peers.append(start_peer(specs[key], tmp))
            for peer in peers:
                warm_up(peer, settings)
            for concurrency in settings.concurrencies:
                for repeat in range(settings.repeats):
                    for peer in rotated(peers, repeat):
                        if not wanted(peer, concurrency, repeat, settings, out):
                            continue
                        result = closed_point(peer, concurrency, settings)
                        result.update(peer=peer.spec.key, repeat=repeat + 1)
                        closed.append(result)
                        out(progress_line(peer, f"c={concurrency}", result))
            rates = open_loop_rates(closed, peers, settings)
            for repeat in range(settings.repeats):
                for peer in rotated(peers, repeat):
                    rate, basis = rates[peer.spec.key]
                    result = open_point(peer, rate, seed=repeat + 1, settings=settings)
                    result.update(peer=peer.spec.key, repeat=repeat + 1, rate_basis=basis)
                    opened.append(result)
                    out(progress_line(peer, f"open {rate:.0f}/s", result))
            if settings.paced_concurrency:
                for repeat in range(settings.repeats):
                    for peer in rotated([p for p in peers if not p.spec.process_per_call], repeat):
                        result = paced_point(peer, settings)
                        result.update(peer=peer.spec.key, repeat=repeat + 1)
                        paced.append(result)
                        out(progress_line(peer, f"paced c={settings.paced_concurrency}", result))
        finally:
            for peer in peers:
                stop_peer(peer)
    report = {
        "machine": machine,
        "settings": settings.__dict__,
        "closed_loop": closed,
        "open_loop": opened,
        "paced": paced,
        "summary": {"closed_loop": summarize_closed(closed, settings), "open_loop": summarize_open(opened),
                    "paced": summarize_paced(paced)},
        "elapsed_s": time.monotonic() - began,
    }
    return report


def wanted(peer: Peer, concurrency: int, repeat: int, settings: Settings, out: Callable[[str], None]) -> bool:
    """Classic AGI at c=1000 is a thousand Python processes for tens of seconds: run it fewer times,
    and not at all on a machine without the memory for them."""
    if not peer.spec.process_per_call:
        return True
    if concurrency >= 1000 and repeat >= settings.classic_repeats_at_1000:
        return False
    needed, available = concurrency * CLASSIC_BYTES_PER_CALL, available_memory()
    if needed > 0.8 * available:
        if repeat == 0:
            out(f"  {peer.spec.label:<30} c={concurrency:<10} skipped: {concurrency} processes need about "
                f"{needed / 2**30:.1f} GiB, {available / 2**30:.1f} GiB available")
        return False
    return True


def available_memory() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def rotated(peers: list[Peer], repeat: int) -> list[Peer]:
    """A different order at each repeat, so no peer always runs first (or right after classic)."""
    shift = repeat % len(peers) if peers else 0
    return peers[shift:] + peers[:shift]


def open_loop_rates(closed: list[dict[str, Any]], peers: list[Peer],
                    settings: Settings) -> dict[str, tuple[float, str]]:
    """The offered rate: ``open_fraction`` of panoramisk's best closed-loop throughput, the same for
    every peer that can carry it; a peer whose own best is lower (classic) gets that fraction of its own."""
    best = {peer.spec.key: max((median([r["sessions_per_s"] for r in closed
                                        if r["peer"] == peer.spec.key and r["concurrency"] == c])
                                for c in settings.concurrencies
                                if any(r["peer"] == peer.spec.key and r["concurrency"] == c for r in closed)),
                               default=0.0)
            for peer in peers}
    reference_key = "panoramisk" if "panoramisk" in best else max(best, key=lambda k: best[k])
    reference = settings.open_fraction * best[reference_key]
    rates: dict[str, tuple[float, str]] = {}
    for key, own in best.items():
        if own and reference > 0.9 * own:
            rates[key] = (max(1.0, settings.open_fraction * own),
                          f"{settings.open_fraction:.0%} of its own best ({own:.0f}/s): "
                          f"{reference:.0f}/s would overload it")
        else:
            rates[key] = (max(1.0, reference), f"{settings.open_fraction:.0%} of {reference_key}'s best "
                                                f"closed-loop throughput ({best[reference_key]:.0f}/s)")
    return rates


# ---------------------------------------------------------------- summaries


def _lat(result: dict[str, Any], kind: str, stat: str) -> float:
    value = result["latency_ms"][kind].get(stat)
    return float(value) if value is not None else float("nan")


def summarize_group(results: list[dict[str, Any]]) -> dict[str, Any]:
    def med(get: Callable[[dict[str, Any]], float | None]) -> float | None:
        values = [v for v in (get(r) for r in results) if v is not None]
        return median(values) if values else None

    return {
        "runs": len(results),
        "sessions_per_s": med(lambda r: r["sessions_per_s"]),
        "commands_per_s": med(lambda r: r["commands_per_s"]),
        "session_p50_ms": med(lambda r: _lat(r, "session", "p50")),
        "session_p99_ms": med(lambda r: _lat(r, "session", "p99")),
        "command_p50_ms": med(lambda r: _lat(r, "command", "p50")),
        "command_p99_ms": med(lambda r: _lat(r, "command", "p99")),
        "first_p99_ms": med(lambda r: _lat(r, "first", "p99")),
        "server_cpu_s_per_1000": med(lambda r: r["server_cpu_s_per_1000"]),
        "peak_rss_mb": med(lambda r: r["peak_rss_bytes"] / 2**20),
        "failed": sum(r["failed"] for r in results),
        "loadgen_cpu_share": med(lambda r: r["loadgen_cpu_share"]),
        "other_cpu_cores_max": max((r.get("other_cpu_cores") or 0.0) for r in results),
        "rate": results[0].get("rate"),
    }


def summarize_closed(closed: list[dict[str, Any]], settings: Settings) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for c in settings.concurrencies:
        for key in settings.peers:
            group = [r for r in closed if r["peer"] == key and r["concurrency"] == c]
            if group:
                summary[f"{key}@{c}"] = {"peer": key, "concurrency": c, **summarize_group(group)}
    return summary


def summarize_open(opened: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    keys = list(dict.fromkeys(r["peer"] for r in opened))
    return {key: {"peer": key, "rate_basis": next(r["rate_basis"] for r in opened if r["peer"] == key),
                  **summarize_group([r for r in opened if r["peer"] == key])} for key in keys}


def summarize_paced(paced: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    keys = list(dict.fromkeys(r["peer"] for r in paced))
    return {key: {"peer": key, **summarize_group([r for r in paced if r["peer"] == key])} for key in keys}


def ratio_line(summary: dict[str, dict[str, Any]], settings: Settings) -> str:
    parts = []
    for c in settings.concurrencies:
        ours, theirs = summary.get(f"ours@{c}"), summary.get(f"panoramisk@{c}")
        if c < RATIO_CONCURRENCIES_FROM or not ours or not theirs:
            continue
        if ours["sessions_per_s"] and theirs["sessions_per_s"]:
            parts.append(f"c={c} {ours['sessions_per_s'] / theirs['sessions_per_s']:.2f}x")
        else:
            parts.append(f"c={c} n/a")
    return "ratio vs panoramisk (sessions/s): " + ", ".join(parts)


# ---------------------------------------------------------------- printing


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    return f"{value:,.{digits}f}"


def _pair(a: float | None, b: float | None) -> str:
    def short(v: float | None) -> str:
        if v is None or v != v:
            return "-"
        return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"
    return f"{short(a)}/{short(b)}"


HEADER = (f"{'peer':<30} {'c':>5} {'sess/s':>8} {'cmds/s':>8} {'session p50/p99 ms':>19} "
          f"{'cmd p50/p99 ms':>15} {'CPU s/1k':>9} {'RSS MB':>7} {'failed':>6} {'gen CPU':>7} {'other':>5}")


def table_row(label: str, column: str, s: dict[str, Any]) -> str:
    return (f"{label:<30} {column:>5} {_fmt(s['sessions_per_s']):>8} {_fmt(s['commands_per_s']):>8} "
            f"{_pair(s['session_p50_ms'], s['session_p99_ms']):>19} {_pair(s['command_p50_ms'], s['command_p99_ms']):>15} "
            f"{_fmt(s['server_cpu_s_per_1000'], 2):>9} {_fmt(s['peak_rss_mb'], 1):>7} {s['failed']:>6} "
            f"{_fmt((s['loadgen_cpu_share'] or 0) * 100):>6}% {s['other_cpu_cores_max']:>5.2f}")


def progress_line(peer: Peer, point: str, r: dict[str, Any]) -> str:
    return (f"  {peer.spec.label:<30} {point:<12} {r['sessions_per_s']:>8.0f} sessions/s  "
            f"cmd p99 {_lat(r, 'command', 'p99'):7.2f} ms  failed {r['failed']}  "
            f"other load {r.get('other_cpu_cores') or 0.0:.2f} cores"
            + (f"  ({'; '.join(r['failure_examples'][:2])})" if r["failed"] else ""))


def print_report(report: dict[str, Any], settings: Settings, labels: dict[str, str], out: Callable[[str], None]) -> None:
    closed = report["summary"]["closed_loop"]
    out("")
    out(f"Closed loop: median of {settings.repeats} runs per point (classic at c>=1000: "
        f"{settings.classic_repeats_at_1000}); window {settings.window:g} s (longer for classic, as long as its warm-up)")
    out("  latency here is queueing (about c / throughput); CPU s/1k = server CPU seconds per 1000 sessions;")
    out("  gen CPU = the fake Asterisk's CPU (% of a core); other = most CPU (cores) anything else used in a run")
    out(HEADER)
    for c in settings.concurrencies:
        for key in settings.peers:
            s = closed.get(f"{key}@{c}")
            if s:
                out(table_row(labels[key], str(c), s))
    opened = report["summary"]["open_loop"]
    if opened:
        out("")
        out(f"Open loop (Poisson arrivals, {settings.open_window:g} s after 0.5 s warm-up; median of "
            f"{settings.repeats} runs): the latency a caller feels")
        out(HEADER.replace("    c", " rate"))
        for key, s in opened.items():
            out(table_row(labels[key], f"{s['rate']:.0f}", s))
        for key, s in opened.items():
            out(f"  {labels[key]}: offered rate {s['rate']:.0f}/s = {s['rate_basis']}")
    paced = report["summary"].get("paced") or {}
    if paced:
        out("")
        out(f"Paced calls: {settings.paced_concurrency} calls in progress at all times, each prompt (STREAM FILE, "
            f"EXEC) answered after {settings.media_delay / 2:g}-{1.5 * settings.media_delay:g} s as if it played, "
            f"variables at once; median of "
            f"{settings.repeats} runs. cmd p99 here is the server's response time with that many live calls")
        out(HEADER)
        for key, s in paced.items():
            out(table_row(labels[key], str(settings.paced_concurrency), s))
    out("")
    out(busy_machine_line(report))
    for line in target_lines(report, settings):
        out(line)


def busy_machine_line(report: dict[str, Any]) -> str:
    """How much CPU something other than the server and the fake Asterisk used during the windows."""
    points = report["closed_loop"] + report["open_loop"] + report.get("paced", [])
    others = sorted(r.get("other_cpu_cores") or 0.0 for r in points)
    if not others:
        return "other load: no points measured"
    worst = max(points, key=lambda r: r.get("other_cpu_cores") or 0.0)
    line = (f"Other load on the machine during the windows (neither server nor fake Asterisk): median "
            f"{median(others):.2f} cores, worst {others[-1]:.2f} ({LABELS.get(worst['peer'], worst['peer'])} "
            f"{'c=' + str(worst['concurrency']) if worst.get('mode') == 'closed' else 'open loop'})")
    if others[-1] > OTHER_LOAD_WARNING:
        line += f"; points above {OTHER_LOAD_WARNING} cores were disturbed: compare repeats in the JSON"
    return line


def target_lines(report: dict[str, Any], settings: Settings) -> list[str]:
    closed = report["summary"]["closed_loop"]
    lines = ["Targets (issue):"]
    ratios = []
    for c in settings.concurrencies:
        ours, theirs = closed.get(f"ours@{c}"), closed.get(f"panoramisk@{c}")
        if ours and theirs and ours["sessions_per_s"] and theirs["sessions_per_s"]:
            ratios.append((c, ours["sessions_per_s"] / theirs["sessions_per_s"]))
    if ratios:
        verdict = "met" if all(r >= 1.0 for _, r in ratios) else "NOT met"
        lines.append(f"  >= 1.0x panoramisk at every concurrency: {verdict} "
                     f"({', '.join(f'c={c} {r:.2f}x' for c, r in ratios)}; aim 2x)")
    at200 = closed.get("ours@200")
    if at200:
        p99 = at200["command_p99_ms"]
        lines.append(f"  per-command p99 at c=200 in the saturated closed loop (queueing, c / throughput; "
                     f"informative): {_fmt(p99, 2)} ms")
    paced = report["summary"].get("paced", {}).get("ours")
    if paced:
        p99 = paced["command_p99_ms"]
        verdict = "met" if p99 is not None and p99 < 5 and paced["failed"] == 0 else "NOT met"
        lines.append(f"  per-command p99 < 5 ms with {settings.paced_concurrency} calls in progress (paced): "
                     f"{verdict} ({_fmt(p99, 2)} ms, {paced['failed']} failed)")
    opened = report["summary"]["open_loop"].get("ours")
    if opened:
        p99 = opened["command_p99_ms"]
        lines.append(f"  per-command p99 in the open loop at {opened['rate']:.0f} sessions/s: {_fmt(p99, 2)} ms "
                     f"({'under' if p99 is not None and p99 < 5 else 'over'} 5 ms)")
    at1000 = closed.get("ours@1000")
    if at1000:
        lines.append(f"  no failed session at c=1000: {'met' if at1000['failed'] == 0 else 'NOT met'} "
                     f"({at1000['failed']} failed over {at1000['runs']} runs)")
    return lines


# ---------------------------------------------------------------- machine


def machine_info(soft: int, hard: int) -> dict[str, Any]:
    cpu = cpu_model()
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "python": f"Python {platform.python_version()}",
        "platform": platform.platform(),
        "panoramisk": _version("panoramisk"),
        "pyst2": _version("pyst2"),
        "greenlet": _version("greenlet"),
        "open_files_soft": soft,
        "open_files_hard": hard,
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


# ---------------------------------------------------------------- main


def parse_settings(argv: Sequence[str] | None) -> Settings:
    parser = argparse.ArgumentParser(prog="python bench/fastagi.py", description=__doc__.split("\n\n")[0]
                                     if __doc__ else None)
    parser.add_argument("--quick", action="store_true",
                        help="one run per point, shorter windows, classic only up to c=200 (about a minute)")
    parser.add_argument("--concurrency", default="1,50,200,1000", help="comma-separated closed-loop levels")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--window", type=float, default=3.0, help="closed-loop measuring window, seconds")
    parser.add_argument("--warmup", type=float, default=1.0, help="closed-loop minimum warm-up, seconds")
    parser.add_argument("--open-fraction", type=float, default=0.5,
                        help="open-loop offered rate as a fraction of panoramisk's best throughput")
    parser.add_argument("--open-window", type=float, default=3.0)
    parser.add_argument("--classic-runs-at-1000", type=int, default=1,
                        help="runs of classic AGI at c>=1000 (each takes about a minute)")
    parser.add_argument("--peers", default="ours,ours-real,panoramisk,classic")
    parser.add_argument("--mix", default="screen,post_call,flag")
    parser.add_argument("--paced-concurrency", type=int, default=200,
                        help="calls in progress for the paced point (0: skip it)")
    parser.add_argument("--media-delay", type=float, default=0.5,
                        help="paced point: seconds a prompt takes before Asterisk answers it")
    args = parser.parse_args(argv)
    settings = Settings(
        concurrencies=[int(c) for c in args.concurrency.split(",") if c],
        repeats=args.repeats, warmup=args.warmup, window=args.window, open_fraction=args.open_fraction,
        open_window=args.open_window, classic_repeats_at_1000=args.classic_runs_at_1000,
        peers=[p for p in args.peers.split(",") if p], quick=args.quick, mix=args.mix,
        paced_concurrency=args.paced_concurrency, media_delay=args.media_delay)
    if args.quick:
        settings.repeats, settings.window, settings.open_window, settings.warmup = 1, 1.5, 1.5, 0.5
        settings.classic_repeats_at_1000 = 0
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_settings(argv)

    def out(line: str) -> None:
        print(line, flush=True)

    report = run(settings, out)
    print_report(report, settings, LABELS, out)
    line = ratio_line(report["summary"]["closed_loop"], settings)
    report["ratio_line"] = line
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"fastagi-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=1, default=str) + "\n")
    out(f"results: {path.relative_to(PROJECT)}; total {report['elapsed_s']:.0f} s")
    out(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
