"""``respectline cases``: Special Care's workflow through the real CLI on a real SQLite store."""

from __future__ import annotations

import hashlib
import re
import stat
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from agi_scripts.storage import Case, CaseToOpen, Escalation, Store
from tests.support.cli_runner import Cli

UTC = timezone.utc
T0 = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)  # 10:00 in Brussels (CET)
CALLER = "+32470123456"


def flagged_call(store: Store, call_id: str = "1700000000.7", *, caller: str = CALLER, team: str = "special_care",
                 priority: int = 2, recording: str | None = None, category: str = "verbal_abuse",
                 at: datetime = T0) -> Case:
    """What the flag handler leaves behind: a call, the agent's flag, a case and its warn event."""
    store.record_call_start(call_id, caller=caller, queue="support", language="nl", route="support",
                            agent="PJSIP/anna", started_at=at)
    booked = store.book_escalation(Escalation(
        call_id=call_id, category=category, number_in_call=1, number_in_category=1, agent="PJSIP/anna",
        caller=caller, queue="support", at=at + timedelta(seconds=41), outcome="warn", team=team,
        case=CaseToOpen(team=team, priority=priority, recording=recording)))
    case = store.get_case(booked.case_id or 0)
    assert case is not None
    store.add_case_event(case.id, "warn", "abuse_warning", at=at + timedelta(seconds=41))
    store.update_call(call_id, ended_at=at + timedelta(minutes=3), outcome="disconnected")
    return case


# ------------------------------------------------------------------ list and show


def test_list_json_has_every_field_with_priority_as_number_and_word(cli: Cli, store: Store) -> None:
    case = flagged_call(store, recording="/rec/evidence.wav")
    listed = cli.json("cases", "list")
    assert isinstance(listed, list)
    (row,) = listed
    assert {k: row[k] for k in ("id", "category", "team", "priority", "priority_name", "status", "agent",
                                "caller", "queue", "recording", "opened_at", "closed_at", "assignee")} == {
        "id": case.id, "category": "verbal_abuse", "team": "special_care", "priority": 2,
        "priority_name": "high", "status": "open", "agent": "PJSIP/anna", "caller": CALLER, "queue": "support",
        "recording": "/rec/evidence.wav", "opened_at": "2025-03-14T10:00:41+01:00", "closed_at": None,
        "assignee": None}
    assert row["events"] == [
        {"at": "2025-03-14T10:00:41+01:00", "action": "case_opened",
         "detail": "category verbal_abuse, team special_care", "author": None},
        {"at": "2025-03-14T10:00:41+01:00", "action": "warn", "detail": "abuse_warning", "author": None},
    ]


def test_list_is_most_urgent_first_and_filters_by_status_and_team(cli: Cli, store: Store) -> None:
    low = flagged_call(store, "c-low", priority=4, caller="+3211000001")
    urgent = flagged_call(store, "c-urgent", priority=1, team="security", category="threat", caller="+3211000002")
    normal = flagged_call(store, "c-normal", priority=3, caller="+3211000003")
    store.close_case(normal.id, "called back")
    listed = cli.json("cases", "list")
    assert isinstance(listed, list)
    assert [(c["id"], c["priority_name"]) for c in listed] == [
        (urgent.id, "urgent"), (normal.id, "normal"), (low.id, "low")]
    closed = cli.json("cases", "list", "--status", "closed")
    assert isinstance(closed, list) and [c["id"] for c in closed] == [normal.id]
    security = cli.json("cases", "list", "--team", "security")
    assert isinstance(security, list) and [c["id"] for c in security] == [urgent.id]
    open_care = cli.json("cases", "list", "--status", "open", "--team", "special_care")
    assert isinstance(open_care, list) and [c["id"] for c in open_care] == [low.id]


def test_list_table_shows_the_caller_in_full_for_the_call_back(cli: Cli, store: Store) -> None:
    flagged_call(store)
    flagged_call(store, "anonymous", caller="", priority=1)
    out = cli.ok("cases", "list")
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["case", "priority", "status"]
    assert len(lines) == 4
    assert "urgent" in lines[2] and "withheld" in lines[2]
    assert "high" in lines[3] and CALLER in lines[3] and "2025-03-14 10:00" in lines[3]


def test_list_without_cases_says_so(cli: Cli) -> None:
    assert cli.ok("cases", "list") == "no cases\n"
    assert cli.json("cases", "list") == []


def test_show_gives_the_case_and_its_timeline(cli: Cli, store: Store, tmp_path: Path) -> None:
    recording = tmp_path / "evidence.wav"
    recording.write_bytes(b"RIFF....WAVE")
    case = flagged_call(store, recording=str(recording))
    out = cli.ok("cases", "show", str(case.id))
    assert out.startswith(f"Case {case.id}: verbal_abuse, high priority, open\n")
    assert CALLER in out and f"{recording} (present)" in out
    assert re.search(r"2025-03-14 10:00:41\s+warn\s+abuse_warning", out)
    shown = cli.json("cases", "show", str(case.id))
    assert isinstance(shown, dict) and shown["id"] == case.id and len(shown["events"]) == 2


