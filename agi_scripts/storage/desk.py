"""The desk's part of the store: its users, their sessions, failed logins, its signing key, the audit log,
and the few reads of cases, incidents and compliments its pages need.

``DeskStore`` runs on the dialect of an opened ``SqlStore`` (SQLite or PostgreSQL), in the same
transactions and with the same rules as ``storage/sql.py``: SQL text made of this module's constants,
every value bound. It holds no caller number: the audit log names who did what to which case, not
whom the case is about. Passwords arrive here already hashed (the desk hashes them with argon2id).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from agi_scripts.storage.base import UTC, NotFound, Store, StoreError, as_utc, utc_now
from agi_scripts.storage.sql import Row, SqlStore, Tx

Role = Literal["special_care", "security", "supervisor", "admin", "agent"]
ROLES: tuple[Role, ...] = ("special_care", "security", "supervisor", "admin", "agent")
TEAM_ROLES: tuple[Role, ...] = ("special_care", "security")
"""Roles that work one team's cases: a user of these roles has a team."""


@dataclass(frozen=True)
class DeskUser:
    id: int
    name: str
    role: Role
    password_hash: str
    team: str | None
    """The team whose cases a special_care or security user works (a team id of the abuse policy)."""
    agent: str | None
    """An agent user's name as compliments and incidents carry it (the config's ``agents:`` name)."""
    language: str
    """The interface language (nl, fr, en); it counts once chosen (``language_chosen_at``)."""
    phone: str | None
    """The staff member's own phone endpoint (``PJSIP/care1``), for calling back."""
    created_at: datetime
    disabled_at: datetime | None
    language_chosen_at: datetime | None = None
    """None: the user never chose, and the desk follows their browser's language (migration 6)."""


@dataclass(frozen=True)
class DeskCallback:
    """One call back from the desk (migration 7): no caller number, the case has it."""

    id: str
    case_id: int
    staff: str
    endpoint: str
    started_at: datetime
    ended_at: datetime | None
    outcome: str | None


@dataclass(frozen=True)
class DeskSession:
    user: DeskUser
    csrf_token: str
    created_at: datetime
    seen_at: datetime


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    role: str
    action: str
    case_id: int | None
    detail: str


@dataclass(frozen=True)
class InboxCase:
    """One line of an inbox: what a case is, without its timeline or its caller."""

    id: int
    category: str
    team: str
    priority: int
    status: str
    agent: str
    queue: str
    opened_at: datetime
    assignee: str | None


@dataclass(frozen=True)
class InboxFilter:
    """What an inbox shows of its team's open cases; the defaults show them all."""

    priority: int | None = None
    category: str | None = None
    assignee: str | None = None
    """Only the cases assigned to this user."""
    unassigned: bool = False
    """Only the cases nobody has taken yet."""
    due_before: tuple[tuple[int, datetime], ...] = ()
    """Only overdue cases: (priority, opened before this) per priority; a case of another priority is
    overdue when opened before ``overdue_else``."""
    overdue_else: datetime | None = None


@dataclass(frozen=True)
class InboxState:
    """Changes whenever a case is opened, changed or gets an event: what the live inbox polls."""

    last_case: int
    last_event: int


@dataclass(frozen=True)
class AgentIncident:
    """An incident as its agent sees it: no caller number."""

    id: int
    at: datetime
    category: str
    action: str | None
    case_id: int | None
    case_status: str | None
    queue: str


@dataclass(frozen=True)
class LiveFlag:
    """A flag on the supervisors' live view: no caller number."""

    id: int
    at: datetime
    category: str
    agent: str
    queue: str
    action: str | None
    case_id: int | None


@dataclass(frozen=True)
class LivePause:
    """An agent's recovery pause not lifted yet, with the agent's name when its case knows it."""

    id: int
    interface: str
    agent: str | None
    reason: str
    paused_at: datetime
    resume_at: datetime | None
    case_id: int | None


