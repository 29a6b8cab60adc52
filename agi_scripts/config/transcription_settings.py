"""The ``transcription:`` section of ``config/respectline.yaml``: the offline transcripts of evidence
and spoken compliments (``agi_scripts.transcribe``). Off while ``model`` is unset."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from yaml.nodes import Node

from agi_scripts.ground.yamlsource import YamlFile

MODEL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,95})?$")
"""A model name as faster-whisper takes it (``base``, ``Systran/faster-whisper-small``), looked up in
the local cache only: nothing is fetched."""


@dataclass(frozen=True)
class TranscriptionSettings:
    model: str | None = None
    """An absolute model folder (a relative one in the file is made absolute) or a model name; None: off."""
    cpu_threads: int = 1
    """Threads the model may use; it runs in a child process at low priority, one file at a time."""
    max_seconds: float = 900.0
    """Longer recordings are not transcribed (their transcript says so)."""
    max_megabytes: int = 64
    """Larger files are not read."""
    queue_size: int = 20
    """Recordings taken from the store per round of the worker."""
    settle_seconds: float = 20.0
    """A recording changed more recently is still being written (MixMonitor): it waits."""

    @property
    def enabled(self) -> bool:
        return self.model is not None


def read_transcription(source: YamlFile, node: Node | None, base: Path) -> TranscriptionSettings:
    section = source.mapping(node, optional=("model", "cpu_threads", "max_duration", "max_file_size_mb",
                                              "queue_size", "settle_time"), what="'transcription' section")
    defaults = TranscriptionSettings()
    if section is None:
        return defaults

    def number(key: str, default: int, low: int, high: int) -> int:
        found = section.get(key) if section else None
        value = source.integer(found, minimum=low, maximum=high) if found is not None else None
        return default if value is None else value

    duration = section.get("max_duration")
    seconds = source.duration(duration, "a duration", minimum=1, maximum=4 * 3600) if duration is not None else None
    settle_node = section.get("settle_time")
    settle = source.duration(settle_node, "a duration", minimum=1, maximum=3600) if settle_node is not None else None
    return TranscriptionSettings(
        model=_model(source, section.get("model"), base),
        cpu_threads=number("cpu_threads", defaults.cpu_threads, 1, 64),
        max_seconds=defaults.max_seconds if seconds is None else seconds,
        max_megabytes=number("max_file_size_mb", defaults.max_megabytes, 1, 4096),
        queue_size=number("queue_size", defaults.queue_size, 1, 1000),
        settle_seconds=defaults.settle_seconds if settle is None else settle,
    )


def _model(source: YamlFile, node: Node | None, base: Path) -> str | None:
    """A folder when the value is a path (``/...``, ``./...``, ``../...``) or names a folder beside the
    config file, else a model name; empty or absent: transcription is off."""
    if node is None:
        return None
    value = source.scalar(node, "a model folder or name")
    if not value:
        return None
    if value.startswith(("/", "./", "../")) or (base / value).is_dir():
        return str((base / value).resolve())
    if not MODEL_NAME_PATTERN.fullmatch(value):
        source.error(node, f"{value!r} is neither a model folder nor a model name",
                     "give a folder (./models/whisper-base, /srv/models/whisper-small) or a name such as base")
        return None
    return value
