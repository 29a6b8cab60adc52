"""Turning any speech file into audio Asterisk plays without transcoding.

Output per prompt: an 8 kHz mono 16-bit WAV (what a G.711 call needs) and the same audio as
16 kHz signed linear raw (``.sln16``, for wideband channels; Asterisk picks the cheaper file).
Every prompt is trimmed of leading and trailing silence and brought to one loudness, so a
caller never reaches for the volume between two prompts.

ffmpeg decodes and resamples (with a proper anti-aliasing filter, which pydub's ``set_frame_rate``
lacks) and limits peaks; pydub measures, trims and applies gain.
"""

from __future__ import annotations

import io
import math
import subprocess
import tempfile
import wave
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agi_scripts.prompts.engines import SUBPROCESS_TIMEOUT, PromptToolError, require_program

CONVERTER_VERSION = 1
"""Bump when the conversion code changes what it writes: every prompt is then rebuilt."""

MASTER_RATE = 16000
SAMPLE_WIDTH = 2


@dataclass(frozen=True)
class AudioSettings:
    target_dbfs: float = -20.0
    """RMS level of every prompt, a common level for telephony prompts."""
    peak_ceiling_dbfs: float = -1.0
    """Samples never exceed this; G.711 encoders clip hard above full scale."""
    silence_below_speech_db: float = 30.0
    """Audio more than this far below the prompt's speech level counts as silence when trimming."""
    silence_floor_dbfs: float = -60.0
    """...and audio below this level always does."""
    keep_lead_ms: int = 30
    keep_tail_ms: int = 60
    """A little of the natural onset and decay is kept so words are not clipped."""
    wav_rate: int = 8000
    write_sln16: bool = True

    def fingerprint(self) -> dict[str, Any]:
        """Everything that changes the output bytes; part of each prompt's content hash."""
        return {"converter_version": CONVERTER_VERSION, **asdict(self)}


@dataclass(frozen=True)
class ConvertedAudio:
    wav: bytes
    """8 kHz (``wav_rate``) mono 16-bit PCM WAV file contents."""
    sln16: bytes | None
    """16 kHz mono 16-bit little-endian raw samples, or None when not wanted."""
    duration_s: float
    level_dbfs: float
    peak_dbfs: float


class NotAudio(PromptToolError):
    """A source file ffmpeg cannot decode as audio, or that holds only silence."""

    def __init__(self, path: Path, detail: str) -> None:
        self.path = path
        super().__init__(f"{path} is not usable audio: {detail}")


def require_ffmpeg() -> str:
    return require_program("ffmpeg", "ffmpeg", "convert prompts to telephony audio")


def convert(source: Path, settings: AudioSettings = AudioSettings(), tempo: float = 1.0) -> ConvertedAudio:
    """Decode ``source`` (any format ffmpeg reads), stretch time by ``tempo``, trim, level, encode."""
    master, narrow = decode(source, (MASTER_RATE, settings.wav_rate), tempo)
    start, end = speech_bounds(master, settings, source)
    master = normalise(master[start:end], settings)
    narrow = normalise(narrow[start:end], settings)
    return ConvertedAudio(
        wav=wav_bytes(narrow),
        sln16=bytes(master.raw_data) if settings.write_sln16 else None,
        duration_s=len(narrow) / 1000.0,
        level_dbfs=round(float(narrow.dBFS), 2),
        peak_dbfs=round(float(narrow.max_dBFS), 2),
    )


def decode(source: Path, rates: Sequence[int], tempo: float = 1.0) -> list[Any]:
    """The source as mono 16-bit pydub ``AudioSegment``s, one per rate, from a single ffmpeg run.

    Starting ffmpeg costs about 0.1 s, more than converting a prompt: one run writes the first
    rate to its stdout and the others to temporary files.
    """
    ffmpeg = require_ffmpeg()
    command = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(source)]
    stretch = [] if math.isclose(tempo, 1.0) else ["-filter:a", f"atempo={tempo:.4f}"]
    with tempfile.TemporaryDirectory(prefix="respectline-decode-") as folder:
        extra = [Path(folder) / f"{rate}.raw" for rate in rates[1:]]
        for rate, target in zip(rates, ["-", *map(str, extra)]):
            command += ["-vn", "-ac", "1", "-ar", str(rate), *stretch, "-f", "s16le", "-acodec", "pcm_s16le", target]
        result = subprocess.run(command, capture_output=True, timeout=SUBPROCESS_TIMEOUT, check=False)
        if result.returncode != 0:
            raise NotAudio(source, _last_line(result.stderr) or f"ffmpeg exit code {result.returncode}")
        outputs = [result.stdout, *(path.read_bytes() for path in extra)]
    if len(outputs[0]) < SAMPLE_WIDTH * rates[0] // 100:
        raise NotAudio(source, "it holds no audio (or less than 10 ms)")
    return [_segment(raw, rate) for raw, rate in zip(outputs, rates)]


