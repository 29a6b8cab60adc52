"""The transcription worker's bounds and failures, with a scripted transcriber in place of the model,
and the real child process with the pinned test model on short clips (a few seconds each).

Bounds: files too long or too large are not transcribed and say why; a file still being written
waits; one round takes at most ``queue_size`` recordings. Failures: a model that cannot be had is
logged once and tried again later; a file the model fails on is kept as skipped and the others go on;
a crashing compliment callback does not lose the transcript; links, FIFOs and paths outside the
recordings folder are refused."""

from __future__ import annotations

import logging
import os
import threading
import time
import wave
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from agi_scripts.storage import CaseToOpen, Escalation, Store, open_store
from agi_scripts.storage.transcripts import TranscriptStore
from agi_scripts.transcribe.engine import ModelUnavailable, SpokenPart
from agi_scripts.transcribe.measure import missing_key_words, word_error_rate
from agi_scripts.transcribe.worker import (ChildTranscriber, FileNotTranscribed, TranscriptionWorker,
                                           WorkerLimits)
from tests.support.speech import BY_LANGUAGE, speech_model, spoken

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
SETTLED = WorkerLimits(settle_seconds=0.0, poll_seconds=0.05, retry_seconds=3600.0)


class ScriptedTranscriber:
    """Answers from a script: per file name, the parts, or an exception to raise."""

    model = "scripted"

    def __init__(self, script: dict[str, list[SpokenPart] | Exception] | None = None) -> None:
        self.script = script or {}
        self.calls: list[tuple[str, str, float]] = []
        self.closed = 0

    def transcribe(self, audio: Path, language: str, *, timeout: float) -> list[SpokenPart]:
        self.calls.append((audio.name, language, timeout))
        assert audio.is_file() and not audio.is_symlink()
        answer = next((value for key, value in self.script.items() if key in audio.name),
                      [SpokenPart(0.5, 1.5, f"words of {audio.name}")])
        if isinstance(answer, Exception):
            raise answer
        return answer

    def close(self) -> None:
        self.closed += 1

    def interrupt(self) -> None:
        pass


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    yield opened
    opened.close()


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    folder = tmp_path / "recordings"
    (folder / "evidence" / "2026" / "12").mkdir(parents=True)
    (folder / "compliments" / "2026" / "12").mkdir(parents=True)
    return folder