@dataclass(frozen=True)
class LiveView:
    open_cases: dict[str, int]
    """Open or assigned cases per team."""
    flags: list[LiveFlag]
    pauses: list[LivePause]
    flags_since: int
    """Flags since ``since`` (the start of the local day)."""


class DeskStore:
    """The desk's queries, on an opened store's dialect. All methods are safe from several threads."""

    def __init__(self, store: Store) -> None:
        if not isinstance(store, SqlStore):
            raise TypeError("the desk needs a SQL store (SQLite or PostgreSQL)")
        self.store = store
        self.dialect = store.dialect

    # ------------------------------------------------------------ users

    def add_user(self, name: str, role: Role, password_hash: str, *, team: str | None = None,
                 agent: str | None = None, language: str | None = None, phone: str | None = None,
                 at: datetime | None = None) -> DeskUser:
        """A new user; StoreError when the name is taken, ValueError for a role or team that does not fit.
        Without ``language`` the desk follows the user's browser until they choose one."""
        check_user_fields(name, role, team)
        check_phone(phone)
        when = at or utc_now()
        with self.dialect.write() as tx:
            if tx.row("SELECT id FROM desk_users WHERE name = ?", (name,)) is not None:
                raise StoreError(f"a desk user named {name!r} exists already")
            user_id = tx.insert("INSERT INTO desk_users (name, role, password_hash, team, agent, language, phone,"
                                " created_at, language_chosen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                (name, role, password_hash, team if role in TEAM_ROLES else None,
                                 agent if role == "agent" else None, language or "en", phone, when,
                                 when if language else None))
            return _user(tx, tx.one("SELECT * FROM desk_users WHERE id = ?", (user_id,)))

    def set_password(self, name: str, password_hash: str) -> None:
        """A new password hash; every session of the user ends."""
        with self.dialect.write() as tx:
            row = tx.row("SELECT id FROM desk_users WHERE name = ?", (name,))
            if row is None:
                raise NotFound(f"no desk user named {name!r}")
            tx.run("UPDATE desk_users SET password_hash = ? WHERE id = ?", (password_hash, row["id"]))
            tx.run("DELETE FROM desk_sessions WHERE user_id = ?", (row["id"],))

    def set_language(self, name: str, language: str, at: datetime | None = None) -> None:
        """The user's chosen interface language (the desk checks it is one it has)."""
        with self.dialect.write() as tx:
            row = tx.row("SELECT id FROM desk_users WHERE name = ?", (name,))
            if row is None:
                raise NotFound(f"no desk user named {name!r}")
            tx.run("UPDATE desk_users SET language = ?, language_chosen_at = ? WHERE id = ?",
                   (language, at or utc_now(), row["id"]))

    def set_phone(self, name: str, phone: str | None) -> None:
        """The user's own phone endpoint (``PJSIP/care1``) rung by a call back; None or "" removes it."""
        check_phone(phone)
        with self.dialect.write() as tx:
            row = tx.row("SELECT id FROM desk_users WHERE name = ?", (name,))
            if row is None:
                raise NotFound(f"no desk user named {name!r}")
            tx.run("UPDATE desk_users SET phone = ? WHERE id = ?", (phone or None, row["id"]))

    def user_named(self, name: str) -> DeskUser | None:
        with self.dialect.read() as tx:
            row = tx.row("SELECT * FROM desk_users WHERE name = ?", (name,))
            return _user(tx, row) if row else None

    def users(self) -> list[DeskUser]:
        with self.dialect.read() as tx:
            return [_user(tx, row) for row in tx.rows(
                f"SELECT * FROM desk_users ORDER BY role, name{self.dialect.by_code_point}")]

    # ------------------------------------------------------------ calls back

    def claim_callback(self, callback_id: str, case_id: int, staff: str, endpoint: str, *,
                       running_since: datetime, at: datetime | None = None) -> bool:
        """Book a call back starting now; False when ``staff`` has one without an end that started at or
        after ``running_since`` (an older one is taken as lost: a desk stopped while it ran). The staff
        member's row is locked first, so two desk processes cannot both start one."""
        now = as_utc(at or utc_now())
        with self.dialect.write() as tx:
            tx.row(f"SELECT id FROM desk_users WHERE name = ?{self.dialect.for_update}", (staff,))
            running = tx.row("SELECT id FROM callbacks WHERE staff = ? AND ended_at IS NULL AND started_at >= ?"
                             " LIMIT 1", (staff, as_utc(running_since)))
            if running is not None:
                return False
            tx.run("INSERT INTO callbacks (id, case_id, staff, endpoint, started_at) VALUES (?, ?, ?, ?, ?)",
                   (callback_id, case_id, staff, endpoint, now))
        return True

    def end_callback(self, callback_id: str, outcome: str, *, at: datetime | None = None) -> None:
        """The call back's end and outcome (the first end counts)."""
        with self.dialect.write() as tx:
            tx.run("UPDATE callbacks SET ended_at = ?, outcome = ? WHERE id = ? AND ended_at IS NULL",
                   (as_utc(at or utc_now()), outcome, callback_id))

    def callbacks_of_case(self, case_id: int) -> list[DeskCallback]:
        """Oldest first."""
        with self.dialect.read() as tx:
            return [DeskCallback(id=r["id"], case_id=r["case_id"], staff=r["staff"], endpoint=r["endpoint"],
                                 started_at=_time(tx, r["started_at"]),
                                 ended_at=_time(tx, r["ended_at"]) if r["ended_at"] is not None else None,
                                 outcome=r["outcome"])
                    for r in tx.rows("SELECT * FROM callbacks WHERE case_id = ? ORDER BY started_at, id", (case_id,))]

    # ------------------------------------------------------------ sessions

    def open_session(self, user_id: int, token_hash: str, *, at: datetime | None = None,
                     forget_before: datetime | None = None) -> str:
        """A new session (its token arrives hashed); its CSRF token. Sessions last seen before
        ``forget_before`` (of anyone) are deleted on the way."""
        now = as_utc(at or utc_now())
        csrf = secrets.token_urlsafe(32)
        with self.dialect.write() as tx:
            if forget_before is not None:
                tx.run("DELETE FROM desk_sessions WHERE seen_at < ?", (forget_before,))
            tx.run("INSERT INTO desk_sessions (token_hash, user_id, csrf_token, created_at, seen_at)"
                   " VALUES (?, ?, ?, ?, ?)", (token_hash, user_id, csrf, now, now))
        return csrf

    def session(self, token_hash: str) -> DeskSession | None:
        """The session and its user; None when there is none or the user is disabled."""
        with self.dialect.snapshot() as tx:
            row = tx.row("SELECT * FROM desk_sessions WHERE token_hash = ?", (token_hash,))
            if row is None:
                return None
            user = tx.row("SELECT * FROM desk_users WHERE id = ?", (row["user_id"],))
            if user is None or user["disabled_at"] is not None:
                return None
            return DeskSession(user=_user(tx, user), csrf_token=row["csrf_token"],
                               created_at=_time(tx, row["created_at"]), seen_at=_time(tx, row["seen_at"]))

    def touch_session(self, token_hash: str, *, at: datetime | None = None) -> None:
        with self.dialect.write() as tx:
            tx.run("UPDATE desk_sessions SET seen_at = ? WHERE token_hash = ?", (at or utc_now(), token_hash))

    def close_session(self, token_hash: str) -> None:
        with self.dialect.write() as tx:
            tx.run("DELETE FROM desk_sessions WHERE token_hash = ?", (token_hash,))

    # ------------------------------------------------------------ login throttling

    def login_failures(self, keys: Sequence[str], *, since: datetime) -> list[tuple[str, int, datetime]]:
        """(key, failures, last failure) of each key whose last failure is after ``since``."""
        if not keys:
            return []
        among, values = self.dialect.any_of(list(keys))
        with self.dialect.read() as tx:
            rows = tx.rows(f"SELECT login_key, failures, last_at FROM desk_login_failures WHERE login_key {among}"
                           " AND last_at >= ?", (*values, since))
            return [(str(row["login_key"]), int(row["failures"]), _time(tx, row["last_at"])) for row in rows]

    def count_login_failure(self, keys: Sequence[str], *, since: datetime, at: datetime | None = None) -> None:
        """One more failure for each key; a key whose last failure was before ``since`` starts again at 1."""
        now = as_utc(at or utc_now())
        with self.dialect.write() as tx:
            for key in keys:
                tx.run("INSERT INTO desk_login_failures (login_key, failures, last_at) VALUES (?, 1, ?)"
                       " ON CONFLICT (login_key) DO UPDATE SET last_at = excluded.last_at, failures ="
                       " CASE WHEN desk_login_failures.last_at < ? THEN 1"
                       " ELSE desk_login_failures.failures + 1 END", (key, now, since))

    def clear_login_failures(self, keys: Sequence[str]) -> None:
        among, values = self.dialect.any_of(list(keys))
        with self.dialect.write() as tx:
            tx.run(f"DELETE FROM desk_login_failures WHERE login_key {among}", values)

    # ------------------------------------------------------------ the signing key

    def secret(self, name: str) -> str:
        """A random secret kept in the store, made on first use: every desk process on the store shares it."""
        with self.dialect.write() as tx:
            tx.run("INSERT INTO desk_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                   (name, secrets.token_urlsafe(48)))
            return str(tx.one("SELECT value FROM desk_secrets WHERE name = ?", (name,))["value"])

    # ------------------------------------------------------------ the audit log

    def audit(self, actor: str, role: str, action: str, *, case_id: int | None = None, detail: str = "",
              at: datetime | None = None, unless_within: timedelta | None = None) -> bool:
        """Write who did what (to which case) and when. With ``unless_within``, nothing is written when
        the same actor did the same to the same case that recently (an audio player asking for the
        same recording again); False then."""
        now = as_utc(at or utc_now())
        with self.dialect.write() as tx:
            if unless_within is not None:
                same_case = "case_id = ?" if case_id is not None else "case_id IS NULL"
                recent = tx.row(f"SELECT id FROM audit_log WHERE actor = ? AND action = ? AND {same_case}"
                                " AND detail = ? AND at >= ? LIMIT 1",
                                (actor, action, *((case_id,) if case_id is not None else ()), detail,
                                 now - unless_within))
                if recent is not None:
                    return False
            tx.insert("INSERT INTO audit_log (at, actor, role, action, case_id, detail) VALUES (?, ?, ?, ?, ?, ?)",
                      (now, actor, role, action, case_id, detail))
        return True

    def audit_of_case(self, case_id: int) -> list[AuditEntry]:
        """Oldest first."""
        with self.dialect.read() as tx:
            return [_audit(tx, row) for row in tx.rows("SELECT * FROM audit_log WHERE case_id = ? ORDER BY id",
                                                       (case_id,))]

    def audit_entries(self, *, limit: int = 200) -> list[AuditEntry]:
        """Newest first."""
        with self.dialect.read() as tx:
            return [_audit(tx, row) for row in tx.rows("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?",
                                                       (limit,))]

    # ------------------------------------------------------------ cases, incidents, compliments

    def inbox(self, team: str | None, *, limit: int = 500, filters: InboxFilter | None = None) -> list[InboxCase]:
        """Open and assigned cases (of one team, or all for None), most urgent, then oldest, first."""
        conditions, values = _inbox_conditions(team, filters or InboxFilter())
        with self.dialect.read() as tx:
            rows = tx.rows("SELECT id, category, team, priority, status, agent, queue, opened_at, assignee"
                           f" FROM cases WHERE status IN ('open', 'assigned'){conditions}"
                           " ORDER BY priority, opened_at, id LIMIT ?", (*values, limit))
        return [InboxCase(id=r["id"], category=r["category"], team=r["team"], priority=r["priority"],
                          status=r["status"], agent=r["agent"], queue=r["queue"], opened_at=r["opened_at"],
                          assignee=r["assignee"]) for r in rows]

    def inbox_state(self) -> InboxState:
        with self.dialect.snapshot() as tx:
            cases = tx.one("SELECT COALESCE(MAX(id), 0) AS last FROM cases")["last"]
            events = tx.one("SELECT COALESCE(MAX(id), 0) AS last FROM case_events")["last"]
        return InboxState(int(cases), int(events))

    def live_state(self) -> tuple[int, ...]:
        """Changes whenever a case, case event, flag, compliment or pause is written or a pause is lifted."""
        with self.dialect.snapshot() as tx:
            row = tx.one("SELECT (SELECT COALESCE(MAX(id), 0) FROM cases) AS cases,"
                         " (SELECT COALESCE(MAX(id), 0) FROM case_events) AS events,"
                         " (SELECT COALESCE(MAX(id), 0) FROM incidents) AS incidents,"
                         " (SELECT COALESCE(MAX(id), 0) FROM compliments) AS compliments,"
                         " (SELECT COALESCE(MAX(id), 0) FROM agent_pauses) AS pauses,"
                         " (SELECT COUNT(*) FROM agent_pauses WHERE resumed_at IS NULL) AS paused")
        return tuple(int(row[key]) for key in ("cases", "events", "incidents", "compliments", "pauses", "paused"))

    def live_view(self, since: datetime, *, flags: int = 20) -> LiveView:
        """What the supervisors' live view shows: open cases per team, the latest flags, pauses in force."""
        with self.dialect.snapshot() as tx:
            teams = {str(r["team"]): int(r["open"]) for r in tx.rows(
                "SELECT team, COUNT(*) AS open FROM cases WHERE status IN ('open', 'assigned') GROUP BY team"
                f" ORDER BY team{self.dialect.by_code_point}")}
            latest = tx.rows("SELECT id, at, category, agent, queue, action, case_id FROM incidents"
                             " ORDER BY id DESC LIMIT ?", (flags,))
            counted = int(tx.one("SELECT COUNT(*) AS n FROM incidents WHERE at >= ?", (since,))["n"])
            paused = tx.rows("SELECT agent_pauses.id, agent_pauses.agent AS interface, cases.agent AS agent,"
                             " agent_pauses.reason, agent_pauses.paused_at, agent_pauses.resume_at,"
                             " agent_pauses.case_id FROM agent_pauses LEFT JOIN cases ON cases.id = agent_pauses.case_id"
                             " WHERE agent_pauses.resumed_at IS NULL ORDER BY agent_pauses.resume_at, agent_pauses.id")
        return LiveView(
            open_cases=teams,
            flags=[LiveFlag(id=r["id"], at=r["at"], category=r["category"], agent=r["agent"], queue=r["queue"],
                            action=r["action"], case_id=r["case_id"]) for r in latest],
            pauses=[LivePause(id=r["id"], interface=r["interface"], agent=r["agent"], reason=r["reason"],
                              paused_at=r["paused_at"], resume_at=r["resume_at"], case_id=r["case_id"])
                    for r in paused],
            flags_since=counted)

    def case_team(self, case_id: int) -> str | None:
        """The team of a case, None when there is no such case (one small read before any access check)."""
        with self.dialect.read() as tx:
            row = tx.row("SELECT team FROM cases WHERE id = ?", (case_id,))
        return str(row["team"]) if row else None

    def incidents_of_agent(self, agent: str, *, limit: int = 200) -> list[AgentIncident]:
        """An agent's own incidents, newest first, with their case's status; never the caller."""
        with self.dialect.read() as tx:
            rows = tx.rows(
                "SELECT incidents.id, incidents.at, incidents.category, incidents.action, incidents.case_id,"
                " incidents.queue, cases.status AS case_status FROM incidents"
                " LEFT JOIN cases ON cases.id = incidents.case_id"
                " WHERE incidents.agent = ? ORDER BY incidents.at DESC, incidents.id DESC LIMIT ?", (agent, limit))
        return [AgentIncident(id=r["id"], at=r["at"], category=r["category"], action=r["action"],
                              case_id=r["case_id"], case_status=r["case_status"], queue=r["queue"]) for r in rows]


PHONE_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,15}/[A-Za-z0-9@._+-]{1,80}$")
"""A staff phone endpoint: ``PJSIP/care1``, ``Local/2001@staff``; no comma, ``&`` or ``$`` that AMI
``Originate`` would read as a second channel or a variable."""


