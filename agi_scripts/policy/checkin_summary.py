"""The spoken summary a person on duty hears when the check-in keeper rings them.

Check-in: "This is Respectline. Agent One had a difficult call, Threat, 2 minutes ago, and is paused for 15
minutes." (then the catalog's ``checkin_options``). Listen-in: "This is Respectline. Agent One asks for help
in the billing queue. Press 1 to listen in. ..." (it replaces ``listen_in_request``, options included).

The texts are here, per language (nl, fr, en; English for any other). Their values come from the config
only: the agent's name from the ``agents:`` directory by their phone (a name the case holds that is not in
the directory is not spoken: "a colleague"), the category's label from ``abuse_policy.yaml``, the queue
from ``queues:`` (as Asterisk reports the agent's queue), and numbers. The file is made in the keeper's
thread by ``prompts.spoken`` under ``<recordings>/checkins/`` and deleted after the try; when it cannot be
made the generic prompt plays, as before.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from agi_scripts.config.agents import AgentDirectory
from agi_scripts.prompts.spoken import remove_spoken, spoken_file, spoken_value
from agi_scripts.storage.checkins import CheckIn

LOG = logging.getLogger("respectline.checkins")

FOLDER = "checkins"
"""Below the recordings folder: the summaries while they are played."""
LEFT_AFTER = 600.0
"""Seconds after which a summary is surely no try's any more (a server stopped mid-try left it)."""

CHECK_IN_TEXT: Mapping[str, str] = {
    "nl": "Hier Respectline. {name} had {ago} een moeilijk gesprek{category}{pause}.",
    "fr": "Ici Respectline. {name} a eu un appel difficile{category}, {ago}{pause}.",
    "en": "This is Respectline. {name} had a difficult call{category}, {ago}{pause}.",
}
PAUSE_TEXT: Mapping[str, str] = {"nl": ", en staat {minutes} op pauze", "fr": ", et est en pause pour {minutes}",
                                 "en": ", and is paused for {minutes}"}
LISTEN_IN_TEXT: Mapping[str, str] = {
    "nl": "Hier Respectline. {name} vraagt hulp bij een moeilijk gesprek{queue}. Druk op 1 om mee te luisteren. "
          "Alleen je collega hoort je. Druk daarna op 6 om met beiden te spreken.",
    "fr": "Ici Respectline. {name} demande de l'aide pendant un appel difficile{queue}. Appuyez sur 1 pour "
          "écouter. Seul votre collègue vous entend. Appuyez ensuite sur 6 pour parler aux deux.",
    "en": "This is Respectline. {name} asks for help on a difficult call{queue}. Press 1 to listen in. "
          "Only your colleague hears you. Then press 6 to speak to both.",
}
QUEUE_TEXT: Mapping[str, str] = {"nl": " in de wachtrij {queue}", "fr": " dans la file {queue}",
                                 "en": " in the {queue} queue"}
SOMEONE: Mapping[str, str] = {"nl": "Een collega", "fr": "Un collègue", "en": "A colleague"}
JUST_NOW: Mapping[str, str] = {"nl": "net", "fr": "à l'instant", "en": "just now"}
AGO: Mapping[str, tuple[str, str]] = {"nl": ("{n} minuut geleden", "{n} minuten geleden"),
                                      "fr": ("il y a {n} minute", "il y a {n} minutes"),
                                      "en": ("{n} minute ago", "{n} minutes ago")}
MINUTES: Mapping[str, tuple[str, str]] = {"nl": ("{n} minuut", "{n} minuten"), "fr": ("{n} minute", "{n} minutes"),
                                          "en": ("{n} minute", "{n} minutes")}


def _known(language: str) -> str:
    return language if language in CHECK_IN_TEXT else "en"


def _minutes(forms: tuple[str, str], minutes: int) -> str:
    return (forms[0] if minutes == 1 else forms[1]).format(n=minutes)


def check_in_text(language: str, name: str, category: str, minutes_ago: int, pause_minutes: int) -> str:
    """The check-in's summary; ``name`` and ``category`` are cleaned here, an empty name says "a colleague"."""
    lang = _known(language)
    ago = JUST_NOW[lang] if minutes_ago < 1 else _minutes(AGO[lang], minutes_ago)
    pause = "" if pause_minutes < 1 else PAUSE_TEXT[lang].format(minutes=_minutes(MINUTES[lang], pause_minutes))
    label = spoken_value(category)
    return CHECK_IN_TEXT[lang].format(name=spoken_value(name) or SOMEONE[lang], category=f", {label}" if label else "",
                                      ago=ago, pause=pause)


def listen_in_text(language: str, name: str, queue: str) -> str:
    """The listen-in's request; ``name`` and ``queue`` are cleaned here, each may be empty."""
    lang = _known(language)
    queue = spoken_value(queue, 40)
    return LISTEN_IN_TEXT[lang].format(name=spoken_value(name) or SOMEONE[lang],
                                       queue=QUEUE_TEXT[lang].format(queue=queue) if queue else "")


@dataclass(frozen=True)
class SummaryMaker:
    """What the keeper needs to speak a summary: the config's names and where the files go."""

    recordings_dir: Path
    agents: AgentDirectory
    queues: Collection[str]
    pause_minutes: Callable[[CheckIn], float]
    clock: Callable[[], dt.datetime]

    def agent_name(self, check_in: CheckIn) -> str:
        """The directory's name for the agent's phone; the case's name only when it is one of the directory's."""
        named = self.agents.names.get(check_in.agent_endpoint, "")
        if named:
            return named
        return check_in.agent if check_in.agent in self.agents.names.values() else ""

    def text(self, check_in: CheckIn, language: str, label: str, agent_queues: Collection[str] = ()) -> str:
        """The summary's text; ``label`` is the category's in ``abuse_policy.yaml`` as loaded now."""
        if check_in.reason == "listen_in":
            queue = next((q for q in agent_queues if q in self.queues), "")
            return listen_in_text(language, self.agent_name(check_in), queue)
        seconds = (self.clock() - check_in.requested_at).total_seconds()
        return check_in_text(language, self.agent_name(check_in), label,
                             int(max(0.0, seconds) // 60), round(self.pause_minutes(check_in)))

    def make(self, check_in: CheckIn, language: str, token: str, label: str,
             agent_queues: Collection[str] = ()) -> str:
        """The summary spoken into ``<recordings>/checkins/summary-<token>.wav``: its path without extension,
        or ``""`` (the generic prompt then)."""
        return spoken_file(self.text(check_in, language, label, agent_queues), language,
                           self.recordings_dir / FOLDER, f"summary-{token}")

    def clear_left(self, now: float | None = None) -> int:
        """Delete the summaries a stopped server left behind (older than ``LEFT_AFTER``: another server
        sharing the folder may be playing a newer one); how many."""
        now = time.time() if now is None else now
        removed = 0
        try:
            for file in (self.recordings_dir / FOLDER).glob("summary-*.wav"):
                if not file.is_symlink() and now - file.stat().st_mtime > LEFT_AFTER:
                    remove_spoken(str(file.with_suffix("")))
                    removed += 1
        except OSError as error:
            LOG.warning("could not clear old check-in summaries: %s", error)
        return removed
