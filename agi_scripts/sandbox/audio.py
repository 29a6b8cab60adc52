"""Decide whether a recording contains a given prompt, and where.

Used by end-to-end tests: a pjsua2 peer records what it heard, and the test asks whether (and when)
a prompt was played to it. Both signals are brought to telephone quality (8 kHz mono, 300-3400 Hz),
then the prompt is cut into short chunks and each chunk is matched against the recording by
normalised cross-correlation. A chunk may land a little early or late relative to the others
(jitter buffers add or drop a frame now and then), so each chunk is allowed to move by up to
``drift_tolerance`` seconds. The score at a candidate start time is the energy-weighted mean of the
chunks' best correlations there: about 0.9 for the same audio through a u-law round trip, about
0.2-0.3 for a different sentence in the same voice, about 0 for silence.

Only numpy is needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

TELEPHONY_RATE = 8000
BAND_LOW_HZ = 300.0
BAND_HIGH_HZ = 3400.0
# Score grid: one value every 10 ms is fine enough for timing tests and cheap to search.
HOP_SAMPLES = 80
CHUNK_SECONDS = 0.4
DEFAULT_THRESHOLD = 0.55
DEFAULT_DRIFT_TOLERANCE = 0.08
# Windows quieter than this (RMS, full scale = 1.0; about -66 dBFS) score 0: correlating against
# near-silence would only measure dither.
SILENCE_RMS = 5e-4
# Chunks of the prompt quieter than this fraction of its loudest chunk are pauses between words;
# they carry no information and are left out.
QUIET_CHUNK_FRACTION = 0.05


@dataclass(frozen=True)
class MatchResult:
    """Outcome of :func:`contains_prompt`."""

    matched: bool
    score: float
    offset_seconds: float
    threshold: float

    def __bool__(self) -> bool:
        return self.matched


def load_audio(path: Path) -> tuple[FloatArray, int]:
    """Read a PCM WAV file, or a raw Asterisk ``.ulaw``/``.alaw``/``.sln``/``.sln16`` file.

    Returns mono samples scaled to [-1, 1] and the sample rate.
    """
    suffix = path.suffix.lower()
    raw_formats = {".ulaw": 8000, ".alaw": 8000, ".sln": 8000, ".sln16": 16000}
    if suffix in raw_formats:
        data = path.read_bytes()
        rate = raw_formats[suffix]
        if suffix == ".ulaw":
            return ulaw_decode(np.frombuffer(data, dtype=np.uint8)), rate
        if suffix == ".alaw":
            return alaw_decode(np.frombuffer(data, dtype=np.uint8)), rate
        return np.frombuffer(data, dtype="<i2").astype(np.float64) / 32768.0, rate
    return _read_wav(path.read_bytes())


_WAVE_PCM, _WAVE_FLOAT, _WAVE_ALAW, _WAVE_ULAW, _WAVE_EXTENSIBLE = 1, 3, 6, 7, 0xFFFE


def _read_wav(data: bytes) -> tuple[FloatArray, int]:
    """Minimal RIFF/WAVE reader: PCM 8-32 bit, float, G.711, and their WAVE_FORMAT_EXTENSIBLE forms.

    (The standard ``wave`` module refuses the extensible header that sox writes for 32-bit files.)
    """
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    position = 12
    fmt: bytes | None = None
    payload: bytes | None = None
    while position + 8 <= len(data):
        chunk_id = data[position : position + 4]
        size = int.from_bytes(data[position + 4 : position + 8], "little")
        body = data[position + 8 : position + 8 + size]
        if chunk_id == b"fmt ":
            fmt = body
        elif chunk_id == b"data":
            payload = body
        position += 8 + size + (size & 1)
    if fmt is None or payload is None:
        raise ValueError("WAVE file without fmt or data chunk")
    tag = int.from_bytes(fmt[0:2], "little")
    channels = int.from_bytes(fmt[2:4], "little")
    rate = int.from_bytes(fmt[4:8], "little")
    bits = int.from_bytes(fmt[14:16], "little")
    if tag == _WAVE_EXTENSIBLE and len(fmt) >= 26:
        tag = int.from_bytes(fmt[24:26], "little")  # first bytes of the sub-format GUID
    samples = _decode_samples(payload, tag, bits)
    if channels > 1:
        samples = samples[: len(samples) - len(samples) % channels].reshape(-1, channels).mean(axis=1)
    return samples, rate


def _decode_samples(payload: bytes, tag: int, bits: int) -> FloatArray:
    if tag == _WAVE_PCM:
        return _pcm_to_float(payload, bits // 8)
    if tag == _WAVE_FLOAT and bits in (32, 64):
        dtype = "<f4" if bits == 32 else "<f8"
        return np.frombuffer(payload[: len(payload) - len(payload) % (bits // 8)], dtype=dtype).astype(np.float64)
    if tag == _WAVE_ULAW:
        return ulaw_decode(np.frombuffer(payload, dtype=np.uint8))
    if tag == _WAVE_ALAW:
        return alaw_decode(np.frombuffer(payload, dtype=np.uint8))
    raise ValueError(f"unsupported WAVE format tag {tag} ({bits} bits)")


def _pcm_to_float(frames: bytes, width: int) -> FloatArray:
    if width not in (1, 2, 3, 4):
        raise ValueError(f"unsupported PCM sample width: {width} bytes")
    frames = frames[: len(frames) - len(frames) % width]
    if width == 1:
        return (np.frombuffer(frames, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    if width == 2:
        return np.frombuffer(frames, dtype="<i2").astype(np.float64) / 32768.0
    if width == 3:
        bytes3 = np.frombuffer(frames, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        values = bytes3[:, 0] | (bytes3[:, 1] << 8) | (bytes3[:, 2] << 16)
        values = np.where(values >= 1 << 23, values - (1 << 24), values)
        return values.astype(np.float64) / float(1 << 23)
    return np.frombuffer(frames, dtype="<i4").astype(np.float64) / float(1 << 31)


def ulaw_decode(codes: npt.NDArray[np.uint8]) -> FloatArray:
    """G.711 u-law to linear, scaled to [-1, 1]."""
    inverted = ~codes.astype(np.int32) & 0xFF
    sign = inverted & 0x80
    exponent = (inverted >> 4) & 0x07
    mantissa = inverted & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.float64) / 32768.0


def alaw_decode(codes: npt.NDArray[np.uint8]) -> FloatArray:
    """G.711 A-law to linear, scaled to [-1, 1]."""
    toggled = codes.astype(np.int32) ^ 0x55
    sign = toggled & 0x80
    exponent = (toggled >> 4) & 0x07
    mantissa = toggled & 0x0F
    magnitude = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0)
    )
    return np.where(sign != 0, magnitude, -magnitude).astype(np.float64) / 32768.0


def to_telephony_band(samples: FloatArray, rate: int) -> FloatArray:
    """Resample to 8 kHz and keep 300-3400 Hz, in one FFT (numpy only).

    Zeroing bins outside the band both band-limits and acts as the anti-aliasing filter; the
    inverse transform at the new length does the rate change. The input is zero-padded to a length
    whose FFT is fast and whose 8 kHz counterpart is a whole number of samples.
    """
    count = len(samples)
    if count == 0:
        return np.zeros(0)
    common = math.gcd(rate, TELEPHONY_RATE)
    step_in, step_out = rate // common, TELEPHONY_RATE // common
    blocks = _next_smooth(-(-count // step_in))
    padded_count, padded_out = blocks * step_in, blocks * step_out
    spectrum = np.fft.rfft(samples, padded_count)
    freqs = np.fft.rfftfreq(padded_count, d=1.0 / rate)
    spectrum[(freqs < BAND_LOW_HZ) | (freqs > BAND_HIGH_HZ)] = 0
    out_bins = padded_out // 2 + 1
    if len(spectrum) >= out_bins:
        spectrum = spectrum[:out_bins]
    else:
        spectrum = np.concatenate([spectrum, np.zeros(out_bins - len(spectrum), dtype=complex)])
    resampled = np.fft.irfft(spectrum, n=padded_out) * (padded_out / padded_count)
    return resampled[: max(1, int(round(count * TELEPHONY_RATE / rate)))]


def _next_smooth(n: int) -> int:
    """Smallest integer >= n with no prime factor above 5 (fast FFT sizes)."""
    best = 1 << max(0, (n - 1).bit_length())
    power5 = 1
    while power5 < best:
        power35 = power5
        while power35 < best:
            candidate = power35
            while candidate < n:
                candidate *= 2
            best = min(best, candidate)
            power35 *= 3
        power5 *= 5
    return best


def load_telephony(path: Path) -> FloatArray:
    samples, rate = load_audio(path)
    return to_telephony_band(samples, rate)


@dataclass(frozen=True)
class _Chunk:
    start: int  # in samples of the prompt
    samples: FloatArray
    weight: float


def _prompt_chunks(prompt: FloatArray) -> list[_Chunk]:
    size = int(CHUNK_SECONDS * TELEPHONY_RATE)
    size -= size % HOP_SAMPLES
    if len(prompt) <= size:
        return [_Chunk(0, prompt, float(np.sum(prompt**2)))]
    starts = range(0, len(prompt) - size + 1, size)
    chunks = [_Chunk(s, prompt[s : s + size], float(np.sum(prompt[s : s + size] ** 2))) for s in starts]
    loudest = max(chunk.weight for chunk in chunks)
    return [chunk for chunk in chunks if chunk.weight >= QUIET_CHUNK_FRACTION * loudest]


def _normalised_xcorr(recording: FloatArray, chunk: FloatArray, rec_spectrum: npt.NDArray[np.complex128],
                      fft_size: int, window_energy: FloatArray) -> FloatArray:
    """NCC of ``chunk`` against every window of ``recording`` of the chunk's length."""
    size = len(chunk)
    centred = chunk - chunk.mean()
    norm = float(np.sqrt(np.sum(centred**2)))
    valid = len(recording) - size + 1
    if norm == 0.0 or valid <= 0:
        return np.zeros(max(valid, 0))
    chunk_spectrum = np.fft.rfft(centred[::-1], fft_size)
    numerator = np.fft.irfft(rec_spectrum * chunk_spectrum, fft_size)[size - 1 : size - 1 + valid]
    energy = window_energy[:valid]
    loud = energy > (SILENCE_RMS**2) * size
    scores = np.zeros(valid)
    scores[loud] = numerator[loud] / (norm * np.sqrt(energy[loud]))
    return scores


