"""The compliments' screening in the store: which messages an agent may hear, the team lead's review list,
and the follow-ups that low ratings open (migration 5).

A compliment's ``screening`` state:
- ``unscreened``: just kept by ``post_call`` (the caller may still be speaking), or a screening that could
  not be written (the store failed at that moment). Never played; the review list shows it.
- ``pending_transcript``: a spoken message waiting for its transcript before the word list can be checked.
- ``held``: waits for the team lead (a low rating, a word of the list, no transcript possible).
- ``released``: an agent may hear it (on ``*88`` and on the desk).
- ``deleted``: the team lead deleted the message with a reason; its recording is gone, the rating stays
  (the rating alone always counts in the reports).

Each change moves a compliment only from the states it may come from, in one ``UPDATE ... WHERE
screening IN (...)``, so the end of ``post_call`` and a transcript arriving meanwhile never undo each
other. Review actions write their line in the desk's ``audit_log`` in the same transaction.

``ScreeningStore`` runs on the dialect of an opened ``SqlStore`` like ``DeskStore``: SQL text made of this
module's constants, every value bound. Follow-ups hold no caller number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from agi_scripts.storage.base import Compliment, NotFound, Store, StoreError, as_utc, utc_now
from agi_scripts.storage.sql import Dialect, Row, Tx

ScreeningState = Literal["unscreened", "pending_transcript", "held", "released", "deleted"]
SCREENING_STATES: tuple[ScreeningState, ...] = ("unscreened", "pending_transcript", "held", "released", "deleted")
WAITING_STATES: tuple[ScreeningState, ...] = ("unscreened", "pending_transcript", "held")
"""What the team lead's review list shows: nothing an agent may hear yet."""
DECIDABLE_STATES: tuple[ScreeningState, ...] = ("held", "pending_transcript")
"""What the team lead may release or delete: screened after the call (never ``unscreened``: its caller may
still be in the post-call flow, and releasing it would skip the screening and its follow-up)."""
STUCK_UNSCREENED = timedelta(hours=6)
"""An ``unscreened`` compliment this old is one whose screening could not be written (the store failed at
the end of its call): no post-call flow lasts this long, so the team lead may decide it by hand."""
MAX_REASON = 500
"""Characters of a screening or review reason kept (longer ones are cut)."""


@dataclass(frozen=True)
class ScreenedCompliment:
    """A compliment with its screening."""

    compliment: Compliment
    screening: ScreeningState
    reason: str
    """Why it is held (or ``""``): ``rating 1 (at or below 2)``, ``word list (en): idiot``, ..."""
    screened_at: datetime | None
    reviewed_by: str | None
    review_reason: str | None

    @property
    def id(self) -> int:
        return self.compliment.id


@dataclass(frozen=True)
class FollowUp:
    """A low rating the team lead should look into; never shown to the agent as a compliment."""

    id: int
    compliment_id: int
    agent: str
    queue: str
    rating: int
    created_at: datetime
    closed_at: datetime | None
    closed_by: str | None
    note: str | None


class NotDecidable(StoreError):
    """Release or delete refused: the compliment is not screened yet (``DECIDABLE_STATES``)."""


