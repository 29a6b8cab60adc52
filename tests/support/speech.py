"""Spoken test audio and the test speech model, for the transcription tests.

Speech is made by espeak-ng (installed by ``make asterisk``) and brought to telephone form (8 kHz,
mono, 16-bit) by sox; the model is the pinned test model joined by ``make install``
(``agi_scripts.transcribe.testmodel``). A missing tool or model fails the test: nothing is skipped.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from agi_scripts.transcribe.testmodel import joined_test_model

VOICES = {"nl": "nl", "fr": "fr", "en": "en-gb"}


@dataclass(frozen=True)
class Sentence:
    language: str
    text: str
    key_words: tuple[str, ...]
    """What the transcript must contain (tolerant matching: ``measure.close_enough``)."""


SENTENCES = (
    Sentence("nl", "Jij bent een idioot. Ik maak je kapot.", ("idioot", "kapot")),
    # Whisper base hears little of espeak-ng's French (bench/README.md has the error rate): through the
    # real Asterisk it kept "police" in every run; "idiot" only in some, and "casser la gueule",
    # "imbécile" and "stupide" came out as other words.
    Sentence("fr", "Vous êtes un idiot. Je vais appeler la police.", ("police",)),
    Sentence("en", "You are a stupid idiot and I will find you.", ("stupid", "idiot", "find")),
)
BY_LANGUAGE = {sentence.language: sentence for sentence in SENTENCES}


def speech_model() -> Path:
    return joined_test_model()


def spoken(text: str, language: str, target: Path, *, rate: int = 8000, pad_seconds: float = 0.5) -> Path:
    """``text`` said by espeak-ng in ``language``, as telephone audio (8 kHz mono 16-bit WAV), with a
    little silence before and after as a phone line has."""
    for tool in ("espeak-ng", "sox"):
        assert shutil.which(tool), f"{tool} is missing: make asterisk installs it"
    raw = target.with_name(target.stem + ".raw.wav")
    subprocess.run(["espeak-ng", "-v", VOICES[language], "-s", "150", "-w", str(raw), text], check=True,
                   capture_output=True, timeout=60)
    subprocess.run(["sox", str(raw), "-r", str(rate), "-c", "1", "-b", "16", str(target),
                    "pad", str(pad_seconds), str(pad_seconds)], check=True, capture_output=True, timeout=60)
    raw.unlink()
    return target


def silence(target: Path, seconds: float, *, rate: int = 8000) -> Path:
    subprocess.run(["sox", "-n", "-r", str(rate), "-c", "1", "-b", "16", str(target), "trim", "0", str(seconds)],
                   check=True, capture_output=True, timeout=60)
    return target
