"""Transcripts as the reports show them: JSON for ``cases list/show --format json`` and ``privacy
export``, lines of text for ``cases show`` and the incident report (Markdown and PDF)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import tzinfo

from agi_scripts.reports.moments import iso_local
from agi_scripts.reports.render import JsonValue
from agi_scripts.storage.base import Store, Transcript
from agi_scripts.storage.sql import SqlStore
from agi_scripts.storage.transcripts import TranscriptStore


def transcripts_of(store: Store, recordings: Iterable[str | None]) -> dict[str, Transcript]:
    """The transcripts of these recordings, by path (none from a store that keeps none)."""
    if not isinstance(store, SqlStore):
        return {}
    return TranscriptStore(store).of_recordings(recordings)


def clock(seconds: float) -> str:
    """``01:02.5``: minutes and seconds from the start of the recording."""
    minutes, rest = divmod(max(seconds, 0.0), 60)
    return f"{int(minutes):02d}:{rest:04.1f}"


def transcript_json(transcript: Transcript | None, tz: tzinfo) -> JsonValue:
    if transcript is None:
        return None
    return {
        "status": transcript.status, "language": transcript.language, "model": transcript.model,
        "made_at": iso_local(transcript.created_at, tz), "note": transcript.note or None,
        "segments": [{"start": round(s.start, 2), "end": round(s.end, 2), "speaker": s.speaker, "text": s.text}
                     for s in transcript.segments],
    }


def transcript_lines(transcript: Transcript) -> list[str]:
    """One line per segment, ``[00:03.2] caller: ...``; or why there is none."""
    if transcript.status == "skipped":
        return [f"not transcribed: {transcript.note}"]
    if not transcript.segments:
        return ["no speech was recognised"]
    return [f"[{clock(s.start)}] {s.speaker}: {s.text}" for s in transcript.segments]


def transcript_heading(transcript: Transcript) -> str:
    return f"language {transcript.language}, model {transcript.model}"