def test_terminal_escapes_in_a_caller_id_do_not_reach_the_terminal(cli: Cli, store: Store) -> None:
    case = flagged_call(store, caller="+32\x1b]0;pwned\x07")
    for argv in (("cases", "list"), ("cases", "show", str(case.id))):
        out = cli.ok(*argv)
        assert "\x1b" not in out and "\x07" not in out and "+32\\x1b]0;pwned\\x07" in out


# ------------------------------------------------------------------ the workflow


def test_assign_note_close_then_closing_again_fails_cleanly(cli: Cli, store: Store) -> None:
    case = flagged_call(store)
    assert cli.ok("cases", "assign", str(case.id), "--to", "Eva Peeters", "--by", "Jan") == (
        f"case {case.id} assigned to Eva Peeters\n")
    assert cli.ok("cases", "note", str(case.id), "--by", "Eva Peeters", "Called back;", "customer apologised") == (
        f"note added to case {case.id}\n")
    assert cli.ok("cases", "close", str(case.id), "--resolution", "no police report", "--by", "Eva Peeters") == (
        f"case {case.id} closed\n")

    shown = cli.json("cases", "show", str(case.id))
    assert isinstance(shown, dict)
    assert (shown["status"], shown["assignee"], shown["resolution"]) == ("closed", "Eva Peeters", "no police report")
    assert datetime.fromisoformat(shown["closed_at"]).tzinfo is not None
    assert [(e["action"], e["detail"], e["author"]) for e in shown["events"][2:]] == [
        ("assigned", "Eva Peeters", "Jan"),
        ("note", "Called back; customer apologised", "Eva Peeters"),
        ("closed", "no police report", "Eva Peeters"),
    ]

    code, out, err = cli.run("cases", "close", str(case.id), "--resolution", "again")
    assert (code, out) == (1, "") and err == f"error: cannot close case {case.id}: it is closed\n"
    code, _, err = cli.run("cases", "assign", str(case.id), "--to", "Someone")
    assert code == 1 and "it is closed" in err
    still = store.get_case(case.id)
    assert still is not None and still.resolution == "no police report" and len(still.events) == 5


@pytest.mark.parametrize("argv", [
    ("cases", "show", "12"),
    ("cases", "assign", "12", "--to", "Eva"),
    ("cases", "note", "12", "--by", "Eva", "hello"),
    ("cases", "close", "12", "--resolution", "done"),
    ("cases", "export", "12"),
])
def test_an_unknown_case_is_named_in_the_error(cli: Cli, store: Store, argv: tuple[str, ...]) -> None:
    flagged_call(store)
    code, out, err = cli.run(*argv)
    assert (code, out, err) == (1, "", "error: case 12 does not exist\n")


@pytest.mark.parametrize("argv, complaint", [
    (("cases", "show", "abc"), "positive whole number"),
    (("cases", "show", "0"), "positive whole number"),
    (("cases", "assign", "1", "--to", "   "), "name cannot be empty"),
    (("cases", "close", "1", "--resolution", " "), "text cannot be empty"),
    (("cases", "list", "--status", "pending"), "invalid choice"),
])
def test_usage_mistakes_are_refused_before_touching_the_store(cli: Cli, argv: tuple[str, ...],
                                                              complaint: str) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.run(*argv)
    assert exited.value.code == 2
    assert complaint in cli.capsys.readouterr().err


# ------------------------------------------------------------------ export


def test_export_markdown_has_parties_timeline_recording_hash_and_retention(cli: Cli, store: Store,
                                                                          tmp_path: Path) -> None:
    recording = tmp_path / "evidence" / "1700000000.7.wav"
    recording.parent.mkdir()
    recording.write_bytes(b"RIFF" + bytes(range(256)) * 40)
    case = flagged_call(store, recording=str(recording))
    store.add_case_note(case.id, "Eva", "police report filed, PV 123", at=T0 + timedelta(days=1))
    text = cli.ok("cases", "export", str(case.id))

    assert text.startswith(f"# Incident report - case {case.id}\n")
    assert f"- **Case number:** {case.id}" in text
    assert "- **Category:** Verbal abuse (verbal_abuse)" in text  # the label from flows/abuse_policy.yaml
    assert f"- **Caller number:** {CALLER}" in text
    assert "- **Agent:** PJSIP/anna" in text and "- **Queue:** support" in text
    assert "- **Team handling the case:** Special Care (special_care)" in text
    timeline = [line for line in text.splitlines() if re.match(r"\d+\. \*\*2025-", line)]
    assert [line.split("**: ", 1)[1] for line in timeline] == [
        "call started: caller entered queue support",
        "agent flagged Verbal abuse (verbal_abuse): flag 1 in this call; Respectline's response: warn (by PJSIP/anna)",
        "case opened: category verbal_abuse, team special_care",
        "caller warned: abuse_warning",
        "call ended: disconnected",
        "note: police report filed, PV 123 (by Eva)",
    ]
    assert timeline[0].startswith("1. **2025-03-14 10:00:00 CET (+01:00)**")
    assert timeline[-1].startswith("6. **2025-03-15 10:00:00 CET (+01:00)**")
    digest = hashlib.sha256(recording.read_bytes()).hexdigest()
    assert f"- **SHA-256:** `{digest}`" in text
    assert f"- **File:** `{recording}`" in text and "- **File present at export:** yes" in text
    assert f"- **Size:** {recording.stat().st_size} bytes" in text
    assert "## Retention" in text and "365 days after it is closed" in text


