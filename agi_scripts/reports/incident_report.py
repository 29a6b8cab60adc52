"""A case as an incident report a person can hand to the police: Markdown always, PDF with fpdf2.

The report is built once as a small document model (``IncidentReport``: sections of fields,
paragraphs and a timeline) and then written out as Markdown or PDF, so both say the same.
It holds the caller's number in full: it is made for Special Care and the police, not for
supervisors' statistics.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from agi_scripts.config.settings import Settings
from agi_scripts.ground import call_spool
from agi_scripts.reports.moments import shown_local_with_zone
from agi_scripts.reports.transcripts import transcript_heading, transcript_lines, transcripts_of
from agi_scripts.reports.views import caller_shown, priority_name
from agi_scripts.storage import Call, Case, Incident, Store
from agi_scripts.storage.base import Transcript

EXPORT_FORMATS = ("markdown", "pdf")
_EVENT_WORDS = {
    "case_opened": "case opened", "warn": "caller warned", "disconnect": "call ended by Respectline",
    "transfer": "caller transferred to the team", "agent_paused": "agent paused to recover",
    "assigned": "case assigned", "note": "note", "closed": "case closed", "routed": "repeat call routed to the team",
    "callback_started": "call back started", "callback_staff_answered": "call back: staff answered",
    "callback_staff_no_answer": "call back: staff phone not answered",
    "callback_caller_answered": "call back: caller answered",
    "callback_caller_no_answer": "call back: caller not reached",
    "callback_ended": "call back ended", "callback_failed": "call back failed",
    "callback_unfollowed": "call back no longer followed",
}


@dataclass(frozen=True)
class Labels:
    """Names admins gave in ``flows/abuse_policy.yaml``; empty when the flows could not be read."""

    categories: Mapping[str, str] = field(default_factory=dict)
    teams: Mapping[str, str] = field(default_factory=dict)

    def category(self, category_id: str) -> str:
        label = self.categories.get(category_id)
        return f"{label} ({category_id})" if label else category_id

    def team(self, team_id: str) -> str:
        name = self.teams.get(team_id)
        return f"{name} ({team_id})" if name else team_id


@dataclass(frozen=True)
class Evidence:
    path: str | None
    exists: bool
    size: int | None
    sha256: str | None
    still_written: bool = False
    """Written to moments ago: a call recorded from connect that still runs (the evidence grows until it ends)."""


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    what: str
    detail: str
    by: str | None


@dataclass(frozen=True)
class Fieldline:
    label: str
    value: str
    verbatim: bool = False
    """A path or a hash: shown in a code span / fixed-width, never reflowed or escaped."""


@dataclass(frozen=True)
class Section:
    title: str
    fields: tuple[Fieldline, ...] = ()
    paragraphs: tuple[str, ...] = ()
    timeline: tuple[TimelineEntry, ...] = ()


@dataclass(frozen=True)
class IncidentReport:
    title: str
    case_id: int
    intro: str
    sections: tuple[Section, ...]
    tz: dt.tzinfo
    generated_at: dt.datetime
    evidence: Evidence


def build_incident_report(store: Store, case: Case, settings: Settings, labels: Labels,
                          now: dt.datetime) -> IncidentReport:
    tz = settings.timezone
    call = store.get_call(case.call_id)
    incidents = store.list_incidents(call_id=case.call_id)
    evidence = evidence_of(case.recording)
    transcript = transcripts_of(store, [case.recording]).get(case.recording or "")

    def when(moment: dt.datetime) -> str:
        return shown_local_with_zone(moment, tz)

    case_fields = [
        Fieldline("Case number", str(case.id)),
        Fieldline("Category", labels.category(case.category)),
        Fieldline("Priority", f"{priority_name(case.priority)} ({case.priority})"),
        Fieldline("Status", case.status),
        Fieldline("Opened", when(case.opened_at)),
    ]
    if case.closed_at is not None:
        case_fields.append(Fieldline("Closed", when(case.closed_at)))
    case_fields.append(Fieldline("Assigned to", case.assignee or "nobody yet"))
    if case.resolution:
        case_fields.append(Fieldline("Resolution", case.resolution))
    parties = (
        Fieldline("Caller number", caller_shown(case.caller)),
        Fieldline("Agent", case.agent),
        Fieldline("Queue", case.queue),
        Fieldline("Team handling the case", labels.team(case.team)),
        Fieldline("Call reference (Asterisk)", case.call_id, verbatim=True),
    )
    sections = (
        Section("Case", fields=tuple(case_fields)),
        Section("Parties", fields=parties),
        Section("Timeline", timeline=timeline(case, call, incidents, labels),
                paragraphs=(f"Times are local ({_zone_name(tz)}).",)),
        Section("Recording (evidence)", fields=_evidence_fields(evidence) + _transcript_fields(transcript),
                paragraphs=_evidence_notes(evidence)),
        *_transcript_section(transcript),
        Section("Retention", paragraphs=retention_notes(case, settings)),
    )
    intro = f"Made by Respectline on {when(now)} from the case as it stands in the store."
    return IncidentReport(title=f"Incident report - case {case.id}", case_id=case.id, intro=intro,
                          sections=sections, tz=tz, generated_at=now, evidence=evidence)


def timeline(case: Case, call: Call | None, incidents: Sequence[Incident], labels: Labels) -> tuple[TimelineEntry, ...]:
    """The call, the agent's flags and the case's events, oldest first (ties keep this order)."""
    entries: list[TimelineEntry] = []
    if call is not None:
        entries.append(TimelineEntry(call.started_at, "call started", f"caller entered queue {call.queue}", None))
    for incident in incidents:
        outcome = incident.action or "not recorded"
        entries.append(TimelineEntry(
            incident.at, f"agent flagged {labels.category(incident.category)}",
            f"flag {incident.number_in_call} in this call; Respectline's response: {outcome}", incident.agent))
    for event in case.events:
        entries.append(TimelineEntry(event.at, _EVENT_WORDS.get(event.action, event.action), event.detail,
                                     event.author))
    if call is not None and call.ended_at is not None:
        entries.append(TimelineEntry(call.ended_at, "call ended", call.outcome or "", None))
    return tuple(sorted(entries, key=lambda entry: entry.at))


def evidence_of(recording: str | None) -> Evidence:
    """Whether the recording is there now, and its SHA-256 so a copy can be checked against this report."""
    if not recording:
        return Evidence(None, False, None, None)
    path = Path(recording)
    try:
        digest = hashlib.sha256()
        size = 0
        with path.open("rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
            written = os.fstat(file.fileno()).st_mtime
    except OSError:
        return Evidence(recording, False, None, None)
    return Evidence(recording, True, size, digest.hexdigest(), still_written=time.time() - written < STILL_WRITTEN)


STILL_WRITTEN = 10.0
"""A recording written to this recently is taken as still being recorded (a bridged call writes several
times a second)."""


def _evidence_fields(evidence: Evidence) -> tuple[Fieldline, ...]:
    if evidence.path is None:
        return (Fieldline("Recording", "none was made for this case"),)
    fields = [Fieldline("File", evidence.path, verbatim=True),
              Fieldline("File present at export", "yes" if evidence.exists else "no")]
    if evidence.exists:
        fields.append(Fieldline("Size", f"{evidence.size} bytes"))
        fields.append(Fieldline("SHA-256", evidence.sha256 or "", verbatim=True))
    return tuple(fields) + _direction_fields(evidence.path)


def _direction_fields(mixed: str) -> tuple[Fieldline, ...]:
    """``recording.start: connect``: each side of the call in its own file beside the mixed one, with
    its own SHA-256 (``ground.call_spool`` names them)."""
    fields: list[Fieldline] = []
    for side, path in zip(("Caller's side", "Agent's side"), call_spool.direction_files(Path(mixed))):
        direction = evidence_of(str(path))
        if direction.exists:
            fields.append(Fieldline(f"{side} (file)", str(path), verbatim=True))
            fields.append(Fieldline(f"{side} (SHA-256)", direction.sha256 or "", verbatim=True))
    return tuple(fields)


def _transcript_fields(transcript: Transcript | None) -> tuple[Fieldline, ...]:
    if transcript is None:
        return ()
    return (Fieldline("Transcript", f"below ({transcript_heading(transcript)})"),)


def _transcript_section(transcript: Transcript | None) -> tuple[Section, ...]:
    """What was said, made by a speech model from the recording above: one paragraph per segment, with
    its time from the start of the recording and who spoke (caller, agent, or unknown for a mixed file)."""
    if transcript is None:
        return ()
    note = ("Made automatically by a speech model from the recording; words may be misheard. The recording "
            "above, checked by its SHA-256, is the evidence.")
    return (Section("Transcript", paragraphs=(note, *transcript_lines(transcript))),)


def _evidence_notes(evidence: Evidence) -> tuple[str, ...]:
    if evidence.path is None:
        return ("Recording starts when an agent first flags a call, or when the agent answers "
                "(abuse_policy.recording.start: connect); this case has no recording on file.",)
    if not evidence.exists:
        return ("The file was not found: it may not have been written, or it was deleted.",)
    same = "A copy of the file is the same recording when its SHA-256 (sha256sum FILE) equals the one above."
    if evidence.still_written:
        return ("The recording was still being written when this report was made (the call had not ended): "
                "the SHA-256 above is that of the file at that moment, and the file goes on growing until the "
                "call ends. Make the report again after the call for a SHA-256 that stays.", same)
    return (same,)


def retention_notes(case: Case, settings: Settings) -> tuple[str, ...]:
    period = settings.retention.evidence_after_close
    kept = (f"The recording and this case are evidence: they are kept while the case is open and for "
            f"{_duration(period)} after it is closed (retention.evidence_after_close), then deleted.")
    if case.closed_at is not None:
        until = (case.closed_at + dt.timedelta(seconds=period)).astimezone(settings.timezone)
        kept += f" This case was closed, so they are due for deletion after {until:%Y-%m-%d}."
    privacy = ("This report holds personal data (the caller's number). Give it only to the police or to those "
               "who need it for this case, and keep copies no longer than they need them.")
    return (kept, privacy)


def _duration(seconds: float) -> str:
    days = seconds / 86400
    if days >= 1 and days == int(days):
        return f"{int(days)} day{'s' if days != 1 else ''}"
    hours = seconds / 3600
    return f"{hours:g} hours"


def _zone_name(tz: dt.tzinfo) -> str:
    return tz.key if isinstance(tz, ZoneInfo) else str(tz)


# ---------------------------------------------------------------- Markdown

_MD_INLINE = re.compile(r"([\\`*\[\]<>|~])|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")
_MD_LINE_START = re.compile(r"^(\s*)([#+\-=>]|\d+[.)])")


def markdown(report: IncidentReport) -> str:
    out = [f"# {md_text(report.title)}", "", md_line(report.intro), ""]
    for section in report.sections:
        out += [f"## {md_text(section.title)}", ""]
        for fieldline in section.fields:
            value = md_code(fieldline.value) if fieldline.verbatim else md_text(fieldline.value)
            out.append(f"- **{md_text(fieldline.label)}:** {value}")
        if section.fields:
            out.append("")
        for number, entry in enumerate(section.timeline, start=1):
            out.append(f"{number}. **{shown_local_with_zone(entry.at, report.tz)}**: {_md_entry(entry)}")
        if section.timeline:
            out.append("")
        for paragraph in section.paragraphs:
            out += [md_line(paragraph), ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _md_entry(entry: TimelineEntry) -> str:
    text = md_text(entry.what)
    if entry.detail:
        lines = entry.detail.splitlines() or [""]
        text += ": " + md_text(lines[0]) + "".join(f"  \n   {md_line(line)}" for line in lines[1:])
    if entry.by:
        text += f" (by {md_text(entry.by)})"
    return text


def md_text(value: str) -> str:
    """Text inside a line that Markdown shows as written: no emphasis, link, code or HTML can sneak in."""
    flat = " ".join(value.splitlines())
    return _MD_INLINE.sub(lambda m: "\\" + m.group(0), flat)


def md_line(value: str) -> str:
    """Like ``md_text``, for text that starts a line: it cannot start a heading, list or quote either."""
    return _MD_LINE_START.sub(_escape_line_start, md_text(value))


def _escape_line_start(match: re.Match[str]) -> str:
    indent, marker = match.group(1), match.group(2)
    return f"{indent}{marker[:-1]}\\{marker[-1]}"


def md_code(value: str) -> str:
    """A code span that holds ``value`` literally, whatever backticks it contains."""
    flat = " ".join(value.splitlines())
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"
