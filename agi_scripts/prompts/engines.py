"""Speech engines that turn one prompt text into an audio file.

Two engines: Google's voices through gTTS (natural, needs the network) and espeak-ng (robotic but
offline, from Debian). ``choose_engine("auto")`` asks translate.google.com once, with a short
deadline, and falls back to espeak-ng, saying why. Engines write their native format (gTTS MP3,
espeak-ng 22 kHz WAV); ``agi_scripts.prompts.audio`` makes telephony audio out of it.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

ENGINE_CHOICES = ("auto", "gtts", "espeak")
EngineChoice = Literal["auto", "gtts", "espeak"]

ESPEAK_VOICES: Mapping[str, str] = {"nl": "nl", "fr": "fr-be", "en": "en-gb"}
"""espeak-ng voice per catalog language: Belgian French, British English for a European ear."""
ESPEAK_WORDS_PER_MINUTE = 160
"""Slightly slower than espeak-ng's 175: telephone audio loses consonants, callers need the time."""

GTTS_VOICES: Mapping[str, str] = {"nl": "nl", "fr": "fr@fr", "en": "en@co.uk"}
"""gTTS voice per language as ``lang`` or ``lang@tld``; the Google domain picks the accent."""
GTTS_TIMEOUT = (3.0, 20.0)
"""(connect, read) seconds for each gTTS request."""
REACHABILITY_TIMEOUT = 3.0
SUBPROCESS_TIMEOUT = 120.0


class PromptToolError(Exception):
    """A prompt could not be made; the message says what to do."""


class ToolMissing(PromptToolError):
    """An external program is not installed."""

    def __init__(self, program: str, debian_package: str, purpose: str) -> None:
        self.program = program
        self.debian_package = debian_package
        super().__init__(f"{program} is not installed; it is needed to {purpose}. "
                         f"Install it with: apt-get install -y {debian_package}")


class SynthesisFailed(PromptToolError):
    """The engine ran but produced no audio for one text."""


class EngineUnavailable(PromptToolError):
    """The engine cannot work at all right now (no network for gTTS): stop instead of failing each prompt."""


class Engine(Protocol):
    name: str
    """Recorded in the manifest: a change of engine rebuilds the prompt."""
    max_parallel: int

    def voice(self, language: str) -> str:
        """The engine's voice for a catalog language; part of each prompt's content hash."""
        ...

    def applies_speed(self) -> bool:
        """True when the engine honours ``speed`` itself; otherwise the converter stretches time."""
        ...

    def check(self) -> None:
        """Raise ``ToolMissing`` when the engine cannot run on this machine."""
        ...

    def synthesise(self, text: str, language: str, speed: float, folder: Path) -> Path:
        """Write the spoken ``text`` to a new file in ``folder`` and return its path."""
        ...


