"""Retention of recordings (GDPR storage limitation), as ``retention`` in respectline.yaml sets it.

Only the folders Respectline records into are swept, ``compliments/``, ``evidence/`` and
``callbacks/`` under ``paths.recordings``: anything else there (voicemail, an admin's own recordings) is
not ours to delete. A call back from the desk (``callbacks/case-<id>-<n>.wav``) is kept as its case's
evidence is. Every other file falls in one of three kinds:
- **case evidence**: the recording of a case. Kept while any case pointing at it is open or
  assigned, and for ``evidence_after_close`` after the last of them was closed.
- **flag evidence without a case**: a call that was warned but never led to a case still has its
  recording under ``evidence/``. It is evidence of an incident in the register, so it is kept for
  ``evidence_after_close`` after it was made, as if its case had closed at once.
- **everything else** (spoken compliments, files under ``compliments/`` the store does not know):
  deleted ``unflagged_recordings`` after it was made (a compliment's time, else the file's mtime).

A file and the store's path for it are matched by their last four parts
(``evidence/2025/01/<call>.wav``), so a recordings share mounted at another path on another server
still matches; and a file under ``evidence/`` named after the call of a case not closed is kept
whatever its path says.

Caller numbers age the same way: a call's number is blanked ``unflagged_recordings`` after the call,
an incident's ``evidence_after_close`` after it unless its case is still open, a case's
``evidence_after_close`` after it was closed.

Each sweep first runs again every erasure request still waiting for kept cases (``requests``), and
finishes those whose cases have aged out, before deciding about the recordings.

Deciding (``plan_purge``) is pure and separate from doing (``apply_retention``), so the CLI can
show a dry run and tests can check every rule without a clock or a disk.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from agi_scripts.config.settings import RetentionSettings
from agi_scripts.ground import call_spool
from agi_scripts.ground.beneath import unlink_beneath
from agi_scripts.privacy.requests import ErasureSweep, finish_pending_erasures
from agi_scripts.storage.base import UTC, Case, Compliment, Store, StoreError, as_utc

log = logging.getLogger("respectline.retention")

RecordingKind = Literal["case_evidence", "flag_evidence", "compliment", "callback", "unknown"]
SWEPT_FOLDERS = ("compliments", "evidence", "callbacks")
"""The folders under ``paths.recordings`` that Respectline records into; nothing else is touched."""
CALLBACK_FILE = re.compile(r"^case-([0-9]{1,18})-[0-9a-f]{1,32}\.wav$")
"""A call back from the desk (``desk.callback``): ``callbacks/case-<case id>-<call back id>.wav``."""


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
    cases_anonymised: int = 0
    """Cases closed longer than ``evidence_after_close`` ago whose number was blanked."""
    erasures: ErasureSweep = ErasureSweep()
    """The erasure requests that waited for kept cases: finished, still waiting, failed (a dry run
    only counts them as waiting)."""


def recording_files(recordings_dir: Path) -> Iterator[RecordingFile]:
    """Regular files in the swept folders; symbolic links are neither followed nor touched."""
    for kind in SWEPT_FOLDERS:
        root = recordings_dir / kind
        if root.is_dir() and not root.is_symlink():
            yield from _files_under(root)


def _files_under(root: Path) -> Iterator[RecordingFile]:
    for folder, dirs, files in os.walk(root, followlinks=False):
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
    open_by_call = {case.call_id: case for case in cases if case.status != "closed"}
    evidence_dir = recordings_dir / "evidence"
    callbacks_dir = recordings_dir / "callbacks"
    cases_by_id = {case.id: case for case in cases}
    decisions = []
    for file in files:
        if file.path.is_relative_to(callbacks_dir):
            decisions.append(_callback_recording(file, cases_by_id, retention, now))
            continue
        in_evidence = file.path.is_relative_to(evidence_dir)
        # A direction file (``<call>-caller.wav``, ``<call>-agent.wav``) lives and dies with its mixed file.
        mixed = call_spool.mixed_file_of(file.path) if in_evidence else file.path
        key = _key(str(mixed))
        if key in cases_by_path:
            decisions.append(_case_evidence(file.path, cases_by_path[key], retention, now))
        elif in_evidence and mixed.stem in open_by_call:
            case = open_by_call[mixed.stem]
            decisions.append(RetentionDecision(file.path, "case_evidence", False, None,
                                               f"evidence of open case {case.id} (by its call)"))
        elif in_evidence:
            until = file.modified_at + timedelta(seconds=retention.evidence_after_close)
            decisions.append(_by_age(file.path, "flag_evidence", until, now, "flag evidence without a case"))
        elif key in compliment_times:
            until = compliment_times[key] + timedelta(seconds=retention.unflagged_recordings)
            decisions.append(_by_age(file.path, "compliment", until, now, "spoken compliment"))
        else:
            until = file.modified_at + timedelta(seconds=retention.unflagged_recordings)
            decisions.append(_by_age(file.path, "unknown", until, now, "compliment recording the store does not know"))
    return decisions


def apply_retention(store: Store, recordings_dir: Path, retention: RetentionSettings, *, now: datetime,
                     dry_run: bool = False) -> PurgeSummary:
    """Finish the erasure requests that can be, delete the recordings retention says are due
    (telling the store) and blank old caller numbers; one failure does not stop the rest.
    ``dry_run`` changes nothing."""
    if dry_run:
        erasures = ErasureSweep(waiting=len(store.pending_erasures()))
    else:
        erasures = finish_pending_erasures(store, recordings_dir=recordings_dir, retention=retention, now=now)
    decisions = plan_purge(recording_files(recordings_dir), cases=store.list_cases(),
                           compliments=store.list_compliments(), recordings_dir=recordings_dir,
                           retention=retention, now=now)
    due = [d for d in decisions if d.delete]
    kept = tuple(d for d in decisions if not d.delete)
    if dry_run:
        return PurgeSummary(tuple(due), kept, (), erasures=erasures)
    deleted, failed = [], []
    for decision in due:
        try:
            unlink_beneath(recordings_dir, decision.path)  # through folder handles: a swapped-in link stops it
            store.forget_recording(str(decision.path), reason=f"retention: {decision.reason}", at=now)
        except (OSError, StoreError) as error:
            failed.append((decision.path, str(error)))
            log.warning("retention: could not delete %s: %s", decision.path, error)
            continue
        deleted.append(decision)
    for kind in SWEPT_FOLDERS:
        _remove_empty_folders(recordings_dir / kind, older_than=now - timedelta(days=1), keep_month=now)
    calls, incidents, cases = store.forget_callers(
        calls_before=now - timedelta(seconds=retention.unflagged_recordings),
        incidents_before=now - timedelta(seconds=retention.evidence_after_close))
    log.info("retention: %d recording(s) deleted, %d kept, %d failed; caller number blanked on %d call(s), "
             "%d incident(s) and %d closed case(s); erasure requests: %d finished, %d waiting, %d failed",
             len(deleted), len(kept), len(failed), calls, incidents, cases, erasures.finished, erasures.waiting,
             erasures.failed)
    return PurgeSummary(tuple(deleted), kept, tuple(failed), calls, incidents, cases, erasures)


def _callback_recording(file: RecordingFile, cases_by_id: dict[int, Case], retention: RetentionSettings,
                        now: datetime) -> RetentionDecision:
    """A call back lives as long as its case's evidence; one whose case is gone (or a file of another
    name) ages out as a recording nobody flagged."""
    match = CALLBACK_FILE.fullmatch(file.path.name)
    case = cases_by_id.get(int(match.group(1))) if match else None
    if case is None:
        until = file.modified_at + timedelta(seconds=retention.unflagged_recordings)
        return _by_age(file.path, "callback", until, now, "call back recording of no known case")
    decision = _case_evidence(file.path, [case], retention, now)
    return RetentionDecision(decision.path, "callback", decision.delete, decision.keep_until,
                             decision.reason.replace("evidence of", "call back of"))


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
    """``evidence/2025/01/<call>.wav``: the part of a path the handlers choose, the same on every
    server whatever the share's mount point."""
    return "/".join(Path(os.path.normpath(os.path.abspath(path))).parts[-4:])


def _remove_empty_folders(root: Path, *, older_than: datetime, keep_month: datetime) -> None:
    """``compliments/2025/01`` and the like, once emptied; the root itself stays. The current
    month's folders, and any folder changed in the last day, are left alone: a handler may just
    have made one for a recording about to start."""
    current = {root / f"{keep_month:%Y}", root / f"{keep_month:%Y}" / f"{keep_month:%m}"}
    for folder, _dirs, _files in sorted(os.walk(root), key=lambda entry: -len(entry[0])):
        path = Path(folder)
        try:
            if path == root or path in current or datetime.fromtimestamp(path.stat().st_mtime, UTC) > older_than:
                continue
            path.rmdir()
        except OSError:
            pass  # not empty, or not ours to remove
