"""One ``Store`` in SQL for both backends: ``SqlStore`` over a ``Dialect``.

Every query is written here once, with ``?`` for its values. A dialect (``sqlite``, ``postgres``) says
what truly differs between the databases:
- how a transaction is had: a write transaction holding the locks its read-then-write needs, a read
  of one statement, and reads of several statements that see one snapshot; and how the database's
  errors become ``StoreError``;
- its placeholder, how a time is stored and read back, how a new row's id comes back;
- the flag lock, by which the bookings of one call's flags take turns across threads and processes;
- row locks (``FOR UPDATE``), text ordered by code point whatever the collation, a list bound as
  values (``IN (?, ?)`` or ``= ANY(?)``) and the LIMIT that means none.
The rules that do not depend on the database (the repeat-caller window, the erasure keep-rule, ...)
are pure functions in ``rules``.

SQL text is made only of this package's constants (column names and conditions chosen from fixed
sets included); every value is a bound parameter.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta, tzinfo
from typing import Any, Self

from agi_scripts.storage import rules
from agi_scripts.storage.base import (
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
    Incident,
    IncidentCount,
    IncidentDimension,
    NotFound,
    PendingErasure,
    StoreError,
    Transcript,
    TranscriptSegment,
    as_utc,
    check_incident_dimensions,
    count_incidents,
    utc_now,
)

Row = dict[str, Any]
TIME_COLUMNS = frozenset({"started_at", "ended_at", "created_at", "updated_at", "delivered_at", "at",
                          "opened_at", "closed_at", "paused_at", "resume_at", "resumed_at", "requested_at",
                          "last_tried_at"})
"""Columns read back as UTC ``datetime`` objects, whatever the dialect stores."""


class Dialect(ABC):
    """What differs between the SQL databases a ``SqlStore`` runs on, and its transactions."""

    version: int
    """The schema version, once the dialect has migrated the database on open."""
    for_update: str
    """Ends a SELECT of a write transaction that must lock the rows it reads ("" where a write
    transaction already keeps every other writer out)."""
    by_code_point: str
    """Ends an ORDER BY term of text so it sorts by code point, whatever the database's collation."""
    no_limit: object
    """The LIMIT value that means no limit."""

    @abstractmethod
    def write(self) -> AbstractContextManager[Tx]:
        """One write transaction, committed at the end and rolled back if anything raises."""

    @abstractmethod
    def read(self) -> AbstractContextManager[Tx]:
        """A connection for one read statement."""

    def snapshot(self) -> AbstractContextManager[Tx]:
        """Several reads that see one snapshot."""
        return self.read()

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def sql(self, text: str) -> str:
        """The store's SQL text (``?`` placeholders) as this database takes it."""

    @abstractmethod
    def encode_time(self, moment: datetime) -> object:
        """A time as it is bound (ValueError for a naive one)."""

    @abstractmethod
    def decode_time(self, value: Any) -> datetime:
        """A stored time as a UTC ``datetime``."""

    @abstractmethod
    def insert(self, db: Any, sql: str, params: Sequence[object]) -> int:
        """Run an INSERT of one row into a table with an ``id`` column; the new id."""

    @abstractmethod
    def any_of(self, values: Sequence[object]) -> tuple[str, tuple[object, ...]]:
        """(condition, parameters): written after a column, true when it equals any of ``values``."""

    @abstractmethod
    def none_of(self, values: Sequence[object]) -> tuple[str, tuple[object, ...]]:
        """(condition, parameters): written after a column, true when it equals none of ``values``."""

    @abstractmethod
    def lock_call(self, tx: Tx, call_id: str) -> None:
        """In a write transaction: wait for, then hold until it ends, the lock on one call's flags."""


