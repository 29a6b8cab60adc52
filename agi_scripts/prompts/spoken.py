"""One short text spoken into a file Asterisk plays: the dynamic prompts made while the server runs.

The thank-you round's intro ("Agent One, billing, 3 of 12") and the aftercare summaries ("Agent One had a
threat call two minutes ago ...") are not in the prompt catalog: they name an agent and change every
time. ``spoken_file`` makes one with espeak-ng (offline, like the built prompts) and the same conversion
as the catalog, on the worker thread that asks for it (never a call's session), bounded in time. It gives
the path without extension, as ``Playback`` and ``Read`` take it, or ``""`` when it cannot be made: the
caller then plays its generic prompt.

Only values from the config (agent names, queue names, category labels) and numbers go into the text;
``spoken_value`` keeps them to letters, digits and a few marks, so nothing a caller typed is ever spoken
and a value cannot carry a line or markup into espeak-ng.
"""

from __future__ import annotations

import logging
import re
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from agi_scripts.prompts.audio import convert
from agi_scripts.prompts.engines import EspeakEngine, PromptToolError

LOG = logging.getLogger("respectline.prompts")

PLAYABLE_PATH = re.compile(r"^/[A-Za-z0-9_./-]{1,400}$")
"""A path the dialplan's ``FILTER`` leaves as it is (and ``Playback``/``Record`` take as one argument)."""
STEM = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
MAX_TEXT = 400
"""Characters spoken at most: a summary is one or two sentences."""
MAKE_WITHIN = 20.0
"""Seconds espeak-ng and the conversion get together; later, the generic prompt plays instead."""
_UNSPOKEN = re.compile(r"[^\w .,'()@-]+", re.UNICODE)


def spoken_value(value: str, limit: int = 80) -> str:
    """A config value fit to be spoken: letters, digits, spaces and . , ' ( ) @ - only, one line, bounded."""
    return " ".join(_UNSPOKEN.sub(" ", value).split())[:limit].strip()


@dataclass
class _Making:
    """Shared between the caller and the thread making the file: who got there first, under one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    given_up: bool = False
    written: Path | None = None
    error: str = ""


def spoken_file(text: str, language: str, folder: Path, stem: str, *, within: float = MAKE_WITHIN) -> str:
    """``text`` spoken in ``language`` into ``folder/stem.wav``; the path without ``.wav``, or ``""``.

    The caller's thread waits at most ``within`` seconds. A file finished after that is never written, so
    nothing is left behind for a try that already went on without it."""
    text = " ".join(text.split())[:MAX_TEXT]
    if not text or not STEM.fullmatch(stem):
        return ""
    target = folder / f"{stem}.wav"
    if not PLAYABLE_PATH.fullmatch(str(target.with_suffix(""))):
        LOG.warning("spoken prompt: %s is not a path the dialplan plays; the generic prompt is used", folder)
        return ""
    making = _Making()
    worker = threading.Thread(target=_make, args=(text, language, target, making), daemon=True,
                              name=f"respectline-speak-{stem[:20]}")
    worker.start()
    worker.join(within)
    with making.lock:
        if making.written is None:
            making.given_up = True
            if making.error:
                LOG.warning("spoken prompt %s cannot be made (%s); the generic prompt is used", stem, making.error)
            else:
                LOG.warning("spoken prompt %s not made within %.0f s; the generic prompt is used", stem, within)
            return ""
    return str(target.with_suffix(""))


def _make(text: str, language: str, target: Path, making: _Making) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="respectline-spoken-") as scratch:
            audio = convert(EspeakEngine().synthesise(text, language, 1.0, Path(scratch)))
    except (PromptToolError, OSError) as error:
        with making.lock:
            making.error = str(error)[:200]
        return
    with making.lock:
        if making.given_up:
            return
        try:
            target.write_bytes(audio.wav)
        except OSError as error:
            making.error = str(error)[:200]
            target.unlink(missing_ok=True)
            return
        making.written = target


def remove_spoken(path: str) -> None:
    """Delete a file ``spoken_file`` made (its path without ``.wav``); a missing one is fine."""
    if path and PLAYABLE_PATH.fullmatch(path):
        try:
            Path(f"{path}.wav").unlink(missing_ok=True)
        except OSError as error:
            LOG.warning("could not delete the spoken prompt %s.wav: %s", path, error)
