"""Prometheus metrics of one process: the names, and the small functions that move them.

On the ground floor so every package reports without importing another: the FastAGI server (sessions,
per-script latency), the handlers and the ladder (flags, cases, store errors), the pause keeper (pauses
in force, the outbox), the desk (requests, live streams, failed logins). ``respectline serve`` answers
``GET /metrics`` where it answers ``/health``; the desk answers it on its own port.

Labels carry only bounded, non-personal values: script names of the route table, category ids of the
abuse policy, route templates, status codes. Never a caller number, a name or a raw path. Label values
come from a fixed set or are cut (``bounded``) so a hostile peer cannot grow the series without end.

The FastAGI server's metrics live in ``REGISTRY``, the desk's in ``DESK_REGISTRY``: each process answers
its own. Several servers started by one test process add up, as a process's counters should. Counters
only go up; tests read differences.
"""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

REGISTRY = CollectorRegistry(auto_describe=True)
DESK_REGISTRY = CollectorRegistry(auto_describe=True)
CONTENT_TYPE = CONTENT_TYPE_LATEST

_LABEL = re.compile(r"^[A-Za-z0-9_.:{}/-]{1,64}$")
MAX_LABEL_VALUES = 200
"""At most this many distinct values per label of one metric; further values count as ``other``."""
_seen: dict[tuple[str, str], set[str]] = {}

# Latency buckets in seconds: an AGI script answers in milliseconds, a post-call flow may take a minute.
SCRIPT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0)

# ---------------------------------------------------------------- the FastAGI server and the calls

SESSIONS_ACTIVE = Gauge("respectline_sessions_active", "AGI sessions in progress", registry=REGISTRY)
SESSIONS = Counter("respectline_sessions", "AGI sessions ended, by script and how they ended",
                   ["script", "result"], registry=REGISTRY)
SCRIPT_SECONDS = Histogram("respectline_script_duration_seconds", "Length of an AGI session, per script",
                           ["script"], buckets=SCRIPT_BUCKETS, registry=REGISTRY)
FLAGS = Counter("respectline_flags", "Abuse codes pressed by agents, per category", ["category"],
                registry=REGISTRY)
CASES_OPENED = Counter("respectline_cases_opened", "Cases opened by a flag, per team", ["team"],
                       registry=REGISTRY)
STORE_ERRORS = Counter("respectline_store_errors", "Store operations that failed (the call went on)", ["where"],
                       registry=REGISTRY)
PAUSES_ACTIVE = Gauge("respectline_pauses_active", "Agents' recovery pauses not lifted yet (as the pause keeper "
                      "last read them from the store)", registry=REGISTRY)
OUTBOX_BACKLOG = Gauge("respectline_outbox_backlog", "Flags waiting in the outbox for the store (as the pause "
                       "keeper last saw them)", registry=REGISTRY)

# ---------------------------------------------------------------- the desk

DESK_REQUESTS = Counter("respectline_desk_requests", "Desk HTTP requests, by route template, method and status",
                        ["route", "method", "status"], registry=DESK_REGISTRY)
DESK_SECONDS = Histogram("respectline_desk_request_duration_seconds",
                         "Desk time to the first byte of the answer, per route template", ["route"],
                         buckets=REQUEST_BUCKETS, registry=DESK_REGISTRY)
DESK_STREAMS = Gauge("respectline_desk_live_streams", "Live inbox and live view streams open now",
                     registry=DESK_REGISTRY)
DESK_FAILED_LOGINS = Counter("respectline_desk_failed_logins", "Desk logins refused (wrong name or password, "
                             "throttled, expired form)", ["reason"], registry=DESK_REGISTRY)
CALLBACKS = Counter("respectline_desk_callbacks", "Calls back from the desk, by outcome", ["outcome"],
                    registry=DESK_REGISTRY)


def bounded(metric: str, label: str, value: str) -> str:
    """``value`` as a label value: a plain short word, and one of at most ``MAX_LABEL_VALUES`` per label."""
    if not _LABEL.fullmatch(value):
        return "other"
    seen = _seen.setdefault((metric, label), set())
    if value not in seen:
        if len(seen) >= MAX_LABEL_VALUES:
            return "other"
        seen.add(value)
    return value


def exposition(registry: CollectorRegistry = REGISTRY) -> bytes:
    """The text ``GET /metrics`` answers (the server's; the desk passes ``DESK_REGISTRY``)."""
    return generate_latest(registry)


# ---------------------------------------------------------------- what the packages report


def session_started() -> None:
    SESSIONS_ACTIVE.inc()


def session_ended() -> None:
    SESSIONS_ACTIVE.dec()


def script_done(script: str, result: str, seconds: float) -> None:
    """One AGI session ended: ``script`` is a route name (``unknown`` for none), ``result`` a short word."""
    name = bounded("sessions", "script", script)
    SESSIONS.labels(name, result).inc()
    SCRIPT_SECONDS.labels(name).observe(seconds)


def flag_pressed(category: str) -> None:
    FLAGS.labels(bounded("flags", "category", category)).inc()


def case_opened(team: str) -> None:
    CASES_OPENED.labels(bounded("cases", "team", team)).inc()


def store_failed(where: str) -> None:
    STORE_ERRORS.labels(bounded("store_errors", "where", where)).inc()


def pauses_in_force(count: int) -> None:
    PAUSES_ACTIVE.set(count)


def outbox_waiting(count: int) -> None:
    OUTBOX_BACKLOG.set(count)


def desk_request(route: str, method: str, status: int, seconds: float) -> None:
    name = bounded("desk", "route", route)
    DESK_REQUESTS.labels(name, method if method in ("GET", "POST", "HEAD") else "other", str(status)).inc()
    DESK_SECONDS.labels(name).observe(seconds)


def desk_login_failed(reason: str) -> None:
    DESK_FAILED_LOGINS.labels(reason if reason in ("refused", "throttled", "expired") else "other").inc()


def callback_outcome(outcome: str) -> None:
    CALLBACKS.labels(bounded("callbacks", "outcome", outcome)).inc()
