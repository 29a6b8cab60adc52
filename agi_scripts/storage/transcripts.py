"""Transcripts of recordings: which recordings wait for one, saving one, reading them back.

``TranscriptStore`` runs on the dialect of an opened ``SqlStore`` (SQLite or PostgreSQL), in the same
transactions and with the same rules as ``storage/sql.py``: SQL text made of this module's constants,
every value bound. A transcript is keyed by its recording's path, as the case or compliment holds
it: two cases sharing one call's evidence share its transcript, and ``SqlStore.forget_recording``
deletes it with the file (retention, erasure).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from agi_scripts.storage.base import Store, Transcript, TranscriptKind, TranscriptSegment, as_utc, utc_now
from agi_scripts.storage.sql import SqlStore, transcript_of_row

MAX_SEGMENTS = 2000
"""Segments kept per transcript (about an hour of speech); the worker's duration limit stays well under."""
MAX_SEGMENT_TEXT = 2000
"""Characters kept per segment: a model that loops on one phrase cannot fill the store."""


@dataclass(frozen=True)
class TranscriptJob:
    """A recording that has no transcript yet."""

    kind: TranscriptKind
    recording: str
    call_id: str
    language: str | None
    """The call's language as the store knows it (None when its call row is gone)."""
    owner_id: int
    """The case (lowest id, when several share the evidence) or the compliment."""
    since: datetime
    """When the case was opened or the compliment last changed."""


_PENDING_EVIDENCE = (
    "SELECT MIN(cases.id) AS owner_id, cases.recording, MIN(cases.call_id) AS call_id,"
    " MIN(calls.language) AS language, MIN(cases.opened_at) AS at"
    " FROM cases LEFT JOIN calls ON calls.call_id = cases.call_id"
    " WHERE cases.recording IS NOT NULL AND cases.recording <> ''"
    " AND NOT EXISTS (SELECT 1 FROM transcripts WHERE transcripts.recording = cases.recording)"
    # A case keeps the path of evidence retention or an erasure deleted (with a recording_deleted event).
    " AND NOT EXISTS (SELECT 1 FROM case_events WHERE case_events.case_id = cases.id"
    " AND case_events.action = 'recording_deleted')"
    " GROUP BY cases.recording ORDER BY MIN(cases.id) LIMIT ?")
_PENDING_COMPLIMENTS = (
    "SELECT compliments.id AS owner_id, compliments.recording, compliments.call_id, calls.language AS language,"
    " compliments.updated_at AS at"
    " FROM compliments LEFT JOIN calls ON calls.call_id = compliments.call_id"
    " WHERE compliments.recording IS NOT NULL AND compliments.recording <> ''"
    " AND NOT EXISTS (SELECT 1 FROM transcripts WHERE transcripts.recording = compliments.recording)"
    " ORDER BY compliments.id LIMIT ?")


class TranscriptStore:
    """Transcript queries on an opened store's dialect. All methods are safe from several threads."""

    def __init__(self, store: Store) -> None:
        if not isinstance(store, SqlStore):
            raise TypeError("transcripts need a SQL store (SQLite or PostgreSQL)")
        self.store = store
        self.dialect = store.dialect

    def pending(self, limit: int) -> list[TranscriptJob]:
        """Recordings without a transcript: spoken compliments first (an agent may be waiting for
        one, and screening needs its words), then evidence, oldest first within each; at most
        ``limit`` in all."""
        if limit <= 0:
            return []
        with self.dialect.snapshot() as tx:
            compliments = tx.rows(_PENDING_COMPLIMENTS, (limit,))
            evidence = tx.rows(_PENDING_EVIDENCE, (max(limit - len(compliments), 0),)) \
                if len(compliments) < limit else []
        return ([_job("compliment", row) for row in compliments] + [_job("evidence", row) for row in evidence])[:limit]

    def save(self, transcript: Transcript) -> bool:
        """Keep a transcript; False (nothing written) when its recording has one already, or when the
        recording is no longer a case's or a compliment's, or was deleted (forgotten while it was being
        transcribed)."""
        segments = [{"start": round(s.start, 2), "end": round(s.end, 2), "speaker": s.speaker[:20],
                     "text": s.text[:MAX_SEGMENT_TEXT]} for s in transcript.segments[:MAX_SEGMENTS]]
        with self.dialect.write() as tx:
            owned = tx.row("SELECT 1 AS found FROM cases WHERE recording = ? AND NOT EXISTS (SELECT 1 FROM"
                           " case_events WHERE case_events.case_id = cases.id AND action = 'recording_deleted')"
                           " UNION ALL SELECT 1 AS found FROM compliments WHERE recording = ?",
                           (transcript.recording, transcript.recording))
            if owned is None:
                return False
            return tx.run(
                "INSERT INTO transcripts (recording, kind, call_id, status, language, model, segments, note,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (recording) DO NOTHING",
                (transcript.recording, transcript.kind, transcript.call_id, transcript.status,
                 transcript.language, transcript.model, json.dumps(segments, ensure_ascii=False),
                 transcript.note[:500], as_utc(transcript.created_at))) > 0

    def get(self, recording: str) -> Transcript | None:
        with self.dialect.read() as tx:
            row = tx.row("SELECT * FROM transcripts WHERE recording = ?", (recording,))
        return transcript_of_row(row) if row is not None else None

    def of_recordings(self, recordings: Iterable[str | None]) -> dict[str, Transcript]:
        """The transcripts of these recordings that have one, by recording path."""
        wanted: Sequence[object] = sorted({path for path in recordings if path})
        if not wanted:
            return {}
        among, params = self.dialect.any_of(wanted)
        with self.dialect.read() as tx:
            rows = tx.rows(f"SELECT * FROM transcripts WHERE recording {among}", params)
        return {row["recording"]: transcript_of_row(row) for row in rows}


def new_transcript(job: TranscriptJob, *, language: str, model: str, segments: Sequence[TranscriptSegment],
                   note: str = "", skipped: bool = False, at: datetime | None = None) -> Transcript:
    return Transcript(recording=job.recording, kind=job.kind, call_id=job.call_id,
                      status="skipped" if skipped else "done", language=language, model=model,
                      segments=tuple(sorted(segments, key=lambda s: (s.start, s.end))), note=note,
                      created_at=as_utc(at or utc_now()))


def _job(kind: TranscriptKind, row: dict[str, object]) -> TranscriptJob:
    since = row["at"]
    assert isinstance(since, datetime)
    return TranscriptJob(kind=kind, recording=str(row["recording"]), call_id=str(row["call_id"]),
                         language=str(row["language"]) if row["language"] else None,
                         owner_id=int(str(row["owner_id"])), since=since)
