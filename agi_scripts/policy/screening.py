"""Compliment screening: the decision written to the store, at the end of ``post_call`` and when a
compliment's transcript arrives.

- ``screen_after_call``: ``post_call`` calls it once the caller's flow is over (finished or hung up). The
  rating and whether a message was left are known; the transcript is not, yet. A compliment decided
  already (its transcript came first) is left as it is.
- ``ComplimentScreener.on_compliment_transcript(compliment_id, text, language)``: the transcription
  worker calls it after saving a compliment's transcript; ``respectline serve`` wires it. It decides a
  compliment that is ``unscreened`` or ``pending_transcript``: held when the rating is low or a word of
  the language's list is in ``text``, released otherwise. A compliment the team lead reviewed already
  is never changed by a late transcript.

Both open the follow-up of a low rating (once). The rules come from the bundle in force when the
decision is made (``flows/post_call.yaml``'s ``screening`` section, reloaded with the flows).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from agi_scripts.config.settings import Settings
from agi_scripts.flows.screening import Decision, ScreeningRules
from agi_scripts.storage.base import NotFound, Store
from agi_scripts.storage.screening import ScreeningStore

log = logging.getLogger(__name__)


def transcription_on(settings: Settings) -> bool:
    """Whether a transcript will come for spoken compliments: the config names a model
    (``transcription.model``; transcription is off while it is unset)."""
    transcription = getattr(settings, "transcription", None)
    return bool(getattr(transcription, "model", None))


def screen_after_call(screening: ScreeningStore, rules: ScreeningRules, compliment_id: int, *,
                      transcription: bool) -> Decision | None:
    """Decide a compliment whose caller's flow is over; None when it was decided already (or is gone)."""
    found = screening.get(compliment_id)
    if found is None or found.screening != "unscreened":
        return None
    compliment = found.compliment
    decision = rules.decide(rating=compliment.rating, has_message=compliment.recording is not None,
                            transcript=None, language="", transcription_on=transcription)
    if rules.needs_follow_up(compliment.rating):
        screening.open_follow_up(compliment_id)
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
        if found.screening not in ("unscreened", "pending_transcript"):
            return  # decided by the rating, or reviewed by the team lead: a transcript changes nothing
        rules = self.rules()
        compliment = found.compliment
        decision = rules.decide(rating=compliment.rating, has_message=compliment.recording is not None,
                                transcript=text, language=language, transcription_on=True)
        if rules.needs_follow_up(compliment.rating):
            screening.open_follow_up(compliment_id)
        try:
            screening.screen(compliment_id, decision.state, decision.reason,
                             only_from=("unscreened", "pending_transcript"))
        except NotFound:
            log.info("compliment %s is gone; its transcript decides nothing", compliment_id)
