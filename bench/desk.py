"""``make bench-desk``: the desk's inbox and case page under a big store, on SQLite and PostgreSQL.

The store is filled with ``--cases`` cases (one in ten still open or assigned, half for Security,
half for Special Care; each with its call and three events) and ``--incidents`` incidents (ten per
case's call), in bulk. Then a real ``respectline desk`` process serves it, and a client on the
loopback logs in as a Security user and as a supervisor and asks, one request after another,
``--requests`` times each: the Security inbox, the supervisor's all-teams inbox, the inbox rows the
live inbox fetches, and the page of a random open Security case (each view also writes its audit
row, as in real use); then, fewer times, the supervisors' reports page over a month and over the
year of data, and the incidents CSV of that year. Prints p50, p95 and the slowest per page and
backend, and a JSON line; the issue's target is under 200 ms p95 for the inbox and the case page
with 100,000 cases and 1,000,000 incidents.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from agi_scripts.desk.passwords import hash_password  # noqa: E402
from agi_scripts.storage import open_store  # noqa: E402
from agi_scripts.storage.desk import DeskStore  # noqa: E402
from agi_scripts.storage.sql import SqlStore  # noqa: E402

PASSWORD = "bench password 1"
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
CATEGORIES = ("verbal_abuse", "threat", "discrimination")
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
TARGET_PAGES = ("security inbox", "all-teams inbox", "inbox rows", "case page")
"""The pages the issue's 200 ms p95 target is for; the reports are measured and shown beside them."""
REPORT_SHARE = 20
"""Reports are asked for this many times fewer than the target pages (each reads a period's incidents)."""


def fill(url: str, cases: int, incidents: int) -> float:
    """Bulk rows straight into the tables (the store's own writes are one transaction per flag); seconds."""
    started = time.monotonic()
    store = open_store(url)
    assert isinstance(store, SqlStore)
    postgres = url.startswith("postgres")
    per_call = max(1, incidents // cases)

    def case_rows() -> Iterator[tuple[object, ...]]:
        for i in range(1, cases + 1):
            opened = T0 + timedelta(minutes=5 * i)
            status = ("open" if i % 20 == 0 else "assigned") if i % 10 == 0 else "closed"
            closed = opened + timedelta(days=2) if status == "closed" else None
            yield (i, CATEGORIES[i % 3], "security" if (i // 10) % 2 else "special_care", 1 + i % 4, status,
                   f"+3247{i:07d}", f"Agent {i % 300}", "support", f"call-{i}", None, opened, closed,
                   "Sam" if status == "assigned" else None, "no_contact" if closed else None)

    def event_rows() -> Iterator[tuple[object, ...]]:
        for i in range(1, cases + 1):
            opened = T0 + timedelta(minutes=5 * i)
            for action, detail in (("case_opened", "category threat, team security"), ("disconnect", "abuse_closing"),
                                   ("agent_paused", f"Agent {i % 300} for 15 min")):
                yield (i, opened, action, detail, None)

    def call_rows() -> Iterator[tuple[object, ...]]:
        for i in range(1, cases + 1):
            yield (f"call-{i}", T0 + timedelta(minutes=5 * i - 3), f"+3247{i:07d}", "support", "en", "support")

    def incident_rows() -> Iterator[tuple[object, ...]]:
        for n in range(incidents):
            i, k = n // per_call + 1, n % per_call + 1
            category = CATEGORIES[k % 3]
            yield (f"call-{i}", category, k, (k - 1) // 3 + 1, "security", "warn", i, f"Agent {i % 300}",
                   f"+3247{i:07d}", "support", T0 + timedelta(minutes=5 * i, seconds=k))

    tables = (
        ("cases", "id, category, team, priority, status, caller, agent, queue, call_id, recording, opened_at,"
                  " closed_at, assignee, resolution", case_rows()),
        ("calls", "call_id, started_at, caller, queue, language, route", call_rows()),
        ("case_events", "case_id, at, action, detail, author", event_rows()),
        ("incidents", "call_id, category, number_in_call, number_in_category, team, action, case_id, agent, caller,"
                      " queue, at", incident_rows()),
    )
    with store.dialect.write() as tx:
        if postgres:
            tx.run("SET LOCAL statement_timeout = 0")  # the store bounds a statement to seconds; a bulk load takes more
        for table, columns, rows in tables:
            if postgres:
                with tx.db.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" * len(columns.split(",")))
                encode = store.dialect.encode_time
                tx.db.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})",
                                  (tuple(encode(v) if isinstance(v, datetime) else v for v in row) for row in rows))
        if postgres:
            tx.run("SELECT setval(pg_get_serial_sequence('cases', 'id'), (SELECT MAX(id) FROM cases))")
            tx.run("ANALYZE")
    desk = DeskStore(store)
    hashed = hash_password(PASSWORD)
    desk.add_user("sec", "security", hashed, team="security")
    desk.add_user("boss", "supervisor", hashed)
    store.close()
    return time.monotonic() - started


