"""A caller's GDPR requests: access (everything held about their number) and erasure.

Erasure is complete for what has no other purpose: their calls are deleted, their spoken
compliments' recordings deleted (the ratings stay for the agent, no longer linked to anyone),
incidents keep their counts for the register without the number. Evidence of a case that is still
open, or closed less than ``retention.evidence_after_close`` ago, is kept: erasure does not apply
to data needed for legal claims (GDPR art. 17(3)(e)). The answer lists what was kept and why, so
the privacy officer can tell the caller.

What was kept is not forgotten: the request is written down (``queue_erasure``) before the erasure
runs and crossed off (``finish_erasure``) once nothing is kept any more. Until then the hourly
retention sweep runs the same erasure again (``finish_pending_erasures``), deleting recordings as
the first run did, and finishes it once the kept cases have closed and their retention has ended.
``respectline privacy pending`` lists the requests that wait, and when each can be finished.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from agi_scripts.config.settings import RetentionSettings
from agi_scripts.ground import call_spool
from agi_scripts.ground.redact import mask_number
from agi_scripts.ground.beneath import real_path, unlink_beneath
from agi_scripts.reports.moments import iso_local, shown_local
from agi_scripts.reports.render import JsonValue
from agi_scripts.reports.transcripts import transcript_json
from agi_scripts.reports.views import case_json, compliment_json
from agi_scripts.storage import rules
from agi_scripts.storage.base import Transcript
from agi_scripts.storage.base import (UTC, Call, Case, CallerErasure, CallerRecords, Incident, PendingErasure, Store,
                                      StoreError)

log = logging.getLogger("respectline.privacy")


@dataclass(frozen=True)
class ErasureWait:
    """What a queued erasure waits for: every kept case closed, and its retention ended."""

    open_cases: tuple[int, ...]
    """Kept cases not closed yet: the erasure can be finished only ``evidence_after_close`` after they close."""
    earliest: datetime | None
    """When the retention of the last-closing kept case that is closed ends; None when none is closed."""

    def due(self, now: datetime) -> bool:
        """Nothing left to wait for: the next retention sweep finishes the erasure."""
        return not self.open_cases and (self.earliest is None or self.earliest < now)


@dataclass(frozen=True)
class ErasureReport:
    caller: str
    erasure: CallerErasure
    files_deleted: tuple[str, ...]
    files_not_deleted: tuple[tuple[str, str], ...]
    """(path, why): outside the recordings folder, or the file system refused."""
    evidence_kept: tuple[tuple[str, str], ...] = ()
    """(path, why): recordings of the caller's flagged calls, kept as evidence."""
    queued: PendingErasure | None = None
    """The request, still waiting because cases were kept; None when the erasure is finished."""
    wait: ErasureWait | None = None
    """What the queued request waits for (None when it is finished)."""


@dataclass(frozen=True)
class QueuedErasure:
    """One line of ``respectline privacy pending``."""

    pending: PendingErasure
    cases_kept: tuple[int, ...]
    wait: ErasureWait


@dataclass(frozen=True)
class ErasureSweep:
    """What the retention sweep did with the erasure requests that waited."""

    finished: int = 0
    waiting: int = 0
    failed: int = 0
    """Retries the store or the file system refused: still queued, tried again at the next sweep."""


def access_report(records: CallerRecords, tz: tzinfo, recordings_dir: Path) -> dict[str, JsonValue]:
    """Everything about one caller number as JSON, with whether each recording still exists."""
    recordings = recordings_of(records, recordings_dir)
    return {
        "caller": records.caller,
        "calls": [_call_json(call, tz) for call in records.calls],
        "compliments": [compliment_json(compliment, tz) for compliment in records.compliments],
        "incidents": [_incident_json(incident, tz) for incident in records.incidents],
        "cases": [case_json(case, tz) for case in records.cases],
        "recordings": [{"path": path, "exists": Path(path).is_file()} for path in recordings],
        # What was said in their evidence and spoken compliments, as the store keeps it.
        "transcripts": [{"recording": transcript.recording, "kind": transcript.kind, "call_id": transcript.call_id,
                         **_transcript_fields(transcript, tz)} for transcript in records.transcripts],
        "erasure_pending": None if records.pending_erasure is None else {
            "requested_at": iso_local(records.pending_erasure.requested_at, tz),
            "last_tried_at": iso_local(records.pending_erasure.last_tried_at, tz)},
    }


