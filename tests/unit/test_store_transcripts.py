"""Transcripts in the store, on SQLite and PostgreSQL (``store`` runs each test on both): what waits
for one, saving it once, reading it back, and forgetting it with its recording (retention, erasure)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from agi_scripts.storage import CaseToOpen, Escalation, Store
from agi_scripts.storage.base import TranscriptSegment
from agi_scripts.storage.transcripts import TranscriptStore, new_transcript

T0 = datetime(2026, 3, 14, 9, 0, 0, tzinfo=timezone.utc)
SEGMENTS = (TranscriptSegment(3.5, 5.0, "agent", "Please stay polite."),
            TranscriptSegment(0.4, 2.8, "caller", "Jij bent een idioot, klootzak."))


def flagged_call(store: Store, call_id: str, recording: str | None, *, caller: str = "+3225551234",
                 language: str = "nl") -> int:
    store.record_call_start(call_id, caller=caller, queue="support", language=language, route="support",
                            started_at=T0)
    booked = store.book_escalation(Escalation(
        call_id=call_id, category="verbal", number_in_call=1, number_in_category=1, agent="PJSIP/anna",
        caller=caller, queue="support", at=T0 + timedelta(seconds=30), outcome="disconnect", team="special_care",
        case=CaseToOpen(team="special_care", priority=2, recording=recording)))
    assert booked.case_id is not None
    return booked.case_id


def spoken_compliment(store: Store, call_id: str, recording: str, *, caller: str = "+3225550000",
                      language: str = "fr") -> int:
    store.record_call_start(call_id, caller=caller, queue="support", language=language, route="support",
                            started_at=T0)
    compliment = store.start_compliment(call_id, agent="PJSIP/anna", queue="support", campaign=None, at=T0)
    store.set_compliment_recording(compliment, recording, at=T0 + timedelta(seconds=60))
    return compliment


def test_recordings_without_a_transcript_wait_compliments_first_with_the_calls_language(store: Store) -> None:
    case_id = flagged_call(store, "c1", "/rec/evidence/2026/03/c1.wav")
    flagged_call(store, "c2", None)  # no evidence: nothing to transcribe
    compliment = spoken_compliment(store, "c3", "/rec/compliments/2026/03/c3.wav")
    jobs = TranscriptStore(store).pending(10)
    assert [(job.kind, job.recording, job.call_id, job.language, job.owner_id) for job in jobs] == [
        ("compliment", "/rec/compliments/2026/03/c3.wav", "c3", "fr", compliment),
        ("evidence", "/rec/evidence/2026/03/c1.wav", "c1", "nl", case_id)]
    assert jobs[0].since.tzinfo is not None and jobs[1].since == T0 + timedelta(seconds=30)
    assert len(TranscriptStore(store).pending(1)) == 1 and TranscriptStore(store).pending(0) == []


def test_a_saved_transcript_is_read_back_ordered_and_the_recording_waits_no_more(store: Store) -> None:
    flagged_call(store, "c1", "/rec/evidence/2026/03/c1.wav")
    transcripts = TranscriptStore(store)
    job = transcripts.pending(5)[0]
    saved = new_transcript(job, language="nl", model="whisper-base", segments=SEGMENTS, at=T0 + timedelta(hours=1))
    assert transcripts.save(saved) is True
    assert transcripts.save(saved) is False  # a second worker's copy is not written
    back = transcripts.get("/rec/evidence/2026/03/c1.wav")
    assert back is not None
    assert [(s.start, s.speaker, s.text) for s in back.segments] == [
        (0.4, "caller", "Jij bent een idioot, klootzak."), (3.5, "agent", "Please stay polite.")]
    assert (back.kind, back.call_id, back.status, back.language, back.model) == (
        "evidence", "c1", "done", "nl", "whisper-base")
    assert back.created_at == T0 + timedelta(hours=1)
    assert transcripts.pending(5) == []
    assert set(transcripts.of_recordings(["/rec/evidence/2026/03/c1.wav", None, "/other.wav"])) == {
        "/rec/evidence/2026/03/c1.wav"}


def test_a_skipped_recording_keeps_why_and_is_not_offered_again(store: Store) -> None:
    spoken_compliment(store, "c3", "/rec/c3.wav")
    transcripts = TranscriptStore(store)
    job = transcripts.pending(5)[0]
    assert transcripts.save(new_transcript(job, language="fr", model="m", segments=(), skipped=True,
                                           note="longer than 600 s"))
    back = transcripts.get("/rec/c3.wav")
    assert back is not None and (back.status, back.note, back.segments) == ("skipped", "longer than 600 s", ())
    assert transcripts.pending(5) == []


def test_a_transcript_of_a_recording_forgotten_meanwhile_is_not_kept(store: Store) -> None:
    flagged_call(store, "c1", "/rec/c1.wav")
    transcripts = TranscriptStore(store)
    job = transcripts.pending(5)[0]
    store.forget_recording("/rec/c1.wav", reason="retention")  # the case keeps the path, with an event
    assert transcripts.pending(5) == []  # a deleted recording is not offered (nor given a "missing" note)
    compliment = spoken_compliment(store, "c9", "/rec/c9.wav")
    job9 = [j for j in transcripts.pending(5) if j.owner_id == compliment and j.kind == "compliment"][0]
    store.forget_recording("/rec/c9.wav", reason="retention")  # the compliment lets go of its path
    assert transcripts.save(new_transcript(job9, language="fr", model="m", segments=SEGMENTS)) is False
    assert transcripts.get("/rec/c9.wav") is None
    assert transcripts.save(new_transcript(job, language="nl", model="m", segments=SEGMENTS)) is False
    # (a case's path stays after its file is deleted; the transcript of a forgotten file is still refused
    # when a worker finishes it late: the case has a recording_deleted event)


def test_forgetting_a_recording_forgets_its_transcript(store: Store) -> None:
    flagged_call(store, "c1", "/rec/c1.wav")
    spoken_compliment(store, "c3", "/rec/c3.wav")
    transcripts = TranscriptStore(store)
    for job in transcripts.pending(5):
        transcripts.save(new_transcript(job, language="nl", model="m", segments=SEGMENTS))
    store.forget_recording("/rec/c1.wav", reason="retention: evidence kept 365 days after close")
    assert transcripts.get("/rec/c1.wav") is None
    assert transcripts.get("/rec/c3.wav") is not None
    store.forget_recording("/rec/c3.wav", reason="retention")
    assert transcripts.get("/rec/c3.wav") is None


def test_a_callers_records_carry_the_transcripts_of_their_evidence_and_compliments(store: Store) -> None:
    flagged_call(store, "c1", "/rec/c1.wav", caller="+32470999999")
    spoken_compliment(store, "c3", "/rec/c3.wav", caller="+32470999999")
    spoken_compliment(store, "c4", "/rec/c4.wav", caller="+32470111111")
    transcripts = TranscriptStore(store)
    for job in transcripts.pending(5):
        transcripts.save(new_transcript(job, language="nl", model="m", segments=SEGMENTS))
    records = store.caller_records("+32470999999")
    assert sorted(t.recording for t in records.transcripts) == ["/rec/c1.wav", "/rec/c3.wav"]
    assert store.caller_records("").transcripts == ()


def test_hostile_text_is_stored_as_given_and_bounded(store: Store) -> None:
    flagged_call(store, "c1", "/rec/c1.wav")
    transcripts = TranscriptStore(store)
    job = transcripts.pending(5)[0]
    nasty = "'; DROP TABLE cases; -- <script>\u202e" + "x" * 5000
    transcripts.save(new_transcript(job, language="nl", model="m",
                                    segments=(TranscriptSegment(0, 1, "caller", nasty),)))
    back = transcripts.get("/rec/c1.wav")
    assert back is not None and back.segments[0].text == nasty[:2000]
    assert store.get_case(1) is not None
