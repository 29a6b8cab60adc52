"""The ``screening`` section of ``flows/post_call.yaml``: which compliments wait for the team lead before
an agent hears them, and the pure rules that decide it.

A compliment is held when its rating is at or below ``hold_ratings_at_or_below``, or when the transcript of
its spoken message holds a word or phrase of its language's list (``words``). Matching is on whole words,
ignoring case and accents: ``idiot`` matches "Idiot!" and "IDIOT", not "idiotie"; ``stupide`` matches
"stupidé"; a phrase (``shut up``) matches those words in a row. A spoken message whose transcript is
not there yet waits (``pending_transcript``) when transcription is on; without transcription nothing can
check the words, so ``without_transcript`` decides: ``hold`` (the default: the agent's protection comes
first) or ``release``. A rating at or below ``follow_up_ratings_at_or_below`` opens a follow-up for the
team lead as well.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

from yaml.nodes import Node

from agi_scripts.ground.yamlsource import YamlFile

WithoutTranscript = Literal["hold", "release"]
WITHOUT_TRANSCRIPT: tuple[WithoutTranscript, ...] = ("hold", "release")
MAX_WORDS_PER_LANGUAGE = 5000
MAX_WORD_LENGTH = 100
MAX_TRANSCRIPT_CHARS = 20_000
"""A transcript is checked on its first this many characters (a 30 s message is far shorter)."""
NO_TRANSCRIPT_REASON = "spoken message without a transcript (transcription is off)"
"""Held for this reason only, a message is decided again when a transcript comes after all."""
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Decision:
    """Where a compliment goes: ``held``, ``released`` or ``pending_transcript``, and why."""

    state: Literal["held", "released", "pending_transcript"]
    reason: str = ""


@dataclass(frozen=True)
class ScreeningRules:
    hold_ratings_at_or_below: int = 2
    """0 holds no rating."""
    follow_up_ratings_at_or_below: int = 2
    """0 opens no follow-up."""
    without_transcript: WithoutTranscript = "hold"
    words: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    """Language -> the list's entries, each as its normalised words."""
    shown_words: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Language -> the entries as the admin wrote them (for reasons and listings), same order."""
    by_first_word: dict[str, dict[str, tuple[int, ...]]] = field(default_factory=dict)
    """Language -> first word of an entry -> the entries starting with it (their positions in ``words``):
    a transcript is checked in one pass over its words, whatever the length of the list."""

    def needs_follow_up(self, rating: int | None) -> bool:
        return rating is not None and rating <= self.follow_up_ratings_at_or_below

    def decide(self, *, rating: int | None, has_message: bool, transcript: str | None, language: str,
               transcription_on: bool) -> Decision:
        """The decision for one compliment from what is known of it now."""
        if rating is not None and rating <= self.hold_ratings_at_or_below:
            return Decision("held", f"rating {rating} (at or below {self.hold_ratings_at_or_below})")
        if not has_message:
            return Decision("released")
        if transcript is not None:
            found = self.matching_entry(transcript, language)
            return Decision("held", f"word list ({base_language(language)}): {found}") if found else Decision("released")
        if transcription_on:
            return Decision("pending_transcript", "waiting for the transcript")
        if self.without_transcript == "hold":
            return Decision("held", NO_TRANSCRIPT_REASON)
        return Decision("released")

    def matching_entry(self, transcript: str, language: str) -> str | None:
        """The first entry of the language's list the transcript holds, as the admin wrote it."""
        language = base_language(language)
        entries = self.words.get(language, ())
        starts = self.by_first_word.get(language, {})
        if not entries:
            return None
        spoken = normalised_words(transcript[:MAX_TRANSCRIPT_CHARS])
        found = [index for position, word in enumerate(spoken) for index in starts.get(word, ())
                 if spoken[position:position + len(entries[index])] == entries[index]]
        # The earliest entry of the list that matched, so the reason does not depend on word order.
        return self.shown_words[language][min(found)] if found else None


def base_language(language: str) -> str:
    """``nl-BE`` and ``nl_BE`` -> ``nl``."""
    return re.split(r"[-_]", language.strip().lower(), maxsplit=1)[0]


def normalised_words(text: str) -> tuple[str, ...]:
    """The words of ``text`` without case or accents: "Crétin, IDIOT!" -> ("cretin", "idiot")."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return tuple(_WORD.findall(plain.casefold()))


def _first_word_index(entries: tuple[tuple[str, ...], ...]) -> dict[str, tuple[int, ...]]:
    index: dict[str, list[int]] = {}
    for position, entry in enumerate(entries):
        index.setdefault(entry[0], []).append(position)
    return {word: tuple(positions) for word, positions in index.items()}


def load_screening(source: YamlFile, node: Node | None) -> ScreeningRules:
    """The section's rules; every problem goes to ``source``'s errors, with the defaults standing in."""
    section = source.mapping(node, optional=("hold_ratings_at_or_below", "follow_up_ratings_at_or_below",
                                              "without_transcript", "words"), what="'screening' section")
    if section is None:
        return ScreeningRules()
    hold = section.integer("hold_ratings_at_or_below", 2, 0, 5)
    follow_up = section.integer("follow_up_ratings_at_or_below", 2, 0, 5)
    without: WithoutTranscript = "hold"
    if section.get("without_transcript") is not None:
        chosen = source.choice(section.get("without_transcript"), WITHOUT_TRANSCRIPT, "without_transcript")
        without = "release" if chosen == "release" else "hold"
    words: dict[str, tuple[tuple[str, ...], ...]] = {}
    shown: dict[str, tuple[str, ...]] = {}
    table = source.mapping(section.get("words"), what="'words' mapping (language: list of words)")
    for language, key_node, value_node in table.items() if table else ():
        if not _LANGUAGE.fullmatch(language):
            source.error(key_node, f"{language!r} is not a language code",
                         "use the two-letter code callers' channels carry: nl, fr, en")
            continue
        entries, written = _word_list(source, value_node, language)
        words[language], shown[language] = entries, written
    return ScreeningRules(hold, follow_up, without, words, shown,
                          {language: _first_word_index(entries) for language, entries in words.items()})


def _word_list(source: YamlFile, node: Node, language: str) -> tuple[tuple[tuple[str, ...], ...], tuple[str, ...]]:
    items = source.sequence(node, f"list of words for {language!r}")
    if len(items) > MAX_WORDS_PER_LANGUAGE:
        source.error(node, f"{len(items)} words for {language!r}; at most {MAX_WORDS_PER_LANGUAGE}",
                     "keep the list to the words that truly hurt")
        items = items[:MAX_WORDS_PER_LANGUAGE]
    entries: list[tuple[str, ...]] = []
    written: list[str] = []
    for item in items:
        text = source.string(item, "a word or phrase")
        if text is None:
            continue
        words = normalised_words(text)
        if len(text) > MAX_WORD_LENGTH:
            source.error(item, f"this entry has {len(text)} characters; at most {MAX_WORD_LENGTH}")
        elif not words:
            source.error(item, f"{text!r} holds no letters or digits to match", "write the word itself")
        elif words in entries:
            source.warn(item, f"{text!r} is already in the {language!r} list (case and accents do not count)",
                        "remove one of them")
        else:
            entries.append(words)
            written.append(text.strip())
    return tuple(entries), tuple(written)
