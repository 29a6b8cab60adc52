"""Retention of recordings: which file goes when, on a real store and real files."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from agi_scripts.config.settings import RetentionSettings
from agi_scripts.privacy.retention import apply_retention
from agi_scripts.privacy.sweeper import RetentionSweeper
from agi_scripts.storage import CaseToOpen, Escalation, EscalationBooked, Store

UTC = timezone.utc
DAY = 86400.0
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
RETENTION = RetentionSettings(unflagged_recordings=30 * DAY, evidence_after_close=365 * DAY)


def recording(root: Path, relative: str, *, made: datetime) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF....WAVE")
    os.utime(path, (made.timestamp(), made.timestamp()))
    return path


def compliment_with_recording(store: Store, root: Path, call_id: str, *, made: datetime) -> tuple[int, Path]:
    path = recording(root, f"compliments/{made:%Y/%m}/{call_id.replace('.', '-')}.wav", made=made)
    compliment_id = store.start_compliment(call_id, agent="anna", queue="support", campaign=None, at=made)
    store.set_compliment_rating(compliment_id, 5, at=made)
    store.set_compliment_recording(compliment_id, str(path), at=made)
    return compliment_id, path


def case_with_evidence(store: Store, root: Path, call_id: str, *, made: datetime,
                       closed: datetime | None) -> tuple[int, Path]:
    path = recording(root, f"evidence/{made:%Y/%m}/{call_id}.wav", made=made)
    case = store.open_case(category="verbal_abuse", team="special_care", priority=2, caller="+32470123456",
                           agent="anna", queue="support", call_id=call_id, recording=str(path), at=made)
    if closed is not None:
        store.close_case(case.id, "called back", at=closed)
    return case.id, path


def flag(store: Store, call_id: str, caller: str, at: datetime, *, recording: Path | None = None,
         opens_case: bool = False) -> EscalationBooked:
    """A call's first flag as the ladder books it: a warning, or a disconnect that opens a case."""
    return store.book_escalation(Escalation(
        call_id=call_id, category="verbal_abuse", number_in_call=1, number_in_category=1, agent="anna",
        caller=caller, queue="support", at=at, outcome="disconnect" if opens_case else "warn",
        case=CaseToOpen(team="special_care", priority=2, recording=str(recording) if recording else None)
        if opens_case else None))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "recordings"
    folder.mkdir()
    return folder


def test_compliment_recording_is_deleted_after_the_unflagged_retention_and_the_rating_stays(
        store: Store, root: Path) -> None:
    old_id, old = compliment_with_recording(store, root, "1.1", made=NOW - timedelta(days=31))
    new_id, new = compliment_with_recording(store, root, "1.2", made=NOW - timedelta(days=29))

    summary = apply_retention(store, root, RETENTION, now=NOW)

    assert not old.exists() and new.exists()
    assert [d.path for d in summary.deleted] == [old]
    kept_old, kept_new = store.get_compliment(old_id), store.get_compliment(new_id)
    assert kept_old is not None and kept_old.recording is None and kept_old.rating == 5
    assert kept_new is not None and kept_new.recording == str(new)


def test_evidence_of_an_open_case_is_never_deleted_however_old(store: Store, root: Path) -> None:
    _case_id, path = case_with_evidence(store, root, "2.1", made=NOW - timedelta(days=3000), closed=None)

    summary = apply_retention(store, root, RETENTION, now=NOW)

    assert path.exists() and not summary.deleted
    assert "open case" in summary.kept[0].reason and summary.kept[0].keep_until is None


def test_evidence_is_kept_for_its_retention_after_the_case_closed_then_deleted_with_a_case_event(
        store: Store, root: Path) -> None:
    made = NOW - timedelta(days=800)
    case_id, path = case_with_evidence(store, root, "2.2", made=made, closed=NOW - timedelta(days=364))

    apply_retention(store, root, RETENTION, now=NOW)
    assert path.exists(), "closed 364 days ago: still within 365 days of evidence retention"

    apply_retention(store, root, RETENTION, now=NOW + timedelta(days=2))
    assert not path.exists()
    case = store.get_case(case_id)
    assert case is not None and case.recording == str(path), "the case keeps the reference to what existed"
    assert case.events[-1].action == "recording_deleted" and "retention" in case.events[-1].detail


def test_flag_evidence_without_a_case_follows_the_evidence_retention_not_the_short_one(
        store: Store, root: Path) -> None:
    warned_only = recording(root, "evidence/2025/01/3.1.wav", made=NOW - timedelta(days=100))
    expired = recording(root, "evidence/2024/01/3.2.wav", made=NOW - timedelta(days=400))

    apply_retention(store, root, RETENTION, now=NOW)

    assert warned_only.exists() and not expired.exists()


def test_compliment_files_the_store_does_not_know_follow_the_unflagged_retention(store: Store, root: Path) -> None:
    stale = recording(root, "compliments/2026/04/4.1.wav", made=NOW - timedelta(days=40))
    fresh = recording(root, "compliments/2026/05/4.2.wav", made=NOW - timedelta(days=1))

    apply_retention(store, root, RETENTION, now=NOW)

    assert not stale.exists() and fresh.exists()


def test_files_outside_respectlines_own_folders_are_never_touched(store: Store, root: Path) -> None:
    voicemail = recording(root, "voicemail/default/1234/INBOX/msg0000.wav", made=NOW - timedelta(days=3000))
    loose = recording(root, "old-recording.wav", made=NOW - timedelta(days=3000))

    summary = apply_retention(store, root, RETENTION, now=NOW)

    assert voicemail.exists() and loose.exists()
    assert not summary.deleted and not summary.kept


