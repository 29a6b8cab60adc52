"""The speech model: faster-whisper over CTranslate2, int8 on the CPU, never fetching anything.

Imported only by the child process (``child``): the server never loads the model, so a model that
crashes or eats memory takes only the child down.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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
        # The language is given: detection fails on phone audio. The VAD filter skips the silence of
        # one direction while the other party speaks (Whisper invents words in long silences), and
        # not conditioning on the previous text keeps one misheard phrase from repeating.
        segments, _info = self._model.transcribe(str(audio), language=code, beam_size=5, vad_filter=True,
                                                 condition_on_previous_text=False)
        return [SpokenPart(start=float(s.start), end=float(s.end), text=str(s.text).strip())
                for s in segments if str(s.text).strip()]
