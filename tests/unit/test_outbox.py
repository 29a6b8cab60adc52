"""The outbox keeps each flag's booking until the store has it: on disk, privately, or in memory when the
disk fails; a file that is not an escalation is set aside, never trusted."""

from __future__ import annotations

import datetime as dt
import logging
import os
import stat
from pathlib import Path

import pytest

from agi_scripts.storage.base import CaseToOpen, Escalation, PauseToBook
from agi_scripts.storage.outbox import SUFFIX, Outbox, decode, encode, with_pause_lifted

T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.timezone.utc)


def escalation(number: int = 1, call_id: str = "1700000000.1") -> Escalation:
    return Escalation(
        call_id=call_id, category="threat", number_in_call=number, number_in_category=number, agent="Agent One",
        caller="+32471234512", queue="support", at=T0 + dt.timedelta(seconds=number), outcome="disconnect",
        team="security", case=CaseToOpen(team="security", priority=1, recording="/rec/evidence/x.wav"),
        pause=PauseToBook(agent="PJSIP/agent1", reason="Respectline recovery after Threat",
                          resume_at=T0 + dt.timedelta(minutes=15)),
        events=(("agent_paused", "Agent One for 15 min"), ("disconnect", "abuse_closing_threat")))


def test_an_escalation_survives_the_round_trip_through_its_file() -> None:
    item = escalation()
    assert decode(encode(item)) == item
    lifted = with_pause_lifted(item, T0 + dt.timedelta(minutes=15))
    assert decode(encode(lifted)) == lifted


def test_a_held_flag_is_a_private_file_until_it_is_booked(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "spool")
    item = escalation()
    outbox.hold(item)
    [file] = list((tmp_path / "spool").iterdir())
    assert file.name.endswith(SUFFIX) and "1700000000" not in file.name  # the name is a hash of the key
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "spool").stat().st_mode) == 0o700
    assert outbox.pending() == []  # its handler is still booking it
    outbox.unbooked(item)
    assert outbox.pending() == [item]
    outbox.booked(item)
    assert outbox.pending() == [] and list((tmp_path / "spool").iterdir()) == []


def test_another_process_reads_the_held_flags_oldest_first(tmp_path: Path) -> None:
    writer = Outbox(tmp_path / "spool")
    for number in (2, 1):
        writer.hold(escalation(number))
    reader = Outbox(tmp_path / "spool")
    assert [e.number_in_call for e in reader.pending()] == [1, 2]
    assert reader.pending(min_age_seconds=60, now=T0 + dt.timedelta(seconds=30)) == []


def test_a_spool_folder_that_cannot_be_written_keeps_the_flag_in_memory(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocked = tmp_path / "spool"
    blocked.write_text("a file where the folder should be")  # like a read-only or full share
    outbox = Outbox(blocked)
    item = escalation()
    with caplog.at_level(logging.ERROR):
        outbox.hold(item)
    outbox.unbooked(item)
    assert outbox.pending() == [item]
    assert "held in this process's memory only" in caplog.text
    outbox.release(item)
    assert outbox.pending() == []


@pytest.mark.parametrize("content", [b"not json", b'{"call_id": 5}', b"{" + b" " * 70_000 + b"}",
                                     b'{"call_id": "c", "category": "t", "number_in_call": true}'])
def test_a_file_that_is_no_escalation_is_set_aside_not_trusted(
        tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / f"forged{SUFFIX}").write_bytes(content)
    with caplog.at_level(logging.ERROR):
        assert Outbox(spool).pending() == []
    assert (spool / f"forged{SUFFIX}.bad").exists() and "moved aside" in caplog.text


def test_a_symlink_in_the_spool_is_not_followed(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    outside = tmp_path / "outside.json"
    outside.write_text(str(encode(escalation())))
    os.symlink(outside, spool / f"link{SUFFIX}")
    assert Outbox(spool).pending() == []
    assert outside.exists()


def test_a_lifted_pause_replaces_the_file_whole(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "spool")
    item = escalation()
    outbox.hold(item)
    outbox.unbooked(item)
    outbox.update(with_pause_lifted(item, T0 + dt.timedelta(minutes=15)))
    [again] = Outbox(tmp_path / "spool").pending()
    assert again.pause is not None and again.pause.resumed_at == T0 + dt.timedelta(minutes=15)
    assert len(list((tmp_path / "spool").iterdir())) == 1
