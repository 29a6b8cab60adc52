"""What a server process costs, read from /proc (Linux): CPU time, resident memory, its children."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, for the report's machine line."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def cpu_seconds(pid: int) -> float:
    """User + system time of ``pid`` (all its threads) and of its children it has reaped."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): utime, stime, cutime, cstime are fields 14-17.
    return sum(int(v) for v in fields[11:15]) / TICKS


def reset_peak_rss(pid: int) -> bool:
    """Reset ``VmHWM`` (Linux >= 4.0, ``echo 5 > clear_refs``); False when not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_bytes(pid: int) -> int:
    """``VmHWM``: the highest resident set size since start or the last reset."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (all its threads')."""
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def pss_bytes(pid: int) -> int:
    """Proportional set size: private pages plus a share of each page shared with other processes."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


def tree_pss_bytes(pid: int) -> int:
    """Memory held by ``pid`` and its direct children together (PSS, so the interpreter's shared
    pages count once, not once per process)."""
    return pss_bytes(pid) + sum(pss_bytes(child) for child in children(pid))


def machine_busy_seconds() -> float:
    """CPU time all cores spent busy since boot (``/proc/stat``: everything but idle and iowait)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    values = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
    return (sum(values) - values[3] - values[4]) / TICKS
