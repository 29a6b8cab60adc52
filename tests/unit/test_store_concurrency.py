"""Several threads and several processes on one store, SQLite file or PostgreSQL database: every flag
booked exactly once (none lost, none doubled), writes that returned are durable for everyone, and a
lock held by another process is waited for only as long as allowed."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Barrier, Event
from pathlib import Path
from typing import Any

import psycopg
import pytest

from agi_scripts.storage import CaseToOpen, Escalation, PauseToBook, StoreError, open_store
from agi_scripts.storage.postgres import _FLAG_LOCK_NAMESPACE, CONNECTION_WAIT, OUTAGE_RETRY, _lock_key
from tests.support.postgres_server import PostgresServer

T0 = datetime(2025, 3, 14, 9, 0, tzinfo=timezone.utc)
SPAWN = multiprocessing.get_context("spawn")  # no fork of a process that has threads and open files
WAIT = 30.0  # seconds any step may take before the test gives up instead of hanging


@contextmanager
def running(target: Any, *argument_lists: tuple[Any, ...]) -> Iterator[Sequence[BaseProcess]]:
    """Start one child per argument tuple; whatever happens, none outlives the test."""
    processes = [SPAWN.Process(target=target, args=args, daemon=True) for args in argument_lists]
    for process in processes:
        process.start()
    try:
        yield processes
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
            process.join(timeout=WAIT)


def join_all(processes: Sequence[BaseProcess]) -> None:
    for process in processes:
        process.join(timeout=WAIT)
        assert process.exitcode == 0, f"child exited with {process.exitcode}"


def a_flag(call_id: str, number: int, *, category: str = "verbal", closing: bool = False) -> Escalation:
    """The call's flag ``number`` as the ladder builds it (the closing one opens a case and pauses the agent)."""
    at = T0 + timedelta(milliseconds=number)
    return Escalation(
        call_id=call_id, category=category, number_in_call=number, number_in_category=number, agent="anna",
        caller="+32", queue="q", at=at, outcome="disconnect" if closing else "warn", team="care",
        case=CaseToOpen(team="care", priority=2) if closing else None,
        pause=PauseToBook(agent="PJSIP/anna", reason="recovery", resume_at=at + timedelta(minutes=5))
        if closing else None,
        events=(("agent_paused", "anna for 5 min"), ("disconnect", "abuse_closing")) if closing else ())


# ------------------------------------------------------------------ workers run in child processes


def book_many(url: str, worker: int, flags: int, start: Barrier, results: Any) -> None:
    """Book flags 1..``flags`` of call "shared" (every third a closing) in an order of its own: the other
    process books the same ones at the same time, as two servers would (one from its outbox)."""
    store = open_store(url, busy_timeout=30)
    numbers = list(range(1, flags + 1))
    random.Random(worker).shuffle(numbers)
    start.wait(timeout=WAIT)
    seen = []
    for number in numbers:
        booked = store.book_escalation(a_flag("shared", number, closing=number % 3 == 0))
        seen.append((number, booked.incident_id, booked.case_id, booked.already))
        time.sleep(0.002)  # let the other process in: back-to-back writes would simply take turns in blocks
    store.close()
    results.put((worker, seen))


def book_same_closing(url: str, rounds: int, barrier: Barrier, results: Any) -> None:
    """Each round, book the same closing flag of a fresh call at the same moment as the other process."""
    store = open_store(url, busy_timeout=30)
    outcomes = []
    for round_ in range(rounds):
        barrier.wait(timeout=WAIT)
        outcomes.append(store.book_escalation(a_flag(f"call{round_}", 1, closing=True)).already)
    store.close()
    results.put(outcomes)


def read_call(url: str, call_id: str, results: Any) -> None:
    store = open_store(url)
    call = store.get_call(call_id)
    results.put(None if call is None else (call.caller, call.outcome))
    store.close()


def write_then_wait_to_be_killed(url: str, written: Event) -> None:
    store = open_store(url)
    store.record_call_start("c-killed", caller="+32", queue="q", language="nl", route="q", started_at=T0)
    cid = store.start_compliment("c-killed", agent="anna", queue="q", campaign=None, at=T0)
    store.set_compliment_rating(cid, 4)
    written.set()
    time.sleep(60)  # killed by the parent long before this ends; the store is never closed


# ------------------------------------------------------------------ tests


