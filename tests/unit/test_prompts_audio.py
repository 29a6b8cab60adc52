"""Conversion of real audio files to what Asterisk plays: format, trimmed silence, loudness."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agi_scripts.prompts.audio import AudioSettings, NotAudio, convert
from tests.support.audio_files import (
    WavInfo,
    read_wav,
    requires_tools,
    run,
    speech_wav,
    studio_recording,
    to_mp3,
)

pytestmark = requires_tools
SETTINGS = AudioSettings()


def converted(source: Path, tmp_path: Path, tempo: float = 1.0) -> tuple[WavInfo, np.ndarray]:
    audio = convert(source, SETTINGS, tempo=tempo)
    out = tmp_path / "out.wav"
    out.write_bytes(audio.wav)
    assert audio.sln16 is not None
    wide = np.frombuffer(audio.sln16, dtype="<i2").astype(np.float64) / 32768.0
    return read_wav(out), wide


def assert_telephony_format(info: WavInfo) -> None:
    assert (info.rate, info.channels, info.sample_width, info.compression) == (8000, 1, 2, "NONE")


def test_wav_recording_becomes_8khz_mono_16bit_wav(tmp_path: Path) -> None:
    source = studio_recording(tmp_path, "voice", lead_s=0.8, tail_s=1.0, gain_db=-12)
    info, _ = converted(source, tmp_path)
    assert_telephony_format(info)


def test_wav_header_is_the_plain_44_byte_layout(tmp_path: Path) -> None:
    source = studio_recording(tmp_path, "voice", lead_s=0.1, tail_s=0.1, gain_db=-6)
    data = convert(source, SETTINGS).wav
    assert data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt " and data[36:40] == b"data"
    assert int.from_bytes(data[20:22], "little") == 1  # PCM, not WAVE_FORMAT_EXTENSIBLE


def test_mp3_recording_is_converted_like_a_wav(tmp_path: Path) -> None:
    source = to_mp3(studio_recording(tmp_path, "voice", lead_s=0.6, tail_s=0.9, gain_db=-9), tmp_path / "voice.mp3")
    info, _ = converted(source, tmp_path)
    assert_telephony_format(info)
    assert info.leading_silence_s() < 0.08
    assert info.trailing_silence_s() < 0.15
    assert info.rms_dbfs() == pytest.approx(SETTINGS.target_dbfs, abs=0.5)


def test_leading_and_trailing_silence_are_trimmed_but_speech_is_kept(tmp_path: Path) -> None:
    text = "Thank you for calling. Goodbye."
    bare = read_wav(speech_wav(tmp_path / "bare.wav", text))
    speech_s = bare.seconds - bare.leading_silence_s() - bare.trailing_silence_s()
    source = studio_recording(tmp_path, "voice", lead_s=1.5, tail_s=2.0, gain_db=-10, text=text)
    info, _ = converted(source, tmp_path)
    assert info.leading_silence_s() < 0.06
    assert info.trailing_silence_s() < 0.12
    # Trimming removed the 3.5 s of padding and nothing of the speech itself.
    assert speech_s - 0.05 <= info.seconds <= speech_s + 0.2


def test_quiet_and_loud_recordings_end_at_the_same_level(tmp_path: Path) -> None:
    quiet, _ = converted(studio_recording(tmp_path, "quiet", lead_s=0.2, tail_s=0.2, gain_db=-30), tmp_path)
    loud, _ = converted(studio_recording(tmp_path, "loud", lead_s=0.2, tail_s=0.2, gain_db=-1), tmp_path)
    assert quiet.rms_dbfs() == pytest.approx(SETTINGS.target_dbfs, abs=0.5)
    assert loud.rms_dbfs() == pytest.approx(SETTINGS.target_dbfs, abs=0.5)
    assert abs(quiet.rms_dbfs() - loud.rms_dbfs()) < 0.5


def test_peaks_stay_under_the_ceiling_when_a_click_would_exceed_it(tmp_path: Path) -> None:
    speech = speech_wav(tmp_path / "speech.wav", "Please speak your message after the tone.")
    quiet_speech = tmp_path / "quiet.wav"
    run("sox", str(speech), str(quiet_speech), "gain", "-12")
    click = tmp_path / "click.wav"  # a 2 ms microphone pop, one second in
    run("sox", "-n", "-r", "22050", "-c", "1", "-b", "16", str(click), "synth", "0.002", "square", "1000",
        "gain", "-0.5", "pad", "1.0", "0")
    source = tmp_path / "speech-with-click.wav"
    run("sox", "-m", str(quiet_speech), str(click), str(source))
    before = read_wav(source)
    # Raising the speech to -20 dBFS RMS would push the click past full scale: the limiter must act.
    assert before.peak_dbfs() + (SETTINGS.target_dbfs - before.rms_dbfs()) > 0
    info, _ = converted(source, tmp_path)
    assert info.peak_dbfs() <= SETTINGS.peak_ceiling_dbfs + 0.05
    assert info.rms_dbfs() == pytest.approx(SETTINGS.target_dbfs, abs=1.0)
    assert info.seconds == pytest.approx(before.seconds - before.leading_silence_s() - before.trailing_silence_s(),
                                         abs=0.25)


def test_sln16_is_the_same_prompt_at_16khz(tmp_path: Path) -> None:
    info, wide = converted(studio_recording(tmp_path, "voice", lead_s=0.5, tail_s=0.5, gain_db=-8), tmp_path)
    assert len(wide) / 16000 == pytest.approx(info.seconds, abs=0.02)
    assert 20 * np.log10(np.sqrt(np.mean(wide ** 2))) == pytest.approx(SETTINGS.target_dbfs, abs=0.5)


def test_tempo_shortens_the_prompt_without_changing_the_format(tmp_path: Path) -> None:
    source = studio_recording(tmp_path, "voice", lead_s=0.1, tail_s=0.1, gain_db=-6)
    normal, _ = converted(source, tmp_path)
    faster, _ = converted(source, tmp_path, tempo=1.25)
    assert_telephony_format(faster)
    assert faster.seconds == pytest.approx(normal.seconds / 1.25, rel=0.06)


def test_a_text_file_posing_as_wav_is_refused_by_name(tmp_path: Path) -> None:
    fake = tmp_path / "compliment_thanks.wav"
    fake.write_text("this is not audio\n")
    with pytest.raises(NotAudio) as caught:
        convert(fake, SETTINGS)
    assert "compliment_thanks.wav" in str(caught.value)
    assert caught.value.path == fake


def test_a_silent_recording_is_refused(tmp_path: Path) -> None:
    silent = tmp_path / "silent.wav"
    run("sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(silent), "trim", "0", "2")
    with pytest.raises(NotAudio, match="silent"):
        convert(silent, SETTINGS)