class ScreeningStore:
    """The screening's queries on an opened store's dialect. All methods are safe from several threads."""

    def __init__(self, store: Store) -> None:
        # A SqlStore, or the handlers' offloaded wrapper of one (its dialect shows through).
        dialect = getattr(store, "dialect", None)
        if not isinstance(dialect, Dialect):
            raise TypeError("compliment screening needs a SQL store (SQLite or PostgreSQL)")
        self.dialect = dialect

    # ------------------------------------------------------------ reading

    def get(self, compliment_id: int) -> ScreenedCompliment | None:
        with self.dialect.read() as tx:
            row = tx.row("SELECT * FROM compliments WHERE id = ?", (compliment_id,))
            return self._screened(row) if row else None

    def new_for_agent(self, agent: str, *, limit: int) -> tuple[list[ScreenedCompliment], int]:
        """Released compliments the agent has not heard, oldest first (at most ``limit``), and how many
        there are in all. Only compliments with something to hear (a rating or a message) count."""
        with self.dialect.snapshot() as tx:
            rows = tx.rows(f"SELECT * FROM compliments WHERE {_PLAYABLE} AND delivered_at IS NULL"
                           " ORDER BY created_at, id LIMIT ?", (agent, limit))
            total = tx.one(f"SELECT COUNT(*) AS n FROM compliments WHERE {_PLAYABLE} AND delivered_at IS NULL",
                           (agent,))["n"]
        return [self._screened(row) for row in rows], int(total)

    def heard_by_agent(self, agent: str, *, limit: int) -> list[ScreenedCompliment]:
        """Released compliments the agent heard before, newest first."""
        with self.dialect.read() as tx:
            rows = tx.rows(f"SELECT * FROM compliments WHERE {_PLAYABLE} AND delivered_at IS NOT NULL"
                           " ORDER BY created_at DESC, id DESC LIMIT ?", (agent, limit))
        return [self._screened(row) for row in rows]

    def released_for_agent(self, agent: str, *, limit: int) -> list[ScreenedCompliment]:
        """Every released compliment of the agent, newest first (the desk's "My compliments")."""
        with self.dialect.read() as tx:
            rows = tx.rows(f"SELECT * FROM compliments WHERE {_PLAYABLE} ORDER BY created_at DESC, id DESC LIMIT ?",
                           (agent, limit))
        return [self._screened(row) for row in rows]

    def review_list(self, *, limit: int = 500) -> list[ScreenedCompliment]:
        """Compliments no agent may hear yet (held, waiting for a transcript, unscreened), oldest first."""
        with self.dialect.read() as tx:
            rows = tx.rows(f"SELECT * FROM compliments WHERE {_WAITING} ORDER BY created_at, id LIMIT ?", (limit,))
        return [self._screened(row) for row in rows]

    # ------------------------------------------------------------ screening

    def screen(self, compliment_id: int, state: ScreeningState, reason: str, *,
               only_from: Sequence[ScreeningState], at: datetime | None = None) -> bool:
        """Move a compliment to ``state`` if it is in one of ``only_from``; False when it was not
        (decided already, or reviewed). NotFound for an unknown id."""
        _check_state(state)
        for source in only_from:
            _check_state(source)
        among, values = self.dialect.any_of(list(only_from))
        with self.dialect.write() as tx:
            changed = tx.run(f"UPDATE compliments SET screening = ?, screening_reason = ?, screened_at = ?"
                             f" WHERE id = ? AND screening {among}",
                             (state, reason[:MAX_REASON], as_utc(at or utc_now()), compliment_id, *values))
            if not changed and tx.row("SELECT id FROM compliments WHERE id = ?", (compliment_id,)) is None:
                raise NotFound(f"no compliment {compliment_id}")
            return changed > 0

    def open_follow_up(self, compliment_id: int, *, at: datetime | None = None) -> FollowUp | None:
        """A follow-up for this compliment's rating, once (None when it has no rating). A second call
        returns the first follow-up."""
        with self.dialect.write() as tx:
            row = tx.row("SELECT * FROM compliments WHERE id = ?" + self.dialect.for_update, (compliment_id,))
            if row is None:
                raise NotFound(f"no compliment {compliment_id}")
            if row["rating"] is None:
                return None
            found = tx.row("SELECT * FROM compliment_follow_ups WHERE compliment_id = ?", (compliment_id,))
            if found is None:
                tx.insert("INSERT INTO compliment_follow_ups (compliment_id, agent, queue, rating, created_at)"
                          " VALUES (?, ?, ?, ?, ?)",
                          (compliment_id, row["agent"], row["queue"], row["rating"], as_utc(at or utc_now())))
                found = tx.one("SELECT * FROM compliment_follow_ups WHERE compliment_id = ?", (compliment_id,))
            return self._follow_up(found)

    # ------------------------------------------------------------ the team lead's review

    def release(self, compliment_id: int, *, by: str, role: str, at: datetime | None = None) -> ScreenedCompliment:
        """The agent may hear it now. Only a held one or one waiting for its transcript (or an unscreened one
        left stuck, see ``decidable``): NotDecidable for one whose caller may still be speaking, StoreError
        for a deleted one; releasing twice changes nothing."""
        now = as_utc(at or utc_now())
        with self.dialect.write() as tx:
            row = self._locked(tx, compliment_id)  # locked: the check and the change are one step
            if row["screening"] == "deleted":
                raise StoreError(f"compliment {compliment_id} was deleted; it cannot be released")
            if row["screening"] != "released":
                self._check_decidable(row, now)
                tx.run("UPDATE compliments SET screening = 'released', reviewed_by = ?, review_reason = NULL,"
                       " screened_at = ? WHERE id = ?", (by, now, compliment_id))
                _audit(tx, now, by, role, "compliment_released", f"compliment {compliment_id}")
            return self._screened(tx.one("SELECT * FROM compliments WHERE id = ?", (compliment_id,)))

    def delete(self, compliment_id: int, *, by: str, role: str, reason: str,
               at: datetime | None = None) -> tuple[ScreenedCompliment, str | None]:
        """Delete the message with a reason: it is never played; the rating stays for the reports.
        Returns the compliment and the recording the caller must now unlink (None when it had none).
        ValueError for a blank reason; NotDecidable while its caller may still be speaking (the recording
        may still be written); a released one may be deleted after all; deleting twice changes nothing."""
        reason = " ".join(reason.split())[:MAX_REASON]
        if not reason:
            raise ValueError("a deletion needs a reason")
        now = as_utc(at or utc_now())
        with self.dialect.write() as tx:
            row = self._locked(tx, compliment_id)
            recording = row["recording"]
            if row["screening"] == "deleted":
                return self._screened(row), None
            if row["screening"] != "released":
                self._check_decidable(row, now)
            tx.run("UPDATE compliments SET screening = 'deleted', recording = NULL, reviewed_by = ?,"
                   " review_reason = ?, screened_at = ?, updated_at = ? WHERE id = ?",
                   (by, reason, now, now, compliment_id))
            _audit(tx, now, by, role, "compliment_deleted", f"compliment {compliment_id}: {reason}")
            return self._screened(tx.one("SELECT * FROM compliments WHERE id = ?", (compliment_id,))), recording

    def decidable(self, found: ScreenedCompliment, *, at: datetime | None = None) -> bool:
        """Whether the team lead may release or delete it now (what the review list offers buttons for)."""
        return _decidable(found.screening, found.compliment.created_at, as_utc(at or utc_now()))

    def _check_decidable(self, row: Row, now: datetime) -> None:
        created = row["created_at"]
        if not isinstance(created, datetime):
            created = self.dialect.decode_time(created)
        if not _decidable(row["screening"], created, now):
            raise NotDecidable(f"compliment {row['id']} is not screened yet: its caller may still be leaving it; "
                               "decide once it is held")

    # ------------------------------------------------------------ follow-ups

    def follow_ups(self, *, include_closed: bool = False, limit: int = 500) -> list[FollowUp]:
        """Oldest first; open ones only unless ``include_closed``."""
        condition = "" if include_closed else "WHERE closed_at IS NULL"
        with self.dialect.read() as tx:
            rows = tx.rows(f"SELECT * FROM compliment_follow_ups {condition} ORDER BY id LIMIT ?", (limit,))
        return [self._follow_up(row) for row in rows]

    def close_follow_up(self, follow_up_id: int, *, by: str, role: str, note: str,
                        at: datetime | None = None) -> FollowUp:
        """Done with it (``note`` says what was done). StoreError when it is closed already."""
        note = " ".join(note.split())[:MAX_REASON]
        if not note:
            raise ValueError("closing a follow-up needs a note")
        now = as_utc(at or utc_now())
        with self.dialect.write() as tx:
            row = tx.row("SELECT * FROM compliment_follow_ups WHERE id = ?" + self.dialect.for_update,
                         (follow_up_id,))
            if row is None:
                raise NotFound(f"no follow-up {follow_up_id}")
            if row["closed_at"] is not None:
                raise StoreError(f"follow-up {follow_up_id} is closed already")
            tx.run("UPDATE compliment_follow_ups SET closed_at = ?, closed_by = ?, note = ? WHERE id = ?",
                   (now, by, note, follow_up_id))
            _audit(tx, now, by, role, "follow_up_closed", f"follow-up {follow_up_id}: {note}")
            return self._follow_up(tx.one("SELECT * FROM compliment_follow_ups WHERE id = ?", (follow_up_id,)))

    # ------------------------------------------------------------ rows

    def _locked(self, tx: Tx, compliment_id: int) -> Row:
        row = tx.row("SELECT * FROM compliments WHERE id = ?" + self.dialect.for_update, (compliment_id,))
        if row is None:
            raise NotFound(f"no compliment {compliment_id}")
        return row

    def _time(self, value: Any) -> datetime | None:
        return None if value is None else self.dialect.decode_time(value)

    def _screened(self, row: Row) -> ScreenedCompliment:
        compliment = Compliment(id=row["id"], call_id=row["call_id"], agent=row["agent"], queue=row["queue"],
                                campaign=row["campaign"], rating=row["rating"], recording=row["recording"],
                                created_at=row["created_at"], updated_at=row["updated_at"],
                                delivered_at=row["delivered_at"])
        return ScreenedCompliment(compliment, row["screening"], row["screening_reason"],
                                  self._time(row["screened_at"]), row["reviewed_by"], row["review_reason"])

    def _follow_up(self, row: Row) -> FollowUp:
        return FollowUp(id=row["id"], compliment_id=row["compliment_id"], agent=row["agent"], queue=row["queue"],
                        rating=row["rating"], created_at=row["created_at"], closed_at=row["closed_at"],
                        closed_by=row["closed_by"], note=row["note"])


_WAITING = "screening IN ('unscreened', 'pending_transcript', 'held')"
"""``WAITING_STATES`` written out, as the partial index ``compliments_waiting`` (migration 5) is: the
databases use that index only for the very same condition."""
_PLAYABLE = "agent = ? AND screening = 'released' AND (rating IS NOT NULL OR recording IS NOT NULL)"
"""What an agent may hear: released, with a rating or a message."""


def _decidable(state: str, created_at: datetime, now: datetime) -> bool:
    return state in DECIDABLE_STATES or (state == "unscreened" and now - as_utc(created_at) >= STUCK_UNSCREENED)


def _check_state(state: str) -> None:
    if state not in SCREENING_STATES:
        raise ValueError(f"unknown screening state {state!r}; one of {', '.join(SCREENING_STATES)}")


def _audit(tx: Tx, at: datetime, actor: str, role: str, action: str, detail: str) -> None:
    tx.insert("INSERT INTO audit_log (at, actor, role, action, case_id, detail) VALUES (?, ?, ?, ?, NULL, ?)",
              (at, actor, role, action, detail))