def erase_caller_data(store: Store, caller: str, *, recordings_dir: Path, retention: RetentionSettings,
                      now: datetime) -> ErasureReport:
    """A caller's erasure request: written down first, so that if anything below fails the retention
    sweep still finishes it; erased as far as the law allows; crossed off when nothing was kept."""
    report = _erase(store, caller, recordings_dir=recordings_dir, retention=retention, now=now)
    log.info("privacy: erased caller data: %d call(s), %d recording(s) deleted, %d case(s) and %d recording(s) "
             "kept as evidence%s", report.erasure.calls_deleted, len(report.files_deleted),
             len(report.erasure.cases_kept), len(report.evidence_kept),
             "; the rest is queued for the retention sweep" if report.queued else "")
    return report


def finish_pending_erasures(store: Store, *, recordings_dir: Path, retention: RetentionSettings,
                            now: datetime) -> ErasureSweep:
    """The retention sweep's part: each waiting request runs again (the same erasure, recordings
    deleted as the first time), and is finished once its kept cases have aged out. A failure leaves
    its request queued for the next sweep and does not stop the others."""
    finished = waiting = failed = 0
    for pending in store.pending_erasures():
        shown = mask_number(pending.caller)
        try:
            report = _erase(store, pending.caller, recordings_dir=recordings_dir, retention=retention, now=now)
        except (StoreError, OSError) as error:
            failed += 1
            log.warning("privacy: the erasure asked for %s on %s could not be retried (%s); it stays queued",
                        shown, f"{pending.requested_at:%Y-%m-%d}", error)
            continue
        if report.queued is None:
            finished += 1
            log.info("privacy: the erasure asked for %s on %s is finished: %d call(s) deleted, %d case(s) "
                     "anonymised, %d recording(s) deleted", shown, f"{pending.requested_at:%Y-%m-%d}",
                     report.erasure.calls_deleted, report.erasure.cases_anonymised, len(report.files_deleted))
        else:
            waiting += 1
    return ErasureSweep(finished, waiting, failed)


def queued_erasures(store: Store, *, retention: RetentionSettings, now: datetime) -> list[QueuedErasure]:
    """The requests that wait, oldest first, each with the cases it waits for."""
    cutoff = now - timedelta(seconds=retention.evidence_after_close)
    queued = []
    for pending in store.pending_erasures():
        _erased, kept = rules.split_for_erasure(_case_rows(store.caller_records(pending.caller).cases), cutoff)
        closings = [(row["id"], row["closed_at"] if row["status"] == "closed" else None) for row in kept]
        queued.append(QueuedErasure(pending, tuple(row["id"] for row in kept), erasure_wait(closings, retention)))
    return queued


def erasure_wait(kept: Iterable[tuple[int, datetime | None]], retention: RetentionSettings) -> ErasureWait:
    """What an erasure waits for, from its kept cases' (id, closed_at or None while open)."""
    cases = list(kept)
    ends = [closed + timedelta(seconds=retention.evidence_after_close) for _id, closed in cases if closed]
    return ErasureWait(tuple(case_id for case_id, closed in cases if closed is None), max(ends, default=None))


def wait_text(wait: ErasureWait, retention: RetentionSettings, tz: tzinfo, now: datetime) -> str:
    """When the retention sweep finishes a queued erasure, at the earliest, for a person."""
    if wait.due(now):
        return "at the next retention sweep (within the hour)"
    days = f"{retention.evidence_after_close / 86400:g} days"
    if wait.open_cases:
        cases = ", ".join(str(case_id) for case_id in wait.open_cases)
        # A case closing from now on ends its retention after any kept case closed already.
        when = f"when case {cases} closes" if len(wait.open_cases) == 1 else f"when cases {cases} have closed"
        return f"{when}, plus retention.evidence_after_close ({days})"
    return f"on {shown_local(wait.earliest, tz)} at the earliest (the kept cases' closing plus {days})"


