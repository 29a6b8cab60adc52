"""Hold music is cut to the campaign's exact delays and never rewritten when unchanged."""

from __future__ import annotations

import array
import wave
from pathlib import Path

import pytest

from agi_scripts.prompts.hold import HoldMusicMissing, build_hold_gaps, gap_path


def write_tone_music(folder: Path, seconds: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    samples = array.array("h", [(i % 40 - 20) * 800 for i in range(seconds * 8000)])
    with wave.open(str(folder / "music.wav"), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(samples.tobytes())


def test_gaps_have_the_exact_length_asked_for(tmp_path: Path) -> None:
    write_tone_music(tmp_path / "moh", 7)
    files = build_hold_gaps([20, 3], tmp_path / "moh", tmp_path / "sounds")
    assert files == [gap_path(tmp_path / "sounds", 3), gap_path(tmp_path / "sounds", 20)]
    for seconds, file in zip((3, 20), files):
        with wave.open(str(file), "rb") as wav:
            assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
            assert wav.getnframes() == seconds * 8000
            samples = array.array("h", wav.readframes(wav.getnframes()))
        assert samples[0] == 0 and samples[-1] == 0  # faded, so the cut does not click
        assert max(samples) > 10000  # and it is music, not silence


def test_second_build_leaves_unchanged_files_alone(tmp_path: Path) -> None:
    write_tone_music(tmp_path / "moh", 5)
    first = build_hold_gaps([10], tmp_path / "moh", tmp_path / "sounds")[0]
    inode = first.stat().st_ino
    build_hold_gaps([10], tmp_path / "moh", tmp_path / "sounds")
    assert first.stat().st_ino == inode


def test_missing_hold_music_names_the_debian_package(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(HoldMusicMissing, match="asterisk-moh-opsound-wav"):
        build_hold_gaps([10], tmp_path / "empty", tmp_path / "sounds")
