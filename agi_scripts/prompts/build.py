"""``respectline prompts build``: the catalog's texts and recordings to telephony audio files.

Output, under ``out_dir``: ``<lang>/<id>.wav`` (8 kHz mono 16-bit), ``<lang>/<id>.sln16`` and
``manifest.json``. The manifest keeps, per prompt and language, a hash of everything that shapes
the audio (text, language, engine, voice, speed, the recording's bytes, converter settings) and
the hash of each file written; a prompt whose inputs and files are unchanged is not rebuilt, so
a second build writes nothing. Every file, the manifest included, is replaced atomically.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agi_scripts.ground.yamlsource import did_you_mean
from agi_scripts.prompts.audio import AudioSettings, ConvertedAudio, convert, require_ffmpeg
from agi_scripts.prompts.catalog import PromptCatalog
from agi_scripts.prompts.engines import Engine, EngineUnavailable, PromptToolError, ToolMissing
from agi_scripts.prompts.files import sha256_bytes, sha256_file, write_atomic

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1

Status = Literal["built", "unchanged", "failed"]


class PromptBuildError(PromptToolError):
    """The build request itself is wrong (unknown language or prompt id)."""


@dataclass(frozen=True)
class BuildItem:
    """One prompt in one language, and where its audio comes from."""

    prompt_id: str
    language: str
    text: str | None
    recorded: Path | None
    speed: float

    @property
    def key(self) -> str:
        return f"{self.language}/{self.prompt_id}"


@dataclass(frozen=True)
class BuildResult:
    item: BuildItem
    status: Status
    source: str
    """Engine name, ``recorded`` or ``-`` when the prompt could not be planned."""
    message: str = ""
    duration_s: float = 0.0
    seconds: float = 0.0
    """Wall-clock time spent on this prompt."""


@dataclass
class BuildReport:
    out_dir: Path
    engine: str
    results: list[BuildResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: Status) -> int:
        return sum(1 for result in self.results if result.status == status)

    @property
    def ok(self) -> bool:
        return self.count("failed") == 0

    def summary(self) -> str:
        return (f"{self.count('built')} built, {self.count('unchanged')} unchanged, "
                f"{self.count('failed')} failed in {self.seconds:.1f} s ({self.engine}) -> {self.out_dir}")


ProgressCallback = Callable[[int, int, BuildResult], None]
"""Called after each prompt with (done, total, result); calls are serialised."""


def plan_build(catalog: PromptCatalog, languages: Sequence[str] | None = None,
               only: Sequence[str] | None = None) -> list[BuildItem]:
    """The prompts to make, in catalog order; refuses unknown languages and ids with a hint."""
    chosen_languages = list(catalog.languages)
    if languages:
        unknown = [language for language in languages if language not in catalog.languages]
        if unknown:
            raise PromptBuildError(_unknown("language", unknown[0], catalog.languages))
        chosen_languages = [language for language in catalog.languages if language in languages]
    chosen_ids = list(catalog.prompts)
    if only:
        unknown = [prompt_id for prompt_id in only if prompt_id not in catalog.prompts]
        if unknown:
            raise PromptBuildError(_unknown("prompt id", unknown[0], list(catalog.prompts)))
        chosen_ids = [prompt_id for prompt_id in catalog.prompts if prompt_id in only]
    items: list[BuildItem] = []
    for prompt_id in chosen_ids:
        prompt = catalog.prompts[prompt_id]
        for language in chosen_languages:
            items.append(BuildItem(prompt_id, language, prompt.texts.get(language),
                                   prompt.recorded.get(language), prompt.speed))
    return items


def build_prompts(catalog: PromptCatalog, engine: Engine, out_dir: Path, *,
                  languages: Sequence[str] | None = None, only: Sequence[str] | None = None,
                  settings: AudioSettings = AudioSettings(), force: bool = False, jobs: int = 2,
                  progress: ProgressCallback | None = None) -> BuildReport:
    """Build what changed; raises ``PromptToolError`` for a bad request or a missing program.

    A prompt that fails on its own (a recording that is not audio, an engine error for one text)
    is reported in the result and does not stop the others; a missing program or an engine that
    cannot work at all (gTTS without network) stops the build with one ``PromptToolError``. What
    was built until then stays built and recorded in the manifest.
    """
    started = time.monotonic()
    items = plan_build(catalog, languages, only)
    require_ffmpeg()
    manifest = Manifest.load(out_dir / MANIFEST_NAME)
    report = BuildReport(out_dir, engine.name)
    lock = threading.Lock()
    engine_checked: list[bool] = []

    def run(item: BuildItem) -> BuildResult:
        if item.recorded is None and item.text is not None and not engine_checked:
            with lock:
                if not engine_checked:
                    engine.check()
                    engine_checked.append(True)
        result = _build_one(item, engine, out_dir, settings, manifest, force)
        with lock:
            report.results.append(result)
            if progress is not None:
                progress(len(report.results), len(items), result)
        return result

    workers = max(1, min(jobs, engine.max_parallel, len(items) or 1))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prompt-build")
    try:
        for future in as_completed([pool.submit(run, item) for item in items]):
            future.result()  # re-raises ToolMissing or EngineUnavailable from a worker
    finally:
        # After a fatal error, prompts not started yet are dropped instead of each timing out.
        pool.shutdown(wait=True, cancel_futures=True)
    order = {item.key: index for index, item in enumerate(items)}
    report.results.sort(key=lambda result: order[result.item.key])
    report.seconds = time.monotonic() - started
    return report


def _build_one(item: BuildItem, engine: Engine, out_dir: Path, settings: AudioSettings,
               manifest: Manifest, force: bool) -> BuildResult:
    started = time.monotonic()
    source = "recorded" if item.recorded is not None else engine.name
    try:
        key = content_key(item, engine, settings)
        if not force and manifest.is_current(item.key, key, out_dir):
            return BuildResult(item, "unchanged", source, seconds=time.monotonic() - started,
                               duration_s=manifest.duration(item.key))
        audio = _make_audio(item, engine, settings)
        files = _write_outputs(item, audio, out_dir)
        manifest.record(item.key, {
            "key": key, "source": source,
            "voice": None if item.recorded is not None else engine.voice(item.language),
            "text": item.text, "recorded": item.recorded.name if item.recorded else None,
            "files": files, "duration_s": audio.duration_s, "level_dbfs": audio.level_dbfs,
            "peak_dbfs": audio.peak_dbfs,
        })
    except (ToolMissing, EngineUnavailable):
        raise
    except PromptToolError as exc:
        return BuildResult(item, "failed", source, str(exc), seconds=time.monotonic() - started)
    return BuildResult(item, "built", source, duration_s=audio.duration_s, seconds=time.monotonic() - started)


def content_key(item: BuildItem, engine: Engine, settings: AudioSettings) -> str:
    """Hash of every input that shapes this prompt's audio."""
    inputs: dict[str, Any] = {"language": item.language, "converter": settings.fingerprint()}
    if item.recorded is not None:
        # A real recording wins over synthesis: the engine and the text do not matter for it.
        try:
            inputs["recorded_sha256"] = sha256_file(item.recorded)
        except OSError as exc:
            raise PromptToolError(f"cannot read recorded file {item.recorded}: {exc}") from exc
    elif item.text is not None:
        inputs.update(text=item.text, engine=engine.name, voice=engine.voice(item.language),
                      speed=item.speed)
    else:
        raise PromptToolError(f"prompt {item.prompt_id!r} has no text and no recording for language "
                              f"{item.language!r}; add one to the catalog")
    return sha256_bytes(json.dumps(inputs, sort_keys=True, ensure_ascii=False).encode("utf-8"))


