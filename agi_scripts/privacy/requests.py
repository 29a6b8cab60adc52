"""A caller's GDPR requests: access (everything held about their number) and erasure.

Erasure is complete for what has no other purpose: their calls are deleted, their spoken
compliments' recordings deleted (the ratings stay for the agent, no longer linked to anyone),
incidents keep their counts for the register without the number. Evidence of a case that is still
open, or closed less than ``retention.evidence_after_close`` ago, is kept: erasure does not apply
to data needed for legal claims (GDPR art. 17(3)(e)). The answer lists what was kept and why, so
the privacy officer can tell the caller.
"""

from __future__ import annotations

import glob
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from agi_scripts.privacy.beneath import real_path, unlink_beneath
from agi_scripts.config.settings import RetentionSettings
from agi_scripts.reports.moments import iso_local
from agi_scripts.reports.render import JsonValue
from agi_scripts.reports.views import case_json, compliment_json
from agi_scripts.storage.base import Call, CallerErasure, CallerRecords, Incident, Store

log = logging.getLogger("respectline.privacy")


@dataclass(frozen=True)
class ErasureReport:
    caller: str
    erasure: CallerErasure
    files_deleted: tuple[str, ...]
    files_not_deleted: tuple[tuple[str, str], ...]
    """(path, why): outside the recordings folder, or the file system refused."""
    evidence_kept: tuple[tuple[str, str], ...] = ()
    """(path, why): recordings of the caller's flagged calls, kept as evidence."""


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
    }


def erase_caller_data(store: Store, caller: str, *, recordings_dir: Path, retention: RetentionSettings,
                      now: datetime) -> ErasureReport:
    flagged_calls = {incident.call_id for incident in store.caller_records(caller).incidents}
    # Which cases stay is decided inside the store's transaction: a case opened meanwhile stays too.
    erasure = store.erase_caller(
        caller, evidence_closed_before=now - timedelta(seconds=retention.evidence_after_close), at=now)
    deleted, refused = [], []
    for path in (*erasure.compliment_recordings, *erasure.case_recordings):
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
    log.info("privacy: erased caller data: %d call(s), %d recording(s) deleted, %d case(s) and %d recording(s) "
             "kept as evidence", erasure.calls_deleted, len(deleted), len(erasure.cases_kept), len(kept))
    return ErasureReport(caller, erasure, tuple(deleted), tuple(refused), tuple(kept))


def erasure_json(report: ErasureReport) -> dict[str, JsonValue]:
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
    }


def evidence_files(recordings_dir: Path, call_id: str) -> list[Path]:
    """The evidence recording(s) the flag handler made for a call: ``evidence/YYYY/MM/<call id>.*``."""
    return sorted(path for path in (recordings_dir / "evidence").glob(f"*/*/{glob.escape(call_id)}.*")
                  if path.is_file() and not path.is_symlink())


def inside_folder(path: Path, folder: Path) -> bool:
    """Whether ``path`` really lies in ``folder``, symbolic links resolved (a path from the database
    is not trusted to point anywhere else)."""
    real, root = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([real, root]) == root


def recordings_of(records: CallerRecords, recordings_dir: Path) -> list[str]:
    """The recordings held for this caller (compliments, cases, flagged calls' evidence), each once, sorted."""
    paths = {c.recording for c in records.compliments if c.recording}
    paths |= {case.recording for case in records.cases if case.recording}
    paths |= {str(f) for incident in records.incidents for f in evidence_files(recordings_dir, incident.call_id)}
    return sorted(paths)


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
