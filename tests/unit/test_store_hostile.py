"""Caller-controlled text (caller ID, digits, names) is stored and read back verbatim, never run as SQL,
on SQLite and on PostgreSQL. PostgreSQL text cannot hold the NUL character: there such a value is
refused with ``StoreError`` and nothing of it is stored (Asterisk never sends one: its strings are C
strings)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from agi_scripts.storage import Escalation, Store, StoreError
from agi_scripts.storage.base import is_postgresql_url, sqlite_path

T0 = datetime(2025, 3, 14, 9, 0, tzinfo=timezone.utc)


def flag_of(text: str, *, call_id: str | None = None, number: int = 1) -> Escalation:
    """A flag with the hostile text in every field the caller or the config can reach."""
    return Escalation(call_id=text if call_id is None else call_id, category=text, number_in_call=number,
                      number_in_category=number, agent=text, caller=text, queue=text, at=T0, outcome=text,
                      team=text)

HOSTILE = [
    "O'Brien",
    'say "hi"',
    "'; DROP TABLE calls; --",
    "Robert'); DROP TABLE cases;--",
    "1 OR 1=1",
    "nul\x00inside",
    "\x00",
    "Zoë Ñandú 李 😀 مرحبا",
    "line\nbreak\r\ttab",
    "back\\slash %s %(x)s ? :name $1",
    "x" * 10_000,
    " ",
]


def refused_here(store_url: str, text: str) -> bool:
    return is_postgresql_url(store_url) and "\x00" in text


def assert_refused_and_nothing_stored(store: Store, text: str) -> None:
    with pytest.raises(StoreError, match="NUL"):
        store.record_call_start(text, caller=text, queue="q", language="nl", route="q", started_at=T0)
    with pytest.raises(StoreError, match="NUL"):
        store.start_compliment("c", agent=text, queue="q", campaign=None)
    with pytest.raises(StoreError, match="NUL"):
        store.book_escalation(flag_of(text, call_id="c"))
    with pytest.raises(StoreError, match="NUL"):
        store.open_case(category=text, team="t", priority=1, caller=text, agent="a", queue="q", call_id="c")
    assert (store.list_compliments(), store.list_incidents(), store.list_cases()) == ([], [], [])
    store.record_call_start("after", caller="1", queue="q", language="nl", route="q")  # the store still works
    assert store.get_call("after") is not None


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_round_trips_through_calls_and_compliments(store: Store, store_url: str, text: str) -> None:
    if refused_here(store_url, text):
        assert_refused_and_nothing_stored(store, text)
        return
    store.record_call_start(text, caller=text, queue=text, language=text, route=text, campaign=text,
                            agent=text, started_at=T0)
    store.update_call(text, outcome=text)
    call = store.get_call(text)
    assert call is not None
    assert {call.call_id, call.caller, call.queue, call.language, call.route, call.campaign, call.agent,
            call.outcome} == {text}

    cid = store.start_compliment(text, agent=text, queue=text, campaign=text)
    store.set_compliment_recording(cid, text)
    [compliment] = store.list_compliments(agent=text)
    assert {compliment.call_id, compliment.agent, compliment.queue, compliment.campaign,
            compliment.recording} == {text}


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_round_trips_through_flags_cases_and_pauses(store: Store, store_url: str, text: str) -> None:
    if refused_here(store_url, text):
        assert_refused_and_nothing_stored(store, text)
        return
    booked = store.book_escalation(flag_of(text))
    again = store.book_escalation(flag_of(text))
    assert again.already and again.incident_id == booked.incident_id
    [incident] = store.list_incidents(call_id=text)
    assert {incident.call_id, incident.category, incident.agent, incident.caller, incident.queue,
            incident.team, incident.action} == {text}

    case = store.open_case(category=text, team=text, priority=1, caller=text, agent=text, queue=text,
                           call_id=text, recording=text, at=T0)
    store.add_case_event(case.id, text, text, author=text)
    store.assign_case(case.id, text, author=text)
    store.add_case_note(case.id, text, text)
    closed = store.close_case(case.id, text, author=text)
    assert {closed.category, closed.team, closed.caller, closed.agent, closed.queue, closed.call_id,
            closed.recording, closed.assignee, closed.resolution} == {text}
    assert [(e.action, e.detail, e.author) for e in closed.events[1:]] == [
        (text, text, text), ("assigned", text, text), ("note", text, text), ("closed", text, text)]
    assert [c.id for c in store.list_cases(team=text)] == [case.id]
    found = store.open_case_for_caller(text, T0 + timedelta(days=1), {text: 30})
    if text.strip():
        assert found is not None and found.id == case.id
    else:
        assert found is None  # a blank number is as good as withheld
    assert [r.category for r in store.incident_counts(["category"])] == [text]

    pause = store.record_pause(agent=text, queues=[text, text], reason=text, paused_at=T0, resume_at=T0)
    assert store.due_pauses(T0) == [pause]
    assert (pause.agent, pause.queues, pause.reason) == (text, (text, text), text)


def tables_and_calls(store_url: str) -> tuple[set[str], int]:
    """The tables there are and the number of calls, read beside the store."""
    if is_postgresql_url(store_url):
        with psycopg.connect(store_url) as pg:
            names = {row[0] for row in pg.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
            count = pg.execute("SELECT COUNT(*) FROM calls").fetchone()
            return names, int(count[0]) if count else -1
    with sqlite3.connect(sqlite_path(store_url)) as db:
        names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return names, int(db.execute("SELECT COUNT(*) FROM calls").fetchone()[0])


def test_injection_attempts_leave_every_table_in_place(store: Store, store_url: str) -> None:
    stored = [text for text in HOSTILE if not refused_here(store_url, text)]
    for number, text in enumerate(stored, start=1):
        store.record_call_start(text, caller=text, queue="q", language="nl", route="q")
        store.book_escalation(flag_of(text, call_id="c", number=number))
    tables, calls = tables_and_calls(store_url)
    assert {"calls", "cases", "incidents", "compliments", "case_events", "agent_pauses"} <= tables
    assert calls == len(stored) >= len(HOSTILE) - 2
