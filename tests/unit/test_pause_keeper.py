"""A pause whose end cannot be sent to Asterisk stays due, to be lifted on a later round."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from agi_scripts.config.settings import AmiSettings
from agi_scripts.policy.pauses import PauseKeeper
from agi_scripts.sandbox.asterisk import free_port
from agi_scripts.storage.base import open_store


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
