"""Recordings of calls back from the desk (``callbacks/case-<id>-<n>.wav``): kept while their case is, aged
out with its evidence, and listed in the caller's access report."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from agi_scripts.config.settings import RetentionSettings
from agi_scripts.privacy.requests import recordings_of
from agi_scripts.privacy.retention import apply_retention
from agi_scripts.storage import Store

UTC = timezone.utc
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
RETENTION = RetentionSettings(unflagged_recordings=30 * 86400.0, evidence_after_close=365 * 86400.0)
CALLER = "+32470123456"


def _file(root: Path, relative: str, made: datetime) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF....WAVE")
    os.utime(path, (made.timestamp(), made.timestamp()))
    return path


def _case(store: Store, call_id: str, made: datetime) -> int:
    return store.open_case(category="verbal_abuse", team="special_care", priority=2, caller=CALLER, agent="anna",
                           queue="support", call_id=call_id, at=made).id


def test_a_call_back_of_an_open_case_is_kept_however_old(store: Store, tmp_path: Path) -> None:
    made = NOW - timedelta(days=3000)
    case_id = _case(store, "9.1", made)
    path = _file(tmp_path, f"callbacks/case-{case_id}-0a1b2c3d4e5f6071.wav", made)
    summary = apply_retention(store, tmp_path, RETENTION, now=NOW)
    assert path.exists() and not summary.deleted
    [kept] = summary.kept
    assert kept.kind == "callback" and f"call back of open case {case_id}" in kept.reason


def test_a_call_back_goes_with_its_closed_case_s_evidence_retention(store: Store, tmp_path: Path) -> None:
    made = NOW - timedelta(days=800)
    case_id = _case(store, "9.2", made)
    store.close_case(case_id, "spoke_with_caller", at=NOW - timedelta(days=364))
    path = _file(tmp_path, f"callbacks/case-{case_id}-0a1b2c3d4e5f6071.wav", made)
    apply_retention(store, tmp_path, RETENTION, now=NOW)
    assert path.exists(), "closed 364 days ago: within the evidence retention"
    summary = apply_retention(store, tmp_path, RETENTION, now=NOW + timedelta(days=2))
    assert not path.exists() and [d.kind for d in summary.deleted] == ["callback"]


def test_a_call_back_of_no_known_case_ages_out_as_an_unflagged_recording(store: Store, tmp_path: Path) -> None:
    orphan = _file(tmp_path, "callbacks/case-424242-00ff.wav", NOW - timedelta(days=31))
    odd = _file(tmp_path, "callbacks/notes.wav", NOW - timedelta(days=29))
    summary = apply_retention(store, tmp_path, RETENTION, now=NOW)
    assert not orphan.exists() and odd.exists()
    assert {d.path for d in summary.deleted} == {orphan}


def test_the_callers_access_report_lists_the_calls_back_of_their_cases(store: Store, tmp_path: Path) -> None:
    case_id = _case(store, "9.3", NOW)
    mine = _file(tmp_path, f"callbacks/case-{case_id}-aa.wav", NOW)
    other = _file(tmp_path, f"callbacks/case-{case_id + 1}-bb.wav", NOW)
    listed = recordings_of(store.caller_records(CALLER), tmp_path)
    assert str(mine) in listed and str(other) not in listed
