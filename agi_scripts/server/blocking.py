"""Blocking work from inside a session without stopping the others.

Sessions run as greenlets on the server's event loop thread: a handler that called SQLite directly
would freeze every call for the few milliseconds of an fsync. :func:`run_blocking` hands the call to
a worker thread and parks only the calling session until it is done. Outside a FastAGI session
(classic AGI, a CLI, a test) it simply calls the function.

Handlers rarely need it by name: ``ctx.services.store`` is wrapped in :class:`Offloaded`, so every store
method call is offloaded already.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from greenlet import greenlet

from agi_scripts.protocol.errors import BlockingCallTimeout

T = TypeVar("T")


class SessionGreenlet(greenlet):  # type: ignore[misc]  # greenlet's stubs make the base Any here
    """The greenlet of one FastAGI session; ``offload`` runs a call on a worker thread and parks the
    session until it returns (raising ``BlockingCallTimeout`` past the server's limit)."""

    offload: Callable[[Callable[..., Any], tuple[Any, ...], Mapping[str, Any]], Any]
    submit: Callable[[Callable[..., Any], tuple[Any, ...], Mapping[str, Any]], Future[Any]]
    wait_for: Callable[..., Any]
    """``wait_for(future, what, within=None)``: parks the session until the future is done."""


def run_blocking(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, on a worker thread when called from a FastAGI session."""
    current = greenlet.getcurrent()
    if isinstance(current, SessionGreenlet):
        result: T = current.offload(fn, args, kwargs)
        return result
    return fn(*args, **kwargs)


class Pending(Generic[T]):
    """Work started on a worker thread by :func:`start_blocking`; :meth:`result` waits for it."""

    def __init__(self, future: Future[T], session: SessionGreenlet | None, what: str) -> None:
        self._future, self._session, self._what = future, session, what

    def result(self) -> T:
        """The work's result or its exception; from a session, parks it (``BlockingCallTimeout`` past
        the server's limit) and lets the other calls run meanwhile."""
        if self._session is not None:
            value: T = self._session.wait_for(self._future, self._what)
            return value
        return self._future.result()


def start_blocking(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Pending[T]:
    """Start ``fn(*args, **kwargs)`` on a worker thread and go on; outside a FastAGI session (classic
    AGI, a CLI, a test) it runs at once, here."""
    current = greenlet.getcurrent()
    what = getattr(fn, "__name__", "call")
    if isinstance(current, SessionGreenlet):
        return Pending(current.submit(fn, args, kwargs), current, what)
    done: Future[T] = Future()
    try:
        done.set_result(fn(*args, **kwargs))
    except Exception as exc:  # handed to whoever asks for the result, as a worker thread would
        done.set_exception(exc)
    return Pending(done, None, what)


def wait_for_future(future: Future[T], what: str, within: float | None = None) -> T:
    """``future``'s result: from a FastAGI session the session is parked meanwhile (at most the
    server's blocking timeout, or ``within`` when shorter: then the work goes on and
    ``BlockingCallTimeout`` says it is not done yet); elsewhere this thread waits (``within``, or as
    long as it takes)."""
    current = greenlet.getcurrent()
    if isinstance(current, SessionGreenlet):
        value: T = current.wait_for(future, what, within)
        return value
    try:
        return future.result(within)
    except TimeoutError:
        raise BlockingCallTimeout(f"{what} took more than {within:.1f} s") from None


class Offloaded:
    """Wraps an object (the store) so each method call goes through :func:`run_blocking`.

    Attributes that are not callable are returned as they are. The wrapper is shared by all
    sessions: which session waits is decided at call time. With ``timeout_error``, a call that
    outlives the server's blocking limit raises that instead of ``BlockingCallTimeout``: for the
    store, a ``StoreError``, which every handler already survives (the call goes through).
    """

    def __init__(self, target: Any, timeout_error: Callable[[str], Exception] | None = None) -> None:
        self.__dict__["_target"] = target
        self.__dict__["_timeout_error"] = timeout_error

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return attribute

        timeout_error = self._timeout_error

        def offloaded(*args: Any, **kwargs: Any) -> Any:
            try:
                return run_blocking(attribute, *args, **kwargs)
            except BlockingCallTimeout as slow:
                if timeout_error is None:
                    raise
                raise timeout_error(f"no answer in time: {slow}") from None

        offloaded.__name__ = name
        offloaded.__doc__ = getattr(attribute, "__doc__", None)
        self.__dict__[name] = offloaded
        return offloaded

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("an offloaded store is read-only; set attributes on the store itself")

    def __repr__(self) -> str:
        return f"Offloaded({self._target!r})"