def require_program(program: str, debian_package: str, purpose: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise ToolMissing(program, debian_package, purpose)
    return path


@dataclass
class EspeakEngine:
    voices: Mapping[str, str] = field(default_factory=lambda: dict(ESPEAK_VOICES))
    words_per_minute: int = ESPEAK_WORDS_PER_MINUTE
    name: str = "espeak-ng"
    max_parallel: int = 4

    def voice(self, language: str) -> str:
        return self.voices.get(language, language)

    def applies_speed(self) -> bool:
        return True

    def check(self) -> None:
        require_program("espeak-ng", "espeak-ng", "synthesise prompts offline")

    def synthesise(self, text: str, language: str, speed: float, folder: Path) -> Path:
        program = require_program("espeak-ng", "espeak-ng", "synthesise prompts offline")
        target = folder / "espeak.wav"
        rate = max(80, round(self.words_per_minute * speed))
        # The text goes through stdin, never argv: a text starting with '-' stays a text.
        command = [program, "-v", self.voice(language), "-s", str(rate), "-b", "1", "--stdin",
                   "-w", str(target)]
        result = subprocess.run(command, input=text.encode("utf-8"), capture_output=True,
                                timeout=SUBPROCESS_TIMEOUT, check=False)
        if result.returncode != 0 or not target.is_file() or target.stat().st_size <= 44:
            detail = result.stderr.decode("utf-8", "replace").strip() or f"exit code {result.returncode}"
            raise SynthesisFailed(f"espeak-ng (voice {self.voice(language)!r}) failed: {detail}")
        return target


@dataclass
class GttsEngine:
    voices: Mapping[str, str] = field(default_factory=lambda: dict(GTTS_VOICES))
    timeout: tuple[float, float] = GTTS_TIMEOUT
    name: str = "gtts"
    max_parallel: int = 1
    """One request at a time: Google throttles bursts from one address."""

    def voice(self, language: str) -> str:
        return self.voices.get(language, language)

    def applies_speed(self) -> bool:
        return False

    def check(self) -> None:
        try:
            import gtts  # noqa: F401
        except ImportError as exc:
            raise PromptToolError(f"the gtts Python package is not installed ({exc}); "
                                  "reinstall respectline with its dependencies") from exc

    def synthesise(self, text: str, language: str, speed: float, folder: Path) -> Path:
        from gtts import gTTS, gTTSError

        lang, _, tld = self.voice(language).partition("@")
        target = folder / "gtts.mp3"
        try:
            # lang_check=False: the language list would be one more network round trip per prompt.
            speech = gTTS(text, lang=lang, tld=tld or "com", lang_check=False, timeout=self.timeout)
            speech.save(str(target))
        except gTTSError as exc:
            if exc.rsp is None:  # no HTTP answer at all: every other prompt would fail the same way
                cause = _short_reason(exc.__context__) if isinstance(exc.__context__, Exception) else str(exc)
                raise EngineUnavailable(f"gTTS cannot reach translate.google.{tld or 'com'} ({cause}); "
                                        "build offline with --engine espeak, or use --engine auto") from exc
            raise SynthesisFailed(f"gTTS failed for language {lang!r}: {exc}") from exc
        except (TypeError, ValueError, AssertionError) as exc:
            # gTTS turns an unexpected answer into TypeError ("'fp' is not a file-like object").
            raise SynthesisFailed(f"gTTS failed for language {lang!r}: unexpected answer ({exc})") from exc
        if not target.is_file() or target.stat().st_size == 0:
            raise SynthesisFailed(f"gTTS returned no audio for language {lang!r}")
        return target


@dataclass(frozen=True)
class Reachability:
    reachable: bool
    reason: str
    seconds: float


def gtts_reachable(tld: str = "com", timeout: float = REACHABILITY_TIMEOUT) -> Reachability:
    """One HEAD request to Google Translate, bounded by ``timeout`` in total, name lookup included.

    requests' own timeout does not cover DNS, so the request runs in a daemon thread and we stop
    waiting for it at the deadline.
    """
    import requests

    url = f"https://translate.google.{tld}/"
    outcome: list[Reachability] = []
    started = time.monotonic()

    def probe() -> None:
        try:
            response = requests.head(url, timeout=timeout, allow_redirects=False)
            outcome.append(Reachability(True, f"{url} answered HTTP {response.status_code}",
                                        time.monotonic() - started))
        except requests.RequestException as exc:
            outcome.append(Reachability(False, f"{url} is unreachable: {_short_reason(exc)}",
                                        time.monotonic() - started))

    worker = threading.Thread(target=probe, name="gtts-reachability", daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    if outcome:
        return outcome[0]
    return Reachability(False, f"{url} did not answer within {timeout:g} s", time.monotonic() - started)


def choose_engine(choice: str, say: Callable[[str], None] = print,
                  probe: Callable[[], Reachability] = gtts_reachable) -> Engine:
    """The engine for ``--engine``; ``auto`` prefers gTTS when Google answers, else espeak-ng."""
    if choice == "espeak":
        return EspeakEngine()
    if choice == "gtts":
        return GttsEngine()
    if choice != "auto":
        raise PromptToolError(f"unknown engine {choice!r}; expected one of: {', '.join(ENGINE_CHOICES)}")
    reach = probe()
    if reach.reachable:
        say(f"engine: gTTS ({reach.reason} in {reach.seconds:.1f} s)")
        return GttsEngine()
    say(f"engine: espeak-ng, offline (gTTS not usable: {reach.reason}; checked in {reach.seconds:.1f} s)")
    return EspeakEngine()


def _short_reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Failed to resolve", "Connection refused", "timed out", "Network is unreachable",
                   "No route to host", "Name or service not known"):
        if marker in text:
            return marker.lower()
    return type(exc).__name__
