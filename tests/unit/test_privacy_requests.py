"""A caller's GDPR requests through the real CLI on a real store: export everything, erase what may go."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from agi_scripts.cli.main import main
from agi_scripts.storage import CaseToOpen, Escalation, Store
from tests.support.config_tree import ConfigTree

UTC = timezone.utc
CALLER = "+32470123456"
OTHER = "+32470999999"
RECENT = datetime.now(UTC) - timedelta(days=10)
LONG_AGO = datetime.now(UTC) - timedelta(days=900)


def run(config: ConfigTree, db: str, *argv: str) -> int:
    return main([*argv, "--config", str(config.config), "--db", db])


def recording(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"RIFF....WAVE")
    return path


def a_call(store: Store, call_id: str, caller: str, at: datetime) -> None:
    store.record_call_start(call_id, caller=caller, queue="support", language="nl", route="support",
                            agent="anna", started_at=at)


def a_compliment(store: Store, call_id: str, path: Path, at: datetime) -> int:
    compliment_id = store.start_compliment(call_id, agent="anna", queue="support", campaign=None, at=at)
    store.set_compliment_rating(compliment_id, 4, at=at)
    store.set_compliment_recording(compliment_id, str(path), at=at)
    return compliment_id


def a_flag(call_id: str, caller: str, at: datetime, *, number: int = 1, case: CaseToOpen | None = None) -> Escalation:
    return Escalation(call_id=call_id, category="verbal_abuse", number_in_call=number, number_in_category=number,
                      agent="anna", caller=caller, queue="support", at=at,
                      outcome="disconnect" if case else "warn", team="special_care", case=case)


def a_case(store: Store, call_id: str, caller: str, path: Path | None, at: datetime, *, closed: bool) -> int:
    """The call's next flag, opening a case, as the ladder books it."""
    number = len(store.list_incidents(call_id=call_id)) + 1
    booked = store.book_escalation(a_flag(call_id, caller, at, number=number, case=CaseToOpen(
        team="special_care", priority=2, recording=str(path) if path else None)))
    assert booked.case_id is not None
    if closed:
        store.close_case(booked.case_id, "called back", at=at + timedelta(days=1))
    return booked.case_id


@pytest.fixture
def recordings(config_tree: ConfigTree) -> Path:
    return config_tree.root / "var" / "recordings"


@pytest.fixture
def db(store_url: str) -> str:
    return store_url


