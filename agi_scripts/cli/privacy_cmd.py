"""``respectline privacy``: retention of recordings and a caller's GDPR requests.

- ``purge``: delete the recordings whose retention has ended (the server also does this hourly).
- ``export --caller NUMBER``: everything held about one caller number, as JSON (access request).
- ``erase --caller NUMBER --yes``: erase it, keeping evidence of cases still needed (erasure request);
  what was kept is queued and erased by the hourly retention sweep once its retention ends.
- ``pending``: the erasure requests that wait for kept cases, and when each can be finished.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from agi_scripts.cli.common import (CommandError, ReportContext, add_store_arguments, emit, guarded,
                                    load_context)
from agi_scripts.ground.redact import mask_number
from agi_scripts.ground.beneath import copy_out, real_path
from agi_scripts.privacy.requests import (access_report, erase_caller_data, erasure_json, inside_folder,
                                          queued_erasures, recordings_of, wait_json, wait_text)
from agi_scripts.privacy.retention import RetentionDecision, apply_retention
from agi_scripts.prompts.files import write_atomic
from agi_scripts.reports.moments import iso_local, shown_local
from agi_scripts.reports.render import Column, JsonValue, json_text, table
from agi_scripts.storage.base import CallerRecords, utc_now


def register(commands: Any) -> None:
    privacy = commands.add_parser(
        "privacy", help="retention of recordings; a caller's GDPR access and erasure requests",
        description="Recordings are deleted when their retention ends (retention in respectline.yaml); "
                    "a caller's data can be exported or erased by their number.")
    actions = privacy.add_subparsers(dest="privacy", metavar="ACTION", required=True)

    purge = actions.add_parser(
        "purge", help="delete recordings and caller numbers whose retention has ended (the server does this "
                      "every hour)",
        description="Spoken compliments and other recordings of unflagged calls are deleted after "
                    "retention.unflagged_recordings; evidence after its case is closed plus "
                    "retention.evidence_after_close. Evidence of an open case is never deleted. Callers' numbers "
                    "are blanked on calls after retention.unflagged_recordings and on incidents after "
                    "retention.evidence_after_close (not while their case is open; cases keep theirs).")
    purge.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    purge.add_argument("--verbose", action="store_true", help="also list the recordings that are kept, and why")
    add_store_arguments(purge)
    purge.set_defaults(func=run_purge)

    export = actions.add_parser(
        "export", help="everything held about one caller number, as JSON (GDPR access request)",
        description="Calls, compliments, incidents and cases of a caller number, and their recordings. "
                    "The output holds personal data: it is written readable by its owner only.")
    _caller_argument(export)
    export.add_argument("--out", type=Path, metavar="FILE", help="write the JSON to FILE (default: standard output)")
    export.add_argument("--copy-recordings", type=Path, metavar="FOLDER",
                        help="also copy the caller's recordings that still exist into FOLDER")
    add_store_arguments(export)
    export.set_defaults(func=run_export)

    erase = actions.add_parser(
        "erase", help="erase one caller number's data (GDPR erasure request)",
        description="Deletes the caller's calls and the recordings of their compliments; incidents and "
                    "cases keep their counts for the register without the number. Cases still open, or "
                    "closed less than retention.evidence_after_close ago, are kept as evidence (GDPR art. "
                    "17(3)(e)) and listed in the answer; the request then waits, and the hourly retention "
                    "sweep finishes it once their retention has ended (privacy pending lists what waits).")
    _caller_argument(erase)
    erase.add_argument("--yes", action="store_true", help="really erase (without it, nothing is changed)")
    erase.add_argument("--format", choices=("text", "json"), default="text")
    add_store_arguments(erase)
    erase.set_defaults(func=run_erase)

    pending = actions.add_parser(
        "pending", help="erasure requests waiting for kept cases, and when each will be finished",
        description="An erasure that kept cases as evidence waits; the hourly retention sweep runs it again "
                    "and finishes it once every kept case is closed and retention.evidence_after_close has "
                    "passed. Caller numbers are masked unless --show-numbers is given.")
    pending.add_argument("--show-numbers", action="store_true",
                         help="show the caller numbers in full (default: masked, like +3247****56)")
    pending.add_argument("--format", choices=("text", "json"), default="text")
    add_store_arguments(pending)
    pending.set_defaults(func=run_pending)


def _caller_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--caller", required=True, type=_caller, metavar="NUMBER",
                        help="the caller number exactly as stored (as `respectline cases show` prints it)")


def _caller(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("a caller number cannot be empty (withheld numbers are not stored)")
    return text.strip()


def _context_with_retention(args: argparse.Namespace, consequence: str = "nothing was deleted") -> ReportContext:
    """Deleting needs the real retention periods and recordings folder: no defaults standing in."""
    context = load_context(args.config, args.db)
    if not context.config_usable:
        raise CommandError(f"{args.config} cannot be read, so its retention periods and recordings folder are "
                           f"unknown; {consequence} (respectline validate shows what is wrong)")
    return context


@guarded
def run_purge(args: argparse.Namespace) -> int:
    context = _context_with_retention(args)
    settings = context.settings
    with context.store() as store:
        summary = apply_retention(store, settings.recordings_dir, settings.retention, now=utc_now(),
                                   dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    rows = [_decision_row(d, verb) for d in summary.deleted]
    rows += [_decision_row(d, "kept") for d in summary.kept if args.verbose]
    rows += [{"action": "FAILED", "kind": "", "recording": str(path), "why": why} for path, why in summary.failed]
    emit(table(_PURGE_COLUMNS, rows, empty="nothing is due"))
    emit(f"{len(summary.deleted)} {verb}, {len(summary.kept)} kept, {len(summary.failed)} failed\n")
    erasures = summary.erasures
    if not args.dry_run:
        emit(f"caller numbers blanked: {summary.calls_anonymised} call(s), {summary.incidents_anonymised} "
             f"incident(s), {summary.cases_anonymised} closed case(s)\n")
        emit(f"erasure requests: {erasures.finished} finished, {erasures.waiting} still waiting for kept cases, "
             f"{erasures.failed} failed (respectline privacy pending lists those that wait)\n")
    elif erasures.waiting:
        emit(f"erasure requests waiting for kept cases: {erasures.waiting} (retried by a real purge; "
             "respectline privacy pending lists them)\n")
    return 1 if summary.failed or erasures.failed else 0


_PURGE_COLUMNS = (Column("action", "action"), Column("kind", "kind"), Column("recording", "recording"),
                  Column("why", "why"))


def _decision_row(decision: RetentionDecision, action: str) -> dict[str, str]:
    return {"action": action, "kind": decision.kind, "recording": str(decision.path), "why": decision.reason}


@guarded
def run_export(args: argparse.Namespace) -> int:
    context = load_context(args.config, args.db)
    with context.store() as store:
        records = store.caller_records(args.caller)
    report = access_report(records, context.settings.timezone, context.settings.recordings_dir)
    text = json_text(report)
    if args.out:
        write_atomic(args.out, text.encode(), mode=0o600)
    else:
        emit(text)
    if args.copy_recordings:
        _copy_recordings(records, context.settings.recordings_dir, args.copy_recordings)
    return 0


def _copy_recordings(records: CallerRecords, recordings_dir: Path, folder: Path) -> None:
    """Copies of the caller's recordings that exist, only from inside the recordings folder."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    root = Path(os.path.realpath(recordings_dir))
    for path in recordings_of(records, recordings_dir):
        source = Path(path)
        if not source.is_file() or source.is_symlink() or not inside_folder(source, recordings_dir):
            continue
        # Kind in the name: evidence and compliment recordings of one call share a base name.
        target = folder / f"{source.parent.parent.parent.name}-{source.name}"
        try:
            copy_out(root, real_path(source), target)  # 0600, never through a link or over a file at the target
        except OSError as error:
            raise CommandError(f"cannot copy {source} to {target}: {error}", 1) from None


