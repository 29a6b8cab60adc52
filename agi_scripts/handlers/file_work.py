"""Work on the recordings share, apart from the server's worker threads.

A hung network share blocks whoever touches it until the share answers (minutes for a hard NFS
mount). Run on the server's worker pool, a few such calls would fill it, and the store, the outbox and
every other call's steps would then wait their full timeouts behind them. So recordings-share work
runs here, each job on a thread of its own. A job still running ``STUCK_AFTER`` seconds is stuck (a
healthy share answers in milliseconds); while ``MAX_STUCK`` are, the share counts as not answering
and the next job is refused at once (``ShareNotAnswering``) instead of waiting its timeout: the
pool's state is the share's health, and a call never waits for a share that already made others wait.
At most ``MOST_RUNNING`` jobs run at once, however busy the server.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from agi_scripts.server.blocking import wait_for_future

T = TypeVar("T")
STUCK_AFTER = 1.0
"""Seconds after which a running share job counts as stuck."""
MAX_STUCK = 2
"""Stuck share jobs that make the share count as not answering."""
MOST_RUNNING = 32
"""Share jobs running at once at the most (threads are cheap, not free)."""


class ShareNotAnswering(OSError):
    """The recordings share has earlier jobs still running: this one is not started."""


class FileJob(Generic[T]):
    """A job started on the share; :meth:`result` waits for it (bounded)."""

    def __init__(self, future: Future[T], what: str) -> None:
        self.future, self.what = future, what

    def result(self, within: float | None = None) -> T:
        """The job's result or its exception; ``BlockingCallTimeout`` when not done within ``within``
        (or the server's blocking timeout) — the job goes on, :meth:`result` may be asked again."""
        return wait_for_future(self.future, self.what, within)

    def done(self) -> bool:
        return self.future.done()


class FilePool:
    def __init__(self, max_stuck: int = MAX_STUCK, stuck_after: float = STUCK_AFTER,
                 most_running: int = MOST_RUNNING) -> None:
        self.max_stuck, self.stuck_after, self.most_running = max_stuck, stuck_after, most_running
        self._started: dict[int, float] = {}
        """Each running job's start (monotonic), by a number of its own."""
        self._numbers = itertools.count()
        self._lock = threading.Lock()

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._started)

    def stuck(self, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        with self._lock:
            return sum(1 for started in self._started.values() if now - started >= self.stuck_after)

    def start(self, fn: Callable[..., T], /, *args: Any) -> FileJob[T]:
        """Start ``fn(*args)`` on a thread of its own and return at once; ``ShareNotAnswering``
        (raised here, nothing started) while ``max_stuck`` earlier jobs are stuck, or
        ``most_running`` run."""
        what = getattr(fn, "__name__", "file work")
        now = time.monotonic()
        with self._lock:
            stuck = sum(1 for started in self._started.values() if now - started >= self.stuck_after)
            if stuck >= self.max_stuck or len(self._started) >= self.most_running:
                raise ShareNotAnswering(f"the recordings share has not answered {max(stuck, len(self._started))} "
                                        "earlier request(s) yet (a hung share?)")
            number = next(self._numbers)
            self._started[number] = now
        future: Future[T] = Future()
        future.set_running_or_notify_cancel()

        def run() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to whoever asks, as a worker thread would
                future.set_exception(exc)
            finally:
                with self._lock:
                    del self._started[number]

        # A daemon thread: one stuck on a hung share must not keep the server from exiting.
        threading.Thread(target=run, name="respectline-share", daemon=True).start()
        return FileJob(future, what)


RECORDINGS_SHARE = FilePool()
"""The one pool of this process for ``paths.recordings``."""
