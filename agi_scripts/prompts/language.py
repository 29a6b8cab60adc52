"""Which prompt language a call gets.

The channel's language (``CHANNEL(language)``, set by the dialplan, a SIP header or the caller's
device) is untrusted: it ends up in a sound file name, so it is only ever used to *choose* one of
the languages we built, never copied into a path. Anything that is not a plain language tag
(``nl``, ``nl-BE``, ``fr_BE``, ``es-419``) is ignored as if the channel had no language.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

LAST_RESORT = "en"
MAX_TAG_LENGTH = 16
_TAG = re.compile(r"^([A-Za-z]{2,3})(?:[-_]([A-Za-z]{2}|[0-9]{3}))?$")


def normalise_language(tag: str) -> str | None:
    """``nl_be`` -> ``nl-BE``, ``FR`` -> ``fr``; ``None`` for anything that is not a language tag."""
    if not isinstance(tag, str) or len(tag) > MAX_TAG_LENGTH:
        return None
    match = _TAG.fullmatch(tag.strip())
    if match is None:
        return None
    primary, region = match.group(1).lower(), match.group(2)
    return f"{primary}-{region.upper()}" if region else primary


def resolve_language(channel_language: str, available: Sequence[str],
                     fallback: Mapping[str, Sequence[str]] | Sequence[str], default: str) -> str:
    """The first of these that is ``available``, as spelled in ``available``:

    1. the channel's language exactly (``nl-BE``), then its primary language (``nl``);
    2. the fallbacks: with a mapping, those listed for the tag and then for its primary language
       (``{"lb": ["fr", "de"]}``); with a list, those in order;
    3. ``default``; 4. ``en``; 5. the first available language.

    Returns ``default`` only when nothing at all is available.
    """
    wanted: list[str] = []
    tag = normalise_language(channel_language)
    if tag is not None:
        wanted.append(tag)
        primary = tag.split("-", 1)[0]
        if primary != tag:
            wanted.append(primary)
    wanted.extend(_fallbacks(fallback, list(wanted)))
    wanted.extend((default, LAST_RESORT))

    offered: dict[str, str] = {}
    for language in available:
        normal = normalise_language(language)
        if normal is not None:
            offered.setdefault(normal, language)
    for candidate in wanted:
        normal = normalise_language(candidate)
        if normal is not None and normal in offered:
            return offered[normal]
    return next(iter(offered.values()), default)


def _fallbacks(fallback: Mapping[str, Sequence[str]] | Sequence[str], tags: list[str]) -> list[str]:
    if isinstance(fallback, str):
        return [fallback]
    if isinstance(fallback, Mapping):
        by_tag = {normalise_language(key): value for key, value in fallback.items()}
        result: list[str] = []
        for tag in tags:
            chain = by_tag.get(tag, ())
            result.extend([chain] if isinstance(chain, str) else chain)
        return result
    return list(fallback)