def wait_json(wait: ErasureWait, tz: tzinfo) -> dict[str, JsonValue]:
    """``finish_earliest`` is null while a kept case is open (then ``waits_for_cases_to_close`` names it)
    or when nothing is left to wait for (the next sweep finishes it)."""
    return {"waits_for_cases_to_close": list(wait.open_cases),
            "finish_earliest": None if wait.open_cases else iso_local(wait.earliest, tz)}


def _erase(store: Store, caller: str, *, recordings_dir: Path, retention: RetentionSettings,
           now: datetime) -> ErasureReport:
    """One run of an erasure: the request is written down (or, already queued, its ``last_tried_at``
    moved on) before anything is erased, and crossed off when nothing was kept."""
    pending = store.queue_erasure(caller, at=now)
    flagged_calls = {incident.call_id for incident in store.caller_records(caller).incidents}
    # Which cases stay is decided inside the store's transaction: a case opened meanwhile stays too.
    erasure = store.erase_caller(
        caller, evidence_closed_before=now - timedelta(seconds=retention.evidence_after_close), at=now)
    deleted, refused = [], []
    # A case's evidence goes with the files of its two directions (``recording.start: connect``).
    directions = [str(f) for path in erasure.case_recordings for f in call_spool.direction_files(Path(path))
                  if os.path.lexists(f)]
    for path in (*erasure.compliment_recordings, *erasure.case_recordings, *directions):
        problem = _delete_recording(Path(path), recordings_dir)
        if problem:
            refused.append((path, problem))
        else:
            deleted.append(path)
    for path in deleted:
        store.forget_recording(path, reason="erased at the caller's request", at=now)
    kept = [(str(file), _evidence_kept_why(file, retention, now, case=call_id in erasure.kept_call_ids))
            for call_id in sorted(flagged_calls) for file in evidence_files(recordings_dir, call_id)
            if str(file) not in deleted]
    if erasure.cases_kept:
        wait = erasure_wait(zip(erasure.cases_kept, erasure.kept_closed_at), retention)
        return ErasureReport(caller, erasure, tuple(deleted), tuple(refused), tuple(kept), pending, wait)
    if refused:
        # Not done while a recording of the caller is still on disk: the request stays queued and the
        # log names each file, for the data protection officer to remove by hand.
        for path, problem in refused:
            log.error("privacy: the erasure of %s could not delete %s (%s); the request stays open",
                      mask_number(caller), path, problem)
        return ErasureReport(caller, erasure, tuple(deleted), tuple(refused), tuple(kept), pending)
    try:
        store.finish_erasure(caller)
    except StoreError as error:  # erased all the same: the next sweep finds nothing kept and crosses it off
        log.warning("privacy: the erasure of %s is done but could not be crossed off (%s); the retention sweep "
                    "will", mask_number(caller), error)
    return ErasureReport(caller, erasure, tuple(deleted), tuple(refused), tuple(kept))


def _transcript_fields(transcript: Transcript, tz: tzinfo) -> dict[str, JsonValue]:
    shown = transcript_json(transcript, tz)
    return shown if isinstance(shown, dict) else {}


def erasure_json(report: ErasureReport, tz: tzinfo = UTC) -> dict[str, JsonValue]:
    erasure = report.erasure
    return {
        "caller": report.caller,
        "calls_deleted": erasure.calls_deleted,
        "incidents_anonymised": erasure.incidents_anonymised,
        "cases_anonymised": erasure.cases_anonymised,
        "cases_kept_as_evidence": list(erasure.cases_kept),
        "recordings_deleted": list(report.files_deleted),
        "recordings_kept_as_evidence": [{"path": path, "reason": why} for path, why in report.evidence_kept],
        "recordings_not_deleted": [{"path": path, "reason": why} for path, why in report.files_not_deleted],
        "erasure_queued": None if report.queued is None or report.wait is None else {
            "requested_at": iso_local(report.queued.requested_at, tz), **wait_json(report.wait, tz)},
    }


