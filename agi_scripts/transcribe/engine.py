"""The speech model: faster-whisper over CTranslate2, int8 on the CPU, never fetching anything.

Imported only by the child process (``child``): the server never loads the model, so a model that
crashes or eats memory takes only the child down.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


NO_SPEECH_ABOVE = 0.6
"""A segment Whisper thinks is more likely silence than speech is left out: on 20 s of silence it wrote
"MUZIEK." (Dutch) and "You" (English) with 0.72; spoken sentences through Asterisk scored 0.1 or less."""


class ModelUnavailable(Exception):
    """The model cannot be loaded: the extra is not installed, the folder is missing or broken."""


@dataclass(frozen=True)
class SpokenPart:
    start: float
    end: float
    text: str


def whisper_language(language: str, supported: frozenset[str]) -> str | None:
    """The Whisper code for a call's language (``nl-BE`` -> ``nl``); None when the model has none."""
    base = language.strip().lower().replace("_", "-").split("-", 1)[0]
    return base if base in supported else None


class WhisperEngine:
    """One loaded model; ``transcribe`` is called one file at a time."""

    def __init__(self, model: str, *, cpu_threads: int) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"  # a model name is looked up in the local cache only
        try:
            from faster_whisper import WhisperModel
            from faster_whisper.tokenizer import _LANGUAGE_CODES
        except ImportError as exc:
            raise ModelUnavailable(f"faster-whisper is not installed ({exc}); "
                                   "pip install 'respectline[transcribe]'") from exc
        if Path(model).is_absolute():  # a folder (the config makes folders absolute); else a model name
            if not (Path(model) / "model.bin").is_file():
                raise ModelUnavailable(f"model folder {model} has no model.bin")
        try:
            self._model: Any = WhisperModel(model, device="cpu", compute_type="int8", cpu_threads=cpu_threads,
                                            num_workers=1, local_files_only=True)
        except Exception as exc:  # noqa: BLE001  (CTranslate2 and the hub raise many kinds)
            raise ModelUnavailable(f"model {model!r} cannot be loaded: {exc}") from exc
        self.languages = frozenset(_LANGUAGE_CODES)

    def transcribe(self, audio: Path, language: str) -> list[SpokenPart]:
        code = whisper_language(language, self.languages)
        if code is None:
            raise ValueError(f"the model has no language {language!r}")
        # The language is given: detection fails on phone audio. No VAD filter: gluing the speech of a
        # direction together without its silences made Whisper mishear words at the joins (through the
        # real Asterisk, "stupid idiot" became "fugitive"); what it invents in a long silence (one
        # direction while the other party speaks) it marks as probably no speech, and that is dropped.
        # Not conditioning on the previous text keeps one misheard phrase from repeating.
        segments, _info = self._model.transcribe(str(audio), language=code, beam_size=5, vad_filter=False,
                                                 condition_on_previous_text=False)
        return [SpokenPart(start=float(s.start), end=float(s.end), text=str(s.text).strip())
                for s in segments if str(s.text).strip() and float(s.no_speech_prob) <= NO_SPEECH_ABOVE]