@guarded
def run_erase(args: argparse.Namespace) -> int:
    context = _context_with_retention(args)
    settings = context.settings
    if not args.yes:
        raise CommandError("erasure deletes data for good; run again with --yes to erase "
                           f"(`respectline privacy export --caller {args.caller}` shows what is held)", 2)
    now = utc_now()
    with context.store() as store:
        report = erase_caller_data(store, args.caller, recordings_dir=settings.recordings_dir,
                                   retention=settings.retention, now=now)
    if args.format == "json":
        emit(json_text(erasure_json(report, settings.timezone)))
        return 0
    erasure = report.erasure
    lines = [f"erased caller {report.caller}:",
             f"  calls deleted: {erasure.calls_deleted}",
             f"  recordings deleted: {len(report.files_deleted)}",
             f"  incidents kept for the register without the number: {erasure.incidents_anonymised}",
             f"  closed cases kept without the number: {erasure.cases_anonymised}"]
    if erasure.cases_kept:
        lines.append(f"  kept as evidence (open, or closed within retention.evidence_after_close): case "
                     f"{', '.join(str(i) for i in erasure.cases_kept)}")
    lines += [f"  kept: {path}: {why}" for path, why in report.evidence_kept]
    lines += [f"  NOT deleted: {path}: {why}" for path, why in report.files_not_deleted]
    if report.wait is not None:
        lines.append("  the rest is queued: the hourly retention sweep erases it "
                     f"{wait_text(report.wait, settings.retention, settings.timezone, now)} "
                     "(respectline privacy pending lists what waits)")
    emit("\n".join(lines) + "\n")
    return 0


@guarded
def run_pending(args: argparse.Namespace) -> int:
    context = _context_with_retention(args, "the dates would be guesses")
    settings, now = context.settings, utc_now()
    with context.store() as store:
        queued = queued_erasures(store, retention=settings.retention, now=now)

    def number(caller: str) -> str:
        return caller if args.show_numbers else mask_number(caller)

    if args.format == "json":
        rows: list[JsonValue] = [{
            "caller": number(item.pending.caller),
            "requested_at": iso_local(item.pending.requested_at, settings.timezone),
            "last_tried_at": iso_local(item.pending.last_tried_at, settings.timezone),
            "cases_kept": list(item.cases_kept), **wait_json(item.wait, settings.timezone)} for item in queued]
        emit(json_text(rows))
        return 0
    emit(table(_PENDING_COLUMNS, [{
        "caller": number(item.pending.caller),
        "requested": shown_local(item.pending.requested_at, settings.timezone),
        "tried": shown_local(item.pending.last_tried_at, settings.timezone),
        "kept": ", ".join(str(case_id) for case_id in item.cases_kept) or "-",
        "finished": wait_text(item.wait, settings.retention, settings.timezone, now)} for item in queued],
        empty="no erasure request is waiting"))
    return 0


_PENDING_COLUMNS = (Column("caller", "caller"), Column("requested", "requested"), Column("tried", "last tried"),
                    Column("kept", "cases kept"), Column("finished", "finished"))
