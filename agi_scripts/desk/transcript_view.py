"""A case's transcript as the case page shows it: one row per segment (time, who, words) in the reader's
language, so Special Care and Security can read the call instead of listening to the abuse again.

The words are the speech model's: the page says so, and the recording stays the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

from agi_scripts.desk.i18n import N_, Catalog
from agi_scripts.reports.transcripts import clock, transcripts_of
from agi_scripts.storage import Store

SPEAKERS = {
    "caller": N_("Caller"),
    "agent": N_("Agent (with what the caller was played)"),
    "unknown": N_("Both sides"),
}
"""The agent's direction also holds the prompts Asterisk played to the caller (the warning)."""


@dataclass(frozen=True)
class TranscriptRow:
    at: str
    """``01:02.5`` from the start of the recording."""
    speaker: str
    text: str


@dataclass(frozen=True)
class TranscriptView:
    language: str
    model: str
    rows: tuple[TranscriptRow, ...]
    note: str
    """Why there are no rows (not transcribed, no speech recognised); empty when there are."""


def transcript_view(store: Store, recording: str | None, catalog: Catalog) -> TranscriptView | None:
    """The transcript of the case's recording, or None while there is none (no recording, transcription
    off, or not made yet)."""
    if not recording:
        return None
    found = transcripts_of(store, [recording]).get(recording)
    if found is None:
        return None
    rows = tuple(TranscriptRow(clock(segment.start), catalog.gettext(SPEAKERS.get(segment.speaker, SPEAKERS["unknown"])),
                               segment.text) for segment in found.segments)
    if found.status == "skipped":
        note = catalog.gettext("Not transcribed: %(why)s") % {"why": found.note}
    elif not rows:
        note = catalog.gettext("No speech was recognised.")
    else:
        note = ""
    return TranscriptView(found.language, found.model, rows if not note else (), note)
