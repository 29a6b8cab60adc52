"""Word error rate and tolerant key-word matching, for the benchmark and the tests of transcripts."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)


def words(text: str) -> list[str]:
    """Lower-case words without punctuation; accents kept (``é`` is not ``e`` in French)."""
    return [w for w in _WORD.findall(unicodedata.normalize("NFC", text).lower().replace("\u2019", "'"))]


def _edits(a: Sequence[object], b: Sequence[object]) -> int:
    """Levenshtein distance between two sequences (words or characters)."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / words of the reference."""
    ref = words(reference)
    return _edits(ref, words(hypothesis)) / max(len(ref), 1)


def close_enough(key: str, word: str) -> bool:
    """One wrong letter in five (at least one) is tolerated: ``klootzak`` for ``klootzak``, ``idioot``
    for ``idiot``."""
    allowed = max(1, len(key) // 5)
    return abs(len(key) - len(word)) <= allowed and _edits(key, word) <= allowed


def missing_key_words(keys: Sequence[str], text: str) -> list[str]:
    """The key words with no close enough word in ``text``."""
    found = words(text)
    return [key for key in keys if not any(close_enough(key.lower(), word) for word in found)]
