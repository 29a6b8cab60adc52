"""Aftercare in the store (migration 9): check-ins owed to agents, each try, pause extensions.

A check-in is asked for by the ladder's ``check_in`` action after a flag was booked, or by the agent on
their own line (``*89`` then 3). ``policy.checkins`` (the keeper ``respectline serve`` runs) claims the
due ones, rings the people on duty one after another and writes every try here; each try and the end
(someone connected to the agent, someone said it was done, or nobody in time) also goes on the case's
timeline when the check-in belongs to a case. A claim is a conditional update, so two servers sharing a
store never ring for one check-in at the same time; a claim left by a server that died is taken over
after ``STALE_CLAIM``. Nothing here holds a caller's number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from agi_scripts.storage.base import UTC, AgentPause, Store, as_utc, utc_now
from agi_scripts.storage.sql import Dialect, Row, Tx

STALE_CLAIM = timedelta(minutes=10)
"""A check-in claimed this long ago by a server that never finished it is claimed again."""
MAX_TEXT = 200
STATUSES = ("waiting", "ringing", "done", "missed")
OUTCOMES = ("connected", "acknowledged", "agent_not_reached", "missed")


@dataclass(frozen=True)
class CheckInToBook:
    """What the ladder (or the agent's line) asks for."""

    call_id: str
    agent: str
    agent_endpoint: str
    """The agent's phone (the queue member interface, ``PJSIP/agent1``), or empty when unknown."""
    category: str
    roster: str
    language: str
    within: float
    """Seconds: someone must have talked to the agent by then."""
    at: datetime
    incident_id: int | None = None
    case_id: int | None = None
    reason: str = "flag"
    """``flag`` (the ladder), ``agent_asked`` (the agent's own line) or ``listen_in`` (the agent's key during
    a call: someone listens in on it now)."""
    spy_channel: str = ""
    """``listen_in``: the agent's channel in the call (``PJSIP/agent1-0000002a``), for ``ChanSpy``."""


@dataclass(frozen=True)
class CheckIn:
    id: int
    call_id: str
    incident_id: int | None
    case_id: int | None
    agent: str
    agent_endpoint: str
    category: str
    roster: str
    language: str
    reason: str
    spy_channel: str
    requested_at: datetime
    due_at: datetime
    status: str
    done_at: datetime | None
    done_by: str | None
    outcome: str | None


@dataclass(frozen=True)
class CheckInTry:
    check_in_id: int
    at: datetime
    person: str
    endpoint: str
    result: str


@dataclass(frozen=True)
class AftercareRow:
    """One line of ``respectline report aftercare``: an incident (or an agent's own request)."""

    agent: str
    category: str
    flagged_at: datetime
    check_in_at: datetime | None
    check_in_by: str | None
    outcome: str
    tries_before: int
    pause_minutes: float
    extended_minutes: float


class CheckInBook:
    """The check-in tables on an opened SQL store's dialect; safe from several threads."""

    def __init__(self, store: Store) -> None:
        # A SqlStore, or the handlers' offloaded wrapper of one (its dialect shows through).
        dialect = getattr(store, "dialect", None)
        if not isinstance(dialect, Dialect):
            raise TypeError("aftercare needs a SQL store (SQLite or PostgreSQL)")
        self.dialect = dialect

    def request(self, wanted: CheckInToBook) -> int | None:
        """Book a check-in; its id, or None when this incident has one already (a retry)."""
        at = as_utc(wanted.at)
        with self.dialect.write() as tx:
            if wanted.incident_id is not None and tx.row(
                    "SELECT id FROM check_ins WHERE incident_id = ?", (wanted.incident_id,)) is not None:
                return None
            if wanted.spy_channel and tx.row(
                    "SELECT id FROM check_ins WHERE spy_channel = ? AND status IN ('waiting', 'ringing')",
                    (wanted.spy_channel,)) is not None:
                return None  # the listen-in key pressed again while someone is being rung
            check_in_id = tx.insert(
                "INSERT INTO check_ins (call_id, incident_id, case_id, agent, agent_endpoint, category, roster,"
                " language, reason, spy_channel, requested_at, due_at, next_try_at, status)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (wanted.call_id[:MAX_TEXT], wanted.incident_id, wanted.case_id, wanted.agent[:MAX_TEXT],
                 wanted.agent_endpoint[:MAX_TEXT], wanted.category[:MAX_TEXT], wanted.roster[:MAX_TEXT],
                 wanted.language[:8], wanted.reason, wanted.spy_channel[:MAX_TEXT], at,
                 at + timedelta(seconds=wanted.within), at, "waiting"))
            if wanted.case_id is not None:
                _event(tx, wanted.case_id, at, "check_in_requested",
                       f"someone on roster {wanted.roster} to talk to {wanted.agent} by "
                       f"{(at + timedelta(seconds=wanted.within)).strftime('%H:%M')} UTC", None)
            return check_in_id

    def claim_due(self, worker: str, now: datetime | None = None, limit: int = 10) -> list[CheckIn]:
        """Waiting check-ins whose next try is due (and stale claims), now claimed by ``worker``."""
        now = as_utc(now or utc_now())
        claimed: list[CheckIn] = []
        with self.dialect.write() as tx:
            rows = tx.rows("SELECT * FROM check_ins WHERE (status = 'waiting' AND next_try_at <= ?)"
                           " OR (status = 'ringing' AND claimed_at < ?) ORDER BY next_try_at, id LIMIT ?",
                           (now, now - STALE_CLAIM, limit))
            for row in rows:
                if tx.run("UPDATE check_ins SET status = 'ringing', claimed_by = ?, claimed_at = ?"
                          " WHERE id = ? AND status = ? AND (claimed_at IS NULL OR claimed_at = ?)",
                          (worker[:MAX_TEXT], now, row["id"], row["status"], row["claimed_at"])) == 1:
                    claimed.append(_check_in(tx, {**row, "status": "ringing"}))
        return claimed

    def add_try(self, check_in: CheckIn, person: str, endpoint: str, result: str, detail: str,
                at: datetime | None = None) -> None:
        """One person rung: the result word (``no_answer``, ``not_acknowledged``, ...) and, on the case's
        timeline, what happened in words."""
        at = as_utc(at or utc_now())
        with self.dialect.write() as tx:
            tx.insert("INSERT INTO check_in_tries (check_in_id, at, person, endpoint, result) VALUES (?, ?, ?, ?, ?)",
                      (check_in.id, at, person[:MAX_TEXT], endpoint[:MAX_TEXT], result[:MAX_TEXT]))
            # Still being worked: a long roster must not look like a claim left by a dead server.
            tx.run("UPDATE check_ins SET claimed_at = ? WHERE id = ? AND status = 'ringing'", (at, check_in.id))
            if check_in.case_id is not None and result not in OUTCOMES:  # an ending try: finish() writes it
                _event(tx, check_in.case_id, at, f"check_in_{result}", detail, person)

    def finish(self, check_in: CheckIn, outcome: str, by: str | None, detail: str,
               at: datetime | None = None) -> None:
        """Done (``connected``, ``acknowledged``, ``agent_not_reached``) or ``missed`` (nobody in time)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown check-in outcome {outcome!r}")
        at = as_utc(at or utc_now())
        status = "missed" if outcome == "missed" else "done"
        with self.dialect.write() as tx:
            tx.run("UPDATE check_ins SET status = ?, outcome = ?, done_at = ?, done_by = ? WHERE id = ?",
                   (status, outcome, at, by[:MAX_TEXT] if by else None, check_in.id))
            if check_in.case_id is not None:
                _event(tx, check_in.case_id, at, f"check_in_{outcome}", detail, by)

    def try_again_at(self, check_in: CheckIn, when: datetime) -> None:
        """Everyone on duty was tried: back to waiting until ``when``."""
        with self.dialect.write() as tx:
            tx.run("UPDATE check_ins SET status = 'waiting', next_try_at = ?, claimed_by = NULL, claimed_at = NULL"
                   " WHERE id = ? AND status = 'ringing'", (as_utc(when), check_in.id))

    def get(self, check_in_id: int) -> CheckIn | None:
        with self.dialect.read() as tx:
            row = tx.row("SELECT * FROM check_ins WHERE id = ?", (check_in_id,))
            return _check_in(tx, row) if row is not None else None

    def for_call(self, call_id: str) -> list[CheckIn]:
        with self.dialect.read() as tx:
            return [_check_in(tx, row) for row in tx.rows("SELECT * FROM check_ins WHERE call_id = ? ORDER BY id",
                                                         (call_id,))]

    def tries(self, check_in_id: int) -> list[CheckInTry]:
        with self.dialect.read() as tx:
            rows = tx.rows("SELECT * FROM check_in_tries WHERE check_in_id = ? ORDER BY id", (check_in_id,))
            return [CheckInTry(row["check_in_id"], _time(tx, row["at"]), row["person"], row["endpoint"],
                               row["result"]) for row in rows]

    # ------------------------------------------------------------ the agent's own pause

    def extend_pause(self, agent_endpoint: str, seconds: float, now: datetime | None = None, *,
                     reason: str = "the agent asked for more time") -> AgentPause:
        """The agent's latest pause in force, ``seconds`` longer (counted from now when it was already due);
        without one, a new pause of ``seconds`` (counted as extended: the agent asked for all of it)."""
        now = as_utc(now or utc_now())
        with self.dialect.write() as tx:
            row = tx.row("SELECT * FROM agent_pauses WHERE agent = ? AND resumed_at IS NULL"
                         " ORDER BY paused_at DESC, id DESC LIMIT 1", (agent_endpoint,))
            if row is None:
                pause_id = tx.insert("INSERT INTO agent_pauses (agent, queues, reason, paused_at, resume_at,"
                                     " extended_seconds) VALUES (?, ?, ?, ?, ?, ?)",
                                     (agent_endpoint[:MAX_TEXT], "[]", reason[:MAX_TEXT], now,
                                      now + timedelta(seconds=seconds), round(seconds)))
                return _pause(tx, tx.one("SELECT * FROM agent_pauses WHERE id = ?", (pause_id,)))
            resume_at = row["resume_at"] if row["resume_at"] is not None else now
            new_end = max(_time(tx, resume_at), now) + timedelta(seconds=seconds)
            tx.run("UPDATE agent_pauses SET resume_at = ?, extended_seconds = extended_seconds + ? WHERE id = ?",
                   (new_end, round(seconds), row["id"]))
            if row["case_id"] is not None:
                _event(tx, row["case_id"], now, "pause_extended",
                       f"{agent_endpoint} extended their pause by {round(seconds / 60)} min", None)
            return _pause(tx, {**row, "resume_at": new_end})

    def end_pauses(self, agent_endpoint: str, now: datetime | None = None) -> int:
        """The agent takes calls again: every pause of theirs in force ends now; how many there were."""
        now = as_utc(now or utc_now())
        with self.dialect.write() as tx:
            rows = tx.rows("SELECT id, case_id FROM agent_pauses WHERE agent = ? AND resumed_at IS NULL",
                           (agent_endpoint,))
            for row in rows:
                tx.run("UPDATE agent_pauses SET resumed_at = ? WHERE id = ?", (now, row["id"]))
                if row["case_id"] is not None:
                    _event(tx, row["case_id"], now, "pause_ended_by_agent",
                           f"{agent_endpoint} chose to take calls again", None)
            return len(rows)

    def pause_minutes_of(self, check_in: CheckIn) -> float:
        """How long the pause of the check-in's flag is (its planned end, or when it ended), in minutes; 0 without
        one. Spoken in the check-in's summary."""
        row = {"case_id": check_in.case_id, "agent_endpoint": check_in.agent_endpoint,
               "requested_at": as_utc(check_in.requested_at)}
        with self.dialect.read() as tx:
            return _pause_minutes(tx, _pause_of(tx, row))[0]

    def latest_case_of(self, agent_endpoint: str) -> tuple[int | None, str]:
        """The case and call id of the agent's pause in force (for "talk to someone now"), or (None, '')."""
        with self.dialect.read() as tx:
            row = tx.row("SELECT agent_pauses.case_id, cases.call_id FROM agent_pauses LEFT JOIN cases"
                         " ON cases.id = agent_pauses.case_id WHERE agent_pauses.agent = ?"
                         " AND agent_pauses.resumed_at IS NULL ORDER BY agent_pauses.paused_at DESC LIMIT 1",
                         (agent_endpoint,))
        if row is None:
            return None, ""
        return row["case_id"], row["call_id"] or ""

    # ------------------------------------------------------------ the caller's history (the whisper)

    def caller_history(self, caller: str, *, flagged_since: datetime, day_start: datetime) -> tuple[int, int]:
        """How often ``caller`` was flagged since ``flagged_since``, and how many calls they made since
        ``day_start`` (this one not yet stored). Only counts leave the store: the agent hears a sentence."""
        with self.dialect.read() as tx:
            flags = tx.one("SELECT COUNT(*) AS n FROM incidents WHERE caller = ? AND at >= ?",
                           (caller, as_utc(flagged_since)))["n"]
            calls = tx.one("SELECT COUNT(*) AS n FROM calls WHERE caller = ? AND started_at >= ?",
                           (caller, as_utc(day_start)))["n"]
        return int(flags), int(calls)

    # ------------------------------------------------------------ the report

    def aftercare_rows(self, since: datetime | None = None, until: datetime | None = None) -> list[AftercareRow]:
        """Per incident that asked for a check-in (and per agent's own request): who checked in, when, after
        how many tries, and the pause taken and extended. Oldest first."""
        lower = as_utc(since) if since else datetime(1970, 1, 1, tzinfo=UTC)
        upper = as_utc(until) if until else datetime(9999, 1, 1, tzinfo=UTC)
        with self.dialect.read() as tx:
            rows = tx.rows(
                "SELECT check_ins.*, incidents.at AS flagged_at FROM check_ins LEFT JOIN incidents"
                " ON incidents.id = check_ins.incident_id WHERE check_ins.requested_at >= ?"
                " AND check_ins.requested_at < ? ORDER BY check_ins.requested_at, check_ins.id", (lower, upper))
            result = []
            for row in rows:
                tries = tx.rows("SELECT result FROM check_in_tries WHERE check_in_id = ? ORDER BY id", (row["id"],))
                pause = _pause_of(tx, row)
                taken, extended = _pause_minutes(tx, pause)
                flagged = row["flagged_at"] if row["flagged_at"] is not None else row["requested_at"]
                result.append(AftercareRow(
                    agent=row["agent"], category=row["category"], flagged_at=_time(tx, flagged),
                    check_in_at=_time(tx, row["done_at"]) if row["status"] == "done" and row["done_at"] else None,
                    check_in_by=row["done_by"] if row["status"] == "done" else None,
                    outcome=row["outcome"] or row["status"],
                    tries_before=sum(1 for t in tries if t["result"] not in ("connected", "acknowledged")),
                    pause_minutes=taken, extended_minutes=extended))
            return result


