"""The recordings share's own threads (``handlers.file_work``): a healthy share is never refused, a
hung one is not waited for once it keeps earlier requests stuck."""

from __future__ import annotations

import threading
import time

import pytest

from agi_scripts.handlers.file_work import FilePool, ShareNotAnswering
from agi_scripts.protocol.errors import BlockingCallTimeout


def test_many_quick_jobs_at_once_are_never_refused() -> None:
    pool = FilePool(max_stuck=2, stuck_after=5.0)
    release = threading.Event()
    jobs = [pool.start(release.wait, 5) for _ in range(10)]  # running together, none stuck yet
    release.set()
    assert all(job.result(5) for job in jobs)
    assert pool.running == 0


def test_a_share_that_keeps_jobs_stuck_refuses_the_next_at_once_until_it_answers() -> None:
    pool = FilePool(max_stuck=2, stuck_after=0.2)
    hung = threading.Event()
    stuck = [pool.start(hung.wait, 30) for _ in range(2)]
    time.sleep(0.3)
    assert pool.stuck() == 2
    started = time.monotonic()
    with pytest.raises(ShareNotAnswering, match="not answered 2 earlier"):
        pool.start(time.sleep, 0)
    assert time.monotonic() - started < 0.1
    with pytest.raises(BlockingCallTimeout):
        stuck[0].result(0.05)  # asked for a while: not done, and still running after
    hung.set()
    assert all(job.result(5) for job in stuck)
    assert pool.start(lambda: "answered").result(5) == "answered"


def test_a_failing_job_hands_its_error_to_whoever_asks() -> None:
    pool = FilePool()

    def refused() -> None:
        raise PermissionError("read-only share")

    with pytest.raises(PermissionError, match="read-only"):
        pool.start(refused).result(5)
    assert pool.running == 0


def test_the_number_of_threads_is_bounded() -> None:
    pool = FilePool(max_stuck=100, stuck_after=60, most_running=3)
    hold = threading.Event()
    jobs = [pool.start(hold.wait, 30) for _ in range(3)]
    with pytest.raises(ShareNotAnswering):
        pool.start(hold.wait, 30)
    hold.set()
    for job in jobs:
        job.result(5)
