"""``book_escalation``: one flag and all it books, in one transaction, exactly once (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from agi_scripts.storage import CaseToOpen, Escalation, EscalationBooked, PauseToBook, Store, open_store, rules

T0 = datetime(2025, 3, 14, 9, 0, 0, tzinfo=timezone.utc)


def escalation(number: int, *, seconds: float = 0.0, outcome: str | None = "warn", case: bool = False,
               pause: bool = False, category: str = "verbal", number_in_call: int | None = None,
               call_id: str = "c1") -> Escalation:
    at = T0 + timedelta(seconds=seconds)
    return Escalation(
        call_id=call_id, category=category, number_in_call=number_in_call or number, number_in_category=number,
        agent="anna", caller="+3225551234", queue="support", at=at, outcome=outcome,
        case=CaseToOpen(team="special_care", priority=2, recording="evidence/c1.wav") if case else None,
        pause=PauseToBook(agent="PJSIP/anna", reason="recovery", resume_at=at + timedelta(minutes=15))
        if pause else None,
        events=(("agent_paused", "anna for 15 min"), *([(outcome, "abuse_closing")] if outcome else []))
        if case else ())


def test_a_warning_books_one_incident_with_its_action_and_nothing_else(store: Store) -> None:
    booked = store.book_escalation(escalation(1))
    assert (booked.case_id, booked.pause_id, booked.already) == (None, None, False)
    [incident] = store.list_incidents(call_id="c1")
    assert (incident.id, incident.category, incident.number_in_call, incident.number_in_category) == (
        booked.incident_id, "verbal", 1, 1)
    assert (incident.action, incident.case_id, incident.agent, incident.at) == ("warn", None, "anna", T0)
    assert store.list_cases() == [] and store.active_pauses() == []


def test_an_escalation_opens_its_case_carries_the_warning_and_links_the_pause(store: Store) -> None:
    store.book_escalation(escalation(1))
    booked = store.book_escalation(escalation(2, seconds=30, outcome="disconnect", case=True, pause=True))
    assert booked.case_id is not None and booked.pause_id is not None
    case = store.get_case(booked.case_id)
    assert case is not None
    assert (case.team, case.priority, case.caller, case.agent, case.call_id, case.recording) == (
        "special_care", 2, "+3225551234", "anna", "c1", "evidence/c1.wav")
    assert [(e.action, e.detail, e.at) for e in case.events] == [
        ("warn", "flag 1: verbal", T0),
        ("case_opened", "category verbal, team special_care", T0 + timedelta(seconds=30)),
        ("agent_paused", "anna for 15 min", T0 + timedelta(seconds=30)),
        ("disconnect", "abuse_closing", T0 + timedelta(seconds=30)),
    ]
    [pause] = store.active_pauses()
    assert (pause.id, pause.agent, pause.case_id, pause.resume_at) == (
        booked.pause_id, "PJSIP/anna", booked.case_id, T0 + timedelta(seconds=30, minutes=15))
    incidents = store.list_incidents(call_id="c1")
    assert [(i.number_in_call, i.action, i.case_id) for i in incidents] == [
        (1, "warn", None), (2, "disconnect", booked.case_id)]


def test_booking_the_same_escalation_twice_writes_nothing_the_second_time(store: Store) -> None:
    first = store.book_escalation(escalation(1, case=True, pause=True, outcome="disconnect"))
    again = store.book_escalation(escalation(1, case=True, pause=True, outcome="disconnect"))
    assert again.already and (again.incident_id, again.case_id) == (first.incident_id, first.case_id)
    assert len(store.list_incidents()) == 1 and len(store.list_cases()) == 1
    assert len(store.active_pauses()) == 1
    case = store.get_case(first.case_id or 0)
    assert case is not None and len(case.events) == 3


def test_a_pause_already_lifted_is_booked_as_ended(store: Store) -> None:
    lifted_at = T0 + timedelta(minutes=15)
    item = escalation(1, pause=True)
    assert item.pause is not None
    store.book_escalation(replace(item, pause=replace(item.pause, resumed_at=lifted_at)))
    assert store.active_pauses() == [] and store.due_pauses(T0 + timedelta(days=1)) == []


def test_a_flag_booked_late_joins_the_case_opened_after_it(store: Store) -> None:
    """Flag 1 waited in the outbox while flag 2 (which opened the case) was booked first."""
    booked = store.book_escalation(escalation(2, seconds=30, outcome="disconnect", case=True))
    store.book_escalation(escalation(1))
    case = store.get_case(booked.case_id or 0)
    assert case is not None
    assert [(e.action, e.detail) for e in case.events][0] == ("warn", "flag 1: verbal")
    assert [(i.number_in_call, i.case_id) for i in store.list_incidents(call_id="c1")] == [
        (1, booked.case_id), (2, booked.case_id)], "the late flag's incident is linked to the case it joined"


def test_a_retry_of_a_flag_that_joined_a_later_case_answers_as_its_first_booking_did(store: Store) -> None:
    """The answer names the case the escalation opened: none here, however often it is booked."""
    store.book_escalation(escalation(2, seconds=30, outcome="disconnect", case=True))
    first = store.book_escalation(escalation(1))
    again = store.book_escalation(escalation(1))
    assert (first.case_id, first.already) == (None, False)
    assert (again.incident_id, again.case_id, again.already) == (first.incident_id, None, True)


def test_flags_of_another_call_are_not_carried(store: Store) -> None:
    store.book_escalation(escalation(1, call_id="other"))
    booked = store.book_escalation(escalation(1, seconds=5, outcome="disconnect", case=True, call_id="c1"))
    case = store.get_case(booked.case_id or 0)
    assert case is not None and [e.action for e in case.events][0] == "case_opened"


def test_a_failure_half_way_books_nothing_and_the_same_escalation_books_later(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.book_escalation(escalation(1))

    def fail(*args: object) -> None:
        raise RuntimeError("disk gone after the case was inserted")

    monkeypatch.setattr(rules, "carried_flag_events", fail)
    with pytest.raises(RuntimeError):
        store.book_escalation(escalation(2, seconds=30, outcome="disconnect", case=True, pause=True))
    assert [i.number_in_call for i in store.list_incidents()] == [1]
    assert store.list_cases() == [] and store.active_pauses() == []

    monkeypatch.undo()
    booked = store.book_escalation(escalation(2, seconds=30, outcome="disconnect", case=True, pause=True))
    assert not booked.already and booked.case_id is not None and booked.pause_id is not None
    case = store.get_case(booked.case_id)
    assert case is not None and [e.action for e in case.events] == ["warn", "case_opened", "agent_paused",
                                                                     "disconnect"]


def test_two_writers_booking_one_escalation_at_once_book_it_once(store_url: str) -> None:
    stores = [open_store(store_url), open_store(store_url)]
    start = threading.Barrier(len(stores))
    results: list[EscalationBooked] = []

    def book(one: Store) -> None:
        start.wait(timeout=10)
        results.append(one.book_escalation(escalation(1, case=True, pause=True, outcome="disconnect")))

    try:
        threads = [threading.Thread(target=book, args=(one,)) for one in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(booked.already for booked in results) == [False, True]
        assert len({(booked.incident_id, booked.case_id) for booked in results}) == 1
        assert len(stores[0].list_incidents()) == 1 and len(stores[0].list_cases()) == 1
        assert len(stores[0].active_pauses()) == 1
    finally:
        for one in stores:
            one.close()


def test_the_database_itself_refuses_a_second_incident_with_one_key(store: Store, store_url: str) -> None:
    """The UNIQUE key (call, category, number in category) guards even writers that skip the store."""
    store.book_escalation(escalation(1))
    insert = ("INSERT INTO incidents (call_id, category, number_in_call, number_in_category, agent, caller, queue,"
              " at) VALUES ('c1', 'verbal', 7, 1, 'anna', '', 'support', '2025-03-14T09:00:00.000000+00:00')")
    if store_url.startswith("sqlite:///"):
        with pytest.raises(sqlite3.IntegrityError), sqlite3.connect(store_url[len("sqlite:///"):]) as db:
            db.execute(insert)
    else:
        with pytest.raises(psycopg.errors.UniqueViolation), psycopg.connect(store_url) as db:
            db.execute(insert)


@pytest.mark.parametrize("action", ["", "  "])
def test_an_event_without_an_action_is_refused_before_anything_is_written(store: Store, action: str) -> None:
    item = escalation(1, case=True, pause=True, outcome="disconnect")
    with pytest.raises(ValueError, match="event 2 of the escalation has no action"):
        store.book_escalation(replace(item, events=(("agent_paused", "anna"), (action, "abuse_closing"))))
    assert store.list_incidents() == [] and store.list_cases() == [] and store.active_pauses() == []
    assert not store.book_escalation(item).already, "the key was not taken by the refused booking"


def test_a_naive_time_is_refused(store: Store) -> None:
    with pytest.raises(ValueError):
        store.book_escalation(replace(escalation(1), at=T0.replace(tzinfo=None)))
    assert store.list_incidents() == []
