"""A pause whose end cannot be sent to Asterisk stays due, to be lifted on a later round."""

from __future__ import annotations

import datetime as dt
import logging
import socket
import threading
import time
from pathlib import Path

import pytest

from agi_scripts.config.settings import AmiSettings
from agi_scripts.policy.pauses import PauseKeeper
from agi_scripts.sandbox.asterisk import free_port
from agi_scripts.storage import CaseToOpen, Escalation, PauseToBook, StoreError, open_store
from agi_scripts.storage.outbox import Outbox


def test_unreachable_ami_keeps_the_pause_due_and_logs_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.sqlite'}")
    now = dt.datetime.now(dt.timezone.utc)
    store.record_pause(agent="PJSIP/agent1", queues=(), reason="test", paused_at=now - dt.timedelta(minutes=6),
                       resume_at=now - dt.timedelta(minutes=1))
    keeper = PauseKeeper(store, AmiSettings(port=free_port(), username="rl", secret="x"))
    with caplog.at_level(logging.ERROR):
        assert keeper.lift_due() == 0
    assert "cannot reach Asterisk's AMI" in caplog.text
    assert [p.agent for p in store.due_pauses(now)] == ["PJSIP/agent1"]
    store.close()


def test_nothing_due_needs_no_ami(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.sqlite'}")
    keeper = PauseKeeper(store, AmiSettings(port=free_port(), username="rl", secret="x"))
    assert keeper.lift_due() == 0
    store.close()


class FakeAmi:
    """An AMI server that accepts any login and records the QueuePause actions it is sent."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.unpaused: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            with connection:
                connection.sendall(b"Asterisk Call Manager/11.0.0\r\n")
                buffer = b""
                while chunk := connection.recv(65536):
                    buffer += chunk
                    while b"\r\n\r\n" in buffer:
                        raw, buffer = buffer.split(b"\r\n\r\n", 1)
                        fields = dict(line.split(": ", 1) for line in raw.decode().split("\r\n"))
                        if fields["Action"] == "QueuePause":
                            self.unpaused.append(fields["Interface"])
                        connection.sendall(f"Response: Success\r\nActionID: {fields['ActionID']}\r\n\r\n".encode())

    def close(self) -> None:
        self.server.close()


def test_overlapping_pauses_of_one_agent_end_when_the_last_one_does(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.sqlite'}")
    ami = FakeAmi()
    now = dt.datetime.now(dt.timezone.utc)
    store.record_pause(agent="PJSIP/agent1", queues=(), reason="verbal", paused_at=now - dt.timedelta(minutes=6),
                       resume_at=now - dt.timedelta(seconds=1))
    store.record_pause(agent="PJSIP/agent1", queues=(), reason="threat", paused_at=now - dt.timedelta(minutes=1),
                       resume_at=now + dt.timedelta(minutes=14))
    keeper = PauseKeeper(store, AmiSettings(port=ami.port, username="rl", secret="x"))
    assert keeper.lift_due() == 1
    assert ami.unpaused == []  # the threat's pause still runs: no QueuePause false yet
    later = PauseKeeper(store, AmiSettings(port=ami.port, username="rl", secret="x"),
                        clock=lambda: now + dt.timedelta(minutes=15))
    assert later.lift_due() == 1
    assert ami.unpaused == ["PJSIP/agent1"]
    ami.close()
    store.close()


def test_a_row_no_ami_action_can_carry_neither_stops_the_keeper_nor_the_other_pauses(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.sqlite'}")
    ami = FakeAmi()
    now = dt.datetime.now(dt.timezone.utc)
    for agent in ("PJSIP/agent1\rForged: yes", "PJSIP/agent2"):
        store.record_pause(agent=agent, queues=(), reason="test", paused_at=now - dt.timedelta(minutes=6),
                           resume_at=now - dt.timedelta(minutes=1))
    keeper = PauseKeeper(store, AmiSettings(port=ami.port, username="rl", secret="x"), interval=0.05)
    with caplog.at_level(logging.ERROR):
        keeper.start()
        deadline = time.monotonic() + 5
        while store.due_pauses(now) and time.monotonic() < deadline:
            time.sleep(0.05)
        keeper.stop()
    assert store.due_pauses(now) == []
    assert ami.unpaused == ["PJSIP/agent2"]
    assert "cannot be lifted through AMI" in caplog.text and "\r" not in caplog.text
    ami.close()
    store.close()


def held_flag(outbox: Outbox, agent: str, paused_at: dt.datetime, resume_at: dt.datetime, *,
              call: str = "c1", case: bool = False) -> Escalation:
    """A flag the handler could not book: written ahead, then handed to the keeper."""
    escalation = Escalation(
        call_id=call, category="threat", number_in_call=1, number_in_category=1, agent=agent.split("/")[-1],
        caller="+3225551234", queue="support", at=paused_at, outcome="disconnect",
        case=CaseToOpen(team="security", priority=1) if case else None,
        pause=PauseToBook(agent=agent, reason="threat", resume_at=resume_at),
        events=(("disconnect", "abuse_closing"),) if case else ())
    outbox.hold(escalation)
    outbox.unbooked(escalation)
    return escalation


def test_a_pause_the_store_could_not_book_is_lifted_on_time_and_booked_once_the_store_is_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.sqlite'}")
    ami = FakeAmi()
    now = dt.datetime.now(dt.timezone.utc)
    outbox = Outbox(tmp_path / "spool")
    held_flag(outbox, "PJSIP/agent1", now - dt.timedelta(minutes=15), now - dt.timedelta(seconds=1), call="c1")
    held_flag(outbox, "PJSIP/agent2", now, now + dt.timedelta(minutes=5), call="c2", case=True)

    def down(*_args: object, **_kwargs: object) -> None:
        raise StoreError("database is locked")

    keeper = PauseKeeper(store, AmiSettings(port=ami.port, username="rl", secret="x"), outbox=outbox)
    with monkeypatch.context() as outage:
        outage.setattr(type(store), "book_escalation", down)
        outage.setattr(type(store), "due_pauses", down)
        assert keeper.lift_due() == 1  # the due one is lifted although the store never saw it
        assert keeper.lift_due() == 0  # and only once
    assert ami.unpaused == ["PJSIP/agent1"] and len(outbox) == 2
    assert keeper.lift_due() == 0  # the store answers again: both flags are booked, the lifted pause as ended
    assert len(outbox) == 0 and list((tmp_path / "spool").iterdir()) == []
    assert [p.agent for p in store.active_pauses()] == ["PJSIP/agent2"]
    assert [(i.call_id, i.action) for i in store.list_incidents()] == [("c1", "disconnect"), ("c2", "disconnect")]
    [case] = store.list_cases()
    assert (case.call_id, [e.action for e in case.events]) == ("c2", ["case_opened", "disconnect"])
    keeper.lift_due()
    assert len(store.list_cases()) == 1 and len(store.list_incidents()) == 2  # booked exactly once
    ami.close()
    store.close()


def test_a_running_pause_held_in_the_outbox_keeps_the_agent_paused_when_a_booked_one_ends(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.sqlite'}")
    ami = FakeAmi()
    now = dt.datetime.now(dt.timezone.utc)
    store.record_pause(agent="PJSIP/agent1", queues=(), reason="verbal", paused_at=now - dt.timedelta(minutes=5),
                       resume_at=now - dt.timedelta(seconds=1))
    outbox = Outbox(tmp_path / "spool")
    held_flag(outbox, "PJSIP/agent1", now, now + dt.timedelta(minutes=15))
    keeper = PauseKeeper(store, AmiSettings(port=ami.port, username="rl", secret="x"), outbox=outbox)
    with monkeypatch.context() as outage:
        outage.setattr(type(store), "book_escalation",
                       lambda *_a, **_k: (_ for _ in ()).throw(StoreError("database is locked")))
        assert keeper.lift_due() == 1  # the booked pause is marked ended ...
    assert ami.unpaused == []  # ... but the agent stays paused: the held one runs 15 more minutes
    ami.close()
    store.close()


def test_the_keeper_books_from_the_very_outbox_the_handlers_fill_even_when_it_starts_empty(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.sqlite'}")
    outbox = Outbox(tmp_path / "spool")  # empty, hence falsy: it must still be the one the keeper reads
    keeper = PauseKeeper(store, AmiSettings(port=free_port(), username="rl", secret="x"), outbox=outbox)
    now = dt.datetime.now(dt.timezone.utc)
    held_flag(outbox, "PJSIP/agent1", now, now + dt.timedelta(minutes=5))
    keeper.lift_due()
    assert [p.agent for p in store.active_pauses()] == ["PJSIP/agent1"] and len(outbox) == 0
    store.close()


def test_a_file_another_process_is_still_booking_is_left_alone_for_a_minute(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.sqlite'}")
    now = dt.datetime.now(dt.timezone.utc)
    other_process = Outbox(tmp_path / "spool")
    escalation = held_flag(other_process, "PJSIP/agent1", now, now + dt.timedelta(minutes=5))
    keeper = PauseKeeper(store, AmiSettings(port=free_port(), username="rl", secret="x"),
                         outbox=Outbox(tmp_path / "spool"))
    keeper.lift_due()
    assert store.list_incidents() == []
    keeper.clock = lambda: now + dt.timedelta(seconds=61)
    keeper.lift_due()
    assert [i.call_id for i in store.list_incidents()] == [escalation.call_id]
    store.close()