def test_export_holds_the_callers_calls_compliments_cases_and_recordings_and_nobody_elses(
        store: Store, config_tree: ConfigTree, db: str, recordings: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    voice = recording(recordings / "compliments" / "2026" / "11", "1-1.wav")
    a_call(store, "1.1", CALLER, RECENT)
    a_compliment(store, "1.1", voice, RECENT)
    a_call(store, "1.2", CALLER, RECENT)
    case_id = a_case(store, "1.2", CALLER, None, RECENT, closed=False)
    a_call(store, "9.9", OTHER, RECENT)
    out = tmp_path / "export.json"
    copies = tmp_path / "copies"

    assert run(config_tree, db, "privacy", "export", "--caller", CALLER, "--out", str(out),
               "--copy-recordings", str(copies)) == 0

    exported = json.loads(out.read_text())
    assert [c["call_id"] for c in exported["calls"]] == ["1.1", "1.2"]
    assert [c["rating"] for c in exported["compliments"]] == [4]
    assert [c["id"] for c in exported["cases"]] == [case_id]
    assert [i["call_id"] for i in exported["incidents"]] == ["1.2"]
    assert exported["recordings"] == [{"path": str(voice), "exists": True}]
    assert OTHER not in out.read_text()
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600, "personal data: readable by its owner only"
    assert (copies / "compliments-1-1.wav").read_bytes() == voice.read_bytes()


def test_erase_without_yes_changes_nothing(store: Store, config_tree: ConfigTree, db: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    a_call(store, "2.1", CALLER, RECENT)

    assert run(config_tree, db, "privacy", "erase", "--caller", CALLER) == 2

    assert "--yes" in capsys.readouterr().err
    assert store.get_call("2.1") is not None


def test_erase_deletes_calls_and_compliment_voices_keeps_ratings_and_register_counts(
        store: Store, config_tree: ConfigTree, db: str, recordings: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    voice = recording(recordings / "compliments" / "2026" / "11", "3-1.wav")
    a_call(store, "3.1", CALLER, RECENT)
    compliment_id = a_compliment(store, "3.1", voice, RECENT)
    old_evidence = recording(recordings / "evidence" / "2024" / "01", "3.2.wav")
    a_call(store, "3.2", CALLER, LONG_AGO)
    old_case = a_case(store, "3.2", CALLER, old_evidence, LONG_AGO, closed=True)
    a_call(store, "9.9", OTHER, RECENT)
    counted_before = store.incident_counts(["category"])

    assert run(config_tree, db, "privacy", "erase", "--caller", CALLER, "--yes", "--format", "json") == 0

    answer = json.loads(capsys.readouterr().out)
    assert answer["calls_deleted"] == 2 and answer["cases_kept_as_evidence"] == []
    assert sorted(answer["recordings_deleted"]) == sorted([str(voice), str(old_evidence)])
    assert not voice.exists() and not old_evidence.exists()
    assert store.get_call("3.1") is None and store.get_call("9.9") is not None
    compliment = store.get_compliment(compliment_id)
    assert compliment is not None and compliment.rating == 4 and compliment.recording is None
    case = store.get_case(old_case)
    assert case is not None and case.caller == ""
    assert store.incident_counts(["category"]) == counted_before
    remaining = store.caller_records(CALLER)
    assert (remaining.calls, remaining.compliments, remaining.incidents, remaining.cases) == ((), (), (), ())


def test_erase_keeps_the_evidence_of_an_open_case_and_says_so(
        store: Store, config_tree: ConfigTree, db: str, recordings: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    evidence = recording(recordings / "evidence" / "2026" / "11", "4.1.wav")
    a_call(store, "4.1", CALLER, RECENT)
    case_id = a_case(store, "4.1", CALLER, evidence, RECENT, closed=False)

    assert run(config_tree, db, "privacy", "erase", "--caller", CALLER, "--yes") == 0

    out = capsys.readouterr().out
    assert f"kept as evidence (open, or closed within retention.evidence_after_close): case {case_id}" in out
    assert evidence.exists()
    case = store.get_case(case_id)
    assert case is not None and case.caller == CALLER
    assert case.events[-1].action == "erasure_refused"
    assert [i.caller for i in store.list_incidents(call_id="4.1")] == [CALLER]


def test_erase_never_deletes_a_file_outside_the_recordings_folder(
        store: Store, config_tree: ConfigTree, db: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    outside = recording(tmp_path / "elsewhere", "precious.wav")
    a_call(store, "5.1", CALLER, RECENT)
    a_compliment(store, "5.1", outside, RECENT)

    assert run(config_tree, db, "privacy", "erase", "--caller", CALLER, "--yes", "--format", "json") == 0

    answer = json.loads(capsys.readouterr().out)
    assert outside.exists()
    assert answer["recordings_not_deleted"][0]["path"] == str(outside)
    assert "outside the recordings folder" in answer["recordings_not_deleted"][0]["reason"]


def test_a_blank_caller_number_is_refused_withheld_callers_are_nobody(
        config_tree: ConfigTree, db: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run(config_tree, db, "privacy", "erase", "--caller", "  ", "--yes")
    assert "cannot be empty" in capsys.readouterr().err


def test_purge_command_deletes_what_is_due_and_reports_it(
        store: Store, config_tree: ConfigTree, db: str, recordings: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    stale = recording(recordings / "compliments" / "2024" / "01", "6-1.wav")
    long_ago = LONG_AGO.timestamp()
    os.utime(stale, (long_ago, long_ago))
    fresh = recording(recordings / "compliments" / "2026" / "11", "6-2.wav")

    assert run(config_tree, db, "privacy", "purge", "--dry-run") == 0
    assert stale.exists() and "1 would delete, 1 kept" in capsys.readouterr().out

    assert run(config_tree, db, "privacy", "purge") == 0
    assert not stale.exists() and fresh.exists()
    assert "1 deleted, 1 kept, 0 failed" in capsys.readouterr().out


def test_a_case_opened_while_the_erasure_runs_is_kept_by_the_store_itself(store: Store) -> None:
    a_call(store, "7.1", CALLER, RECENT)
    opened = a_case(store, "7.1", CALLER, None, RECENT, closed=False)
    closed_long_ago = a_case(store, "7.2", CALLER, None, LONG_AGO, closed=True)

    # The store is told only the retention cut-off, not which cases to keep.
    erasure = store.erase_caller(CALLER, evidence_closed_before=datetime.now(UTC) - timedelta(days=365))

    assert erasure.cases_kept == (opened,) and erasure.cases_anonymised == 1
    kept, erased = store.get_case(opened), store.get_case(closed_long_ago)
    assert kept is not None and kept.caller == CALLER
    assert erased is not None and erased.caller == ""


def test_erasure_never_deletes_a_recording_another_kept_case_points_at(
        store: Store, config_tree: ConfigTree, db: str, recordings: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    shared = recording(recordings / "evidence" / "2024" / "01", "8.1.wav")
    a_case(store, "8.1", CALLER, shared, LONG_AGO, closed=True)
    withheld = a_case(store, "8.1", "", shared, LONG_AGO, closed=False)

    assert run(config_tree, db, "privacy", "erase", "--caller", CALLER, "--yes", "--format", "json") == 0

    answer = json.loads(capsys.readouterr().out)
    assert shared.exists() and answer["recordings_deleted"] == []
    case = store.get_case(withheld)
    assert case is not None and case.recording == str(shared)


def test_a_warned_call_without_a_case_has_its_evidence_exported_and_kept_on_erasure(
        store: Store, config_tree: ConfigTree, db: str, recordings: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    evidence = recording(recordings / "evidence" / f"{RECENT:%Y}" / f"{RECENT:%m}", "9.1.wav")
    a_call(store, "9.1", CALLER, RECENT)
    store.book_escalation(a_flag("9.1", CALLER, RECENT))

    assert run(config_tree, db, "privacy", "export", "--caller", CALLER) == 0
    assert {"path": str(evidence), "exists": True} in json.loads(capsys.readouterr().out)["recordings"]

    assert run(config_tree, db, "privacy", "erase", "--caller", CALLER, "--yes", "--format", "json") == 0
    [kept] = json.loads(capsys.readouterr().out)["recordings_kept_as_evidence"]
    assert kept["path"] == str(evidence) and "kept until" in kept["reason"]
    assert evidence.exists()


def test_erasure_does_not_follow_a_symbolic_link_out_of_the_recordings_folder(
        store: Store, config_tree: ConfigTree, db: str, recordings: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    outside = tmp_path / "elsewhere"
    precious = recording(outside, "precious.wav")
    recordings.mkdir(parents=True, exist_ok=True)
    (recordings / "compliments").symlink_to(outside, target_is_directory=True)
    a_call(store, "10.1", CALLER, RECENT)
    a_compliment(store, "10.1", recordings / "compliments" / "precious.wav", RECENT)

    assert run(config_tree, db, "privacy", "erase", "--caller", CALLER, "--yes", "--format", "json") == 0

    assert precious.exists()
    assert "outside the recordings folder" in json.loads(capsys.readouterr().out)["recordings_not_deleted"][0]["reason"]


@pytest.mark.parametrize("action", [("purge",), ("erase", "--caller", CALLER, "--yes")])
def test_deleting_commands_refuse_without_a_readable_config_rather_than_guess_retention(
        action: tuple[str, ...], store: Store, db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a_call(store, "11.1", CALLER, RECENT)

    code = main(["privacy", *action, "--config", str(tmp_path / "missing.yaml"), "--db", db])

    assert code == 1 and "nothing was deleted" in capsys.readouterr().err
    assert store.get_call("11.1") is not None
