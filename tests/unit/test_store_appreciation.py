"""Thank-you rounds in the store, on SQLite and PostgreSQL (``store`` runs each test on both): an agent is
enlisted once, a try moves only from waiting, unanswered tries end as missed, a crash's ringing rows wait
again, replies and the managers' recordings are kept."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from agi_scripts.storage import Store
from agi_scripts.storage.appreciation import AppreciationStore

T0 = datetime(2026, 10, 6, 9, 0, 0, tzinfo=timezone.utc)


def test_enlisted_once_and_rung_once(store: Store) -> None:
    rounds = AppreciationStore(store)
    assert rounds.enlist("day", "PJSIP/agent1", "Agent One", at=T0)
    assert not rounds.enlist("day", "PJSIP/agent1", "Someone Else", at=T0)  # the first row stays
    assert rounds.ringing("day", "PJSIP/agent1", at=T0)
    assert not rounds.ringing("day", "PJSIP/agent1", at=T0)  # a second server cannot ring them too
    rounds.reached("day", "PJSIP/agent1", at=T0 + timedelta(seconds=5))
    (delivery,) = rounds.deliveries("day")
    assert (delivery.agent_name, delivery.status, delivery.tries) == ("Agent One", "reached", 1)
    assert delivery.first_try_at == T0 and delivery.reached_at == T0 + timedelta(seconds=5)
    assert not rounds.ringing("day", "PJSIP/agent1")  # reached: never rung again


def test_unanswered_tries_end_as_missed(store: Store) -> None:
    rounds = AppreciationStore(store)
    rounds.enlist("day", "PJSIP/agent2", "Agent Two", at=T0)
    for attempt in (1, 2):
        assert rounds.ringing("day", "PJSIP/agent2", at=T0)
        status = rounds.not_reached("day", "PJSIP/agent2", "no answer", tries=3, retry_at=T0 + timedelta(minutes=2))
        assert status == "waiting", attempt
    assert rounds.get("day", "PJSIP/agent2").next_try_at == T0 + timedelta(minutes=2)  # type: ignore[union-attr]
    assert rounds.ringing("day", "PJSIP/agent2", at=T0)
    assert rounds.not_reached("day", "PJSIP/agent2", "busy", tries=3, retry_at=T0) == "missed"
    delivery = rounds.get("day", "PJSIP/agent2")
    assert delivery is not None and (delivery.status, delivery.tries, delivery.detail) == ("missed", 3, "busy")


def test_a_try_that_never_rang_is_not_counted(store: Store) -> None:
    rounds = AppreciationStore(store)
    rounds.enlist("day", "PJSIP/agent1", "Agent One", at=T0)
    rounds.ringing("day", "PJSIP/agent1", at=T0)
    rounds.released("day", "PJSIP/agent1", "a customer call came first", at=T0)
    delivery = rounds.get("day", "PJSIP/agent1")
    assert delivery is not None and (delivery.status, delivery.tries) == ("waiting", 0)


def test_interrupted_tries_wait_again_and_skips_are_kept(store: Store) -> None:
    rounds = AppreciationStore(store)
    rounds.enlist("day", "PJSIP/agent1", "Agent One", at=T0)
    rounds.enlist("day", "PJSIP/agent2", "Agent Two", at=T0)
    rounds.ringing("day", "PJSIP/agent1", at=T0)
    rounds.skipped("day", "PJSIP/agent2", "on a recovery pause", at=T0)
    assert rounds.interrupted(at=T0) == 1
    statuses = {d.agent: d.status for d in rounds.deliveries()}
    assert statuses == {"PJSIP/agent1": "waiting", "PJSIP/agent2": "skipped"}


def test_replies_and_recordings(store: Store) -> None:
    rounds = AppreciationStore(store)
    rounds.enlist("day", "PJSIP/agent1", "Agent One", at=T0)
    rounds.replied("day", "PJSIP/agent1", "/rec/appreciation/day/reply-1.wav", screening="held",
                   reason="spoken message without a transcript", at=T0)
    delivery = rounds.get("day", "PJSIP/agent1")
    assert delivery is not None and delivery.reply_path == "/rec/appreciation/day/reply-1.wav" and delivery.reply_at == T0
    assert (delivery.reply_screening, delivery.reply_reason) == ("held", "spoken message without a transcript")
    with pytest.raises(ValueError):
        rounds.replied("day", "PJSIP/agent1", "/x.wav", screening="pending")
    rounds.save_recording("day", "nl", "/rec/appreciation/day/message-nl-1", "PJSIP/manager1", at=T0)
    rounds.save_recording("day", "nl", "/rec/appreciation/day/message-nl-2", "PJSIP/manager1", at=T0)  # redone
    rounds.save_recording("day", "fr", "/rec/appreciation/day/message-fr-1", "PJSIP/manager1", at=T0)
    assert [(r.language, r.path) for r in rounds.recordings("day")] == [
        ("fr", "/rec/appreciation/day/message-fr-1"), ("nl", "/rec/appreciation/day/message-nl-2")]
    assert rounds.recordings("other") == []


def test_hostile_texts_stay_values(store: Store) -> None:
    rounds = AppreciationStore(store)
    name = "x'); DROP TABLE appreciation_deliveries; --" * 20
    rounds.enlist("day", "PJSIP/agent1", name, at=T0)
    (delivery,) = rounds.deliveries()
    assert delivery.agent_name == name[:400]
