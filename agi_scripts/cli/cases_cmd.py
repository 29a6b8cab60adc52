"""``respectline cases``: Special Care and Security work the cases the abuse policy opened.

Cases show the caller's number in full: the team calls the customer back. ``export`` writes an
incident report to hand to the police (Markdown, or PDF through fpdf2).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agi_scripts.prompts.files import write_atomic
from typing import Any

from agi_scripts.cli.common import CommandError, ReportContext, add_store_arguments, emit, guarded, load_context
from agi_scripts.reports.incident_report import (
    EXPORT_FORMATS,
    IncidentReport,
    Labels,
    build_incident_report,
    markdown,
)
from agi_scripts.reports.moments import shown_local
from agi_scripts.reports.render import json_text, safe_text, table
from agi_scripts.reports.transcripts import transcript_heading, transcript_json, transcript_lines, transcripts_of
from agi_scripts.storage.base import Transcript
from agi_scripts.reports.views import (
    CASE_COLUMNS,
    EVENT_COLUMNS,
    caller_shown,
    case_json,
    case_row,
    event_row,
    priority_name,
)
from agi_scripts.storage import CASE_STATUSES, Case, NotFound, Store
from agi_scripts.storage.base import utc_now


def register(commands: Any) -> None:
    cases = commands.add_parser(
        "cases", help="list, assign, annotate, close and export abuse cases (Special Care, Security)",
        description="The cases the abuse policy opened, for the teams that call customers back. "
                    "Caller numbers are shown in full.")
    actions = cases.add_subparsers(dest="cases", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="cases, most urgent first",
                                 description="Cases sorted by priority (urgent first), then oldest first.")
    listing.add_argument("--status", choices=CASE_STATUSES, help="only cases with this status")
    listing.add_argument("--team", help="only this team's cases (the team id, e.g. special_care)")
    listing.add_argument("--format", choices=("table", "json"), default="table")
    add_store_arguments(listing)
    listing.set_defaults(func=run_list)

    show = actions.add_parser("show", help="one case with its timeline",
                              description="Everything about one case, its events oldest first.")
    _case_id_argument(show)
    show.add_argument("--format", choices=("text", "json"), default="text")
    add_store_arguments(show)
    show.set_defaults(func=run_show)

    assign = actions.add_parser("assign", help="give a case to a staff member (reassigning is allowed)")
    _case_id_argument(assign)
    assign.add_argument("--to", required=True, type=_name, metavar="NAME", help="who works the case now")
    assign.add_argument("--by", type=_name, metavar="NAME", help="who assigns it (kept in the timeline)")
    add_store_arguments(assign)
    assign.set_defaults(func=run_assign)

    note = actions.add_parser("note", help="add a note to a case's timeline (a call back, a police report, ...)")
    _case_id_argument(note)
    note.add_argument("--by", required=True, type=_name, metavar="NAME", help="who writes the note")
    note.add_argument("text", nargs="+", help="the note (several words are joined with spaces)")
    add_store_arguments(note)
    note.set_defaults(func=run_note)

    close = actions.add_parser("close", help="close a case with its resolution",
                               description="Close a case. A closed case cannot be closed or assigned again.")
    _case_id_argument(close)
    close.add_argument("--resolution", required=True, type=_text, metavar="TEXT",
                       help="what was done, e.g. 'called back, apologised; no police report'")
    close.add_argument("--by", type=_name, metavar="NAME", help="who closes it (kept in the timeline)")
    add_store_arguments(close)
    close.set_defaults(func=run_close)

    export = actions.add_parser(
        "export", help="an incident report to hand to the police (Markdown or PDF)",
        description="An incident report of one case: case number, category, parties (caller number, agent, "
                    "queue, team), the timeline in local time, the recording (path, whether it exists, its "
                    "SHA-256) and a note on retention. Markdown by default; PDF with --format pdf (needs the "
                    "fpdf2 package, installed with Respectline; characters outside Latin-1 are simplified "
                    "in the PDF). The file is written readable by its owner only: it holds personal data.")
    _case_id_argument(export)
    export.add_argument("--format", choices=EXPORT_FORMATS, default="markdown")
    export.add_argument("--out", type=Path, metavar="FILE",
                        help="write to FILE (default: standard output; a PDF needs a file or a pipe)")
    add_store_arguments(export)
    export.set_defaults(func=run_export)


def _case_id_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("case_id", type=_case_id, metavar="ID", help="the case number")


def _case_id(text: str) -> int:
    if not text.strip().isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"a case number is a positive whole number, not {text!r}")
    return int(text)


def _name(text: str) -> str:
    name = " ".join(text.split())
    if not name:
        raise argparse.ArgumentTypeError("a name cannot be empty")
    return name


def _text(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("the text cannot be empty")
    return text.strip()


# ---------------------------------------------------------------- reading


@guarded
def run_list(args: argparse.Namespace) -> int:
    context = load_context(args.config, args.db)
    tz = context.settings.timezone
    with context.store() as store:
        cases = store.list_cases(status=args.status, team=args.team)
        transcripts = transcripts_of(store, [case.recording for case in cases]) if args.format == "json" else {}
    if args.format == "json":
        emit(json_text([case_json(case, tz, transcript_json(transcripts.get(case.recording or ""), tz))
                        for case in cases]))
    else:
        emit(table(CASE_COLUMNS, [case_row(case, tz) for case in cases], empty="no cases"))
    return 0


@guarded
def run_show(args: argparse.Namespace) -> int:
    context = load_context(args.config, args.db)
    with context.store() as store:
        case = _existing_case(store, args.case_id)
        transcript = transcripts_of(store, [case.recording]).get(case.recording or "")
    if args.format == "json":
        tz = context.settings.timezone
        emit(json_text(case_json(case, tz, transcript_json(transcript, tz))))
    else:
        emit(_case_text(case, context) + _transcript_text(transcript))
    return 0


def _case_text(case: Case, context: ReportContext) -> str:
    tz = context.settings.timezone
    lines = [
        f"Case {case.id}: {case.category}, {priority_name(case.priority)} priority, {case.status}",
        f"  caller:    {caller_shown(case.caller)}",
        f"  agent:     {case.agent} (queue {case.queue}, call {case.call_id})",
        f"  team:      {case.team}; assignee: {case.assignee or 'nobody yet'}",
        f"  opened:    {shown_local(case.opened_at, tz, seconds=True)}"
        + (f"; closed: {shown_local(case.closed_at, tz, seconds=True)}" if case.closed_at else ""),
        f"  recording: {_recording_state(case.recording)}",
    ]
    if case.resolution:
        lines.append(f"  resolution: {case.resolution}")
    text = "\n".join(safe_text(line) for line in lines) + "\n"
    return text + f"\nTimeline ({tz.key}):\n" + table(EVENT_COLUMNS, [event_row(e, tz) for e in case.events])


def _transcript_text(transcript: Transcript | None) -> str:
    if transcript is None:
        return ""
    lines = [f"Transcript ({transcript_heading(transcript)}):", *(f"  {line}" for line in transcript_lines(transcript))]
    return "\n" + "\n".join(safe_text(line) for line in lines) + "\n"


def _recording_state(recording: str | None) -> str:
    if not recording:
        return "none"
    return f"{recording} ({'present' if Path(recording).is_file() else 'missing'})"


def _existing_case(store: Store, case_id: int) -> Case:
    case = store.get_case(case_id)
    if case is None:
        raise CommandError(f"case {case_id} does not exist")
    return case


# ---------------------------------------------------------------- changing


@guarded
def run_assign(args: argparse.Namespace) -> int:
    context = load_context(args.config, args.db)
    with context.store() as store, _unknown_case_is_an_error(args.case_id):
        case = store.assign_case(args.case_id, args.to, author=args.by)
    emit(f"case {case.id} assigned to {safe_text(args.to)}\n")
    return 0


@guarded
def run_note(args: argparse.Namespace) -> int:
    text = " ".join(args.text).strip()
    if not text:
        raise CommandError("the note is empty", exit_code=2)
    context = load_context(args.config, args.db)
    with context.store() as store, _unknown_case_is_an_error(args.case_id):
        store.add_case_note(args.case_id, args.by, text)
    emit(f"note added to case {args.case_id}\n")
    return 0


@guarded
def run_close(args: argparse.Namespace) -> int:
    context = load_context(args.config, args.db)
    with context.store() as store, _unknown_case_is_an_error(args.case_id):
        case = store.close_case(args.case_id, args.resolution, author=args.by)
    emit(f"case {case.id} closed\n")
    return 0


@contextmanager
def _unknown_case_is_an_error(case_id: int) -> Iterator[None]:
    """The store's NotFound for a case becomes the message people read: 'case 12 does not exist'."""
    try:
        yield
    except NotFound:
        raise CommandError(f"case {case_id} does not exist") from None