def evidence_files(recordings_dir: Path, call_id: str) -> list[Path]:
    """The evidence recording(s) the flag handler made for a call: ``evidence/YYYY/MM/<call id>.*``, and
    the two directions beside it (``<call id>-caller.wav``, ``<call id>-agent.wav``)."""
    names = [f"{glob.escape(call_id)}.*", *(f"{glob.escape(call_id)}{suffix}.wav"
                                            for suffix in call_spool.DIRECTION_SUFFIXES)]
    return sorted(path for name in names for path in (recordings_dir / "evidence").glob(f"*/*/{name}")
                  if path.is_file() and not path.is_symlink())


def inside_folder(path: Path, folder: Path) -> bool:
    """Whether ``path`` really lies in ``folder``, symbolic links resolved (a path from the database
    is not trusted to point anywhere else)."""
    real, root = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([real, root]) == root


def recordings_of(records: CallerRecords, recordings_dir: Path) -> list[str]:
    """The recordings held for this caller (compliments, cases, flagged calls' evidence, calls back), each
    once, sorted."""
    paths = {c.recording for c in records.compliments if c.recording}
    paths |= {case.recording for case in records.cases if case.recording}
    paths |= {str(f) for incident in records.incidents for f in evidence_files(recordings_dir, incident.call_id)}
    paths |= {str(f) for case in records.cases for f in callback_files(recordings_dir, case.id)}
    return sorted(paths)


def callback_files(recordings_dir: Path, case_id: int) -> list[Path]:
    """The desk's calls back of a case: ``callbacks/case-<id>-<n>.wav`` (kept and aged out with the case)."""
    return sorted(path for path in (recordings_dir / "callbacks").glob(f"case-{int(case_id)}-*.wav")
                  if path.is_file() and not path.is_symlink())


def _evidence_kept_why(file: Path, retention: RetentionSettings, now: datetime, *, case: bool) -> str:
    if case:
        return "evidence of a case that is open or within its retention (GDPR art. 17(3)(e))"
    made = datetime.fromtimestamp(file.stat().st_mtime, now.tzinfo)
    until = made + timedelta(seconds=retention.evidence_after_close)
    return f"evidence of a flagged call, kept until {until:%Y-%m-%d} (retention.evidence_after_close)"


def _delete_recording(path: Path, recordings_dir: Path) -> str | None:
    if path.is_symlink():
        return "a symbolic link; not followed"
    if not inside_folder(path, recordings_dir):
        return f"outside the recordings folder {recordings_dir}; delete it by hand if it is a recording"
    try:
        unlink_beneath(Path(os.path.realpath(recordings_dir)), real_path(path))
    except OSError as error:
        return str(error)
    return None


def _case_rows(cases: Iterable[Case]) -> list[dict[str, Any]]:
    return [{"id": case.id, "status": case.status, "closed_at": case.closed_at} for case in cases]


def _call_json(call: Call, tz: tzinfo) -> dict[str, JsonValue]:
    return {
        "call_id": call.call_id, "started_at": iso_local(call.started_at, tz), "queue": call.queue,
        "language": call.language, "route": call.route, "campaign": call.campaign, "agent": call.agent,
        "ended_at": iso_local(call.ended_at, tz), "outcome": call.outcome,
    }


def _incident_json(incident: Incident, tz: tzinfo) -> dict[str, JsonValue]:
    return {
        "id": incident.id, "call_id": incident.call_id, "category": incident.category,
        "number_in_call": incident.number_in_call, "team": incident.team, "action": incident.action,
        "case_id": incident.case_id, "agent": incident.agent, "queue": incident.queue,
        "at": iso_local(incident.at, tz),
    }