def assert_booked_once_each(bookings: list[tuple[int, int, int | None, bool]], flags: int, writers: int) -> None:
    """Each flag booked by exactly one writer; the others were told it was booked, with the same ids."""
    assert len(bookings) == flags * writers
    for number in range(1, flags + 1):
        mine = [(incident, case, already) for n, incident, case, already in bookings if n == number]
        assert sorted(already for *_, already in mine) == [False] + [True] * (writers - 1), number
        assert len({(incident, case) for incident, case, _ in mine}) == 1, number


def test_two_processes_booking_one_calls_flags_at_once_book_each_exactly_once(store_url: str) -> None:
    url = store_url
    open_store(url).close()  # schema in place before the race starts
    flags, workers = 60, 2
    start, results = SPAWN.Barrier(workers), SPAWN.Queue()
    with running(book_many, *[(url, w, flags, start, results) for w in range(workers)]) as processes:
        seen = dict(results.get(timeout=WAIT) for _ in processes)
        join_all(processes)

    assert_booked_once_each([booking for worker in seen for booking in seen[worker]], flags, workers)
    booker_by_flag = [w for _, w in sorted((n, w) for w in seen for n, *_, already in seen[w] if not already)]
    turns = sum(1 for a, b in zip(booker_by_flag, booker_by_flag[1:]) if a != b)
    assert turns >= 3, "the two processes did not write at the same time: the test proved nothing"
    store = open_store(url)
    stored = store.list_incidents(call_id="shared")
    assert sorted(i.number_in_call for i in stored) == list(range(1, flags + 1))
    assert len(store.list_cases()) == flags // 3 and len(store.active_pauses()) == flags // 3
    store.close()


def test_one_closing_booked_by_two_processes_at_once_is_booked_once(store_url: str) -> None:
    url = store_url
    open_store(url).close()
    rounds = 25
    barrier, results = SPAWN.Barrier(2), SPAWN.Queue()
    with running(book_same_closing, *[(url, rounds, barrier, results)] * 2) as processes:
        first, second = results.get(timeout=WAIT), results.get(timeout=WAIT)
        join_all(processes)
    # In every round exactly one of the two bookings wrote, and the other found it booked.
    assert [a != b for a, b in zip(first, second)] == [True] * rounds
    store = open_store(url)
    assert len(store.list_incidents()) == rounds and len(store.list_cases()) == rounds
    assert len(store.active_pauses()) == rounds
    for case in store.list_cases():
        assert [e.action for e in case.events] == ["case_opened", "agent_paused", "disconnect"]
    store.close()


def test_threads_sharing_one_store_book_every_flag_exactly_once(store_url: str) -> None:
    store = open_store(store_url)
    bookings: list[tuple[int, int, int | None, bool]] = []
    lock, start = threading.Lock(), threading.Barrier(8)
    flags = 25

    def work(worker: int) -> None:
        start.wait(timeout=WAIT)
        for n in range(flags):
            number = (n + worker * 3) % flags + 1  # each thread starts elsewhere in the list
            booked = store.book_escalation(a_flag("shared", number, closing=number % 5 == 0))
            with lock:
                bookings.append((number, booked.incident_id, booked.case_id, booked.already))
            store.get_call("shared")  # reads interleaved with writes on the same store

    threads = [threading.Thread(target=work, args=(w,), daemon=True) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT)
    assert_booked_once_each(bookings, flags, 8)
    assert len(store.list_incidents(call_id="shared")) == flags and len(store.list_cases()) == flags // 5
    store.close()


def test_a_returned_write_is_visible_to_a_fresh_connection_in_another_process(store_url: str) -> None:
    url = store_url
    store = open_store(url)  # stays open: nothing is flushed by closing it
    store.record_call_start("c1", caller="+3225551234", queue="support", language="nl", route="support")
    store.update_call("c1", outcome="disconnected")
    results = SPAWN.Queue()
    with running(read_call, (url, "c1", results)) as processes:
        assert results.get(timeout=WAIT) == ("+3225551234", "disconnected")
        join_all(processes)
    store.close()


def test_writes_of_a_killed_process_are_kept(store_url: str) -> None:
    url = store_url
    written = SPAWN.Event()
    with running(write_then_wait_to_be_killed, (url, written)) as (writer,):
        assert written.wait(timeout=WAIT)
        assert writer.pid is not None
        os.kill(writer.pid, signal.SIGKILL)  # no close, no checkpoint: only what reached the WAL file counts
        writer.join(timeout=WAIT)
        assert writer.exitcode == -signal.SIGKILL

    store = open_store(url)
    call = store.get_call("c-killed")
    [compliment] = store.list_compliments(agent="anna")
    assert call is not None and call.started_at == T0
    assert compliment.rating == 4
    store.close()