def _block_max(curve: FloatArray, block: int) -> FloatArray:
    blocks = -(-len(curve) // block)
    padded = np.full(blocks * block, -1.0)
    padded[: len(curve)] = curve
    maxima: FloatArray = padded.reshape(blocks, block).max(axis=1)
    return maxima


def _dilate(values: FloatArray, radius: int) -> FloatArray:
    """Running maximum over ``2 * radius + 1`` neighbours (edges padded with -1)."""
    if radius <= 0:
        return values
    padded = np.concatenate([np.full(radius, -1.0), values, np.full(radius, -1.0)])
    result = values.copy()
    for shift in range(2 * radius + 1):
        np.maximum(result, padded[shift : shift + len(values)], out=result)
    return result


@dataclass(frozen=True)
class _ChunkCurve:
    offset_steps: int  # where the chunk starts inside the prompt, in 10 ms steps
    weight: float
    peaks: FloatArray  # best NCC of the chunk within each 10 ms step of the recording


class _PromptScan:
    """Per-chunk correlation curves of one prompt against one recording (both telephony band)."""

    def __init__(self, recording: FloatArray, prompt: FloatArray, drift_tolerance: float) -> None:
        self.radius = int(round(drift_tolerance * TELEPHONY_RATE / HOP_SAMPLES))
        self.prompt_steps = max(1, len(prompt) // HOP_SAMPLES)
        starts = len(recording) - len(prompt) + 1
        self.steps = max(0, -(-starts // HOP_SAMPLES))
        chunks = _prompt_chunks(prompt) if self.steps else []
        self.curves: list[_ChunkCurve] = []
        if not chunks:
            return
        fft_size = 1 << int(np.ceil(np.log2(len(recording) + len(chunks[0].samples))))
        rec_spectrum = np.fft.rfft(recording, fft_size)
        cumulative = np.concatenate([[0.0], np.cumsum(recording**2)])
        for chunk in chunks:
            size = len(chunk.samples)
            window_energy = cumulative[size:] - cumulative[:-size]
            curve = _normalised_xcorr(recording, chunk.samples, rec_spectrum, fft_size, window_energy)
            peaks = _block_max(curve, HOP_SAMPLES)
            self.curves.append(_ChunkCurve(chunk.start // HOP_SAMPLES, chunk.weight, peaks))

    def scores(self) -> FloatArray:
        """Score for the prompt starting at each 10 ms step: weighted mean of the chunks' best
        correlation within the drift tolerance of where they should be."""
        total = np.zeros(self.steps)
        if not self.curves:
            return total
        for curve in self.curves:
            dilated = _dilate(curve.peaks, self.radius)
            aligned = np.full(self.steps, -1.0)
            available = dilated[curve.offset_steps : curve.offset_steps + self.steps]
            aligned[: len(available)] = available
            total += curve.weight * aligned
        return total / sum(curve.weight for curve in self.curves)

    def refined_start(self, step: int) -> float:
        """Start time in seconds implied by where the chunks actually peak around ``step``.

        The score is flat across the drift tolerance, so its argmax alone would be early; the
        weighted median of the chunks' own peak positions is not.
        """
        implied: list[tuple[int, float]] = []
        for curve in self.curves:
            centre = step + curve.offset_steps
            low = max(0, centre - self.radius)
            window = curve.peaks[low : centre + self.radius + 1]
            if len(window):
                implied.append((low + int(np.argmax(window)) - curve.offset_steps, curve.weight))
        if not implied:
            return step * HOP_SAMPLES / TELEPHONY_RATE
        implied.sort()
        half = sum(weight for _, weight in implied) / 2
        running = 0.0
        for start, weight in implied:
            running += weight
            if running >= half:
                return max(0, start) * HOP_SAMPLES / TELEPHONY_RATE
        return implied[-1][0] * HOP_SAMPLES / TELEPHONY_RATE


def contains_prompt(recording: Path, prompt: Path, *, threshold: float = DEFAULT_THRESHOLD,
                    drift_tolerance: float = DEFAULT_DRIFT_TOLERANCE) -> MatchResult:
    """Whether ``recording`` contains the audio of ``prompt``; best score and where it starts."""
    scan = _PromptScan(load_telephony(recording), load_telephony(prompt), drift_tolerance)
    scores = scan.scores()
    if len(scores) == 0:
        return MatchResult(False, 0.0, 0.0, threshold)
    best = int(np.argmax(scores))
    score = float(scores[best])
    return MatchResult(score >= threshold, score, scan.refined_start(best), threshold)


def find_prompt_times(recording: Path, prompt: Path, *, threshold: float = DEFAULT_THRESHOLD,
                      drift_tolerance: float = DEFAULT_DRIFT_TOLERANCE) -> list[float]:
    """Start time (seconds) of every occurrence of ``prompt`` in ``recording``, in order.

    Occurrences cannot overlap: once a peak is taken, nothing closer than the prompt's length to it
    is taken (greedy, best first).
    """
    scan = _PromptScan(load_telephony(recording), load_telephony(prompt), drift_tolerance)
    remaining = scan.scores()
    times: list[float] = []
    while len(remaining) and float(remaining.max()) >= threshold:
        peak = int(np.argmax(remaining))
        times.append(scan.refined_start(peak))
        remaining[max(0, peak - scan.prompt_steps + 1) : peak + scan.prompt_steps] = -1.0
    return sorted(times)