def speech_bounds(segment: Any, settings: AudioSettings, source: Path) -> tuple[int, int]:
    """Milliseconds of the first and after the last word, keeping a little natural onset and decay.

    Silence is judged relative to the speech level, taken as the 90th percentile of 10 ms chunk
    levels rather than the peak: one click or pop in a quiet recording must not make the whole
    speech count as silence.
    """
    from pydub.silence import detect_leading_silence

    levels = sorted(float(chunk.dBFS) for chunk in segment[::10] if chunk.rms > 0)
    if not levels or levels[-1] < settings.silence_floor_dbfs:
        raise NotAudio(source, "it is silent")
    speech_level = levels[int(0.9 * (len(levels) - 1))]
    threshold = max(speech_level - settings.silence_below_speech_db, settings.silence_floor_dbfs)
    start = detect_leading_silence(segment, silence_threshold=threshold, chunk_size=5)
    end = len(segment) - detect_leading_silence(segment.reverse(), silence_threshold=threshold, chunk_size=5)
    return max(0, start - settings.keep_lead_ms), min(len(segment), end + settings.keep_tail_ms)


def normalise(segment: Any, settings: AudioSettings) -> Any:
    """Bring the RMS level to the target; where that would push peaks past the ceiling, limit them.

    Gain and limiter run together in floating point (pydub's ``apply_gain`` would clip first).
    Limiting lowers the RMS a little, so this repeats a few times; a last gain step guarantees
    the ceiling even for odd material, at the cost of a quieter prompt.
    """
    for _ in range(3):
        gain = settings.target_dbfs - segment.dBFS
        if segment.max_dBFS + gain <= settings.peak_ceiling_dbfs:
            return segment.apply_gain(gain)
        segment = gain_and_limit(segment, gain, settings.peak_ceiling_dbfs - 0.5)
    gain = min(settings.target_dbfs - segment.dBFS, settings.peak_ceiling_dbfs - segment.max_dBFS)
    return segment.apply_gain(gain)


def gain_and_limit(segment: Any, gain_db: float, ceiling_dbfs: float) -> Any:
    ceiling = 10 ** (ceiling_dbfs / 20.0)
    chain = (f"aformat=sample_fmts=dbl,volume={gain_db:.3f}dB,"
             f"alimiter=limit={ceiling:.5f}:level=0:latency=1:attack=2:release=40")
    return _ffmpeg_filter(segment, chain, segment.frame_rate)


def wav_bytes(segment: Any) -> bytes:
    """A plain 44-byte-header PCM WAV: the layout Asterisk's format_wav reads."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(SAMPLE_WIDTH)
        writer.setframerate(segment.frame_rate)
        writer.writeframes(segment.raw_data)
    return buffer.getvalue()


def _ffmpeg_filter(segment: Any, audio_filter: str | None, rate: int) -> Any:
    ffmpeg = require_ffmpeg()
    raw = ["-f", "s16le", "-acodec", "pcm_s16le", "-ac", "1"]
    command = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error",
               *raw, "-ar", str(segment.frame_rate), "-i", "-"]
    if audio_filter:
        command += ["-filter:a", audio_filter]
    command += [*raw, "-ar", str(rate), "-"]
    result = subprocess.run(command, input=bytes(segment.raw_data), capture_output=True,
                            timeout=SUBPROCESS_TIMEOUT, check=False)
    if result.returncode != 0:
        raise PromptToolError(f"ffmpeg failed while processing audio: {_last_line(result.stderr)}")
    return _segment(result.stdout, rate)


def _segment(raw: bytes, rate: int) -> Any:
    from pydub import AudioSegment

    usable = len(raw) - len(raw) % SAMPLE_WIDTH
    return AudioSegment(data=raw[:usable], sample_width=SAMPLE_WIDTH, frame_rate=rate, channels=1)


def _last_line(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1] if lines else ""
