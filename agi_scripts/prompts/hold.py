"""Hold music cut to exact lengths, so a campaign's message comes after the delay the YAML names.

A campaign's music-on-hold class is a playlist: ``gap-20s``, message, ``gap-60s``, message, ...
(see ``agi_scripts.asterisk_conf``). The gaps are cut from the machine's own hold music (Debian's
``asterisk-moh-opsound-wav``), each starting at a different place in it so the wait does not
sound like a loop, with short fades so no cut clicks.
"""

from __future__ import annotations

import array
import io
import wave
from collections.abc import Iterable
from pathlib import Path

from agi_scripts.prompts.engines import PromptToolError
from agi_scripts.prompts.files import same_content, write_atomic

DEFAULT_MOH_DIR = Path("/usr/share/asterisk/moh")
RATE = 8000
FADE_SECONDS = 0.4


class HoldMusicMissing(PromptToolError):
    pass


def gap_path(sounds_dir: Path, seconds: int) -> Path:
    return sounds_dir / "respectline" / "hold" / f"gap-{seconds}s.wav"


def build_hold_gaps(lengths: Iterable[int], moh_dir: Path, sounds_dir: Path) -> list[Path]:
    """Write ``<sounds>/respectline/hold/gap-<N>s.wav`` for each length; unchanged files stay as they are."""
    music = _load_music(moh_dir)
    written = []
    for seconds in sorted(set(lengths)):
        data = _wav(_cut(music, seconds))
        target = gap_path(sounds_dir, seconds)
        if not same_content(target, data):
            write_atomic(target, data)
        written.append(target)
    return written


def _load_music(moh_dir: Path) -> array.array[int]:
    samples: array.array[int] = array.array("h")
    for file in sorted(moh_dir.glob("*.wav")):
        try:
            with wave.open(str(file), "rb") as wav:
                if (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, RATE):
                    samples.frombytes(wav.readframes(wav.getnframes()))
        except (wave.Error, EOFError):
            continue
    if len(samples) < RATE:
        raise HoldMusicMissing(
            f"no 8 kHz mono hold music in {moh_dir}; install Debian's asterisk-moh-opsound-wav "
            "or give --moh-dir a folder of 8 kHz mono 16-bit WAV files")
    return samples


def _cut(music: array.array[int], seconds: int) -> array.array[int]:
    length = seconds * RATE
    start = (seconds * 7919 * RATE) % max(len(music) - 1, 1)  # a different place for each length
    piece: array.array[int] = array.array("h")
    while len(piece) < length:
        piece.extend(music[start:start + length - len(piece)])
        start = 0
    fade = min(int(FADE_SECONDS * RATE), length // 2)
    for i in range(fade):
        piece[i] = piece[i] * i // fade
        piece[length - 1 - i] = piece[length - 1 - i] * i // fade
    return piece


def _wav(samples: array.array[int]) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(samples.tobytes())
    return buffer.getvalue()
