"""Compliment screening: the decision written to the store, at the end of ``post_call`` and when a
compliment's transcript arrives.

- ``screen_after_call``: ``post_call`` calls it once the caller's flow is over (finished or hung up). The
  rating and whether a message was left are known; the transcript is not, yet. A compliment decided
  already (its transcript came first) is left as it is.
- ``ComplimentScreener.on_compliment_transcript(compliment_id, text, language)``: the transcription
  worker calls it after saving a compliment's transcript; ``respectline serve`` wires it. It decides a
  compliment that is ``unscreened`` or ``pending_transcript``: held when the rating is low or a word of
  the language's list is in ``text``, released otherwise. A message held only because no transcript
  could be made (transcription was off when it was left) is decided again too. A compliment the team
  lead reviewed already is never changed by a late transcript.

Both open the follow-up of a low rating (once). The rules come from the bundle in force when the
decision is made (``flows/post_call.yaml``'s ``screening`` section, reloaded with the flows).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from agi_scripts.config.settings import Settings
from agi_scripts.flows.screening import NO_TRANSCRIPT_REASON, Decision, ScreeningRules
from agi_scripts.ground.beneath import real_path, unlink_beneath
from agi_scripts.storage.base import NotFound, Store
from agi_scripts.storage.screening import ScreenedCompliment, ScreeningStore

log = logging.getLogger(__name__)


def transcription_on(settings: Settings) -> bool:
    """Whether a transcript will come for spoken compliments: the config names a model
    (``transcription.model``; transcription is off while it is unset)."""
    return settings.transcription.enabled


def screen_after_call(screening: ScreeningStore, rules: ScreeningRules, compliment_id: int, *,
                      transcription: bool) -> Decision | None:
    """Decide a compliment whose caller's flow is over; None when it was decided already (or is gone)."""
    found = screening.get(compliment_id)
    if found is None:
        return None
    compliment = found.compliment
    # Whatever its state (decided by an early transcript, even reviewed or deleted): a low rating is a
    # conversation the team lead should look into.
    if rules.needs_follow_up(compliment.rating):
        screening.open_follow_up(compliment_id)
    if found.screening != "unscreened":
        return None
    decision = rules.decide(rating=compliment.rating, has_message=compliment.recording is not None,
                            transcript=None, language="", transcription_on=transcription)
    if not screening.screen(compliment_id, decision.state, decision.reason, only_from=("unscreened",)):
        return None
    return decision


class ComplimentScreener:
    """What ``serve`` hands the transcription worker: ``on_compliment_transcript``."""

    def __init__(self, store: Store, rules: Callable[[], ScreeningRules]) -> None:
        self.store = store
        self.rules = rules
        """The rules in force now (the server's current bundle: a reload changes them)."""

    def on_compliment_transcript(self, compliment_id: int, text: str, language: str) -> None:
        """Decide the compliment from its transcript. Store errors propagate (the worker logs them and the
        compliment stays waiting in the review list, never played)."""
        screening = ScreeningStore(self.store)
        found = screening.get(compliment_id)
        if found is None:
            log.info("compliment %s is gone; its transcript decides nothing", compliment_id)
            return
        waiting_for_words = found.screening == "held" and found.reason == NO_TRANSCRIPT_REASON \
            and found.reviewed_by is None
        if found.screening not in ("unscreened", "pending_transcript") and not waiting_for_words:
            return  # decided by the rating, or reviewed by the team lead: a transcript changes nothing
        rules = self.rules()
        compliment = found.compliment
        decision = rules.decide(rating=compliment.rating, has_message=compliment.recording is not None,
                                transcript=text, language=language, transcription_on=True)
        if rules.needs_follow_up(compliment.rating):
            screening.open_follow_up(compliment_id)
        try:
            screening.screen(compliment_id, decision.state, decision.reason,
                             only_from=("unscreened", "pending_transcript", *(("held",) if waiting_for_words else ())))
        except NotFound:
            log.info("compliment %s is gone; its transcript decides nothing", compliment_id)


def delete_message(store: Store, compliment_id: int, *, by: str, role: str, reason: str,
                   recordings_dir: Path) -> tuple[ScreenedCompliment, str | None]:
    """The team lead deletes a compliment's message with a reason (audited): it is never played, its
    file and transcript go, its rating stays in the reports. Returns the compliment and, when its file
    could not be deleted, why (the store no longer points at it either way)."""
    screening = ScreeningStore(store)
    found, recording = screening.delete(compliment_id, by=by, role=role, reason=reason)
    if recording is None:
        return found, None
    problem = _unlink_recording(Path(recording), recordings_dir)
    # Its transcript goes with it, as for any recording the store is told is gone.
    store.forget_recording(recording, reason=f"compliment {compliment_id} deleted by {by}")
    if problem:
        log.error("compliment %s: its recording %s was not deleted: %s", compliment_id, recording, problem)
    return found, problem


def _unlink_recording(path: Path, recordings_dir: Path) -> str | None:
    """Delete a regular file inside the recordings folder; never a link, never anything outside it.
    Through directory handles (``ground.beneath``): checking the path first and unlinking it after
    would race with anyone who swaps a folder on the way for a link."""
    if path.is_symlink():
        return "a symbolic link; not followed"
    try:
        root = Path(os.path.realpath(recordings_dir))
        target = real_path(path)
        if target.parent != root and root not in target.parents:
            return f"outside the recordings folder {recordings_dir}; delete it by hand"
        unlink_beneath(root, target)
    except OSError as error:
        return str(error)
    return None