def _pause_of(tx: Tx, row: Row) -> Row | None:
    if row["case_id"] is not None:
        found = tx.row("SELECT * FROM agent_pauses WHERE case_id = ? ORDER BY id LIMIT 1", (row["case_id"],))
        if found is not None:
            return found
    if not row["agent_endpoint"]:
        return None
    return tx.row("SELECT * FROM agent_pauses WHERE agent = ? AND paused_at <= ? ORDER BY paused_at DESC LIMIT 1",
                  (row["agent_endpoint"], row["requested_at"]))


def _pause_minutes(tx: Tx, pause: Row | None) -> tuple[float, float]:
    if pause is None:
        return 0.0, 0.0
    start = _time(tx, pause["paused_at"])
    end_value = pause["resumed_at"] if pause["resumed_at"] is not None else pause["resume_at"]
    end = _time(tx, end_value) if end_value is not None else start
    return round(max(0.0, (end - start).total_seconds()) / 60, 1), round(int(pause["extended_seconds"]) / 60, 1)


def _event(tx: Tx, case_id: int, at: datetime, action: str, detail: str, author: str | None) -> None:
    tx.insert("INSERT INTO case_events (case_id, at, action, detail, author) VALUES (?, ?, ?, ?, ?)",
              (case_id, at, action[:MAX_TEXT], detail[:1000], author[:MAX_TEXT] if author else None))