def test_export_of_a_missing_recording_says_so_without_a_hash(cli: Cli, store: Store, tmp_path: Path) -> None:
    case = flagged_call(store, recording=str(tmp_path / "gone.wav"))
    text = cli.ok("cases", "export", str(case.id))
    assert "- **File present at export:** no" in text and "SHA-256:**" not in text


def test_export_of_a_closed_case_gives_its_deletion_date(cli: Cli, store: Store) -> None:
    case = flagged_call(store)
    store.close_case(case.id, "done", at=datetime(2025, 4, 1, 12, 0, tzinfo=UTC))
    text = cli.ok("cases", "export", str(case.id))
    assert "due for deletion after 2026-04-01" in text and "- **Recording:** none was made for this case" in text


def test_export_keeps_hostile_text_from_becoming_markdown(cli: Cli, store: Store) -> None:
    case = flagged_call(store, caller="<img src=x onerror=alert(1)>")
    store.add_case_note(case.id, "Eva", "see [this](http://evil.example) *now*\n# not a heading")
    text = cli.ok("cases", "export", str(case.id))
    assert "\\<img src=x onerror=alert(1)\\>" in text
    for raw in (r"<img", r"\[this\]", r"\*now"):
        assert not re.search(r"(?<!\\)" + raw, text), f"{raw} reached the report unescaped"
    assert "\\[this\\](http://evil.example) \\*now\\*" in text
    assert "\n# not a heading" not in text and "\\# not a heading" in text


def test_export_to_a_file_is_private_and_the_same_as_stdout(cli: Cli, store: Store, tmp_path: Path) -> None:
    case = flagged_call(store)
    out_file = tmp_path / "case.md"
    code, out, err = cli.run("cases", "export", str(case.id), "--out", str(out_file))
    assert code == 0 and out == "" and str(out_file) in err
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    on_stdout = cli.ok("cases", "export", str(case.id))
    without_time = re.compile(r"Made by Respectline on .*? from")
    assert without_time.sub("", out_file.read_text()) == without_time.sub("", on_stdout)


def test_export_into_a_missing_folder_is_a_clear_error(cli: Cli, store: Store, tmp_path: Path) -> None:
    case = flagged_call(store)
    code, _, err = cli.run("cases", "export", str(case.id), "--out", str(tmp_path / "no" / "such" / "r.md"))
    assert code == 1 and err.startswith("error: cannot write") and "Traceback" not in err


def pdf_text(data: bytes) -> str:
    """The text operators of every page, inflated: enough to find what the PDF says."""
    chunks = []
    for match in re.finditer(rb"stream\r?\n(.*?)\nendstream", data, re.S):
        # Compressed bytes may themselves end in "\r": only the newline is the delimiter's for sure.
        raw = match.group(1)
        for candidate in (raw, raw[:-1] if raw.endswith(b"\r") else None):
            try:
                chunks.append(zlib.decompress(candidate))  # type: ignore[arg-type]
                break
            except (zlib.error, TypeError):
                continue
        else:
            chunks.append(raw)
    return b"\n".join(chunks).decode("latin-1")


def test_export_pdf_holds_the_case_timeline_and_hash(cli: Cli, store: Store, tmp_path: Path) -> None:
    recording = tmp_path / "evidence.wav"
    recording.write_bytes(b"RIFF" + b"\x01" * 5000)
    case = flagged_call(store, recording=str(recording), caller="+32470123456")
    store.add_case_note(case.id, "Zoë Łukasz", "called back")
    out_file = tmp_path / "case.pdf"
    code, _, err = cli.run("cases", "export", str(case.id), "--format", "pdf", "--out", str(out_file))
    assert code == 0, err
    data = out_file.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    text = pdf_text(data)
    assert f"Incident report - case {case.id}" in text
    assert hashlib.sha256(recording.read_bytes()).hexdigest() in text
    assert CALLER in text and "2025-03-14 10:00:41 CET \\(+01:00\\)" in text
    assert "Zo\xeb Lukasz" in text  # Latin-1 kept, other letters folded for the PDF's built-in fonts


def test_the_pdf_reader_of_these_tests_keeps_a_stream_whose_compressed_bytes_end_in_cr() -> None:
    """The reader once cut such a stream's last byte and missed the text (a flaky export test)."""
    n = 0
    while not (packed := zlib.compress(f"BT (hash {n}) Tj ET".encode())).endswith(b"\r"):
        n += 1
    assert pdf_text(b"%PDF-1.3\nstream\n" + packed + b"\nendstream\n%%EOF") == f"BT (hash {n}) Tj ET"