def wav(path: Path, seconds: float, rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00\x00" * int(seconds * rate))
    return path


def flagged(store: Store, recordings: Path, call_id: str, *, seconds: float = 2.0, directions: bool = False,
            language: str | None = "nl", opened: datetime = T0) -> Path:
    mixed = recordings / "evidence" / "2026" / "12" / f"{call_id}.wav"
    wav(mixed, seconds)
    if directions:
        wav(mixed.with_name(f"{call_id}-caller.wav"), seconds)
        wav(mixed.with_name(f"{call_id}-agent.wav"), seconds)
    if language is not None:
        store.record_call_start(call_id, caller="+32470999999", queue="billing", language=language, route="billing",
                                started_at=opened)
    store.book_escalation(Escalation(
        call_id=call_id, category="verbal", number_in_call=1, number_in_category=1, agent="PJSIP/agent1",
        caller="+32470999999", queue="billing", at=opened, outcome="disconnect", team="special_care",
        case=CaseToOpen(team="special_care", priority=2, recording=str(mixed))))
    return mixed


def compliment(store: Store, recordings: Path, call_id: str, language: str = "fr") -> tuple[int, Path]:
    path = wav(recordings / "compliments" / "2026" / "12" / f"{call_id}.wav", 2.0)
    store.record_call_start(call_id, caller="+32470111111", queue="support", language=language, route="support",
                            started_at=T0)
    compliment_id = store.start_compliment(call_id, agent="PJSIP/agent1", queue="support", campaign=None, at=T0)
    store.set_compliment_recording(compliment_id, str(path), at=T0)
    return compliment_id, path


def worker(store: Store, recordings: Path, transcriber: object, *, limits: WorkerLimits = SETTLED,
           callback: object = None, now: datetime = T0 + timedelta(minutes=2)) -> TranscriptionWorker:
    return TranscriptionWorker(store, lambda: transcriber, recordings, default_language="en",  # type: ignore[arg-type, return-value]
                               limits=limits, on_compliment_transcript=callback,  # type: ignore[arg-type]
                               clock=lambda: now)


def test_evidence_in_two_directions_is_transcribed_per_speaker_in_the_calls_language(
        store: Store, recordings: Path) -> None:
    mixed = flagged(store, recordings, "c1", directions=True, language="nl")
    scripted = ScriptedTranscriber({"caller": [SpokenPart(2.0, 3.0, "ik maak je kapot")],
                                    "agent": [SpokenPart(0.5, 1.0, "goedemiddag"), SpokenPart(4.0, 5.0, "stop")]})
    assert worker(store, recordings, scripted).run_round() == 1
    assert sorted(language for _, language, _ in scripted.calls) == ["nl", "nl"]
    transcript = TranscriptStore(store).get(str(mixed))
    assert transcript is not None and transcript.status == "done" and transcript.model == "scripted"
    assert [(s.start, s.speaker, s.text) for s in transcript.segments] == [
        (0.5, "agent", "goedemiddag"), (2.0, "caller", "ik maak je kapot"), (4.0, "agent", "stop")]


def test_evidence_without_both_directions_is_the_mixed_file_with_speaker_unknown(
        store: Store, recordings: Path) -> None:
    mixed = flagged(store, recordings, "c1")
    wav(mixed.with_name("c1-caller.wav"), 1.0)  # one direction alone is not enough to tell who spoke
    scripted = ScriptedTranscriber()
    worker(store, recordings, scripted).run_round()
    assert [name for name, _, _ in scripted.calls] == ["0-unknown.wav"]
    transcript = TranscriptStore(store).get(str(mixed))
    assert transcript is not None and [s.speaker for s in transcript.segments] == ["unknown"]


def test_a_call_without_its_row_is_transcribed_in_the_default_language(store: Store, recordings: Path) -> None:
    flagged(store, recordings, "c1", language=None)
    scripted = ScriptedTranscriber()
    worker(store, recordings, scripted).run_round()
    assert [language for _, language, _ in scripted.calls] == ["en"]


def test_a_compliments_transcript_reaches_the_callback_once(store: Store, recordings: Path) -> None:
    compliment_id, path = compliment(store, recordings, "c7", language="fr")
    heard: list[tuple[int, str, str]] = []
    scripted = ScriptedTranscriber({"caller": [SpokenPart(0.2, 1.0, "merci"), SpokenPart(1.2, 2.0, "beaucoup")]})
    run = worker(store, recordings, scripted, callback=lambda *args: heard.append(args))
    assert run.run_round() == 1
    assert run.run_round() == 0
    assert heard == [(compliment_id, "merci beaucoup", "fr")]
    transcript = TranscriptStore(store).get(str(path))
    assert transcript is not None and {s.speaker for s in transcript.segments} == {"caller"}


def test_without_a_callback_a_compliment_is_transcribed_all_the_same(store: Store, recordings: Path) -> None:
    _, path = compliment(store, recordings, "c7")
    assert worker(store, recordings, ScriptedTranscriber()).run_round() == 1
    assert TranscriptStore(store).get(str(path)) is not None


def test_a_failing_callback_is_logged_and_the_transcript_kept(store: Store, recordings: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    _, path = compliment(store, recordings, "c7")

    def broken(compliment_id: int, text: str, language: str) -> None:
        raise RuntimeError("screening is down")

    assert worker(store, recordings, ScriptedTranscriber(), callback=broken).run_round() == 1
    assert TranscriptStore(store).get(str(path)) is not None
    assert "the compliment callback failed" in caplog.text


def test_a_recording_longer_than_the_limit_is_not_transcribed_and_says_why(store: Store, recordings: Path) -> None:
    mixed = flagged(store, recordings, "c1", seconds=12.0)
    scripted = ScriptedTranscriber()
    limits = WorkerLimits(settle_seconds=0.0, max_seconds=10.0)
    assert worker(store, recordings, scripted, limits=limits).run_round() == 1
    assert scripted.calls == []
    transcript = TranscriptStore(store).get(str(mixed))
    assert transcript is not None and transcript.status == "skipped" and "longer than 10 s" in transcript.note


def test_a_file_larger_than_the_limit_is_not_read(store: Store, recordings: Path) -> None:
    mixed = flagged(store, recordings, "c1", seconds=2.0)  # 32 kB
    scripted = ScriptedTranscriber()
    limits = WorkerLimits(settle_seconds=0.0, max_bytes=16 * 1024)
    worker(store, recordings, scripted, limits=limits).run_round()
    transcript = TranscriptStore(store).get(str(mixed))
    assert scripted.calls == [] and transcript is not None and transcript.status == "skipped"
    assert "larger than" in transcript.note


def test_a_file_still_being_written_waits_for_a_later_round(store: Store, recordings: Path) -> None:
    mixed = flagged(store, recordings, "c1")
    scripted = ScriptedTranscriber()
    limits = WorkerLimits(settle_seconds=60.0)
    run = worker(store, recordings, scripted, limits=limits)
    assert run.run_round() == 0 and scripted.calls == []
    assert TranscriptStore(store).get(str(mixed)) is None
    old = time.time() - 120
    os.utime(mixed, (old, old))
    assert run.run_round() == 1


def test_a_missing_file_waits_then_is_given_up_after_the_grace(store: Store, recordings: Path) -> None:
    mixed = flagged(store, recordings, "c1")
    mixed.unlink()
    scripted = ScriptedTranscriber()
    limits = WorkerLimits(settle_seconds=0.0, missing_grace_seconds=600.0)
    assert worker(store, recordings, scripted, limits=limits, now=T0 + timedelta(minutes=5)).run_round() == 0
    assert TranscriptStore(store).get(str(mixed)) is None
    assert worker(store, recordings, scripted, limits=limits, now=T0 + timedelta(minutes=11)).run_round() == 1
    transcript = TranscriptStore(store).get(str(mixed))
    assert transcript is not None and transcript.status == "skipped" and "missing" in transcript.note


def test_one_round_takes_at_most_queue_size_recordings(store: Store, recordings: Path) -> None:
    for number in range(5):
        flagged(store, recordings, f"c{number}")
    scripted = ScriptedTranscriber()
    run = worker(store, recordings, scripted, limits=WorkerLimits(settle_seconds=0.0, queue_size=2))
    assert run.run_round() == 2
    assert run.run_round() == 2
    assert run.run_round() == 1
    assert run.run_round() == 0


def test_a_missing_model_is_logged_once_retried_later_and_never_raises(store: Store, recordings: Path,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    mixed = flagged(store, recordings, "c1")
    attempts: list[int] = []

    class Unavailable(ScriptedTranscriber):
        def transcribe(self, audio: Path, language: str, *, timeout: float) -> list[SpokenPart]:
            attempts.append(1)
            if len(attempts) < 3:
                raise ModelUnavailable("model folder /srv/models/none has no model.bin")
            return [SpokenPart(0, 1, "at last")]

    run = worker(store, recordings, Unavailable(), limits=WorkerLimits(settle_seconds=0.0, retry_seconds=0.0))
    caplog.set_level(logging.INFO, "respectline.transcribe")
    assert run.run_round() == 0 and run.run_round() == 0
    assert run.model_problem is not None and "no model.bin" in run.model_problem
    assert caplog.text.count("the speech model is unavailable") == 1
    assert TranscriptStore(store).get(str(mixed)) is None
    assert run.run_round() == 1
    assert run.model_problem is None and "works again" in caplog.text


def test_while_the_model_is_unavailable_nothing_is_tried_before_the_retry_time(store: Store, recordings: Path) -> None:
    flagged(store, recordings, "c1")
    scripted = ScriptedTranscriber({"unknown": ModelUnavailable("no model")})
    run = worker(store, recordings, scripted, limits=WorkerLimits(settle_seconds=0.0, retry_seconds=3600.0))
    run.run_round()
    run.run_round()
    assert len(scripted.calls) == 1 and scripted.closed == 1


def test_a_file_the_model_fails_on_is_kept_as_skipped_and_the_others_go_on(store: Store, recordings: Path) -> None:
    bad = flagged(store, recordings, "c1")
    good = flagged(store, recordings, "c2")
    failing = {"c1"}

    class OneBad(ScriptedTranscriber):
        def transcribe(self, audio: Path, language: str, *, timeout: float) -> list[SpokenPart]:
            if failing:
                failing.clear()
                raise FileNotTranscribed("InvalidDataError: no audio stream")
            return [SpokenPart(0, 1, "fine")]

    assert worker(store, recordings, OneBad()).run_round() == 2
    bad_transcript, good_transcript = TranscriptStore(store).get(str(bad)), TranscriptStore(store).get(str(good))
    assert bad_transcript is not None and bad_transcript.status == "skipped"
    assert "no audio stream" in bad_transcript.note
    assert good_transcript is not None and good_transcript.status == "done"


def test_links_fifos_and_paths_outside_the_recordings_folder_are_refused(store: Store, recordings: Path,
                                                                          tmp_path: Path) -> None:
    outside = wav(tmp_path / "secret.wav", 1.0)
    linked = recordings / "evidence" / "2026" / "12" / "c1.wav"
    linked.symlink_to(outside)
    fifo = recordings / "evidence" / "2026" / "12" / "c2.wav"
    os.mkfifo(fifo)
    for call_id, path in (("c1", linked), ("c2", fifo), ("c3", outside)):
        store.book_escalation(Escalation(
            call_id=call_id, category="verbal", number_in_call=1, number_in_category=1, agent="PJSIP/agent1",
            caller="+32470999999", queue="billing", at=T0, outcome="disconnect", team="special_care",
            case=CaseToOpen(team="special_care", priority=2, recording=str(path))))
    scripted = ScriptedTranscriber()
    started = time.monotonic()
    assert worker(store, recordings, scripted).run_round() == 3
    assert time.monotonic() - started < 10  # the FIFO did not hold the worker
    assert scripted.calls == []
    notes = {t.call_id: t.note for t in TranscriptStore(store).of_recordings(
        [str(linked), str(fifo), str(outside)]).values()}
    assert "not inside the recordings folder" in notes["c1"]  # the link leads out of it
    assert "not a regular file" in notes["c2"]
    assert "not inside the recordings folder" in notes["c3"]


def test_the_worker_thread_works_in_the_background_and_stops(store: Store, recordings: Path) -> None:
    mixed = flagged(store, recordings, "c1")
    scripted = ScriptedTranscriber()
    run = worker(store, recordings, scripted)
    run.start()
    deadline = time.monotonic() + 10
    while TranscriptStore(store).get(str(mixed)) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    run.stop()
    assert TranscriptStore(store).get(str(mixed)) is not None
    assert scripted.closed >= 1


def test_stopping_in_the_middle_of_a_file_is_quick_and_leaves_it_for_next_time(store: Store,
                                                                               recordings: Path) -> None:
    mixed = flagged(store, recordings, "c1")
    interrupted = threading.Event()
    working = threading.Event()

    class Slow(ScriptedTranscriber):
        def transcribe(self, audio: Path, language: str, *, timeout: float) -> list[SpokenPart]:
            working.set()
            if interrupted.wait(60):
                raise FileNotTranscribed("the transcriber ended")
            return [SpokenPart(0, 1, "too late")]

        def interrupt(self) -> None:
            interrupted.set()

    run = worker(store, recordings, Slow())
    run.start()
    assert working.wait(10)
    started = time.monotonic()
    run.stop()
    assert time.monotonic() - started < 5
    assert TranscriptStore(store).get(str(mixed)) is None  # not marked as failed: tried again next time


# ------------------------------------------------------------------ the real child and the test model


def test_the_child_transcribes_telephone_speech_with_the_test_model(tmp_path: Path) -> None:
    sentence = BY_LANGUAGE["en"]
    audio = spoken(sentence.text, "en", tmp_path / "en.wav")
    child = ChildTranscriber(str(speech_model()), cpu_threads=1)
    try:
        parts = child.transcribe(audio, "en", timeout=120)
    finally:
        child.close()
    text = " ".join(part.text for part in parts)
    assert missing_key_words(sentence.key_words, text) == [], text
    assert word_error_rate(sentence.text, text) <= 0.2, text
    assert all(0 <= part.start < part.end <= 5 for part in parts)


def test_the_child_says_a_missing_model_folder_is_unavailable(tmp_path: Path) -> None:
    child = ChildTranscriber(str(tmp_path / "no-model"), cpu_threads=1)
    with pytest.raises(ModelUnavailable, match="no model.bin"):
        child.transcribe(wav(tmp_path / "a.wav", 1.0), "en", timeout=30)
    child.close()


def test_the_child_refuses_a_file_that_is_no_audio_and_goes_on(tmp_path: Path) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF not really audio" * 10)
    child = ChildTranscriber(str(speech_model()), cpu_threads=1)
    try:
        with pytest.raises(FileNotTranscribed):
            child.transcribe(junk, "en", timeout=60)
        spoken("I will find you.", "en", tmp_path / "ok.wav")
        assert "find" in " ".join(p.text for p in child.transcribe(tmp_path / "ok.wav", "en", timeout=120)).lower()
    finally:
        child.close()


def test_a_file_over_its_time_is_abandoned_and_the_child_killed(tmp_path: Path) -> None:
    audio = spoken(BY_LANGUAGE["nl"].text, "nl", tmp_path / "nl.wav")
    child = ChildTranscriber(str(speech_model()), cpu_threads=1)
    try:
        child.transcribe(audio, "nl", timeout=120)  # loaded
        with pytest.raises(FileNotTranscribed, match="no answer within"):
            child.transcribe(audio, "nl", timeout=0.01)
        assert child._child is None  # the stuck child is gone; the next file starts a new one
    finally:
        child.close()
