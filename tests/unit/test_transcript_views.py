"""Transcripts where people read them, through the real CLI on a real store (SQLite and PostgreSQL):
``cases show``, ``cases list --format json``, the incident report (Markdown, and the PDF's page text
as pypdf extracts it), ``privacy export``; and gone with their recording after ``privacy erase``."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from io import BytesIO
from pathlib import Path

import pytest
from pypdf import PdfReader

from agi_scripts.cli.main import main
from agi_scripts.storage import CaseToOpen, Escalation, Store
from agi_scripts.storage.base import TranscriptSegment
from agi_scripts.storage.transcripts import TranscriptStore, new_transcript
from tests.support.cli_runner import Cli
from tests.support.config_tree import ConfigTree

UTC = timezone.utc
RECENT = datetime.now(UTC) - timedelta(days=3)
CALLER = "+32470123456"
SEGMENTS = (TranscriptSegment(0.8, 2.9, "caller", "Jij bent een idioot."),
            TranscriptSegment(3.1, 4.0, "agent", "Ik verbreek dit gesprek."),
            TranscriptSegment(4.2, 6.5, "caller", "Ik maak je kapot, <b>klootzak</b> *1"))


def flagged(store: Store, recordings: Path, call_id: str = "1700000000.7", caller: str = CALLER) -> int:
    evidence = recordings / "evidence" / "2026" / "12" / f"{call_id}.wav"
    evidence.parent.mkdir(parents=True, exist_ok=True)
    evidence.write_bytes(b"RIFF" + b"\x01" * 4000)
    store.record_call_start(call_id, caller=caller, queue="billing", language="nl", route="billing",
                            agent="PJSIP/agent1", started_at=RECENT)
    booked = store.book_escalation(Escalation(
        call_id=call_id, category="verbal_abuse", number_in_call=1, number_in_category=1, agent="PJSIP/agent1",
        caller=caller, queue="billing", at=RECENT + timedelta(seconds=8), outcome="disconnect", team="special_care",
        case=CaseToOpen(team="special_care", priority=2, recording=str(evidence))))
    assert booked.case_id is not None
    return booked.case_id


def transcribe_all(store: Store) -> None:
    transcripts = TranscriptStore(store)
    for job in transcripts.pending(10):
        transcripts.save(new_transcript(job, language="nl", model="whisper-base (test model)", segments=SEGMENTS,
                                        at=RECENT + timedelta(minutes=1)))


@pytest.fixture
def recordings(config_tree: ConfigTree) -> Path:
    return config_tree.root / "var" / "recordings"


def test_cases_show_prints_the_transcript_with_times_and_speakers(cli: Cli, store: Store, recordings: Path) -> None:
    case_id = flagged(store, recordings)
    assert "Transcript" not in cli.ok("cases", "show", str(case_id))  # none yet: nothing is promised
    transcribe_all(store)
    shown = cli.ok("cases", "show", str(case_id))
    assert "Transcript (language nl, model whisper-base (test model)):" in shown
    assert "[00:00.8] caller: Jij bent een idioot." in shown
    assert "[00:03.1] agent: Ik verbreek dit gesprek." in shown
    assert shown.index("idioot") < shown.index("verbreek") < shown.index("kapot")


def test_cases_list_and_show_json_carry_the_transcript_segments(cli: Cli, store: Store, recordings: Path) -> None:
    case_id = flagged(store, recordings)
    other = flagged(store, recordings, "1700000000.9")
    transcripts = TranscriptStore(store)
    job = next(j for j in transcripts.pending(10) if j.owner_id == case_id)
    transcripts.save(new_transcript(job, language="nl", model="m", segments=SEGMENTS))
    listed = cli.json("cases", "list")
    assert isinstance(listed, list)
    by_id = {row["id"]: row for row in listed}
    assert by_id[other]["transcript"] is None
    transcript = by_id[case_id]["transcript"]
    assert transcript["language"] == "nl" and transcript["status"] == "done"
    assert transcript["segments"][0] == {"start": 0.8, "end": 2.9, "speaker": "caller", "text": "Jij bent een idioot."}
    assert [s["speaker"] for s in transcript["segments"]] == ["caller", "agent", "caller"]
    shown = cli.json("cases", "show", str(case_id))
    assert isinstance(shown, dict) and shown["transcript"] == transcript


def test_the_incident_report_holds_the_transcript_beside_the_recordings_hash(cli: Cli, store: Store,
                                                                            recordings: Path) -> None:
    case_id = flagged(store, recordings)
    transcribe_all(store)
    report = cli.ok("cases", "export", str(case_id), "--format", "markdown")
    recording_part = report[report.index("## Recording (evidence)"):]
    assert recording_part.index("SHA-256") < recording_part.index("## Transcript")
    assert "**Transcript:** below (language nl" in report
    assert "\\[00:00.8\\] caller: Jij bent een idioot." in report
    assert "\\<b\\>klootzak\\</b\\> \\*1" in report  # caller's words cannot become Markdown or HTML


def test_the_incident_report_pdf_shows_the_transcripts_words(cli: Cli, store: Store, recordings: Path,
                                                            tmp_path: Path) -> None:
    case_id = flagged(store, recordings)
    transcribe_all(store)
    out = tmp_path / "case.pdf"
    code, _, err = cli.run("cases", "export", str(case_id), "--format", "pdf", "--out", str(out))
    assert code == 0, err
    text = "\n".join(page.extract_text() for page in PdfReader(BytesIO(out.read_bytes())).pages)
    assert "Transcript" in text and "SHA-256" in text
    assert "caller: Jij bent een idioot." in text
    assert "agent: Ik verbreek dit gesprek." in text
    assert "kapot" in text


def test_a_skipped_recording_says_why_instead_of_words(cli: Cli, store: Store, recordings: Path) -> None:
    case_id = flagged(store, recordings)
    transcripts = TranscriptStore(store)
    job = transcripts.pending(10)[0]
    transcripts.save(new_transcript(job, language="nl", model="m", segments=(), skipped=True,
                                    note="longer than 900 s (1200 s)"))
    assert "not transcribed: longer than 900 s (1200 s)" in cli.ok("cases", "show", str(case_id))


def test_privacy_export_holds_the_transcripts_and_erase_takes_a_compliments_with_its_voice(
        store: Store, config_tree: ConfigTree, store_url: str, recordings: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    flagged(store, recordings)
    voice = recordings / "compliments" / "2026" / "12" / "1700000001-3.wav"
    voice.parent.mkdir(parents=True, exist_ok=True)
    voice.write_bytes(b"RIFF....WAVE")
    store.record_call_start("1700000001.3", caller=CALLER, queue="support", language="fr", route="support",
                            started_at=RECENT)
    compliment = store.start_compliment("1700000001.3", agent="PJSIP/agent1", queue="support", campaign=None,
                                        at=RECENT)
    store.set_compliment_recording(compliment, str(voice), at=RECENT)
    transcribe_all(store)
    out = tmp_path / "export.json"
    argv = ["--config", str(config_tree.config), "--db", store_url]
    assert main(["privacy", "export", "--caller", CALLER, "--out", str(out), *argv]) == 0
    exported = json.loads(out.read_text())
    assert sorted(t["kind"] for t in exported["transcripts"]) == ["compliment", "evidence"]
    assert all(t["segments"][0]["text"] == "Jij bent een idioot." for t in exported["transcripts"])

    assert main(["privacy", "erase", "--caller", CALLER, "--yes", *argv]) == 0
    capsys.readouterr()
    assert not voice.exists()
    transcripts = TranscriptStore(store)
    assert transcripts.get(str(voice)) is None  # erased with the voice
    evidence = store.list_cases()[0].recording
    assert evidence is not None and transcripts.get(evidence) is not None  # the open case's evidence is kept