class Client:
    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as answer:
            return str(answer.read().decode())

    def log_in(self, name: str) -> None:
        token = _CSRF.search(self.get("/login"))
        assert token
        data = urllib.parse.urlencode({"csrf": token.group(1), "name": name, "password": PASSWORD}).encode()
        with self.opener.open(self.base + "/login", data=data, timeout=30) as answer:
            assert answer.status == 200 and "/login" not in answer.url, answer.url

    def timed(self, path: str) -> float:
        started = time.perf_counter()
        self.get(path)
        return (time.perf_counter() - started) * 1000


def measure(url: str, requests: int, log: Path) -> dict[str, dict[str, float]]:
    desk = subprocess.Popen([sys.executable, "-m", "agi_scripts.cli.main", "desk", "--listen", "127.0.0.1:0",
                             "--db", url, "--config", str(PROJECT / "config" / "respectline.yaml")],
                            stdout=subprocess.PIPE, stderr=log.open("wb"), cwd=PROJECT)
    try:
        assert desk.stdout is not None
        line = desk.stdout.readline().decode()
        assert line.startswith("listening on "), log.read_text()
        base = line.split()[-1]
        security, boss = Client(base), Client(base)
        security.log_in("sec")
        boss.log_in("boss")
        store = open_store(url)
        open_cases = [c.id for c in DeskStore(store).inbox("security", limit=5000)]
        store.close()
        chooser = random.Random(14)
        pages = {
            "security inbox": lambda: security.timed("/inbox"),
            "all-teams inbox": lambda: boss.timed("/inbox"),
            "inbox rows": lambda: security.timed("/inbox/rows"),
            "case page": lambda: security.timed(f"/cases/{chooser.choice(open_cases)}"),
            # Reports read every incident of their period: a month, and the whole year the bench fills.
            "reports, a month": lambda: boss.timed("/reports?from=2024-06-01&to=2024-06-30"),
            "reports, a year": lambda: boss.timed("/reports?from=2024-01-01&to=2024-12-31"),
            "incidents CSV, a year": lambda: boss.timed("/reports/incidents.csv?from=2024-01-01&to=2024-12-31"),
        }
        figures = {}
        for name, ask in pages.items():
            asked = requests if name in TARGET_PAGES else max(3, requests // REPORT_SHARE)
            for _ in range(min(5, asked)):
                ask()  # warm-up
            times = sorted(ask() for _ in range(asked))
            figures[name] = {"p50_ms": round(statistics.median(times), 1),
                             "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1), "max_ms": round(times[-1], 1)}
        return figures
    finally:
        desk.terminate()
        desk.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--incidents", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    results = {}
    with ExitStack() as context:
        work = Path(context.enter_context(tempfile.TemporaryDirectory(prefix="rl-bench-desk-")))
        urls = {}
        if args.backend in ("sqlite", "both"):
            urls["sqlite"] = f"sqlite:///{work / 'desk.sqlite'}"
        if args.backend in ("postgresql", "both"):
            from tests.support.postgres_server import PostgresServer  # the tests' throw-away cluster

            server = context.enter_context(PostgresServer())
            urls["postgresql"] = server.create_database("rl_bench_desk")
        for backend, url in urls.items():
            seconds = fill(url, args.cases, args.incidents)
            print(f"{backend}: {args.cases:,} cases and {args.incidents:,} incidents written in {seconds:.0f} s",
                  flush=True)
            figures = measure(url, args.requests, work / f"desk-{backend}.log")
            results[backend] = figures
            for page, row in figures.items():
                print(f"  {page:<22} p50 {row['p50_ms']:7.1f} ms   p95 {row['p95_ms']:7.1f} ms"
                      f"   max {row['max_ms']:7.1f} ms", flush=True)
    worst = max(row["p95_ms"] for figures in results.values() for page, row in figures.items() if page in TARGET_PAGES)
    print(json.dumps({"cases": args.cases, "incidents": args.incidents, "requests": args.requests,
                      "results": results}))
    print(f"desk: worst p95 of the inbox and case pages {worst:.1f} ms "
          f"({'under' if worst < 200 else 'OVER'} the 200 ms target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
