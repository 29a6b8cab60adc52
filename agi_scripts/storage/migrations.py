"""Numbered schema migrations, applied in order on open.

A migration is never edited once released: a change is a new entry at the end. Version N means
migrations 1..N have run. Each entry holds its statements per SQL dialect, so a PostgreSQL backend
adds its own column next to ``sqlite`` for the same steps and reaches the same schema version.

Times are ISO-8601 UTC text of one fixed width (``2025-01-31T09:30:00.000000+00:00``), so text
order is time order. ``call_id`` columns have no foreign key on purpose (see ``base``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sqlite: tuple[str, ...]


_V1_SQLITE = (
    """CREATE TABLE calls (
        call_id     TEXT PRIMARY KEY,
        started_at  TEXT NOT NULL,
        caller      TEXT NOT NULL,
        queue       TEXT NOT NULL,
        language    TEXT NOT NULL,
        route       TEXT NOT NULL,
        campaign    TEXT,
        agent       TEXT,
        ended_at    TEXT,
        outcome     TEXT
    )""",
    "CREATE INDEX calls_started_at ON calls (started_at)",
    """CREATE TABLE compliments (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        call_id      TEXT NOT NULL,
        agent        TEXT NOT NULL,
        queue        TEXT NOT NULL,
        campaign     TEXT,
        rating       INTEGER CHECK (rating IS NULL OR rating BETWEEN 1 AND 5),
        recording    TEXT,
        created_at   TEXT NOT NULL,
        updated_at   TEXT NOT NULL,
        delivered_at TEXT
    )""",
    "CREATE INDEX compliments_agent_created_at ON compliments (agent, created_at)",
    "CREATE INDEX compliments_created_at ON compliments (created_at)",
    """CREATE TABLE cases (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        category    TEXT NOT NULL,
        team        TEXT NOT NULL,
        priority    INTEGER NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('open', 'assigned', 'closed')),
        caller      TEXT NOT NULL,
        agent       TEXT NOT NULL,
        queue       TEXT NOT NULL,
        call_id     TEXT NOT NULL,
        recording   TEXT,
        opened_at   TEXT NOT NULL,
        closed_at   TEXT,
        assignee    TEXT,
        resolution  TEXT
    )""",
    "CREATE INDEX cases_caller_status ON cases (caller, status)",
    "CREATE INDEX cases_status_team ON cases (status, team)",
    """CREATE TABLE case_events (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        case_id  INTEGER NOT NULL REFERENCES cases (id),
        at       TEXT NOT NULL,
        action   TEXT NOT NULL,
        detail   TEXT NOT NULL DEFAULT '',
        author   TEXT
    )""",
    "CREATE INDEX case_events_case_id ON case_events (case_id, id)",
    """CREATE TABLE incidents (
        id                  INTEGER PRIMARY KEY AUTOINCREMENT,
        call_id             TEXT NOT NULL,
        category            TEXT NOT NULL,
        number_in_call      INTEGER NOT NULL,
        number_in_category  INTEGER NOT NULL,
        team                TEXT,
        action              TEXT,
        case_id             INTEGER REFERENCES cases (id),
        agent               TEXT NOT NULL,
        caller              TEXT NOT NULL,
        queue               TEXT NOT NULL,
        at                  TEXT NOT NULL,
        UNIQUE (call_id, number_in_call),
        UNIQUE (call_id, category, number_in_category)
    )""",
    "CREATE INDEX incidents_at ON incidents (at)",
    """CREATE TABLE agent_pauses (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        agent       TEXT NOT NULL,
        queues      TEXT NOT NULL,
        reason      TEXT NOT NULL,
        paused_at   TEXT NOT NULL,
        resume_at   TEXT,
        resumed_at  TEXT,
        case_id     INTEGER REFERENCES cases (id)
    )""",
    "CREATE INDEX agent_pauses_pending ON agent_pauses (resumed_at, resume_at)",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "calls, compliments, cases, case events, incidents, agent pauses", _V1_SQLITE),
)

LATEST_VERSION = MIGRATIONS[-1].version
