"""Where recordings go and whether one holds a voice. Paths are built here only, never from input."""

from __future__ import annotations

import array
import datetime as dt
import math
import re
import wave
from pathlib import Path

_SAFE = re.compile(r"[^0-9A-Za-z_-]")
SILENCE_RMS = 300
"""16-bit RMS under which a recording counts as silence (line noise is far below a voice)."""


def compliment_recording_base(recordings_dir: Path, call_id: str, now: dt.datetime) -> Path:
    """``<dir>/compliments/YYYY/MM/<call id>``, without extension (Asterisk adds it).

    The call id's dots become dashes: Asterisk and ``Path.with_suffix`` would take ``.21`` of
    ``1700000000.21`` for an extension.
    """
    name = _SAFE.sub("_", call_id) or "call"
    return recordings_dir / "compliments" / f"{now:%Y}" / f"{now:%m}" / name


def holds_voice(file: Path, min_seconds: float) -> bool:
    """At least ``min_seconds`` long and louder than line noise somewhere in it."""
    try:
        with wave.open(str(file), "rb") as wav:
            if wav.getsampwidth() != 2:
                return True  # not ours to judge; keep it
            frames = wav.getnframes()
            rate = wav.getframerate()
            samples = array.array("h", wav.readframes(frames))
    except (OSError, EOFError, wave.Error):
        return False
    if frames < min_seconds * rate:
        return False
    window = max(rate // 10, 1)  # 100 ms windows: one spoken syllable is enough
    for start in range(0, len(samples), window):
        chunk = samples[start:start + window]
        if chunk and math.sqrt(sum(s * s for s in chunk) / len(chunk)) > SILENCE_RMS:
            return True
    return False
