"""What a server process costs, read from /proc (Linux): CPU time, resident memory, its children."""

from __future__ import annotations

import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


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


def rss_bytes(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0  # the process just ended


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


def tree_rss_bytes(pid: int) -> int:
    """RSS of ``pid`` plus its direct children, summed (pages shared between them count once per
    process: an upper bound on the memory the tree holds)."""
    return rss_bytes(pid) + sum(rss_bytes(child) for child in children(pid))
