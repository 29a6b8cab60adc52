"""``bench/desk.py`` (``make bench-desk``) runs end to end on a tiny store: it fills SQLite in bulk,
starts a real desk, logs in, asks for every page it measures (inbox, case page, reports, CSV) and
prints its figures. A smoke test of the script, not a timing: no figure is compared with a target."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.config_tree import PROJECT

PAGES = {"security inbox", "all-teams inbox", "inbox rows", "case page", "reports, a month", "reports, a year",
         "incidents CSV, a year"}


def test_the_desk_load_bench_runs_on_a_tiny_store() -> None:
    done = subprocess.run([sys.executable, "bench/desk.py", "--cases", "40", "--incidents", "400", "--requests", "3",
                           "--backend", "sqlite"], cwd=PROJECT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("sqlite: 40 cases and 400 incidents written in")
    report = json.loads(next(line for line in lines if line.startswith("{")))
    figures = report["results"]["sqlite"]
    assert set(figures) == PAGES
    for page, row in figures.items():
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["max_ms"], (page, row)
    assert lines[-1].startswith("desk: worst p95 of the inbox and case pages")