def _make_audio(item: BuildItem, engine: Engine, settings: AudioSettings) -> ConvertedAudio:
    if item.recorded is not None:
        return convert(item.recorded, settings)
    assert item.text is not None  # content_key refused the item otherwise
    with tempfile.TemporaryDirectory(prefix="respectline-tts-") as folder:
        spoken = engine.synthesise(item.text, item.language, item.speed, Path(folder))
        tempo = 1.0 if engine.applies_speed() else item.speed
        return convert(spoken, settings, tempo=tempo)


def _write_outputs(item: BuildItem, audio: ConvertedAudio, out_dir: Path) -> dict[str, str]:
    folder = out_dir / item.language
    outputs = {"wav": audio.wav}
    if audio.sln16 is not None:
        outputs["sln16"] = audio.sln16
    files: dict[str, str] = {}
    for extension, data in outputs.items():
        write_atomic(folder / f"{item.prompt_id}.{extension}", data)
        files[extension] = sha256_bytes(data)
    return files


class Manifest:
    """``manifest.json``: what each built file was made from; rewritten after every prompt."""

    def __init__(self, path: Path, entries: dict[str, dict[str, Any]]) -> None:
        self.path = path
        self.entries = entries
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: Path) -> Manifest:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path, {})
        except (OSError, ValueError):
            # A damaged manifest only costs a full rebuild.
            return cls(path, {})
        if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
            return cls(path, {})
        entries = data.get("prompts")
        return cls(path, dict(entries) if isinstance(entries, dict) else {})

    def is_current(self, item_key: str, content: str, out_dir: Path) -> bool:
        entry = self.entries.get(item_key)
        if not entry or entry.get("key") != content or not isinstance(entry.get("files"), dict):
            return False
        language, prompt_id = item_key.split("/", 1)
        for extension, digest in entry["files"].items():
            file = out_dir / language / f"{prompt_id}.{extension}"
            try:
                if sha256_file(file) != digest:
                    return False
            except OSError:
                return False
        return True

    def duration(self, item_key: str) -> float:
        value = self.entries.get(item_key, {}).get("duration_s", 0.0)
        return float(value) if isinstance(value, (int, float)) else 0.0

    def record(self, item_key: str, entry: dict[str, Any]) -> None:
        with self._lock:
            self.entries[item_key] = entry
            body = {"format": MANIFEST_FORMAT, "prompts": dict(sorted(self.entries.items()))}
            write_atomic(self.path, (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def _unknown(what: str, value: str, known: Sequence[str]) -> str:
    hint = did_you_mean(value, known)
    listing = ", ".join(known)
    return f"unknown {what} {value!r}" + (f" ({hint})" if hint else "") + f"; the catalog has: {listing}"