def check_phone(phone: str | None) -> None:
    if phone and not PHONE_PATTERN.fullmatch(phone):  # whole: "$" would let a final newline by
        raise ValueError(f"a phone is an endpoint such as PJSIP/care1 (technology/resource: letters, digits "
                         f"and @ . _ + -), not {phone!r}")


def check_user_fields(name: str, role: str, team: str | None) -> None:
    if not name.strip() or name != name.strip() or any(ch < " " for ch in name) or len(name) > 80:
        raise ValueError("a user name is 1 to 80 characters, without control characters or spaces around it")
    if role not in ROLES:
        raise ValueError(f"a desk role is one of {', '.join(ROLES)}, not {role!r}")
    if role in TEAM_ROLES and not team:
        raise ValueError(f"a {role} user works one team's cases: give the team")


# ---------------------------------------------------------------- rows to records


def _inbox_conditions(team: str | None, filters: InboxFilter) -> tuple[str, list[Any]]:
    """The inbox's WHERE conditions after the status, and their bound values (SQL text of constants only)."""
    conditions: list[str] = []
    values: list[Any] = []
    for column, value in (("team", team), ("priority", filters.priority), ("category", filters.category),
                          ("assignee", filters.assignee)):
        if value is not None:
            conditions.append(f" AND {column} = ?")
            values.append(value)
    if filters.unassigned:
        conditions.append(" AND assignee IS NULL")
    if filters.due_before or filters.overdue_else is not None:
        late = ["(priority = ? AND opened_at < ?)" for _ in filters.due_before]
        for priority, cutoff in filters.due_before:
            values += [priority, cutoff]
        if filters.overdue_else is not None and filters.due_before:
            known = ", ".join("?" for _ in filters.due_before)
            late.append(f"(priority NOT IN ({known}) AND opened_at < ?)")
            values += [priority for priority, _ in filters.due_before] + [filters.overdue_else]
        elif filters.overdue_else is not None:
            late.append("opened_at < ?")
            values.append(filters.overdue_else)
        conditions.append(f" AND ({' OR '.join(late)})")
    return "".join(conditions), values


def _time(tx: Tx, value: Any) -> datetime:
    """A time column the store's row reader does not know, read as ``TIME_COLUMNS`` are."""
    moment = value if isinstance(value, datetime) else tx.dialect.decode_time(value)
    return moment.astimezone(UTC)


def _user(tx: Tx, row: Row) -> DeskUser:
    return DeskUser(id=row["id"], name=row["name"], role=row["role"], password_hash=row["password_hash"],
                    team=row["team"], agent=row["agent"], language=row["language"], phone=row["phone"],
                    created_at=_time(tx, row["created_at"]),
                    disabled_at=_time(tx, row["disabled_at"]) if row["disabled_at"] is not None else None,
                    language_chosen_at=(_time(tx, row["language_chosen_at"])
                                        if row["language_chosen_at"] is not None else None))


def _audit(tx: Tx, row: Row) -> AuditEntry:
    return AuditEntry(id=row["id"], at=_time(tx, row["at"]), actor=row["actor"], role=row["role"],
                      action=row["action"], case_id=row["case_id"], detail=row["detail"])
