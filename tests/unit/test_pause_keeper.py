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
from agi_scripts.policy.pauses import PauseKeeper, UnbookedPause, UnbookedPauses
from agi_scripts.sandbox.asterisk import free_port
from agi_scripts.storage.base import StoreError, open_store


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


def test_a_pause_the_store_could_not_record_is_lifted_on_time_and_booked_once_the_store_is_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.sqlite'}")
    ami = FakeAmi()
    now = dt.datetime.now(dt.timezone.utc)
    unbooked = UnbookedPauses()
    unbooked.add(UnbookedPause("PJSIP/agent1", "threat", now - dt.timedelta(minutes=15), now - dt.timedelta(seconds=1), None))
    unbooked.add(UnbookedPause("PJSIP/agent2", "verbal", now, now + dt.timedelta(minutes=5), None))

    def down(*_args: object, **_kwargs: object) -> None:
        raise StoreError("database is locked")

    keeper = PauseKeeper(store, AmiSettings(port=ami.port, username="rl", secret="x"), unbooked=unbooked)
    with monkeypatch.context() as outage:
        outage.setattr(type(store), "record_pause", down)
        outage.setattr(type(store), "due_pauses", down)
        assert keeper.lift_due() == 1  # the due one is lifted although the store never saw it
    assert ami.unpaused == ["PJSIP/agent1"] and len(unbooked) == 1
    assert keeper.lift_due() == 0  # the store answers again: the running pause is booked
    assert len(unbooked) == 0 and [p.agent for p in store.active_pauses()] == ["PJSIP/agent2"]
    ami.close()
    store.close()


def test_the_keeper_lifts_from_the_very_list_the_handlers_fill_even_when_it_starts_empty(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 's.sqlite'}")
    unbooked = UnbookedPauses()  # empty, hence falsy: it must still be the one the keeper reads
    keeper = PauseKeeper(store, AmiSettings(port=free_port(), username="rl", secret="x"), unbooked=unbooked)
    now = dt.datetime.now(dt.timezone.utc)
    unbooked.add(UnbookedPause("PJSIP/agent1", "threat", now, now + dt.timedelta(minutes=5), None))
    keeper.lift_due()
    assert [p.agent for p in store.active_pauses()] == ["PJSIP/agent1"] and len(unbooked) == 0
    store.close()
