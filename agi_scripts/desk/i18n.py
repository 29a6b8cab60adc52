"""The desk's interface languages: Dutch, French and English.

The English text in the templates and in the desk's code is the message id (gettext's usual way), so a
page reads as it will show and English needs no catalog. Dutch and French live in gettext catalogs,
``locale/nl.po`` and ``locale/fr.po``, read with Babel when the desk starts: plain text that
translators and their tools know, no compiled ``.mo`` file to keep in step. A message missing from a
catalog shows in English; ``tests/unit/test_desk_i18n.py`` fails on it before it ships.

Dates and times are formatted by Babel's CLDR data for the language (``06-12-2026, 08:30`` in Dutch,
``06/12/2026 08:30`` in French), in the configured time zone.
"""

from __future__ import annotations

import datetime as dt
import gettext as stdlib_gettext
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from babel.dates import format_datetime
from babel.messages.pofile import read_po

LOCALE_DIR: Final = Path(__file__).resolve().parent / "locale"
Language = Literal["nl", "fr", "en"]
LANGUAGES: Final[tuple[Language, ...]] = ("nl", "fr", "en")
SOURCE_LANGUAGE: Final[Language] = "en"
LANGUAGE_NAMES: Final[Mapping[Language, str]] = {"nl": "Nederlands", "fr": "Français", "en": "English"}
"""Each language named in itself, so a user finds theirs whatever the page's language."""
_CLDR_LOCALES: Final[Mapping[Language, str]] = {"nl": "nl", "fr": "fr", "en": "en_GB"}
MAX_ACCEPT_LANGUAGE: Final = 500
"""An ``Accept-Language`` header longer than this is read only this far (browsers send a few dozen bytes)."""


def _english_plural(n: int) -> int:
    return int(n != 1)


def N_(message: str) -> str:
    """Marks a message for the catalogs where it is written; it is translated where it is shown."""
    return message


def as_language(code: str | None) -> Language | None:
    """``nl``, ``nl-BE``, ``FR_be`` ... as one of the desk's languages, or None."""
    base = (code or "").strip().replace("_", "-").split("-")[0].lower()
    for language in LANGUAGES:
        if base == language:
            return language
    return None


def from_accept_language(header: str | None, default: Language) -> Language:
    """The browser's most preferred language the desk has (``q`` weights honoured), else ``default``."""
    offers: list[tuple[float, int, Language]] = []
    for position, part in enumerate((header or "")[:MAX_ACCEPT_LANGUAGE].split(",")):
        code, _, params = part.partition(";")
        language = as_language(code)
        if language is None:
            continue
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if weight > 0:
            offers.append((-weight, position, language))
    return min(offers)[2] if offers else default


@dataclass(frozen=True)
class Catalog:
    """One language's messages: msgid -> text, or for a plural message its forms, and the catalog's
    ``Plural-Forms`` rule choosing among them (French has three: one, many, other)."""

    language: Language
    messages: Mapping[str, str | tuple[str, ...]]
    plural_index: Callable[[int], int] = _english_plural

    def gettext(self, message: str) -> str:
        text = self.messages.get(message)
        return text if isinstance(text, str) and text else message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        forms = self.messages.get(singular)
        if isinstance(forms, tuple) and forms and all(forms):
            return forms[min(max(self.plural_index(n), 0), len(forms) - 1)]
        return singular if n == 1 else plural


def read_catalog(language: Language, path: Path | None = None) -> Catalog:
    """The catalog of ``language`` (English: empty, the ids are the text). Fuzzy entries do not count."""
    if language == SOURCE_LANGUAGE and path is None:
        return Catalog(language, {})
    with (path or LOCALE_DIR / f"{language}.po").open("rb") as file:
        po = read_po(file, locale=language)
    messages: dict[str, str | tuple[str, ...]] = {}
    for entry in po:
        if not entry.id or entry.fuzzy:
            continue
        if isinstance(entry.id, (tuple, list)):
            forms = entry.string if isinstance(entry.string, (tuple, list)) else (entry.string or "",)
            messages[str(entry.id[0])] = tuple(str(form or "") for form in forms)
        else:
            messages[entry.id] = str(entry.string or "")
    return Catalog(language, messages, stdlib_gettext.c2py(po.plural_expr))


def read_catalogs() -> dict[Language, Catalog]:
    return {language: read_catalog(language) for language in LANGUAGES}


def format_moment(moment: dt.datetime, language: Language, tz: dt.tzinfo, *, seconds: bool = False) -> str:
    """A moment as people of ``language`` write it: day, month, year, 24-hour clock, in ``tz``."""
    return format_datetime(moment, "medium" if seconds else "short", tzinfo=tz, locale=_CLDR_LOCALES[language])


# The language of the page being rendered. A page renders in one thread from start to end, so the
# template's ``_()``, ``{% trans %}`` and date filters read it here instead of every template and
# helper being handed a catalog.
_ENGLISH: Final = Catalog(SOURCE_LANGUAGE, {})
_rendering: ContextVar[Catalog] = ContextVar("desk_catalog", default=_ENGLISH)


@contextmanager
def rendering(catalog: Catalog) -> Iterator[None]:
    token = _rendering.set(catalog)
    try:
        yield
    finally:
        _rendering.reset(token)


def current() -> Catalog:
    return _rendering.get()


def gettext(message: str) -> str:
    return _rendering.get().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _rendering.get().ngettext(singular, plural, n)
