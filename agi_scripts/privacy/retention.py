"""Retention of recordings (GDPR storage limitation), as ``retention`` in respectline.yaml sets it.

Every file under the recordings folder falls in one of three kinds:
- **case evidence**: the recording of a case. Kept while any case pointing at it is open or
  assigned, and for ``evidence_after_close`` after the last of them was closed.
- **flag evidence without a case**: a call that was warned but never led to a case still has its
  recording under ``evidence/``. It is evidence of an incident in the register, so it is kept for
  ``evidence_after_close`` after it was made, as if its case had closed at once.
- **everything else** (spoken compliments, recordings Respectline does not know): deleted
  ``unflagged_recordings`` after it was made (a compliment's time, else the file's mtime).

Caller numbers age the same way: a call's number is blanked ``unflagged_recordings`` after the call,
an incident's ``evidence_after_close`` after it unless its case is still open. Cases keep theirs
(Special Care calls back; a caller's erasure request removes it).

Deciding (``plan_purge``) is pure and separate from doing (``apply_retention``), so the CLI can
show a dry run and tests can check every rule without a clock or a disk.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from agi_scripts.config.settings import RetentionSettings
from agi_scripts.storage.base import UTC, Case, Compliment, Store, StoreError, as_utc

log = logging.getLogger("respectline.retention")

RecordingKind = Literal["case_evidence", "flag_evidence", "compliment", "unknown"]


@dataclass(frozen=True)
class RecordingFile:
    path: Path
    modified_at: datetime


@dataclass(frozen=True)
class RetentionDecision:
    path: Path
    kind: RecordingKind
    delete: bool
    keep_until: datetime | None
    """None: kept with no end in sight (a case still open)."""
    reason: str


@dataclass(frozen=True)
class PurgeSummary:
    deleted: tuple[RetentionDecision, ...]
    kept: tuple[RetentionDecision, ...]
    failed: tuple[tuple[Path, str], ...]
    calls_anonymised: int = 0
    """Calls older than ``unflagged_recordings`` whose caller number was blanked by this run."""
    incidents_anonymised: int = 0
    """Incidents older than ``evidence_after_close``, with no open case, whose number was blanked."""


def recording_files(recordings_dir: Path) -> Iterator[RecordingFile]:
    """Regular files under the folder; symbolic links are neither followed nor touched."""
    for folder, dirs, files in os.walk(recordings_dir, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder) / name
            try:
                status = path.lstat()
            except OSError:
                continue  # deleted meanwhile
            if path.is_symlink() or not path.is_file():
                continue
            yield RecordingFile(path, datetime.fromtimestamp(status.st_mtime, UTC))


def plan_purge(files: Iterable[RecordingFile], *, cases: Sequence[Case], compliments: Sequence[Compliment],
               recordings_dir: Path, retention: RetentionSettings, now: datetime) -> list[RetentionDecision]:
    now = as_utc(now)
    cases_by_path: dict[str, list[Case]] = {}
    for case in cases:
        if case.recording:
            cases_by_path.setdefault(_key(case.recording), []).append(case)
    compliment_times = {_key(c.recording): c.created_at for c in compliments if c.recording}
    evidence_dir = recordings_dir / "evidence"
    decisions = []
    for file in files:
        key = _key(str(file.path))
        if key in cases_by_path:
            decisions.append(_case_evidence(file.path, cases_by_path[key], retention, now))
        elif file.path.is_relative_to(evidence_dir):
            until = file.modified_at + timedelta(seconds=retention.evidence_after_close)
            decisions.append(_by_age(file.path, "flag_evidence", until, now, "flag evidence without a case"))
        elif key in compliment_times:
            until = compliment_times[key] + timedelta(seconds=retention.unflagged_recordings)
            decisions.append(_by_age(file.path, "compliment", until, now, "spoken compliment"))
        else:
            until = file.modified_at + timedelta(seconds=retention.unflagged_recordings)
            decisions.append(_by_age(file.path, "unknown", until, now, "recording of an unflagged call"))
    return decisions


def apply_retention(store: Store, recordings_dir: Path, retention: RetentionSettings, *, now: datetime,
                     dry_run: bool = False) -> PurgeSummary:
    """Delete the recordings retention says are due (telling the store) and blank old caller
    numbers; one failure does not stop the rest. ``dry_run`` changes nothing."""
    decisions = plan_purge(recording_files(recordings_dir), cases=store.list_cases(),
                           compliments=store.list_compliments(), recordings_dir=recordings_dir,
                           retention=retention, now=now)
    due = [d for d in decisions if d.delete]
    kept = tuple(d for d in decisions if not d.delete)
    if dry_run:
        return PurgeSummary(tuple(due), kept, ())
    deleted, failed = [], []
    for decision in due:
        try:
            decision.path.unlink(missing_ok=True)
            store.forget_recording(str(decision.path), reason=f"retention: {decision.reason}", at=now)
        except (OSError, StoreError) as error:
            failed.append((decision.path, str(error)))
            log.warning("retention: could not delete %s: %s", decision.path, error)
            continue
        deleted.append(decision)
    _remove_empty_folders(recordings_dir, older_than=now - timedelta(days=1))
    calls, incidents = store.forget_callers(
        calls_before=now - timedelta(seconds=retention.unflagged_recordings),
        incidents_before=now - timedelta(seconds=retention.evidence_after_close))
    log.info("retention: %d recording(s) deleted, %d kept, %d failed; caller number blanked on %d call(s) and "
             "%d incident(s)", len(deleted), len(kept), len(failed), calls, incidents)
    return PurgeSummary(tuple(deleted), kept, tuple(failed), calls, incidents)


def evidence_still_needed(case: Case, retention: RetentionSettings, now: datetime) -> bool:
    """An open case, or one closed less than ``evidence_after_close`` ago (also used by erasure)."""
    if case.status != "closed" or case.closed_at is None:
        return True
    return as_utc(now) < case.closed_at + timedelta(seconds=retention.evidence_after_close)


def _case_evidence(path: Path, cases: Sequence[Case], retention: RetentionSettings,
                   now: datetime) -> RetentionDecision:
    ids = ", ".join(str(case.id) for case in cases)
    live = [case for case in cases if case.status != "closed" or case.closed_at is None]
    if live:
        return RetentionDecision(path, "case_evidence", False, None, f"evidence of open case {live[0].id}")
    last_closed = max(case.closed_at for case in cases if case.closed_at is not None)
    until = last_closed + timedelta(seconds=retention.evidence_after_close)
    return _by_age(path, "case_evidence", until, now, f"evidence of closed case {ids}")


def _by_age(path: Path, kind: RecordingKind, until: datetime, now: datetime, what: str) -> RetentionDecision:
    if now >= until:
        return RetentionDecision(path, kind, True, until, f"{what}, retention ended {until:%Y-%m-%d}")
    return RetentionDecision(path, kind, False, until, f"{what}, kept until {until:%Y-%m-%d}")


def _key(path: str) -> str:
    """Paths compared as the store holds them: absolute and normalised, no symlink resolution."""
    return os.path.normpath(os.path.abspath(path))


def _remove_empty_folders(root: Path, *, older_than: datetime) -> None:
    """``compliments/2025/01`` and the like, once emptied; the root itself stays. A folder changed
    in the last day is left alone: a handler may just have made it for a recording about to start."""
    for folder, _dirs, _files in sorted(os.walk(root), key=lambda entry: -len(entry[0])):
        path = Path(folder)
        try:
            if path == root or datetime.fromtimestamp(path.stat().st_mtime, UTC) > older_than:
                continue
            path.rmdir()
        except OSError:
            pass  # not empty, or not ours to remove
