"""The audio measurements of ``tests/support/audio_files.py``, checked against signals whose levels
are known by construction."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.audio_files import WavInfo, read_wav, requires_tools, run, studio_recording


@requires_tools
def test_measured_rms_of_a_full_scale_sine_is_minus_3_dbfs(tmp_path: Path) -> None:
    tone = tmp_path / "tone.wav"
    run("sox", "-n", "-r", "8000", "-b", "16", "-c", "1", str(tone), "synth", "1", "sine", "440", "gain", "-0.1")
    info = read_wav(tone)
    assert info.rms_dbfs() == pytest.approx(-3.1, abs=0.1)
    assert info.peak_dbfs() == pytest.approx(-0.1, abs=0.1)


@requires_tools
def test_measured_silence_matches_the_padding_sox_added(tmp_path: Path) -> None:
    recording = studio_recording(tmp_path, "padded", lead_s=0.7, tail_s=1.2, gain_db=-6)
    info = read_wav(recording)
    assert (info.rate, info.channels) == (44100, 2)
    # Stereo frames are interleaved: halve the sample count per channel for seconds.
    mono = WavInfo(info.rate, 1, 2, "NONE", info.samples[::info.channels])
    assert 0.7 <= mono.leading_silence_s() < 0.8
    # espeak-ng ends its own output with a few hundred ms of silence too.
    assert 1.2 <= mono.trailing_silence_s() < 1.8
