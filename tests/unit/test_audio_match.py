"""contains_prompt / find_prompt_times on real speech made by espeak-ng and sent through sox's G.711."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from agi_scripts.sandbox.audio import contains_prompt, find_prompt_times, load_audio

RATE = 8000
PROMPT_TEXT = "Thank you for holding. Your call is important to us and an agent will be with you shortly."
OTHER_TEXT = "Please have your account number ready. We will connect you to the next free colleague soon."
# How far a reported start time may be from the truth: two 10 ms score steps plus a frame.
TIME_TOLERANCE = 0.04


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed: run `apt-get install sox espeak-ng` (scripts/install-asterisk does)")
    return path


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def _speak(text: str, path: Path) -> Path:
    """espeak-ng sentence, normalised to -3 dBFS so two sentences are equally loud."""
    raw = path.with_suffix(".raw.wav")
    _run(_require("espeak-ng"), "-w", str(raw), text)
    _run(_require("sox"), str(raw), str(path), "norm", "-3")
    return path


def _ulaw_round_trip(source: Path, target: Path) -> Path:
    """What a phone line does to a prompt: 8 kHz G.711 u-law and back to 16-bit PCM."""
    ulaw = target.with_suffix(".ul")
    _run(_require("sox"), str(source), "-r", str(RATE), "-c", "1", "-t", "ul", str(ulaw))
    _run(_require("sox"), "-t", "ul", "-r", str(RATE), "-c", "1", str(ulaw), "-b", "16", str(target))
    return target


def _hold_music(seconds: float, path: Path) -> Path:
    """Plucked chords: tonal, loud, and not speech."""
    _run(_require("sox"), "-n", "-r", str(RATE), "-b", "16", "-c", "1", str(path), "synth", str(seconds),
         "pluck", "C4", "pluck", "E4", "pluck", "G4", "norm", "-6")
    return path


def _samples(path: Path) -> npt.NDArray[np.float64]:
    samples, rate = load_audio(path)
    assert rate == RATE, f"{path} is {rate} Hz"
    return samples


def _write(path: Path, samples: npt.NDArray[np.float64], rate: int = RATE) -> Path:
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def _noise(seconds: float, rms: float, seed: int) -> npt.NDArray[np.float64]:
    return np.random.default_rng(seed).normal(0.0, rms, int(seconds * RATE))


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("audio")
    prompt = _speak(PROMPT_TEXT, folder / "prompt.wav")
    other = _speak(OTHER_TEXT, folder / "other.wav")
    return {
        "prompt": prompt,
        "other": other,
        "prompt_line": _ulaw_round_trip(prompt, folder / "prompt_line.wav"),
        "other_line": _ulaw_round_trip(other, folder / "other_line.wav"),
        "music": _hold_music(30, folder / "music.wav"),
        "folder": folder,
    }


def _recording_with(media: dict[str, Path], inserts: list[tuple[float, str]], seconds: float,
                    name: str, noise_rms: float = 0.02) -> Path:
    """Background noise of ``seconds`` with each (start time, media key) pasted in."""
    track = _noise(seconds, noise_rms, seed=len(inserts))
    for start, key in inserts:
        clip = _samples(media[key])
        begin = int(start * RATE)
        track[begin : begin + len(clip)] += clip[: len(track) - begin]
    return _write(media["folder"] / name, track)


def test_prompt_is_found_through_ulaw_with_noise_at_its_offset(media: dict[str, Path]) -> None:
    recording = _recording_with(media, [(3.37, "prompt_line")], 12.0, "positive.wav")

    result = contains_prompt(recording, media["prompt"])

    assert result.matched, result
    assert result.score > 0.8
    assert abs(result.offset_seconds - 3.37) <= TIME_TOLERANCE, result


def test_prompt_is_found_in_a_16khz_recording_like_pjsua_writes(media: dict[str, Path]) -> None:
    at_8k = _recording_with(media, [(1.5, "prompt_line")], 9.0, "positive8k.wav")
    at_16k = media["folder"] / "positive16k.wav"
    _run(_require("sox"), str(at_8k), "-r", "16000", str(at_16k))

    result = contains_prompt(at_16k, media["prompt"])

    assert result.matched, result
    assert abs(result.offset_seconds - 1.5) <= TIME_TOLERANCE, result


def test_prompt_survives_dropped_and_inserted_frames(media: dict[str, Path]) -> None:
    clean = _samples(_recording_with(media, [(2.0, "prompt_line")], 10.0, "jitter_src.wav"))
    frame = RATE // 50  # 20 ms, one RTP packet
    # A jitter buffer dropping a packet at 3 s, inserting two silent ones at 4.5 s, dropping one at 6 s.
    jittered = np.concatenate([clean[: 3 * RATE], clean[3 * RATE + frame : int(4.5 * RATE)], np.zeros(2 * frame),
                               clean[int(4.5 * RATE) : 6 * RATE], clean[6 * RATE + frame :]])
    recording = _write(media["folder"] / "jitter.wav", jittered)

    result = contains_prompt(recording, media["prompt"])

    assert result.matched, result
    assert abs(result.offset_seconds - 2.0) <= TIME_TOLERANCE, result


def test_a_different_sentence_of_the_same_voice_and_loudness_does_not_match(media: dict[str, Path]) -> None:
    recording = _recording_with(media, [(3.37, "other_line")], 12.0, "negative_other.wav")

    wrong = contains_prompt(recording, media["prompt"])
    right = contains_prompt(recording, media["other"])

    assert not wrong.matched, wrong
    assert right.matched, right
    assert wrong.score < right.score / 2, (wrong, right)


@pytest.mark.parametrize("background", ["silence", "noise", "music"])
def test_prompt_is_not_found_in_silence_noise_or_hold_music(media: dict[str, Path], background: str) -> None:
    seconds = 20.0
    if background == "silence":
        recording = _write(media["folder"] / "silence.wav", np.zeros(int(seconds * RATE)))
    elif background == "noise":
        recording = _write(media["folder"] / "noise.wav", _noise(seconds, 0.1, seed=7))
    else:
        recording = media["music"]

    result = contains_prompt(recording, media["prompt"])

    assert not result.matched, result
    assert result.score < 0.3, result


def test_every_periodic_occurrence_is_found_at_its_time(media: dict[str, Path]) -> None:
    music = _samples(media["music"]) * 0.5
    prompt = _samples(media["prompt_line"])
    pieces: list[npt.NDArray[np.float64]] = []
    expected: list[float] = []
    elapsed = 0.0
    for gap_seconds in (4.0, 6.5, 5.0, 7.25):
        gap = music[: int(gap_seconds * RATE)]
        pieces += [gap, prompt]
        elapsed += len(gap) / RATE
        expected.append(elapsed)
        elapsed += len(prompt) / RATE
    track = np.concatenate(pieces)
    track += _noise(len(track) / RATE, 0.01, seed=3)
    recording = _write(media["folder"] / "periodic.wav", track)

    found = find_prompt_times(recording, media["prompt"])
    found_other = find_prompt_times(recording, media["other"])

    assert len(found) == len(expected), (found, expected)
    for got, want in zip(found, expected):
        assert abs(got - want) <= TIME_TOLERANCE, (found, expected)
    assert found_other == []


def test_a_prompt_longer_than_the_recording_is_not_found(media: dict[str, Path]) -> None:
    short = _write(media["folder"] / "short.wav", _samples(media["prompt_line"])[: RATE])

    result = contains_prompt(short, media["prompt"])

    assert not result.matched
    assert result.score == 0.0
