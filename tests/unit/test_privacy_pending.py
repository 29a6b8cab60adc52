"""An erasure refused because a case was still needed waits, and the retention sweep finishes it when
the case's retention ends (issue 12, finding 14): on SQLite and PostgreSQL, and through the CLI."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agi_scripts.config.settings import RetentionSettings
from agi_scripts.privacy.requests import ErasureReport, ErasureSweep, erase_caller_data
from agi_scripts.privacy.retention import PurgeSummary, apply_retention
from agi_scripts.privacy.sweeper import RetentionSweeper
from agi_scripts.storage import CaseToOpen, Escalation, PendingErasure, Store, StoreError
from tests.support.cli_runner import Cli
from tests.support.config_tree import ConfigTree

UTC = timezone.utc
DAY = 86400.0
CALLER = "+32470123456"
OTHER = "+32470999999"
RETENTION = RetentionSettings(unflagged_recordings=30 * DAY, evidence_after_close=365 * DAY)
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def flagged_case(store: Store, call_id: str, at: datetime, *, caller: str = CALLER,
                 recording: Path | None = None) -> int:
    """A call flagged to a case, as the ladder books it."""
    store.record_call_start(call_id, caller=caller, queue="support", language="nl", route="support", agent="anna",
                            started_at=at)
    booked = store.book_escalation(Escalation(
        call_id=call_id, category="verbal_abuse", number_in_call=1, number_in_category=1, agent="anna",
        caller=caller, queue="support", at=at, outcome="disconnect", team="special_care",
        case=CaseToOpen(team="special_care", priority=2, recording=str(recording) if recording else None)))
    assert booked.case_id is not None
    return booked.case_id


def recording(root: Path, relative: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF....WAVE")
    return path


def erase(store: Store, root: Path, now: datetime, caller: str = CALLER) -> ErasureReport:
    return erase_caller_data(store, caller, recordings_dir=root, retention=RETENTION, now=now)


def sweep(store: Store, root: Path, now: datetime) -> PurgeSummary:
    return apply_retention(store, root, RETENTION, now=now)


def refusals(store: Store, case_id: int) -> int:
    case = store.get_case(case_id)
    assert case is not None
    return [event.action for event in case.events].count("erasure_refused")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "recordings"
    folder.mkdir()
    return folder


# ------------------------------------------------------------------ the store


def test_the_store_queues_one_row_per_caller_lists_them_oldest_first_and_finishes_them(store: Store) -> None:
    first = store.queue_erasure(OTHER, at=T0)
    store.queue_erasure(CALLER, at=T0 + timedelta(hours=1))
    again = store.queue_erasure(OTHER, at=T0 + timedelta(days=2))

    assert first == PendingErasure(OTHER, T0, T0)
    assert again == PendingErasure(OTHER, T0, T0 + timedelta(days=2)), "the first request's time stays"
    assert store.pending_erasures() == [again, PendingErasure(CALLER, T0 + timedelta(hours=1),
                                                              T0 + timedelta(hours=1))]
    assert store.caller_records(OTHER).pending_erasure == again
    assert store.finish_erasure(OTHER) is True
    assert store.finish_erasure(OTHER) is False
    assert [p.caller for p in store.pending_erasures()] == [CALLER]
    assert store.caller_records(OTHER).pending_erasure is None


def test_a_blank_number_is_never_queued(store: Store) -> None:
    with pytest.raises(ValueError, match="blank"):
        store.queue_erasure("  ", at=T0)
    assert store.pending_erasures() == []


# ------------------------------------------------------------------ a request, and the sweep that finishes it


def test_an_open_case_keeps_the_request_queued_and_the_answer_says_it_waits_for_the_case(
        store: Store, root: Path) -> None:
    case_id = flagged_case(store, "1.1", T0)

    report = erase(store, root, T0 + timedelta(days=1))

    assert report.queued == PendingErasure(CALLER, T0 + timedelta(days=1), T0 + timedelta(days=1))
    assert report.wait is not None and report.wait.open_cases == (case_id,) and report.wait.earliest is None
    assert store.pending_erasures() == [report.queued]
    assert store.get_call("1.1") is None, "what may go went at once"
    case = store.get_case(case_id)
    assert case is not None and case.caller == CALLER and refusals(store, case_id) == 1


def test_an_erasure_that_kept_nothing_is_finished_at_once_and_leaves_no_row(store: Store, root: Path) -> None:
    store.record_call_start("2.1", caller=CALLER, queue="support", language="nl", route="support", started_at=T0)

    report = erase(store, root, T0 + timedelta(days=1))

    assert report.queued is None and report.wait is None
    assert store.pending_erasures() == [], "the number is not kept longer than needed"


def test_a_case_closed_but_within_its_retention_keeps_the_request_queued_through_the_sweeps(
        store: Store, root: Path) -> None:
    case_id = flagged_case(store, "3.1", T0)
    erase(store, root, T0 + timedelta(days=1))
    closed = T0 + timedelta(days=10)
    store.close_case(case_id, "called back", at=closed)

    summary = sweep(store, root, closed + timedelta(days=364))
    again = sweep(store, root, closed + timedelta(days=364, hours=1))

    assert summary.erasures == ErasureSweep(finished=0, waiting=1) and again.erasures.waiting == 1
    assert store.pending_erasures() == [PendingErasure(CALLER, T0 + timedelta(days=1),
                                                       closed + timedelta(days=364, hours=1))]
    case = store.get_case(case_id)
    assert case is not None and case.caller == CALLER
    assert refusals(store, case_id) == 1, "each hourly retry does not add to the case's timeline"
    report = erase(store, root, closed + timedelta(days=365) - timedelta(minutes=1))
    assert report.wait is not None and report.wait.open_cases == ()
    assert report.wait.earliest == closed + timedelta(days=365)


def test_after_its_retention_the_sweep_finishes_the_erasure_anonymises_the_case_and_deletes_its_evidence(
        store: Store, root: Path) -> None:
    evidence = recording(root, "evidence/2026/01/4.1.wav")
    case_id = flagged_case(store, "4.1", T0, recording=evidence)
    kept_for_other = flagged_case(store, "4.2", T0, caller=OTHER)
    erase(store, root, T0 + timedelta(days=1))
    closed = T0 + timedelta(days=10)
    store.close_case(case_id, "called back", at=closed)
    assert evidence.exists()

    summary = sweep(store, root, closed + timedelta(days=365, hours=1))

    assert summary.erasures == ErasureSweep(finished=1)
    assert store.pending_erasures() == [], "finished: the row and the number in it are gone"
    case = store.get_case(case_id)
    assert case is not None and case.caller == "" and case.recording == str(evidence)
    assert not evidence.exists()
    assert ("recording_deleted", "erased at the caller's request") in [(e.action, e.detail) for e in case.events]
    assert [i.caller for i in store.list_incidents(call_id="4.1")] == [""]
    remaining = store.caller_records(CALLER)
    assert (remaining.calls, remaining.incidents, remaining.cases, remaining.pending_erasure) == ((), (), (), None)
    other = store.get_case(kept_for_other)
    assert other is not None and other.caller == OTHER, "another caller's case is not touched"


def test_the_servers_hourly_sweeper_finishes_a_request_whose_cases_aged_out(store: Store, root: Path) -> None:
    case_id = flagged_case(store, "5.1", T0)
    erase(store, root, T0 + timedelta(days=1))
    store.close_case(case_id, "called back", at=T0 + timedelta(days=2))

    RetentionSweeper(store, root, RETENTION, clock=lambda: T0 + timedelta(days=400)).sweep()

    assert store.pending_erasures() == []
    case = store.get_case(case_id)
    assert case is not None and case.caller == ""


def test_a_second_request_for_the_same_caller_does_not_duplicate_the_row(store: Store, root: Path) -> None:
    case_id = flagged_case(store, "6.1", T0)

    erase(store, root, T0 + timedelta(days=1))
    second = erase(store, root, T0 + timedelta(days=3))

    assert store.pending_erasures() == [PendingErasure(CALLER, T0 + timedelta(days=1), T0 + timedelta(days=3))]
    assert second.queued == store.pending_erasures()[0]
    assert refusals(store, case_id) == 1


def test_a_store_failure_during_the_retry_leaves_the_request_queued_and_the_others_go_on(
        store: Store, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for call_id, caller in (("7.1", CALLER), ("7.2", OTHER)):
        case_id = flagged_case(store, call_id, T0, caller=caller)
        erase(store, root, T0 + timedelta(days=1), caller)
        store.close_case(case_id, "called back", at=T0 + timedelta(days=2))
    real_erase = store.erase_caller

    def erase_failing_for_caller(caller: str, **kwargs: datetime) -> object:
        if caller == CALLER:
            raise StoreError("database error: disk I/O error")
        return real_erase(caller, **kwargs)

    monkeypatch.setattr(store, "erase_caller", erase_failing_for_caller)
    summary = sweep(store, root, T0 + timedelta(days=400))

    assert summary.erasures == ErasureSweep(finished=1, failed=1)
    assert [p.caller for p in store.pending_erasures()] == [CALLER]
    monkeypatch.undo()
    assert sweep(store, root, T0 + timedelta(days=400, hours=1)).erasures == ErasureSweep(finished=1)
    assert store.pending_erasures() == []


def test_an_erasure_done_but_not_crossed_off_is_crossed_off_by_the_next_sweep(
        store: Store, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store.record_call_start("8.1", caller=CALLER, queue="support", language="nl", route="support", started_at=T0)

    def unavailable(caller: str) -> bool:
        raise StoreError("database error: connection lost")

    monkeypatch.setattr(store, "finish_erasure", unavailable)
    report = erase(store, root, T0 + timedelta(days=1))
    assert report.queued is None and store.get_call("8.1") is None, "erased all the same"
    assert [p.caller for p in store.pending_erasures()] == [CALLER]

    monkeypatch.undo()
    assert sweep(store, root, T0 + timedelta(days=1, hours=1)).erasures == ErasureSweep(finished=1)
    assert store.pending_erasures() == []


def test_a_dry_run_counts_the_waiting_requests_and_retries_none(store: Store, root: Path) -> None:
    case_id = flagged_case(store, "9.1", T0)
    erase(store, root, T0 + timedelta(days=1))
    store.close_case(case_id, "called back", at=T0 + timedelta(days=2))

    summary = apply_retention(store, root, RETENTION, now=T0 + timedelta(days=400), dry_run=True)

    assert summary.erasures == ErasureSweep(waiting=1)
    case = store.get_case(case_id)
    assert case is not None and case.caller == CALLER
    assert store.pending_erasures()[0].last_tried_at == T0 + timedelta(days=1)


# ------------------------------------------------------------------ the CLI


BRUSSELS = ZoneInfo("Europe/Brussels")


def test_erase_says_the_rest_is_queued_until_the_open_case_closes(cli: Cli, store: Store) -> None:
    case_id = flagged_case(store, "10.1", datetime.now(UTC) - timedelta(days=3))

    out = cli.ok("privacy", "erase", "--caller", CALLER, "--yes")

    assert (f"the rest is queued: the hourly retention sweep erases it when case {case_id} closes, plus "
            "retention.evidence_after_close (365 days)") in out
    assert [p.caller for p in store.pending_erasures()] == [CALLER]


def test_erase_json_gives_the_earliest_finish_of_a_closed_case_within_retention(cli: Cli, store: Store) -> None:
    case_id = flagged_case(store, "11.1", datetime.now(UTC) - timedelta(days=30))
    closed = store.close_case(case_id, "called back", at=datetime.now(UTC) - timedelta(days=20)).closed_at
    assert closed is not None

    answer = cli.json("privacy", "erase", "--caller", CALLER, "--yes")

    assert isinstance(answer, dict)
    queued = answer["erasure_queued"]
    assert queued["waits_for_cases_to_close"] == []
    assert datetime.fromisoformat(queued["finish_earliest"]) == closed + timedelta(days=365)
    assert queued["finish_earliest"].endswith(("+01:00", "+02:00")), "in the configured time zone"
    text = cli.ok("privacy", "erase", "--caller", CALLER, "--yes")
    assert f"erases it on {(closed + timedelta(days=365)).astimezone(BRUSSELS):%Y-%m-%d %H:%M} at the earliest" in text


def test_erase_with_nothing_kept_queues_nothing(cli: Cli, store: Store) -> None:
    store.record_call_start("12.1", caller=CALLER, queue="support", language="nl", route="support")

    answer = cli.json("privacy", "erase", "--caller", CALLER, "--yes")

    assert isinstance(answer, dict) and answer["erasure_queued"] is None
    assert "the rest is queued" not in cli.ok("privacy", "erase", "--caller", CALLER, "--yes")
    assert cli.ok("privacy", "pending") == "no erasure request is waiting\n"


def test_pending_lists_the_requests_with_masked_numbers_unless_asked(cli: Cli, store: Store) -> None:
    case_id = flagged_case(store, "13.1", datetime.now(UTC) - timedelta(days=3))
    cli.ok("privacy", "erase", "--caller", CALLER, "--yes")

    out = cli.ok("privacy", "pending")
    assert "+3247****56" in out and CALLER not in out
    assert f"when case {case_id} closes" in out
    assert CALLER in cli.ok("privacy", "pending", "--show-numbers")

    [row] = cli.json("privacy", "pending")  # type: ignore[misc]
    assert row["caller"] == "+3247****56" and row["cases_kept"] == [case_id]
    assert row["waits_for_cases_to_close"] == [case_id] and row["finish_earliest"] is None
    [full] = cli.json("privacy", "pending", "--show-numbers")  # type: ignore[misc]
    assert full["caller"] == CALLER
    assert datetime.fromisoformat(full["requested_at"]) == store.pending_erasures()[0].requested_at


def test_export_shows_the_waiting_request(cli: Cli, store: Store) -> None:
    flagged_case(store, "14.1", datetime.now(UTC) - timedelta(days=3))
    cli.ok("privacy", "erase", "--caller", CALLER, "--yes")

    exported = json.loads(cli.ok("privacy", "export", "--caller", CALLER))

    assert exported["erasure_pending"]["requested_at"] is not None


def test_purge_finishes_a_request_whose_cases_aged_out_and_says_so(
        cli: Cli, store: Store, config_tree: ConfigTree) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=400)
    case_id = flagged_case(store, "15.1", long_ago)
    erase(store, config_tree.root / "var" / "recordings", long_ago + timedelta(days=1))
    store.close_case(case_id, "called back", at=long_ago + timedelta(days=2))

    out = cli.ok("privacy", "purge")

    assert "erasure requests: 1 finished, 0 still waiting for kept cases, 0 failed" in out
    assert store.pending_erasures() == []
    case = store.get_case(case_id)
    assert case is not None and case.caller == ""