# ---------------------------------------------------------------- export


@guarded
def run_export(args: argparse.Namespace) -> int:
    context = load_context(args.config, args.db)
    if args.format == "pdf" and args.out is None and sys.stdout.isatty():
        raise CommandError("a PDF is not for the terminal: add --out FILE (or pipe the output)", exit_code=2)
    with context.store() as store:
        case = _existing_case(store, args.case_id)
        report = build_incident_report(store, case, context.settings, _labels(context), utc_now())
    content = _pdf(report) if args.format == "pdf" else markdown(report).encode("utf-8")
    if args.out is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(content)
        sys.stdout.buffer.flush()
        return 0
    _write_private(args.out, content)
    print(f"wrote the incident report of case {case.id} to {args.out}", file=sys.stderr)
    return 0


def _pdf(report: IncidentReport) -> bytes:
    try:
        from agi_scripts.reports.pdf import pdf_bytes
    except ImportError:
        raise CommandError("PDF export needs the fpdf2 package (pip install fpdf2); "
                           "--format markdown works without it") from None
    return pdf_bytes(report)


def _labels(context: ReportContext) -> Labels:
    """Category labels and team names from the flows, when the whole configuration loads."""
    if not context.config_usable:
        return Labels()
    from agi_scripts.config.bundle import load_bundle
    from agi_scripts.ground.errors import ValidationFailed

    try:
        policy = load_bundle(context.settings.file).abuse_policy
    except ValidationFailed:
        return Labels()
    return Labels(categories={c.id: c.label for c in policy.categories.values()},
                  teams={t.id: t.name for t in policy.teams.values()})


def _write_private(path: Path, content: bytes) -> None:
    """Whole or not at all (a temporary file renamed into place), readable by its owner only."""
    if path.is_dir():
        raise CommandError(f"--out {path} is a folder; give a file name")
    if not path.absolute().parent.is_dir():
        raise CommandError(f"cannot write {path}: its folder does not exist")
    try:
        write_atomic(path, content, mode=0o600)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None