def test_write_waits_no_longer_than_busy_timeout_for_another_writer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    store = open_store(url, busy_timeout=0.3)
    other = sqlite3.connect(tmp_path / "store.sqlite", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    try:
        began = time.monotonic()
        with pytest.raises(StoreError, match="locked"):
            store.book_escalation(a_flag("c1", 1))
        waited = time.monotonic() - began
        assert 0.25 <= waited < 2.0
        assert store.get_call("c1") is None  # reads still work while another process writes (WAL)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert not store.book_escalation(a_flag("c1", 1)).already  # the failed attempt left nothing behind
    assert len(store.list_incidents(call_id="c1")) == 1  # and the store still works
    store.close()


def test_postgresql_flag_waits_no_longer_than_busy_timeout_for_another_server(postgres_store_url: str) -> None:
    store = open_store(postgres_store_url, busy_timeout=0.3)
    other = psycopg.connect(postgres_store_url, autocommit=True)
    # Another server in the middle of counting a flag of call c1 holds this lock.
    other.execute("SELECT pg_advisory_lock(%s, %s)", (_FLAG_LOCK_NAMESPACE, _lock_key("c1")))
    try:
        began = time.monotonic()
        with pytest.raises(StoreError, match="lock timeout"):
            store.book_escalation(a_flag("c1", 1))
        waited = time.monotonic() - began
        assert 0.25 <= waited < 2.0
        assert not store.book_escalation(a_flag("c2", 1)).already  # flags of other calls do not wait
        assert store.get_call("c1") is None  # and reads go on
    finally:
        other.close()  # the lock goes with its session
    assert not store.book_escalation(a_flag("c1", 1)).already  # the failed attempt left nothing behind
    assert len(store.list_incidents(call_id="c1")) == 1  # and the store still works
    store.close()


def test_two_staff_closing_one_case_at_once_one_succeeds_the_other_is_told(store_url: str) -> None:
    setup = open_store(store_url)
    case_ids = [setup.open_case(category="verbal", team="care", priority=2, caller="+32", agent="a", queue="q",
                                call_id=f"c{n}", at=T0).id for n in range(10)]
    setup.close()
    stores = [open_store(store_url, busy_timeout=30) for _ in range(2)]
    outcomes: list[tuple[int, str]] = []
    lock = threading.Lock()
    start = threading.Barrier(2)

    def close_all(worker: int) -> None:
        start.wait(timeout=WAIT)
        for case_id in case_ids:
            try:
                stores[worker].close_case(case_id, f"closed by {worker}")
                result = "closed"
            except StoreError as error:
                assert "it is closed" in str(error)
                result = "refused"
            with lock:
                outcomes.append((case_id, result))

    threads = [threading.Thread(target=close_all, args=(w,), daemon=True) for w in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT)
    assert sorted(outcomes) == sorted([(case_id, "closed") for case_id in case_ids]
                                      + [(case_id, "refused") for case_id in case_ids])
    for case_id in case_ids:
        case = stores[0].get_case(case_id)
        assert case is not None and [e.action for e in case.events].count("closed") == 1
    for store in stores:
        store.close()


def test_with_the_postgresql_server_down_calls_fail_fast_and_recover_when_it_is_back() -> None:
    with PostgresServer() as server:  # a cluster of its own: this test stops it
        url = server.create_database()
        store = open_store(url)
        store.record_call_start("c1", caller="1", queue="q", language="nl", route="q")
        server.halt()
        waits = []
        for _ in range(3):
            began = time.monotonic()
            with pytest.raises(StoreError):
                store.get_call("c1")
            waits.append(time.monotonic() - began)
        assert waits[0] < CONNECTION_WAIT + 1.5  # the first call waits for a connection, boundedly
        assert max(waits[1:]) < 0.5, waits  # the next ones are told at once (no connection wait): no caller held in silence
        server.resume()
        deadline = time.monotonic() + OUTAGE_RETRY + CONNECTION_WAIT + 5
        call = None
        while call is None and time.monotonic() < deadline:
            try:
                call = store.get_call("c1")
            except StoreError:
                time.sleep(0.2)
        assert call is not None and call.caller == "1", "the store did not recover after the database came back"
        store.close()
