"""Thank-you rounds in the store (migration 10): how far each agent's delivery got, their reply, and the
messages managers recorded on the manager's line.

One row per round and agent (``appreciation_deliveries``), written by the delivery worker
(``policy.appreciation``): ``waiting`` (not rung yet, or to be tried again at ``next_try_at``),
``ringing`` (rung now), ``reached`` (the agent answered and heard the message), ``missed`` (not
answered after the configured tries), ``skipped`` (on a recovery pause in a round that skips them).
A state moves only from the states it may come from (``UPDATE ... WHERE status IN``), so a second
server sharing the store cannot ring an agent the first one is ringing.

``AppreciationStore`` runs on the dialect of an opened ``SqlStore``, like ``ScreeningStore``: SQL from this
module's constants, every value bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from agi_scripts.storage.base import UTC, Store, as_utc, utc_now
from agi_scripts.storage.sql import Dialect, Row, Tx

Status = Literal["waiting", "ringing", "reached", "missed", "skipped"]
STATUSES: tuple[Status, ...] = ("waiting", "ringing", "reached", "missed", "skipped")
MAX_TEXT = 400
"""Names, paths and details are cut to this many characters before they reach the store."""


@dataclass(frozen=True)
class Delivery:
    round_id: str
    agent: str
    """The agent's device (``PJSIP/agent1``)."""
    agent_name: str
    status: Status
    tries: int
    next_try_at: datetime | None
    first_try_at: datetime | None
    reached_at: datetime | None
    reply_path: str | None
    reply_at: datetime | None
    reply_screening: str | None
    """``held`` (the manager hears it after a review) or ``released``; None without a reply."""
    reply_reason: str
    detail: str
    updated_at: datetime


@dataclass(frozen=True)
class RecordedMessage:
    round_id: str
    language: str
    path: str
    """The recording without its extension, as Asterisk plays it."""
    manager: str
    recorded_at: datetime


