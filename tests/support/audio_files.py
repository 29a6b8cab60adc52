"""Audio fixtures and measurements for the prompt tests, measured independently of the code under test.

Sources are made with the real tools (espeak-ng, sox, ffmpeg) at test time; measurements read the
WAV with the standard library and numpy, not with pydub. ``tests/unit/test_audio_measurements.py``
checks the measurements themselves against signals whose levels are known by construction.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

TOOLS = ("espeak-ng", "sox", "ffmpeg")
MISSING = [tool for tool in TOOLS if shutil.which(tool) is None]
requires_tools = pytest.mark.skipif(
    bool(MISSING) and not os.environ.get("CI"),
    reason=f"missing {', '.join(MISSING)}: apt-get install -y espeak-ng sox ffmpeg")
"""Skipped on a developer machine without the tools; in CI (CI=true) the tests run and fail instead."""


@dataclass(frozen=True)
class WavInfo:
    rate: int
    channels: int
    sample_width: int
    compression: str
    samples: np.ndarray

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate

    def rms_dbfs(self) -> float:
        return _dbfs(float(np.sqrt(np.mean(self.samples ** 2))))

    def peak_dbfs(self) -> float:
        return _dbfs(float(np.max(np.abs(self.samples))))

    def leading_silence_s(self, threshold_dbfs: float = -45.0) -> float:
        return self._first_loud(self.samples, threshold_dbfs) / self.rate

    def trailing_silence_s(self, threshold_dbfs: float = -45.0) -> float:
        return self._first_loud(self.samples[::-1], threshold_dbfs) / self.rate

    def _first_loud(self, samples: np.ndarray, threshold_dbfs: float) -> int:
        loud = np.nonzero(np.abs(samples) > 10 ** (threshold_dbfs / 20))[0]
        return int(loud[0]) if len(loud) else len(samples)


def read_wav(path: Path) -> WavInfo:
    with wave.open(str(path), "rb") as reader:
        frames = reader.readframes(reader.getnframes())
        info = (reader.getframerate(), reader.getnchannels(), reader.getsampwidth(), reader.getcomptype())
    assert info[2] == 2, "only 16-bit WAV is measured here"
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float64) / 32768.0
    return WavInfo(info[0], info[1], info[2], info[3], samples)


def read_sln16(path: Path) -> np.ndarray:
    return np.frombuffer(path.read_bytes(), dtype="<i2").astype(np.float64) / 32768.0


def run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=60)


def speech_wav(path: Path, text: str, voice: str = "en-gb") -> Path:
    """A real spoken sentence, as espeak-ng writes it (22 kHz mono)."""
    run("espeak-ng", "-v", voice, "-w", str(path), text)
    return path


def studio_recording(folder: Path, name: str, *, lead_s: float, tail_s: float, gain_db: float,
                     text: str = "Thank you for calling. Goodbye.") -> Path:
    """What a voice artist might deliver: 44.1 kHz stereo, silence around the speech, any level."""
    spoken = speech_wav(folder / f"{name}-raw.wav", text)
    target = folder / f"{name}.wav"
    run("sox", str(spoken), "-r", "44100", "-c", "2", str(target), "gain", str(gain_db),
        "pad", str(lead_s), str(tail_s))
    return target


def to_mp3(source: Path, target: Path) -> Path:
    run("ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(source), "-codec:a", "libmp3lame",
        "-b:a", "64k", str(target))
    return target


def _dbfs(amplitude: float) -> float:
    return -math.inf if amplitude <= 0 else 20 * math.log10(amplitude)