def _time(tx: Tx, value: object) -> datetime:
    moment = value if isinstance(value, datetime) else tx.dialect.decode_time(value)
    return moment.astimezone(UTC)


def _optional_time(tx: Tx, value: object) -> datetime | None:
    return _time(tx, value) if value is not None else None


def _check_in(tx: Tx, row: Row) -> CheckIn:
    return CheckIn(
        id=row["id"], call_id=row["call_id"], incident_id=row["incident_id"], case_id=row["case_id"],
        agent=row["agent"], agent_endpoint=row["agent_endpoint"], category=row["category"], roster=row["roster"],
        language=row["language"], reason=row["reason"], spy_channel=row["spy_channel"],
        requested_at=_time(tx, row["requested_at"]), due_at=_time(tx, row["due_at"]), status=row["status"],
        done_at=_optional_time(tx, row["done_at"]), done_by=row["done_by"], outcome=row["outcome"])


def _pause(tx: Tx, row: Row) -> AgentPause:
    return AgentPause(id=row["id"], agent=row["agent"], queues=tuple(str(q) for q in json.loads(row["queues"])),
                      reason=row["reason"], paused_at=_time(tx, row["paused_at"]),
                      resume_at=_optional_time(tx, row["resume_at"]), resumed_at=_optional_time(tx, row["resumed_at"]),
                      case_id=row["case_id"])