class AppreciationStore:
    """The thank-you rounds' queries on an opened store's dialect. Safe from several threads."""

    def __init__(self, store: Store) -> None:
        dialect = getattr(store, "dialect", None)
        if not isinstance(dialect, Dialect):
            raise TypeError("thank-you rounds need a SQL store (SQLite or PostgreSQL)")
        self.dialect = dialect

    # ------------------------------------------------------------ deliveries

    def enlist(self, round_id: str, agent: str, agent_name: str, *, at: datetime | None = None) -> bool:
        """The agent waits for this round's message (once: True only when the row is new)."""
        with self.dialect.write() as tx:
            return tx.run("INSERT INTO appreciation_deliveries (round_id, agent, agent_name, status, updated_at)"
                          " VALUES (?, ?, ?, 'waiting', ?) ON CONFLICT (round_id, agent) DO NOTHING",
                          (round_id, agent[:MAX_TEXT], agent_name[:MAX_TEXT], as_utc(at or utc_now()))) > 0

    def deliveries(self, round_id: str | None = None) -> list[Delivery]:
        """Every agent of a round (or of every round), by round and agent."""
        where, values = ("WHERE round_id = ?", (round_id,)) if round_id is not None else ("", ())
        with self.dialect.read() as tx:
            rows = tx.rows(f"SELECT * FROM appreciation_deliveries {where} ORDER BY round_id, agent", values)
            return [_delivery(tx, row) for row in rows]

    def get(self, round_id: str, agent: str) -> Delivery | None:
        with self.dialect.read() as tx:
            row = tx.row("SELECT * FROM appreciation_deliveries WHERE round_id = ? AND agent = ?", (round_id, agent))
            return _delivery(tx, row) if row else None

    def ringing(self, round_id: str, agent: str, *, at: datetime | None = None) -> bool:
        """A try starts; False when the agent is not waiting (another server rings them, or it is done)."""
        now = as_utc(at or utc_now())
        with self.dialect.write() as tx:
            return tx.run("UPDATE appreciation_deliveries SET status = 'ringing', tries = tries + 1,"
                          " first_try_at = COALESCE(first_try_at, ?), next_try_at = NULL, updated_at = ?"
                          " WHERE round_id = ? AND agent = ? AND status = 'waiting'",
                          (now, now, round_id, agent)) > 0

    def reached(self, round_id: str, agent: str, *, at: datetime | None = None) -> None:
        now = as_utc(at or utc_now())
        with self.dialect.write() as tx:
            tx.run("UPDATE appreciation_deliveries SET status = 'reached', reached_at = ?, detail = '', updated_at = ?"
                   " WHERE round_id = ? AND agent = ? AND status IN ('ringing', 'waiting')",
                   (now, now, round_id, agent))

    def not_reached(self, round_id: str, agent: str, why: str, *, tries: int, retry_at: datetime,
                    at: datetime | None = None) -> Status:
        """An unanswered (or cut off) try: waiting again until ``retry_at``, or missed after ``tries`` tries."""
        now = as_utc(at or utc_now())
        with self.dialect.write() as tx:
            tx.run("UPDATE appreciation_deliveries SET status = CASE WHEN tries >= ? THEN 'missed' ELSE 'waiting' END,"
                   " next_try_at = CASE WHEN tries >= ? THEN NULL ELSE ? END, detail = ?, updated_at = ?"
                   " WHERE round_id = ? AND agent = ? AND status = 'ringing'",
                   (tries, tries, as_utc(retry_at), why[:MAX_TEXT], now, round_id, agent))
            row = tx.row("SELECT status FROM appreciation_deliveries WHERE round_id = ? AND agent = ?",
                         (round_id, agent))
        return row["status"] if row else "waiting"

    def released(self, round_id: str, agent: str, why: str, *, at: datetime | None = None) -> None:
        """A try that never rang (the agent became busy first): waiting again, the try not counted."""
        now = as_utc(at or utc_now())
        with self.dialect.write() as tx:
            tx.run("UPDATE appreciation_deliveries SET status = 'waiting', tries = tries - 1, detail = ?,"
                   " updated_at = ? WHERE round_id = ? AND agent = ? AND status = 'ringing'",
                   (why[:MAX_TEXT], now, round_id, agent))

    def skipped(self, round_id: str, agent: str, why: str, *, at: datetime | None = None) -> None:
        now = as_utc(at or utc_now())
        with self.dialect.write() as tx:
            tx.run("UPDATE appreciation_deliveries SET status = 'skipped', detail = ?, updated_at = ?"
                   " WHERE round_id = ? AND agent = ? AND status = 'waiting'", (why[:MAX_TEXT], now, round_id, agent))

    def replied(self, round_id: str, agent: str, path: str, *, screening: str, reason: str = "",
                at: datetime | None = None) -> None:
        """The agent's reply, screened as a compliment is (``held`` or ``released``, and why)."""
        if screening not in ("held", "released"):
            raise ValueError(f"a reply is held or released, not {screening!r}")
        now = as_utc(at or utc_now())
        with self.dialect.write() as tx:
            tx.run("UPDATE appreciation_deliveries SET reply_path = ?, reply_at = ?, reply_screening = ?,"
                   " reply_reason = ?, updated_at = ? WHERE round_id = ? AND agent = ?",
                   (path[:MAX_TEXT], now, screening, reason[:MAX_TEXT], now, round_id, agent))

    def interrupted(self, *, at: datetime | None = None) -> int:
        """Tries a stopped server left ringing go back to waiting (at start); how many."""
        with self.dialect.write() as tx:
            return tx.run("UPDATE appreciation_deliveries SET status = 'waiting', detail = 'interrupted',"
                          " updated_at = ? WHERE status = 'ringing'", (as_utc(at or utc_now()),))

    # ------------------------------------------------------------ the managers' recordings

    def save_recording(self, round_id: str, language: str, path: str, manager: str, *,
                       at: datetime | None = None) -> None:
        """The manager kept a recording: it replaces the round's earlier one in that language."""
        with self.dialect.write() as tx:
            tx.run("INSERT INTO appreciation_recordings (round_id, language, path, manager, recorded_at)"
                   " VALUES (?, ?, ?, ?, ?) ON CONFLICT (round_id, language) DO UPDATE SET path = excluded.path,"
                   " manager = excluded.manager, recorded_at = excluded.recorded_at",
                   (round_id, language, path[:MAX_TEXT], manager[:MAX_TEXT], as_utc(at or utc_now())))

    def recordings(self, round_id: str) -> list[RecordedMessage]:
        with self.dialect.read() as tx:
            rows = tx.rows("SELECT * FROM appreciation_recordings WHERE round_id = ? ORDER BY language", (round_id,))
            return [RecordedMessage(row["round_id"], row["language"], row["path"], row["manager"],
                                    _time(tx, row["recorded_at"])) for row in rows]


def _time(tx: Tx, value: object) -> datetime:
    moment = value if isinstance(value, datetime) else tx.dialect.decode_time(value)
    return moment.astimezone(UTC)


def _maybe_time(tx: Tx, value: object) -> datetime | None:
    return None if value is None else _time(tx, value)


def _delivery(tx: Tx, row: Row) -> Delivery:
    return Delivery(round_id=row["round_id"], agent=row["agent"], agent_name=row["agent_name"],
                    status=row["status"], tries=int(row["tries"]), next_try_at=_maybe_time(tx, row["next_try_at"]),
                    first_try_at=_maybe_time(tx, row["first_try_at"]), reached_at=_maybe_time(tx, row["reached_at"]),
                    reply_path=row["reply_path"], reply_at=_maybe_time(tx, row["reply_at"]),
                    reply_screening=row["reply_screening"], reply_reason=row["reply_reason"], detail=row["detail"],
                    updated_at=_time(tx, row["updated_at"]))
