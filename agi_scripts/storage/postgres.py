"""PostgreSQL backend of ``Store``, for several Respectline servers sharing one database.

Concurrency and durability choices:
- A connection pool (psycopg_pool) shared by the FastAGI server's worker threads, the pause keeper
  and the retention sweeper: each store call borrows one connection for one transaction. A
  connection is checked before it is lent, so a database restart costs no failed call.
- Writes run in READ COMMITTED transactions that lock what they read before writing it:
  ``record_flag`` takes a transaction-level advisory lock on the call's id, so two servers counting
  flags of the same call take turns, exactly as SQLite's ``BEGIN IMMEDIATE`` makes them; flags of
  other calls do not wait. Case changes lock the case's row (``FOR UPDATE``). The UNIQUE constraints
  on the flag numbers are a second guard: a lost race could never be stored.
- Multi-statement reads (a case and its events) run in a REPEATABLE READ, READ ONLY transaction: one
  snapshot, as SQLite's read transaction gives.
- ``busy_timeout`` bounds how long a call waits for a lock another server holds (``lock_timeout``);
  past it, ``StoreError``. A connection is waited for at most ``CONNECTION_WAIT`` seconds (the pool
  is larger than the server's worker threads, so only an unreachable database makes anyone wait).
- With the database unreachable, calls fail fast: after a call found no connection, the others get
  ``StoreError`` at once for ``OUTAGE_RETRY`` seconds unless the pool has reconnected meanwhile; then
  one call waits again. Callers are never held in silence for a database that is down.
- Migrations run on open in one transaction under an advisory lock, so servers starting together
  migrate once; DDL is transactional in PostgreSQL, so a failed migration leaves nothing behind. The
  version lives in the table ``respectline_schema_version``.
- Times are ``TIMESTAMPTZ`` and come back as UTC ``datetime`` objects.
- SQL text is made only of this module's constants; every value is a bound parameter. PostgreSQL
  text cannot hold the NUL character: such a value is refused with ``StoreError`` (Asterisk never
  sends one: its strings are C strings).
- Error messages never show the URL's password.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import unquote

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from agi_scripts.storage.base import (
    CASE_STATUSES,
    UTC,
    AgentCompliments,
    AgentPause,
    Call,
    CallerErasure,
    CallerRecords,
    Case,
    CaseEvent,
    CaseStatus,
    Compliment,
    Escalation,
    EscalationBooked,
    FlagResult,
    Incident,
    IncidentCount,
    IncidentDimension,
    NotFound,
    SchemaTooNew,
    StoreError,
    UnsupportedStoreUrl,
    as_utc,
    check_incident_dimensions,
    count_incidents,
    utc_now,
)
from agi_scripts.storage import rules
from agi_scripts.storage.migrations import MIGRATIONS, Migration

Connection = psycopg.Connection[DictRow]

# Advisory lock keys: (namespace, key). The namespace keeps ours apart from other users of the database.
_LOCK_NAMESPACE = 0x52_4C_00  # "RL"
_MIGRATION_LOCK = (_LOCK_NAMESPACE, 0)
_FLAG_LOCK_NAMESPACE = _LOCK_NAMESPACE + 1
VERSION_TABLE = "respectline_schema_version"
POOL_MAX_SIZE = 10
"""Worker threads (4 by default), the pause keeper and the sweeper borrow at most this many at once."""
CONNECTION_WAIT = 2.0
"""Longest wait, in seconds, for a connection (also libpq's connect_timeout unless the URL sets one)."""
OUTAGE_RETRY = 10.0
"""After no connection could be had, calls fail at once for this many seconds (unless one comes back)."""
STATEMENT_MARGIN = 3.0
"""Seconds a statement may run beyond the lock wait before PostgreSQL cancels it."""
MIGRATION_WAIT = 120.0
"""How long a server opening the store waits for another one's migration."""


class PostgresStore:
    def __init__(self, url: str, *, busy_timeout: float = 5.0, pool_max_size: int = POOL_MAX_SIZE,
                 migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self._secret = _secrets_of(url)
        self._busy_timeout = busy_timeout
        self._outage_lock = threading.Lock()
        self._unreachable_since: float | None = None
        with _store_errors(self._secret):
            conninfo = _conninfo(url)
            with psycopg.connect(conninfo, autocommit=True, row_factory=dict_row) as db:
                # Another server may be running a long migration: wait for it longer than for a write.
                _set_session(db, max(busy_timeout, MIGRATION_WAIT))
                self._version = _migrate(db, migrations)
            self._pool: ConnectionPool[Connection] = ConnectionPool(
                conninfo, connection_class=psycopg.Connection[DictRow],
                kwargs={"autocommit": True, "row_factory": dict_row}, min_size=1, max_size=pool_max_size,
                open=True, configure=self._configure, check=ConnectionPool.check_connection,
                timeout=CONNECTION_WAIT, name="respectline-store")

    def _configure(self, db: Connection) -> None:
        _set_session(db, self._busy_timeout)

    @property
    def schema_version(self) -> int:
        return self._version

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ transactions

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One READ COMMITTED write transaction; rolled back if anything raises."""
        with _store_errors(self._secret), self._connection() as db, db.transaction():
            yield db

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A connection for one read statement (autocommit)."""
        with _store_errors(self._secret), self._connection() as db:
            yield db

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """Several reads that see one snapshot."""
        with _store_errors(self._secret), self._connection() as db, db.transaction():
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield db

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A connection of the pool, or at once ``StoreError`` while the database is known unreachable."""
        self._refuse_during_outage()
        try:
            with self._pool.connection() as db:
                with self._outage_lock:
                    self._unreachable_since = None
                yield db
        except PoolTimeout:
            with self._outage_lock:
                self._unreachable_since = time.monotonic()
            raise

    def _refuse_during_outage(self) -> None:
        with self._outage_lock:
            since = self._unreachable_since
            if since is None or self._pool.get_stats().get("pool_available", 0) > 0:
                return
            waited = time.monotonic() - since
            if waited >= OUTAGE_RETRY:
                self._unreachable_since = time.monotonic()  # this call tries; the others still fail fast
                return
        raise StoreError(f"database unreachable (no connection for {waited:.0f} s); not waiting")

    # ------------------------------------------------------------ calls

    def record_call_start(self, call_id: str, *, caller: str, queue: str, language: str, route: str,
                          campaign: str | None = None, agent: str | None = None,
                          started_at: datetime | None = None) -> Call:
        with self._write() as db:
            db.execute(
                "INSERT INTO calls (call_id, started_at, caller, queue, language, route, campaign, agent)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (call_id) DO NOTHING",
                (call_id, _at(started_at), caller, queue, language, route, campaign, agent))
            return _call(_one(db, "SELECT * FROM calls WHERE call_id = %s", (call_id,)))

    def update_call(self, call_id: str, *, agent: str | None = None, campaign: str | None = None,
                    route: str | None = None, language: str | None = None,
                    ended_at: datetime | None = None, outcome: str | None = None) -> Call | None:
        changes: dict[str, object] = {
            "agent": agent, "campaign": campaign, "route": route, "language": language,
            "ended_at": as_utc(ended_at) if ended_at else None, "outcome": outcome}
        given = {column: value for column, value in changes.items() if value is not None}
        with self._write() as db:
            if given:
                assignments = ", ".join(f"{column} = %s" for column in given)  # fixed column names
                row = db.execute(f"UPDATE calls SET {assignments} WHERE call_id = %s RETURNING *",
                                 (*given.values(), call_id)).fetchone()
            else:
                row = db.execute("SELECT * FROM calls WHERE call_id = %s", (call_id,)).fetchone()
            return _call(row) if row else None

    def get_call(self, call_id: str) -> Call | None:
        with self._read() as db:
            row = db.execute("SELECT * FROM calls WHERE call_id = %s", (call_id,)).fetchone()
            return _call(row) if row else None

    # ------------------------------------------------------------ compliments

    def start_compliment(self, call_id: str, *, agent: str, queue: str, campaign: str | None,
                         at: datetime | None = None) -> int:
        now = _at(at)
        with self._write() as db:
            return _new_id(db, "INSERT INTO compliments (call_id, agent, queue, campaign, created_at, updated_at)"
                               " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                           (call_id, agent, queue, campaign, now, now))

    def set_compliment_rating(self, compliment_id: int, rating: int, *, at: datetime | None = None) -> None:
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            raise ValueError(f"a rating is a whole number from 1 to 5, got {rating!r}")
        self._update_compliment(compliment_id, "rating", rating, at)

    def set_compliment_recording(self, compliment_id: int, path: str, *, at: datetime | None = None) -> None:
        self._update_compliment(compliment_id, "recording", path, at)

    def _update_compliment(self, compliment_id: int, column: str, value: object, at: datetime | None) -> None:
        assert column in ("rating", "recording")
        with self._write() as db:
            cursor = db.execute(f"UPDATE compliments SET {column} = %s, updated_at = %s WHERE id = %s",
                                (value, _at(at), compliment_id))
            if cursor.rowcount == 0:
                raise NotFound(f"no compliment {compliment_id}")

    def mark_compliments_delivered(self, compliment_ids: Iterable[int], *, at: datetime | None = None) -> None:
        now = _at(at)
        ids = list(compliment_ids)
        if not ids:
            return
        with self._write() as db:
            db.execute("UPDATE compliments SET delivered_at = %s WHERE id = ANY(%s) AND delivered_at IS NULL",
                       (now, ids))

    def get_compliment(self, compliment_id: int) -> Compliment | None:
        with self._read() as db:
            row = db.execute("SELECT * FROM compliments WHERE id = %s", (compliment_id,)).fetchone()
            return _compliment(row) if row else None

    def list_compliments(self, agent: str | None = None, since: datetime | None = None, *,
                         undelivered_only: bool = False, limit: int | None = None) -> list[Compliment]:
        where = _Where()
        where.add("agent = %s", agent, when=agent is not None)
        where.add("created_at >= %s", as_utc(since) if since else None, when=since is not None)
        where.add("delivered_at IS NULL", when=undelivered_only)
        with self._read() as db:
            rows = db.execute(f"SELECT * FROM compliments {where.sql} ORDER BY created_at DESC, id DESC"
                              " LIMIT %s", (*where.params, limit)).fetchall()
        return [_compliment(row) for row in rows]

    # ------------------------------------------------------------ incidents

    def record_flag(self, call_id: str, category: str, *, agent: str, caller: str, queue: str,
                    at: datetime, dedupe_seconds: float, team: str | None = None) -> FlagResult:
        at = as_utc(at)
        with self._write() as db:
            # Flags of one call take turns, whichever server they reach; other calls do not wait.
            db.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_FLAG_LOCK_NAMESPACE, _lock_key(call_id)))
            last = db.execute(
                "SELECT id, at, number_in_category FROM incidents WHERE call_id = %s AND category = %s"
                " ORDER BY number_in_category DESC LIMIT 1", (call_id, category)).fetchone()
            total = int(_one(db, "SELECT COALESCE(MAX(number_in_call), 0) AS total FROM incidents"
                                 " WHERE call_id = %s", (call_id,))["total"])
            if last is not None and abs((at - last["at"]).total_seconds()) < dedupe_seconds:
                return FlagResult(duplicate=True, incident_id=last["id"],
                                  count_in_category=last["number_in_category"], count_total=total)
            in_category = last["number_in_category"] + 1 if last is not None else 1
            incident_id = _new_id(
                db, "INSERT INTO incidents (call_id, category, number_in_call, number_in_category, team,"
                    " agent, caller, queue, at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (call_id, category, total + 1, in_category, team, agent, caller, queue, at))
            return FlagResult(duplicate=False, incident_id=incident_id,
                              count_in_category=in_category, count_total=total + 1)

    def set_incident_action(self, incident_id: int, action: str, *, case_id: int | None = None) -> None:
        with self._write() as db:
            if case_id is not None:
                _require_case(db, case_id)
            cursor = db.execute("UPDATE incidents SET action = %s, case_id = COALESCE(%s, case_id) WHERE id = %s",
                                (action, case_id, incident_id))
            if cursor.rowcount == 0:
                raise NotFound(f"no incident {incident_id}")

    def book_escalation(self, escalation: Escalation) -> EscalationBooked:
        e = escalation
        at = as_utc(e.at)
        with self._write() as db:
            # The flag lock of record_flag: two servers booking one call's flags take turns, so a retry
            # from the outbox finds the first booking (the UNIQUE key would refuse a second one anyway).
            db.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_FLAG_LOCK_NAMESPACE, _lock_key(e.call_id)))
            booked = db.execute("SELECT id, case_id FROM incidents WHERE call_id = %s AND category = %s"
                                " AND number_in_category = %s", (e.call_id, e.category, e.number_in_category)).fetchone()
            if booked is not None:
                return EscalationBooked(booked["id"], booked["case_id"], None, already=True)
            incident_id = _new_id(
                db, "INSERT INTO incidents (call_id, category, number_in_call, number_in_category, team, action,"
                    " agent, caller, queue, at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (e.call_id, e.category, e.number_in_call, e.number_in_category, e.team, e.outcome, e.agent,
                 e.caller, e.queue, at))
            case_id = None
            if e.case is not None:
                case_id = _new_id(
                    db, "INSERT INTO cases (category, team, priority, status, caller, agent, queue, call_id,"
                        " recording, opened_at) VALUES (%s, %s, %s, 'open', %s, %s, %s, %s, %s, %s) RETURNING id",
                    (e.category, e.case.team, e.case.priority, e.caller, e.agent, e.queue, e.call_id,
                     e.case.recording, at))
                _insert_event(db, case_id, at, "case_opened", rules.case_opened_detail(e.category, e.case.team), None)
                earlier = db.execute("SELECT * FROM incidents WHERE call_id = %s AND id <> %s ORDER BY at, id",
                                     (e.call_id, incident_id)).fetchall()
                for action, detail, when in rules.carried_flag_events(map(_incident, earlier), at):
                    _insert_event(db, case_id, when, action, detail, None)
                for action, detail in e.events:
                    _insert_event(db, case_id, at, action, detail, None)
                db.execute("UPDATE incidents SET case_id = %s WHERE id = %s", (case_id, incident_id))
            elif e.outcome:
                # This flag waited (in the outbox) while a later one of its call opened a case.
                later = db.execute("SELECT id FROM cases WHERE call_id = %s AND opened_at >= %s"
                                   " ORDER BY opened_at, id LIMIT 1", (e.call_id, at)).fetchone()
                if later is not None:
                    _insert_event(db, later["id"], at, e.outcome, rules.flag_detail(e.number_in_call, e.category),
                                  None)
            pause_id = None
            if e.pause is not None:
                pause_id = _new_id(
                    db, "INSERT INTO agent_pauses (agent, queues, reason, paused_at, resume_at, resumed_at, case_id)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                    (e.pause.agent, json.dumps([]), e.pause.reason, at, as_utc(e.pause.resume_at),
                     as_utc(e.pause.resumed_at) if e.pause.resumed_at else None, case_id))
            return EscalationBooked(incident_id, case_id, pause_id)

    def list_incidents(self, *, call_id: str | None = None, since: datetime | None = None) -> list[Incident]:
        where = _Where()
        where.add("call_id = %s", call_id, when=call_id is not None)
        where.add("at >= %s", as_utc(since) if since else None, when=since is not None)
        with self._read() as db:
            rows = db.execute(f"SELECT * FROM incidents {where.sql} ORDER BY at, id", where.params).fetchall()
        return [_incident(row) for row in rows]

    # ------------------------------------------------------------ cases

    def open_case(self, *, category: str, team: str, priority: int, caller: str, agent: str, queue: str,
                  call_id: str, recording: str | None = None, at: datetime | None = None) -> Case:
        now = _at(at)
        with self._write() as db:
            case_id = _new_id(
                db, "INSERT INTO cases (category, team, priority, status, caller, agent, queue, call_id,"
                    " recording, opened_at) VALUES (%s, %s, %s, 'open', %s, %s, %s, %s, %s, %s) RETURNING id",
                (category, team, priority, caller, agent, queue, call_id, recording, now))
            _insert_event(db, case_id, now, "case_opened", rules.case_opened_detail(category, team), None)
            return _load_case(db, case_id)

    def add_case_event(self, case_id: int, action: str, detail: str = "", *, author: str | None = None,
                       at: datetime | None = None) -> CaseEvent:
        if not action:
            raise ValueError("a case event needs an action")
        with self._write() as db:
            _require_case(db, case_id)
            return _insert_event(db, case_id, _at(at), action, detail, author)

    def get_case(self, case_id: int) -> Case | None:
        with self._snapshot() as db:
            cases = _load_cases(db, "id = %s", (case_id,))
        return cases[0] if cases else None

    def list_cases(self, status: CaseStatus | None = None, team: str | None = None) -> list[Case]:
        if status is not None and status not in CASE_STATUSES:
            raise ValueError(f"case status is one of {', '.join(CASE_STATUSES)}, got {status!r}")
        where = _Where()
        where.add("status = %s", status, when=status is not None)
        where.add("team = %s", team, when=team is not None)
        with self._snapshot() as db:
            return _load_cases(db, where.condition, where.params)

    def assign_case(self, case_id: int, assignee: str, *, author: str | None = None,
                    at: datetime | None = None) -> Case:
        now = _at(at)
        with self._write() as db:
            _require_not_closed(db, case_id, "assign")
            db.execute("UPDATE cases SET status = 'assigned', assignee = %s WHERE id = %s", (assignee, case_id))
            _insert_event(db, case_id, now, "assigned", assignee, author)
            return _load_case(db, case_id)

    def add_case_note(self, case_id: int, author: str, text: str, *, at: datetime | None = None) -> CaseEvent:
        return self.add_case_event(case_id, "note", text, author=author, at=at)

    def close_case(self, case_id: int, resolution: str, *, author: str | None = None,
                   at: datetime | None = None) -> Case:
        now = _at(at)
        with self._write() as db:
            _require_not_closed(db, case_id, "close")
            db.execute("UPDATE cases SET status = 'closed', closed_at = %s, resolution = %s WHERE id = %s",
                       (now, resolution, case_id))
            _insert_event(db, case_id, now, "closed", resolution, author)
            return _load_case(db, case_id)

    def open_case_for_caller(self, caller: str, now: datetime,
                             window_days_by_team: Mapping[str, float]) -> Case | None:
        if not caller.strip():
            return None  # a withheld number is nobody in particular
        now = as_utc(now)
        with self._snapshot() as db:
            live = _load_cases(db, "caller = %s AND status != 'closed'", (caller,), limit=1)
            if live:
                return live[0]
            longest = max(window_days_by_team.values(), default=0.0)
            if longest <= 0:
                return None
            recent = _load_cases(db, "caller = %s AND status = 'closed' AND closed_at >= %s",
                                 (caller, now - timedelta(days=longest)), order="closed_at DESC, id DESC")
        for case in recent:
            window = timedelta(days=window_days_by_team.get(case.team, 0.0))
            if case.closed_at is not None and now - case.closed_at < window:
                return case
        return None

    # ------------------------------------------------------------ agent pauses

    def record_pause(self, *, agent: str, queues: Sequence[str], reason: str, paused_at: datetime,
                     resume_at: datetime | None, case_id: int | None = None) -> AgentPause:
        with self._write() as db:
            if case_id is not None:
                _require_case(db, case_id)
            row = _one(db, "INSERT INTO agent_pauses (agent, queues, reason, paused_at, resume_at, case_id)"
                           " VALUES (%s, %s, %s, %s, %s, %s) RETURNING *",
                       (agent, json.dumps(list(queues)), reason, as_utc(paused_at),
                        as_utc(resume_at) if resume_at else None, case_id))
            return _pause(row)

    def due_pauses(self, now: datetime) -> list[AgentPause]:
        with self._read() as db:
            rows = db.execute("SELECT * FROM agent_pauses WHERE resumed_at IS NULL AND resume_at <= %s"
                              " ORDER BY resume_at, id", (as_utc(now),)).fetchall()
        return [_pause(row) for row in rows]

    def active_pauses(self) -> list[AgentPause]:
        """Every pause not yet lifted, due or not, oldest first (for the CLI)."""
        with self._read() as db:
            rows = db.execute("SELECT * FROM agent_pauses WHERE resumed_at IS NULL ORDER BY paused_at, id").fetchall()
        return [_pause(row) for row in rows]

    def mark_resumed(self, pause_id: int, *, at: datetime | None = None) -> None:
        with self._write() as db:
            cursor = db.execute("UPDATE agent_pauses SET resumed_at = %s WHERE id = %s AND resumed_at IS NULL",
                                (_at(at), pause_id))
            if cursor.rowcount == 0 and db.execute(
                    "SELECT 1 FROM agent_pauses WHERE id = %s", (pause_id,)).fetchone() is None:
                raise NotFound(f"no agent pause {pause_id}")

    # ------------------------------------------------------------ retention and privacy

    def forget_recording(self, path: str, *, reason: str, at: datetime | None = None) -> None:
        now = _at(at)
        with self._write() as db:
            db.execute("UPDATE compliments SET recording = NULL, updated_at = %s WHERE recording = %s", (now, path))
            for row in db.execute("SELECT id FROM cases WHERE recording = %s ORDER BY id FOR UPDATE",
                                  (path,)).fetchall():
                _insert_event(db, row["id"], now, "recording_deleted", reason, None)

    def forget_callers(self, *, calls_before: datetime, incidents_before: datetime) -> tuple[int, int, int]:
        with self._write() as db:
            calls = db.execute("UPDATE calls SET caller = '' WHERE started_at < %s AND caller != ''",
                               (as_utc(calls_before),)).rowcount
            incidents = db.execute(
                "UPDATE incidents SET caller = '' WHERE at < %s AND caller != '' AND NOT EXISTS"
                " (SELECT 1 FROM cases WHERE cases.call_id = incidents.call_id AND cases.status <> 'closed')",
                (as_utc(incidents_before),)).rowcount
            cases = db.execute("UPDATE cases SET caller = '' WHERE status = 'closed' AND closed_at < %s"
                               " AND caller <> ''", (as_utc(incidents_before),)).rowcount
        return calls, incidents, cases

    def caller_records(self, caller: str) -> CallerRecords:
        if not caller.strip():
            return CallerRecords(caller, (), (), (), ())
        with self._snapshot() as db:
            calls = db.execute("SELECT * FROM calls WHERE caller = %s ORDER BY started_at, call_id COLLATE \"C\"",
                               (caller,)).fetchall()
            compliments = db.execute(
                "SELECT * FROM compliments WHERE call_id IN (SELECT call_id FROM calls WHERE caller = %s)"
                " ORDER BY created_at, id", (caller,)).fetchall()
            incidents = db.execute("SELECT * FROM incidents WHERE caller = %s ORDER BY at, id", (caller,)).fetchall()
            cases = _load_cases(db, "caller = %s", (caller,), order="opened_at, id")
        return CallerRecords(caller, tuple(_call(r) for r in calls), tuple(_compliment(r) for r in compliments),
                             tuple(_incident(r) for r in incidents), tuple(cases))

    def erase_caller(self, caller: str, *, evidence_closed_before: datetime,
                     at: datetime | None = None) -> CallerErasure:
        if not caller.strip():
            return CallerErasure(0, (), 0, 0, (), ())
        now = _at(at)
        cutoff = as_utc(evidence_closed_before)
        with self._write() as db:
            case_rows = db.execute("SELECT id, call_id, status, closed_at, recording FROM cases WHERE caller = %s"
                                   " ORDER BY id FOR UPDATE", (caller,)).fetchall()
            erased = [r for r in case_rows if r["status"] == "closed" and r["closed_at"] is not None
                      and r["closed_at"] < cutoff]
            erased_ids = [r["id"] for r in erased]
            kept = [r for r in case_rows if r["id"] not in set(erased_ids)]
            kept_calls = sorted({r["call_id"] for r in kept})
            compliment_rows = db.execute(
                "SELECT id, recording FROM compliments WHERE recording IS NOT NULL"
                " AND call_id IN (SELECT call_id FROM calls WHERE caller = %s) ORDER BY id FOR UPDATE",
                (caller,)).fetchall()
            db.execute("UPDATE compliments SET recording = NULL, updated_at = %s WHERE id = ANY(%s)",
                       (now, [row["id"] for row in compliment_rows]))
            incidents = db.execute(
                "UPDATE incidents SET caller = '' WHERE caller = %s AND call_id <> ALL(%s)",
                (caller, kept_calls)).rowcount
            db.execute("UPDATE cases SET caller = '' WHERE id = ANY(%s)", (erased_ids,))
            for row in kept:
                _insert_event(db, row["id"], now, "erasure_refused",
                              "kept as evidence while the case is open or within its retention", None)
            calls = db.execute("DELETE FROM calls WHERE caller = %s", (caller,)).rowcount
            # A recording another case still points at (another number, or withheld) is that case's evidence.
            shared = {r["recording"] for r in db.execute(
                "SELECT DISTINCT recording FROM cases WHERE recording = ANY(%s) AND id <> ALL(%s)",
                ([r["recording"] for r in erased if r["recording"]], erased_ids)).fetchall()}
        return CallerErasure(
            calls_deleted=calls,
            compliment_recordings=tuple(row["recording"] for row in compliment_rows),
            incidents_anonymised=incidents,
            cases_anonymised=len(erased),
            case_recordings=tuple(dict.fromkeys(r["recording"] for r in erased
                                                if r["recording"] and r["recording"] not in shared)),
            cases_kept=tuple(row["id"] for row in kept),
            kept_call_ids=tuple(kept_calls))

    # ------------------------------------------------------------ reports

    def compliments_per_agent(self, *, since: datetime | None = None,
                              until: datetime | None = None) -> list[AgentCompliments]:
        where = _time_range("created_at", since, until)
        with self._read() as db:
            rows = db.execute(
                "SELECT agent, COUNT(*) AS compliments, COUNT(rating) AS rated,"
                " AVG(rating)::float8 AS average_rating, COUNT(recording) AS with_recording"
                f" FROM compliments {where.sql}"
                " GROUP BY agent ORDER BY compliments DESC, agent COLLATE \"C\"", where.params).fetchall()
        return [AgentCompliments(agent=r["agent"], compliments=r["compliments"], rated=r["rated"],
                                 average_rating=r["average_rating"], with_recording=r["with_recording"])
                for r in rows]

    def incident_counts(self, group_by: Sequence[IncidentDimension], *, since: datetime | None = None,
                        until: datetime | None = None, tz: tzinfo = UTC) -> list[IncidentCount]:
        check_incident_dimensions(group_by)
        where = _time_range("at", since, until)
        with self._read() as db:
            rows = db.execute(f"SELECT category, team, queue, at, action FROM incidents {where.sql}",
                              where.params).fetchall()
        return count_incidents(
            ((r["category"], r["team"], r["queue"], r["at"], r["action"]) for r in rows), group_by, tz)


# ---------------------------------------------------------------- URL, connection and schema


def _conninfo(url: str) -> str:
    """libpq's connection string for a ``postgresql://`` URL, with our defaults where it says nothing."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        # libpq's own message quotes the part it could not read, which may be the password.
        raise UnsupportedStoreUrl(
            "not a valid PostgreSQL URL; expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE, with any"
            " '@', ':', '/', '%' or space in the password percent-encoded (e.g. %40 for '@')") from None
    params.setdefault("connect_timeout", round(CONNECTION_WAIT))  # libpq's smallest useful value is 2
    params.setdefault("application_name", "respectline")
    # A half-open connection (failover, a firewall dropping state) is noticed in seconds, not hours.
    for key, value in (("keepalives", 1), ("keepalives_idle", 10), ("keepalives_interval", 5),
                       ("keepalives_count", 3), ("tcp_user_timeout", 15000)):
        params.setdefault(key, value)
    return psycopg.conninfo.make_conninfo(**{key: str(value) for key, value in params.items()})


def _set_session(db: Connection, lock_timeout: float) -> None:
    """Per connection: UTC session times, how long to wait for another server's locks, and a bound
    on any statement, so a stalled database costs a call seconds, not the rest of its life."""
    db.execute("SELECT set_config('TimeZone', 'UTC', false), set_config('lock_timeout', %s, false),"
               " set_config('statement_timeout', %s, false)",
               (f"{int(lock_timeout * 1000)}ms", f"{int((lock_timeout + STATEMENT_MARGIN) * 1000)}ms"))


def _secrets_of(url: str) -> tuple[str, ...]:
    """Everything in the URL's user part that could be (part of) the password, longest first: the
    raw and decoded password, and its pieces around '@' or ':' (a mistyped URL splits it there)."""
    userinfo = url.partition("://")[2].rpartition("@")[0]
    password = userinfo.partition(":")[2]
    pieces = {password, unquote(password), *re.split(r"[@:]", password), *re.split(r"[@:]", unquote(password))}
    return tuple(sorted((p for p in pieces if len(p) >= 3), key=len, reverse=True))


def _migrate(db: Connection, migrations: Sequence[Migration]) -> int:
    """Bring the schema to the newest version in one transaction; refuse a newer database."""
    latest = migrations[-1].version
    missing = [m.version for m in migrations if m.postgresql is None]
    if missing:
        raise StoreError(f"migrations {missing} have no PostgreSQL statements")
    with db.transaction():
        # Servers starting together: one migrates, the others wait here and then find it done.
        db.execute("SELECT pg_advisory_xact_lock(%s, %s)", _MIGRATION_LOCK)
        db.execute(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} ("
                   " singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton), version INTEGER NOT NULL)")
        row = db.execute(f"SELECT version FROM {VERSION_TABLE}").fetchone()
        current = int(row["version"]) if row else 0
        if current > latest:
            raise SchemaTooNew(
                f"the database has schema version {current}, but this Respectline knows versions up to"
                f" {latest}: it was written by a newer Respectline. Upgrade Respectline, or restore a"
                " backup made by this version.")
        for migration in migrations:
            if migration.version > current:
                for statement in migration.postgresql or ():
                    db.execute(statement)
        if latest > current:
            db.execute(f"INSERT INTO {VERSION_TABLE} (version) VALUES (%s)"
                       " ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version", (latest,))
    return max(current, latest)


@contextmanager
def _store_errors(secrets: Sequence[str]) -> Iterator[None]:
    try:
        yield
    except psycopg.Error as error:
        message = str(error).strip()
        for secret in secrets:
            message = message.replace(secret, "***")
        # "from None": the original exception, password and all, must not reach a logged traceback.
        raise StoreError(f"database error: {message}") from None


def _lock_key(call_id: str) -> int:
    """A call id as a signed 32-bit advisory lock key (a collision only makes two calls take turns)."""
    digest = hashlib.blake2b(call_id.encode("utf-8", "surrogatepass"), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


# ---------------------------------------------------------------- SQL helpers


class _Where:
    """A WHERE clause built from this module's constant conditions, values kept as parameters."""

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.params: list[object] = []

    def add(self, condition: str, *values: object, when: bool) -> None:
        if when:
            self.conditions.append(condition)
            self.params.extend(values)

    @property
    def condition(self) -> str:
        return " AND ".join(self.conditions) or "TRUE"

    @property
    def sql(self) -> str:
        return f"WHERE {self.condition}" if self.conditions else ""


def _time_range(column: str, since: datetime | None, until: datetime | None) -> _Where:
    where = _Where()
    where.add(f"{column} >= %s", as_utc(since) if since else None, when=since is not None)
    where.add(f"{column} < %s", as_utc(until) if until else None, when=until is not None)
    return where


def _at(moment: datetime | None) -> datetime:
    return as_utc(moment) if moment is not None else utc_now()


def _one(db: Connection, query: str, params: Sequence[object]) -> DictRow:
    row = db.execute(query, params).fetchone()
    assert row is not None, query
    return row


def _new_id(db: Connection, query: str, params: Sequence[object]) -> int:
    return int(_one(db, query, params)["id"])


def _require_case(db: Connection, case_id: int) -> DictRow:
    row = db.execute("SELECT * FROM cases WHERE id = %s", (case_id,)).fetchone()
    if row is None:
        raise NotFound(f"no case {case_id}")
    return row


def _require_not_closed(db: Connection, case_id: int, verb: str) -> None:
    # FOR UPDATE: two staff members closing the same case at once cannot both succeed.
    row = db.execute("SELECT status FROM cases WHERE id = %s FOR UPDATE", (case_id,)).fetchone()
    if row is None:
        raise NotFound(f"no case {case_id}")
    if row["status"] == "closed":
        raise StoreError(f"cannot {verb} case {case_id}: it is closed")


def _insert_event(db: Connection, case_id: int, at: datetime, action: str, detail: str,
                  author: str | None) -> CaseEvent:
    event_id = _new_id(db, "INSERT INTO case_events (case_id, at, action, detail, author)"
                           " VALUES (%s, %s, %s, %s, %s) RETURNING id", (case_id, at, action, detail, author))
    return CaseEvent(id=event_id, case_id=case_id, at=at, action=action, detail=detail, author=author)


def _load_case(db: Connection, case_id: int) -> Case:
    return _load_cases(db, "id = %s", (case_id,))[0]


def _load_cases(db: Connection, condition: str, params: Sequence[object], *,
                order: str = "priority, opened_at, id", limit: int | None = None) -> list[Case]:
    """Cases matching a constant condition, each with its events (two queries)."""
    rows = db.execute(f"SELECT * FROM cases WHERE {condition} ORDER BY {order} LIMIT %s",
                      (*params, limit)).fetchall()
    if not rows:
        return []
    events: dict[int, list[CaseEvent]] = {row["id"]: [] for row in rows}
    for event in db.execute("SELECT * FROM case_events WHERE case_id = ANY(%s) ORDER BY at, id", (list(events),)):
        events[event["case_id"]].append(_case_event(event))
    return [_case(row, tuple(events[row["id"]])) for row in rows]


# ---------------------------------------------------------------- rows to records


def _time(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _maybe_time(value: datetime | None) -> datetime | None:
    return _time(value) if value is not None else None


def _call(row: DictRow) -> Call:
    return Call(call_id=row["call_id"], started_at=_time(row["started_at"]), caller=row["caller"],
                queue=row["queue"], language=row["language"], route=row["route"], campaign=row["campaign"],
                agent=row["agent"], ended_at=_maybe_time(row["ended_at"]), outcome=row["outcome"])


def _compliment(row: DictRow) -> Compliment:
    return Compliment(id=row["id"], call_id=row["call_id"], agent=row["agent"], queue=row["queue"],
                      campaign=row["campaign"], rating=row["rating"], recording=row["recording"],
                      created_at=_time(row["created_at"]), updated_at=_time(row["updated_at"]),
                      delivered_at=_maybe_time(row["delivered_at"]))


def _incident(row: DictRow) -> Incident:
    return Incident(id=row["id"], call_id=row["call_id"], category=row["category"],
                    number_in_call=row["number_in_call"], number_in_category=row["number_in_category"],
                    team=row["team"], action=row["action"], case_id=row["case_id"], agent=row["agent"],
                    caller=row["caller"], queue=row["queue"], at=_time(row["at"]))


def _case_event(row: DictRow) -> CaseEvent:
    return CaseEvent(id=row["id"], case_id=row["case_id"], at=_time(row["at"]), action=row["action"],
                     detail=row["detail"], author=row["author"])


def _case(row: DictRow, events: tuple[CaseEvent, ...]) -> Case:
    return Case(id=row["id"], category=row["category"], team=row["team"], priority=row["priority"],
                status=row["status"], caller=row["caller"], agent=row["agent"], queue=row["queue"],
                call_id=row["call_id"], recording=row["recording"], opened_at=_time(row["opened_at"]),
                closed_at=_maybe_time(row["closed_at"]), assignee=row["assignee"],
                resolution=row["resolution"], events=events)


def _pause(row: DictRow) -> AgentPause:
    queues: Any = json.loads(row["queues"])
    return AgentPause(id=row["id"], agent=row["agent"], queues=tuple(str(q) for q in queues),
                      reason=row["reason"], paused_at=_time(row["paused_at"]),
                      resume_at=_maybe_time(row["resume_at"]), resumed_at=_maybe_time(row["resumed_at"]),
                      case_id=row["case_id"])