class Tx:
    """One transaction's connection: the store's SQL with its values bound, times encoded and read back."""

    def __init__(self, dialect: Dialect, db: Any) -> None:
        self.dialect = dialect
        self.db = db

    def _params(self, params: Sequence[object]) -> tuple[object, ...]:
        encode = self.dialect.encode_time
        return tuple(encode(value) if isinstance(value, datetime) else value for value in params)

    def _execute(self, sql: str, params: Sequence[object]) -> Any:
        return self.db.execute(self.dialect.sql(sql), self._params(params))

    def _row(self, row: Any) -> Row:
        decode = self.dialect.decode_time
        return {key: decode(row[key]) if key in TIME_COLUMNS and row[key] is not None else row[key]
                for key in row.keys()}

    def run(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run one statement; how many rows it changed."""
        return int(self._execute(sql, params).rowcount)

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return [self._row(row) for row in self._execute(sql, params).fetchall()]

    def row(self, sql: str, params: Sequence[object] = ()) -> Row | None:
        found = self._execute(sql, params).fetchone()
        return self._row(found) if found is not None else None

    def one(self, sql: str, params: Sequence[object] = ()) -> Row:
        found = self.row(sql, params)
        assert found is not None, sql
        return found

    def insert(self, sql: str, params: Sequence[object]) -> int:
        return self.dialect.insert(self.db, self.dialect.sql(sql), self._params(params))


_INSERT_INCIDENT = ("INSERT INTO incidents (call_id, category, number_in_call, number_in_category, team, action,"
                    " agent, caller, queue, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_KEPT_AS_EVIDENCE = "kept as evidence while the case is open or within its retention"


class SqlStore:
    """``Store`` on a SQL database; ``dialect`` opens its transactions and says how the database differs."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    @property
    def schema_version(self) -> int:
        return self.dialect.version

    def close(self) -> None:
        self.dialect.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ calls

    def record_call_start(self, call_id: str, *, caller: str, queue: str, language: str, route: str,
                          campaign: str | None = None, agent: str | None = None,
                          started_at: datetime | None = None) -> Call:
        with self.dialect.write() as tx:
            tx.run("INSERT INTO calls (call_id, started_at, caller, queue, language, route, campaign, agent)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (call_id) DO NOTHING",
                   (call_id, started_at or utc_now(), caller, queue, language, route, campaign, agent))
            return _call(tx.one("SELECT * FROM calls WHERE call_id = ?", (call_id,)))

    def update_call(self, call_id: str, *, agent: str | None = None, campaign: str | None = None,
                    route: str | None = None, language: str | None = None,
                    ended_at: datetime | None = None, outcome: str | None = None) -> Call | None:
        changes: dict[str, object] = {"agent": agent, "campaign": campaign, "route": route, "language": language,
                                      "ended_at": ended_at, "outcome": outcome}
        given = {column: value for column, value in changes.items() if value is not None}
        with self.dialect.write() as tx:
            if given:
                assignments = ", ".join(f"{column} = ?" for column in given)  # fixed column names
                tx.run(f"UPDATE calls SET {assignments} WHERE call_id = ?", (*given.values(), call_id))
            row = tx.row("SELECT * FROM calls WHERE call_id = ?", (call_id,))
            return _call(row) if row else None

    def get_call(self, call_id: str) -> Call | None:
        with self.dialect.read() as tx:
            row = tx.row("SELECT * FROM calls WHERE call_id = ?", (call_id,))
            return _call(row) if row else None

    # ------------------------------------------------------------ compliments

    def start_compliment(self, call_id: str, *, agent: str, queue: str, campaign: str | None,
                         at: datetime | None = None) -> int:
        now = at or utc_now()
        with self.dialect.write() as tx:
            return tx.insert("INSERT INTO compliments (call_id, agent, queue, campaign, created_at, updated_at)"
                             " VALUES (?, ?, ?, ?, ?, ?)", (call_id, agent, queue, campaign, now, now))

    def set_compliment_rating(self, compliment_id: int, rating: int, *, at: datetime | None = None) -> None:
        rules.check_rating(rating)
        self._update_compliment(compliment_id, "rating", rating, at)

    def set_compliment_recording(self, compliment_id: int, path: str, *, at: datetime | None = None) -> None:
        self._update_compliment(compliment_id, "recording", path, at)

    def _update_compliment(self, compliment_id: int, column: str, value: object, at: datetime | None) -> None:
        assert column in ("rating", "recording")
        with self.dialect.write() as tx:
            if tx.run(f"UPDATE compliments SET {column} = ?, updated_at = ? WHERE id = ?",
                      (value, at or utc_now(), compliment_id)) == 0:
                raise NotFound(f"no compliment {compliment_id}")

    def mark_compliments_delivered(self, compliment_ids: Iterable[int], *, at: datetime | None = None) -> None:
        now = as_utc(at or utc_now())
        ids = list(compliment_ids)
        if not ids:
            return
        among, values = self.dialect.any_of(ids)
        with self.dialect.write() as tx:
            tx.run(f"UPDATE compliments SET delivered_at = ? WHERE id {among} AND delivered_at IS NULL",
                   (now, *values))

    def get_compliment(self, compliment_id: int) -> Compliment | None:
        with self.dialect.read() as tx:
            row = tx.row("SELECT * FROM compliments WHERE id = ?", (compliment_id,))
            return _compliment(row) if row else None

    def list_compliments(self, agent: str | None = None, since: datetime | None = None, *,
                         undelivered_only: bool = False, limit: int | None = None) -> list[Compliment]:
        where = _Where()
        where.add("agent = ?", agent, when=agent is not None)
        where.add("created_at >= ?", since, when=since is not None)
        where.add("delivered_at IS NULL", when=undelivered_only)
        with self.dialect.read() as tx:
            rows = tx.rows(f"SELECT * FROM compliments {where.sql} ORDER BY created_at DESC, id DESC LIMIT ?",
                           (*where.params, self.dialect.no_limit if limit is None else limit))
        return [_compliment(row) for row in rows]

    # ------------------------------------------------------------ incidents

    def set_incident_action(self, incident_id: int, action: str, *, case_id: int | None = None) -> None:
        with self.dialect.write() as tx:
            if case_id is not None:
                _require_case(tx, case_id)
            if tx.run("UPDATE incidents SET action = ?, case_id = COALESCE(?, case_id) WHERE id = ?",
                      (action, case_id, incident_id)) == 0:
                raise NotFound(f"no incident {incident_id}")

    def book_escalation(self, escalation: Escalation) -> EscalationBooked:
        e = escalation
        at = as_utc(e.at)
        rules.check_escalation_events(e.events)
        with self.dialect.write() as tx:
            # The flag lock: two servers booking one call's flags take turns, so a retry from the outbox
            # finds the first booking (the UNIQUE key would refuse a second one anyway).
            self.dialect.lock_call(tx, e.call_id)
            booked = tx.row("SELECT id, case_id FROM incidents WHERE call_id = ? AND category = ?"
                            " AND number_in_category = ?", (e.call_id, e.category, e.number_in_category))
            if booked is not None:
                # The case it opened, as the first booking said; not one of its call it joined later.
                return EscalationBooked(booked["id"], booked["case_id"] if e.case is not None else None, None,
                                        already=True)
            incident_id = tx.insert(_INSERT_INCIDENT, (e.call_id, e.category, e.number_in_call, e.number_in_category,
                                                       e.team, e.outcome, e.agent, e.caller, e.queue, at))
            case_id = None
            if e.case is not None:
                case_id = _insert_case(tx, e.category, e.case.team, e.case.priority, e.caller, e.agent, e.queue,
                                       e.call_id, e.case.recording, at)
                earlier = tx.rows("SELECT * FROM incidents WHERE call_id = ? AND id <> ? ORDER BY at, id",
                                  (e.call_id, incident_id))
                for action, detail, when in rules.carried_flag_events(map(_incident, earlier), at):
                    _insert_event(tx, case_id, when, action, detail, None)
                for action, detail in e.events:
                    _insert_event(tx, case_id, at, action, detail, None)
                tx.run("UPDATE incidents SET case_id = ? WHERE id = ?", (case_id, incident_id))
            elif e.outcome:
                # This flag waited (in the outbox) while a later one of its call opened a case.
                later = tx.row("SELECT id FROM cases WHERE call_id = ? AND opened_at >= ? ORDER BY opened_at, id"
                               " LIMIT 1", (e.call_id, at))
                if later is not None:
                    _insert_event(tx, later["id"], at, e.outcome, rules.flag_detail(e.number_in_call, e.category),
                                  None)
                    tx.run("UPDATE incidents SET case_id = ? WHERE id = ?", (later["id"], incident_id))
            pause_id = None
            if e.pause is not None:
                pause_id = _insert_pause(tx, e.pause.agent, (), e.pause.reason, at, e.pause.resume_at, case_id,
                                         resumed_at=e.pause.resumed_at)
            return EscalationBooked(incident_id, case_id, pause_id)

    def list_incidents(self, *, call_id: str | None = None, since: datetime | None = None) -> list[Incident]:
        where = _Where()
        where.add("call_id = ?", call_id, when=call_id is not None)
        where.add("at >= ?", since, when=since is not None)
        with self.dialect.read() as tx:
            rows = tx.rows(f"SELECT * FROM incidents {where.sql} ORDER BY at, id", where.params)
        return [_incident(row) for row in rows]

    # ------------------------------------------------------------ cases

    def open_case(self, *, category: str, team: str, priority: int, caller: str, agent: str, queue: str,
                  call_id: str, recording: str | None = None, at: datetime | None = None) -> Case:
        with self.dialect.write() as tx:
            case_id = _insert_case(tx, category, team, priority, caller, agent, queue, call_id, recording,
                                   at or utc_now())
            return _load_case(tx, case_id)

    def add_case_event(self, case_id: int, action: str, detail: str = "", *, author: str | None = None,
                       at: datetime | None = None) -> CaseEvent:
        if not action:
            raise ValueError("a case event needs an action")
        with self.dialect.write() as tx:
            _require_case(tx, case_id)
            return _insert_event(tx, case_id, at or utc_now(), action, detail, author)

    def get_case(self, case_id: int) -> Case | None:
        with self.dialect.snapshot() as tx:
            cases = _load_cases(tx, "id = ?", (case_id,))
        return cases[0] if cases else None

    def list_cases(self, status: CaseStatus | None = None, team: str | None = None) -> list[Case]:
        rules.check_case_status(status)
        where = _Where()
        where.add("status = ?", status, when=status is not None)
        where.add("team = ?", team, when=team is not None)
        with self.dialect.snapshot() as tx:
            return _load_cases(tx, where.condition, where.params)

    def assign_case(self, case_id: int, assignee: str, *, author: str | None = None,
                    at: datetime | None = None) -> Case:
        with self.dialect.write() as tx:
            _require_not_closed(tx, case_id, "assign")
            tx.run("UPDATE cases SET status = 'assigned', assignee = ? WHERE id = ?", (assignee, case_id))
            _insert_event(tx, case_id, at or utc_now(), "assigned", assignee, author)
            return _load_case(tx, case_id)

    def add_case_note(self, case_id: int, author: str, text: str, *, at: datetime | None = None) -> CaseEvent:
        return self.add_case_event(case_id, "note", text, author=author, at=at)

    def close_case(self, case_id: int, resolution: str, *, author: str | None = None,
                   at: datetime | None = None) -> Case:
        now = as_utc(at or utc_now())
        with self.dialect.write() as tx:
            _require_not_closed(tx, case_id, "close")
            tx.run("UPDATE cases SET status = 'closed', closed_at = ?, resolution = ? WHERE id = ?",
                   (now, resolution, case_id))
            _insert_event(tx, case_id, now, "closed", resolution, author)
            return _load_case(tx, case_id)

    def open_case_for_caller(self, caller: str, now: datetime,
                             window_days_by_team: Mapping[str, float]) -> Case | None:
        if not caller.strip():
            return None  # a withheld number is nobody in particular
        now = as_utc(now)
        with self.dialect.snapshot() as tx:
            live = _load_cases(tx, "caller = ? AND status != 'closed'", (caller,), limit=1)
            if live:
                return live[0]
            longest = rules.longest_window(window_days_by_team)
            if longest <= timedelta(0):
                return None
            recent = _load_cases(tx, "caller = ? AND status = 'closed' AND closed_at >= ?",
                                 (caller, now - longest), order="closed_at DESC, id DESC")
        return rules.case_in_window(recent, now, window_days_by_team)

    # ------------------------------------------------------------ agent pauses

    def record_pause(self, *, agent: str, queues: Sequence[str], reason: str, paused_at: datetime,
                     resume_at: datetime | None, case_id: int | None = None) -> AgentPause:
        with self.dialect.write() as tx:
            if case_id is not None:
                _require_case(tx, case_id)
            pause_id = _insert_pause(tx, agent, queues, reason, paused_at, resume_at, case_id)
            return _pause(tx.one("SELECT * FROM agent_pauses WHERE id = ?", (pause_id,)))

    def due_pauses(self, now: datetime) -> list[AgentPause]:
        with self.dialect.read() as tx:
            rows = tx.rows("SELECT * FROM agent_pauses WHERE resumed_at IS NULL AND resume_at <= ?"
                           " ORDER BY resume_at, id", (now,))
        return [_pause(row) for row in rows]

    def active_pauses(self) -> list[AgentPause]:
        """Every pause not yet lifted, due or not, oldest first (for the CLI)."""
        with self.dialect.read() as tx:
            rows = tx.rows("SELECT * FROM agent_pauses WHERE resumed_at IS NULL ORDER BY paused_at, id")
        return [_pause(row) for row in rows]

    def mark_resumed(self, pause_id: int, *, at: datetime | None = None) -> None:
        with self.dialect.write() as tx:
            if tx.run("UPDATE agent_pauses SET resumed_at = ? WHERE id = ? AND resumed_at IS NULL",
                      (at or utc_now(), pause_id)) == 0 and tx.row(
                    "SELECT 1 AS found FROM agent_pauses WHERE id = ?", (pause_id,)) is None:
                raise NotFound(f"no agent pause {pause_id}")

    # ------------------------------------------------------------ retention and privacy

    def forget_recording(self, path: str, *, reason: str, at: datetime | None = None) -> None:
        now = as_utc(at or utc_now())
        with self.dialect.write() as tx:
            tx.run("UPDATE compliments SET recording = NULL, updated_at = ? WHERE recording = ?", (now, path))
            tx.run("DELETE FROM transcripts WHERE recording = ?", (path,))  # the words go with the voice
            for row in tx.rows(f"SELECT id FROM cases WHERE recording = ? ORDER BY id{self.dialect.for_update}",
                               (path,)):
                _insert_event(tx, row["id"], now, "recording_deleted", reason, None)

    def forget_callers(self, *, calls_before: datetime, incidents_before: datetime) -> tuple[int, int, int]:
        with self.dialect.write() as tx:
            calls = tx.run("UPDATE calls SET caller = '' WHERE started_at < ? AND caller <> ''", (calls_before,))
            incidents = tx.run(
                "UPDATE incidents SET caller = '' WHERE at < ? AND caller <> '' AND NOT EXISTS"
                " (SELECT 1 FROM cases WHERE cases.call_id = incidents.call_id AND cases.status <> 'closed')",
                (incidents_before,))
            cases = tx.run("UPDATE cases SET caller = '' WHERE status = 'closed' AND closed_at < ? AND caller <> ''",
                           (incidents_before,))
        return calls, incidents, cases

    def caller_records(self, caller: str) -> CallerRecords:
        if not caller.strip():
            return CallerRecords(caller, (), (), (), ())
        with self.dialect.snapshot() as tx:
            calls = tx.rows("SELECT * FROM calls WHERE caller = ?"
                            f" ORDER BY started_at, call_id{self.dialect.by_code_point}", (caller,))
            compliments = tx.rows("SELECT * FROM compliments WHERE call_id IN"
                                  " (SELECT call_id FROM calls WHERE caller = ?) ORDER BY created_at, id", (caller,))
            incidents = tx.rows("SELECT * FROM incidents WHERE caller = ? ORDER BY at, id", (caller,))
            cases = _load_cases(tx, "caller = ?", (caller,), order="opened_at, id")
            pending = tx.row("SELECT * FROM pending_erasures WHERE caller = ?", (caller,))
            among, recordings = self.dialect.any_of(sorted(
                {c.recording for c in cases if c.recording} | {row["recording"] for row in compliments
                                                                if row["recording"]}))
            transcripts = tx.rows(f"SELECT * FROM transcripts WHERE recording {among} ORDER BY created_at, id",
                                  recordings)
        return CallerRecords(caller, tuple(map(_call, calls)), tuple(map(_compliment, compliments)),
                             tuple(map(_incident, incidents)), tuple(cases),
                             _pending_erasure(pending) if pending else None,
                             tuple(map(transcript_of_row, transcripts)))

    def erase_caller(self, caller: str, *, evidence_closed_before: datetime,
                     at: datetime | None = None) -> CallerErasure:
        if not caller.strip():
            return CallerErasure(0, (), 0, 0, (), ())
        now = as_utc(at or utc_now())
        cutoff = as_utc(evidence_closed_before)
        locked = self.dialect.for_update
        with self.dialect.write() as tx:
            case_rows = tx.rows("SELECT id, call_id, status, closed_at, recording FROM cases WHERE caller = ?"
                                f" ORDER BY id{locked}", (caller,))
            erased, kept = rules.split_for_erasure(case_rows, cutoff)
            kept_calls = sorted({row["call_id"] for row in kept})
            compliment_rows = tx.rows(
                "SELECT id, recording FROM compliments WHERE recording IS NOT NULL"
                f" AND call_id IN (SELECT call_id FROM calls WHERE caller = ?) ORDER BY id{locked}", (caller,))
            among, ids = self.dialect.any_of([row["id"] for row in compliment_rows])
            tx.run(f"UPDATE compliments SET recording = NULL, updated_at = ? WHERE id {among}", (now, *ids))
            spared, calls_kept = self.dialect.none_of(kept_calls)
            incidents = tx.run(f"UPDATE incidents SET caller = '' WHERE caller = ? AND call_id {spared}",
                               (caller, *calls_kept))
            erased_ids = [row["id"] for row in erased]
            among, ids = self.dialect.any_of(erased_ids)
            tx.run(f"UPDATE cases SET caller = '' WHERE id {among}", ids)
            among, kept_ids = self.dialect.any_of([row["id"] for row in kept])
            told = {row["case_id"] for row in tx.rows(
                f"SELECT DISTINCT case_id FROM case_events WHERE case_id {among} AND action = 'erasure_refused'",
                kept_ids)}
            for row in kept:
                if row["id"] not in told:  # once per case: the sweep retrying the erasure says nothing new
                    _insert_event(tx, row["id"], now, "erasure_refused", _KEPT_AS_EVIDENCE, None)
            calls = tx.run("DELETE FROM calls WHERE caller = ?", (caller,))
            # A recording another case still points at (another number, or withheld) is that case's evidence.
            among, recordings = self.dialect.any_of([row["recording"] for row in erased if row["recording"]])
            others, ids = self.dialect.none_of(erased_ids)
            shared = {row["recording"] for row in tx.rows(
                f"SELECT DISTINCT recording FROM cases WHERE recording {among} AND id {others}", (*recordings, *ids))}
        return CallerErasure(
            calls_deleted=calls,
            compliment_recordings=tuple(row["recording"] for row in compliment_rows),
            incidents_anonymised=incidents,
            cases_anonymised=len(erased),
            case_recordings=rules.free_recordings(erased, shared),
            cases_kept=tuple(row["id"] for row in kept),
            kept_call_ids=tuple(kept_calls),
            kept_closed_at=tuple(row["closed_at"] for row in kept))

    def queue_erasure(self, caller: str, *, at: datetime | None = None) -> PendingErasure:
        if not caller.strip():
            raise ValueError("a blank (withheld) caller number cannot be erased: it is nobody in particular")
        now = as_utc(at or utc_now())
        with self.dialect.write() as tx:
            tx.run("INSERT INTO pending_erasures (caller, requested_at, last_tried_at) VALUES (?, ?, ?)"
                   " ON CONFLICT (caller) DO UPDATE SET last_tried_at = excluded.last_tried_at", (caller, now, now))
            return _pending_erasure(tx.one("SELECT * FROM pending_erasures WHERE caller = ?", (caller,)))

    def pending_erasures(self) -> list[PendingErasure]:
        with self.dialect.read() as tx:
            rows = tx.rows("SELECT * FROM pending_erasures"
                           f" ORDER BY requested_at, caller{self.dialect.by_code_point}")
        return [_pending_erasure(row) for row in rows]

    def finish_erasure(self, caller: str) -> bool:
        with self.dialect.write() as tx:
            return tx.run("DELETE FROM pending_erasures WHERE caller = ?", (caller,)) > 0

    # ------------------------------------------------------------ reports

    def compliments_per_agent(self, *, since: datetime | None = None,
                              until: datetime | None = None) -> list[AgentCompliments]:
        where = _time_range("created_at", since, until)
        with self.dialect.read() as tx:
            rows = tx.rows(
                "SELECT agent, COUNT(*) AS compliments, COUNT(rating) AS rated,"
                " CAST(AVG(rating) AS DOUBLE PRECISION) AS average_rating, COUNT(recording) AS with_recording"
                f" FROM compliments {where.sql}"
                f" GROUP BY agent ORDER BY compliments DESC, agent{self.dialect.by_code_point}", where.params)
        return [AgentCompliments(agent=r["agent"], compliments=r["compliments"], rated=r["rated"],
                                 average_rating=r["average_rating"], with_recording=r["with_recording"])
                for r in rows]

    def incident_counts(self, group_by: Sequence[IncidentDimension], *, since: datetime | None = None,
                        until: datetime | None = None, tz: tzinfo = UTC) -> list[IncidentCount]:
        # Counted by the database, grouped by category, team, queue, action and local month (the
        # month's bounds in ``tz`` bound as values): a year of a million incidents comes back as a few
        # hundred rows, not a million. The rows are then summed per ``group_by`` by ``count_incidents``.
        check_incident_dimensions(group_by)
        where = _time_range("at", since, until)
        with self.dialect.snapshot() as tx:
            first = tx.one(f"SELECT MIN(at) AS at FROM incidents {where.sql}", where.params)["at"]
            if first is None:
                return []
            last = tx.one(f"SELECT MAX(at) AS at FROM incidents {where.sql}", where.params)["at"]
            months = rules.local_months(first, last, tz)
            bucket = "CASE " + " ".join(f"WHEN at < ? THEN {index}" for index in range(len(months) - 1)) \
                + f" ELSE {len(months) - 1} END" if len(months) > 1 else "0"
            rows = tx.rows(f"SELECT {bucket} AS bucket, category, team, queue, action, COUNT(*) AS counted"
                           f" FROM incidents {where.sql} GROUP BY 1, category, team, queue, action",
                           (*(start for _, start in months[1:]), *where.params))
        return count_incidents(((r["category"], r["team"], r["queue"], months[int(r["bucket"])][0], r["action"],
                                 int(r["counted"])) for r in rows), group_by)


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
        return " AND ".join(self.conditions) or "1 = 1"

    @property
    def sql(self) -> str:
        return f"WHERE {self.condition}" if self.conditions else ""


def _time_range(column: str, since: datetime | None, until: datetime | None) -> _Where:
    where = _Where()
    where.add(f"{column} >= ?", since, when=since is not None)
    where.add(f"{column} < ?", until, when=until is not None)
    return where


def _require_case(tx: Tx, case_id: int) -> None:
    if tx.row("SELECT id FROM cases WHERE id = ?", (case_id,)) is None:
        raise NotFound(f"no case {case_id}")


def _require_not_closed(tx: Tx, case_id: int, verb: str) -> None:
    # The row lock: two staff members closing the same case at once cannot both succeed.
    row = tx.row(f"SELECT status FROM cases WHERE id = ?{tx.dialect.for_update}", (case_id,))
    if row is None:
        raise NotFound(f"no case {case_id}")
    if row["status"] == "closed":
        raise StoreError(f"cannot {verb} case {case_id}: it is closed")


def _insert_case(tx: Tx, category: str, team: str, priority: int, caller: str, agent: str, queue: str,
                 call_id: str, recording: str | None, at: datetime) -> int:
    """A new open case and its ``case_opened`` event."""
    case_id = tx.insert("INSERT INTO cases (category, team, priority, status, caller, agent, queue, call_id,"
                        " recording, opened_at) VALUES (?, ?, ?, 'open', ?, ?, ?, ?, ?, ?)",
                        (category, team, priority, caller, agent, queue, call_id, recording, at))
    _insert_event(tx, case_id, at, "case_opened", rules.case_opened_detail(category, team), None)
    return case_id


def _insert_event(tx: Tx, case_id: int, at: datetime, action: str, detail: str, author: str | None) -> CaseEvent:
    at = as_utc(at)
    event_id = tx.insert("INSERT INTO case_events (case_id, at, action, detail, author) VALUES (?, ?, ?, ?, ?)",
                         (case_id, at, action, detail, author))
    return CaseEvent(id=event_id, case_id=case_id, at=at, action=action, detail=detail, author=author)


def _insert_pause(tx: Tx, agent: str, queues: Sequence[str], reason: str, paused_at: datetime,
                  resume_at: datetime | None, case_id: int | None, *, resumed_at: datetime | None = None) -> int:
    return tx.insert("INSERT INTO agent_pauses (agent, queues, reason, paused_at, resume_at, resumed_at, case_id)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (agent, json.dumps(list(queues)), reason, paused_at, resume_at, resumed_at, case_id))


def _load_case(tx: Tx, case_id: int) -> Case:
    return _load_cases(tx, "id = ?", (case_id,))[0]


def _load_cases(tx: Tx, condition: str, params: Sequence[object], *,
                order: str = "priority, opened_at, id", limit: int | None = None) -> list[Case]:
    """Cases matching a constant condition, each with its events (two queries)."""
    rows = tx.rows(f"SELECT * FROM cases WHERE {condition} ORDER BY {order} LIMIT ?",
                   (*params, tx.dialect.no_limit if limit is None else limit))
    if not rows:
        return []
    events: dict[int, list[CaseEvent]] = {row["id"]: [] for row in rows}
    among, ids = tx.dialect.any_of(list(events))
    for event in tx.rows(f"SELECT * FROM case_events WHERE case_id {among} ORDER BY at, id", ids):
        events[event["case_id"]].append(_case_event(event))
    return [_case(row, tuple(events[row["id"]])) for row in rows]


# ---------------------------------------------------------------- rows to records


def _call(row: Row) -> Call:
    return Call(call_id=row["call_id"], started_at=row["started_at"], caller=row["caller"], queue=row["queue"],
                language=row["language"], route=row["route"], campaign=row["campaign"], agent=row["agent"],
                ended_at=row["ended_at"], outcome=row["outcome"])


def _compliment(row: Row) -> Compliment:
    return Compliment(id=row["id"], call_id=row["call_id"], agent=row["agent"], queue=row["queue"],
                      campaign=row["campaign"], rating=row["rating"], recording=row["recording"],
                      created_at=row["created_at"], updated_at=row["updated_at"], delivered_at=row["delivered_at"])


def _incident(row: Row) -> Incident:
    return Incident(id=row["id"], call_id=row["call_id"], category=row["category"],
                    number_in_call=row["number_in_call"], number_in_category=row["number_in_category"],
                    team=row["team"], action=row["action"], case_id=row["case_id"], agent=row["agent"],
                    caller=row["caller"], queue=row["queue"], at=row["at"])


def _case_event(row: Row) -> CaseEvent:
    return CaseEvent(id=row["id"], case_id=row["case_id"], at=row["at"], action=row["action"],
                     detail=row["detail"], author=row["author"])


def _case(row: Row, events: tuple[CaseEvent, ...]) -> Case:
    return Case(id=row["id"], category=row["category"], team=row["team"], priority=row["priority"],
                status=row["status"], caller=row["caller"], agent=row["agent"], queue=row["queue"],
                call_id=row["call_id"], recording=row["recording"], opened_at=row["opened_at"],
                closed_at=row["closed_at"], assignee=row["assignee"], resolution=row["resolution"], events=events)


def transcript_of_row(row: Row) -> Transcript:
    """A ``transcripts`` row as a ``Transcript`` (its JSON segments read back, bad ones left out)."""
    try:
        raw: Any = json.loads(row["segments"])
    except ValueError:
        raw = []
    segments = tuple(TranscriptSegment(start=float(item["start"]), end=float(item["end"]),
                                       speaker=str(item["speaker"]), text=str(item["text"]))
                     for item in (raw if isinstance(raw, list) else [])
                     if isinstance(item, dict) and {"start", "end", "speaker", "text"} <= item.keys())
    return Transcript(recording=row["recording"], kind=row["kind"], call_id=row["call_id"], status=row["status"],
                      language=row["language"], model=row["model"], segments=segments, note=row["note"],
                      created_at=row["created_at"])


def _pending_erasure(row: Row) -> PendingErasure:
    return PendingErasure(caller=row["caller"], requested_at=row["requested_at"], last_tried_at=row["last_tried_at"])


def _pause(row: Row) -> AgentPause:
    queues: Any = json.loads(row["queues"])
    return AgentPause(id=row["id"], agent=row["agent"], queues=tuple(str(q) for q in queues), reason=row["reason"],
                      paused_at=row["paused_at"], resume_at=row["resume_at"], resumed_at=row["resumed_at"],
                      case_id=row["case_id"])
