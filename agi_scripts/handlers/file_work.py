"""Work on the recordings share, apart from the server's worker threads.

A hung network share blocks whoever touches it until the share answers (minutes for a hard NFS
mount). Run on the server's worker pool, a few such calls would fill it, and the store, the outbox and
every other call's steps would then wait their full timeouts behind them. So recordings-share work
runs here: each job on a thread of its own, at most ``MAX_STUCK`` at a time. While that many are still
running the share counts as not answering, and the next job is refused at once (``ShareNotAnswering``)
instead of waiting its timeout: the pool's state is the share's health, and a call never waits for a
share that already made others wait.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from agi_scripts.server.blocking import wait_for_future

T = TypeVar("T")
MAX_STUCK = 2
"""Share jobs running at once; beyond, the share is taken as not answering."""


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
    def __init__(self, max_running: int = MAX_STUCK) -> None:
        self.max_running = max_running
        self._running = 0
        self._lock = threading.Lock()

    @property
    def running(self) -> int:
        with self._lock:
            return self._running

    def start(self, fn: Callable[..., T], /, *args: Any) -> FileJob[T]:
        """Start ``fn(*args)`` on a thread of its own and return at once; ``ShareNotAnswering``
        (raised here, nothing started) while ``max_running`` earlier jobs still run."""
        what = getattr(fn, "__name__", "file work")
        with self._lock:
            if self._running >= self.max_running:
                raise ShareNotAnswering(f"the recordings share has not answered {self._running} earlier "
                                        "request(s) yet (a hung share?)")
            self._running += 1
        future: Future[T] = Future()
        future.set_running_or_notify_cancel()

        def run() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to whoever asks, as a worker thread would
                future.set_exception(exc)
            finally:
                with self._lock:
                    self._running -= 1

        # A daemon thread: one stuck on a hung share must not keep the server from exiting.
        threading.Thread(target=run, name="respectline-share", daemon=True).start()
        return FileJob(future, what)


RECORDINGS_SHARE = FilePool()
"""The one pool of this process for ``paths.recordings``."""