def test_evidence_of_an_open_case_is_kept_when_the_store_names_it_under_another_mount_point(
        store: Store, root: Path, tmp_path: Path) -> None:
    made = NOW - timedelta(days=3000)
    path = recording(root, "evidence/2018/03/9.1.wav", made=made)
    store.open_case(category="threat", team="security", priority=1, caller="+32470123456", agent="anna",
                    queue="support", call_id="9.1", recording=str(tmp_path / "mnt" / "evidence/2018/03/9.1.wav"),
                    at=made)
    by_call = recording(root, "evidence/2018/04/9.2.wav", made=made)
    store.open_case(category="threat", team="security", priority=1, caller="+32470123456", agent="anna",
                    queue="support", call_id="9.2", recording=None, at=made)

    apply_retention(store, root, RETENTION, now=NOW)

    assert path.exists(), "same recording, seen from another server's mount point"
    assert by_call.exists(), "named after the call of an open case"


def test_dry_run_lists_what_is_due_and_deletes_nothing(store: Store, root: Path) -> None:
    compliment_id, path = compliment_with_recording(store, root, "5.1", made=NOW - timedelta(days=90))

    summary = apply_retention(store, root, RETENTION, now=NOW, dry_run=True)

    assert [d.path for d in summary.deleted] == [path] and path.exists()
    compliment = store.get_compliment(compliment_id)
    assert compliment is not None and compliment.recording == str(path)


def test_a_symbolic_link_in_the_recordings_folder_is_neither_followed_nor_deleted(
        store: Store, root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    precious = recording(outside, "keep.wav", made=NOW - timedelta(days=999))
    (root / "link").symlink_to(outside, target_is_directory=True)
    (root / "file-link.wav").symlink_to(precious)

    apply_retention(store, root, RETENTION, now=NOW)

    assert precious.exists() and (root / "file-link.wav").is_symlink()


def test_an_emptied_month_folder_is_left_for_a_day_then_removed_by_a_later_sweep(
        store: Store, root: Path) -> None:
    _id, path = compliment_with_recording(store, root, "6.1", made=NOW - timedelta(days=90))

    apply_retention(store, root, RETENTION, now=datetime.now(UTC))
    assert not path.exists() and path.parent.is_dir(), "just emptied: a recording may be about to start there"

    apply_retention(store, root, RETENTION, now=datetime.now(UTC) + timedelta(days=2))
    assert not path.parent.exists() and root.is_dir()


def test_the_servers_sweeper_applies_retention_by_itself(store: Store, root: Path) -> None:
    _id, stale = compliment_with_recording(store, root, "7.1", made=NOW - timedelta(days=90))
    sweeper = RetentionSweeper(store, root, RETENTION, interval=0.05, clock=lambda: NOW)
    sweeper.start()
    try:
        deadline = time.monotonic() + 10
        while stale.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        sweeper.stop()
    assert not stale.exists()


def test_caller_numbers_age_out_of_calls_and_closed_incidents_but_not_out_of_open_cases(
        store: Store, root: Path) -> None:
    def call(call_id: str, at: datetime) -> None:
        store.record_call_start(call_id, caller="+32470123456", queue="support", language="nl", route="support",
                                started_at=at)

    call("8.1", NOW - timedelta(days=31))
    call("8.2", NOW - timedelta(days=29))
    old = NOW - timedelta(days=400)
    flag(store, "8.3", "+32470123456", old)
    evidence = recording(root, f"evidence/{old:%Y/%m}/8.4.wav", made=old)
    case_id = flag(store, "8.4", "+32470777777", old, recording=evidence, opens_case=True).case_id

    summary = apply_retention(store, root, RETENTION, now=NOW)

    assert (summary.calls_anonymised, summary.incidents_anonymised) == (1, 1)
    assert [store.get_call(c).caller for c in ("8.1", "8.2")] == ["", "+32470123456"]  # type: ignore[union-attr]
    assert [i.caller for i in store.list_incidents(call_id="8.3")] == [""]
    assert [i.caller for i in store.list_incidents(call_id="8.4")] == ["+32470777777"]
    case = store.get_case(case_id or 0)
    assert case is not None and case.caller == "+32470777777" and evidence.exists()


def test_the_warning_before_an_open_case_keeps_its_number_like_the_case(store: Store, root: Path) -> None:
    old = NOW - timedelta(days=400)
    flag(store, "12.1", "+32470123456", old)  # the warning: no case yet, so no case id
    case_with_evidence(store, root, "12.1", made=old + timedelta(minutes=1), closed=None)

    apply_retention(store, root, RETENTION, now=NOW)

    assert [i.caller for i in store.list_incidents(call_id="12.1")] == ["+32470123456"]


def test_a_cases_caller_number_ages_out_with_its_evidence_once_closed_long_enough(store: Store, root: Path) -> None:
    long_closed, _ = case_with_evidence(store, root, "13.1", made=NOW - timedelta(days=800),
                                        closed=NOW - timedelta(days=366))
    recently_closed, _ = case_with_evidence(store, root, "13.2", made=NOW - timedelta(days=400),
                                            closed=NOW - timedelta(days=10))
    still_open, _ = case_with_evidence(store, root, "13.3", made=NOW - timedelta(days=800), closed=None)

    summary = apply_retention(store, root, RETENTION, now=NOW)

    assert summary.cases_anonymised == 1
    callers = {case_id: store.get_case(case_id).caller  # type: ignore[union-attr]
               for case_id in (long_closed, recently_closed, still_open)}
    assert callers == {long_closed: "", recently_closed: "+32470123456", still_open: "+32470123456"}
