"""One FastAGI connection: stream callbacks for the bytes, a greenlet for the handler.

The handler keeps pyst2's synchronous API. When it sends a command and needs the reply, the
connection (its :class:`LineTransport`) parks the session's greenlet and switches back to the event
loop; ``data_received`` switches into it again with the reply. No thread per call, no ``await`` in
handlers, and one event loop serves every session.

Deadlines are not timers: each connection carries one ``deadline`` number that the server's sweeper
compares with the clock a few times a second (cheaper than a timer per command at thousands of
commands per second). The deadline covers, in turn: the environment (half-sent environment, a
rejected connection lingering) and each reply or offloaded call the session waits for.
"""

from __future__ import annotations

import concurrent.futures
import enum
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from agi_scripts.ground import metrics
from agi_scripts.protocol.environment import MAX_ENVIRONMENT_BYTES, parse_environment
from agi_scripts.protocol.errors import BlockingCallTimeout, ChannelHungUp, CommandTimeout
from agi_scripts.protocol.safe_agi import SafeAGI
from agi_scripts.protocol.transport import MAX_LINE_BYTES, decode_line
from agi_scripts.server.blocking import SessionGreenlet
from agi_scripts.server.session import (FAILURE_LINE, SERVER_LOG, build_request, find_handler, log_call,
                                        run_handler, session_result)

if TYPE_CHECKING:
    from agi_scripts.server.core import ServerCore

NEVER = float("inf")
MAX_QUEUED_LINES = 256
"""Asterisk sends one reply per command (plus a HANGUP); far more unread lines is not Asterisk."""


class Phase(enum.Enum):
    ENVIRONMENT = "environment"
    SESSION = "session"
    CLOSING = "closing"
    """Rejected, answered or finished: whatever arrives now is dropped."""


class Wake(enum.Enum):
    LINE = "line"
    CLOSED = "closed"
    TIMEOUT = "timeout"
    DONE = "done"
    """The offloaded call finished."""


class Link(Protocol):
    """The byte stream under a connection (``agi_scripts.server.sockets.SocketLink``)."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...

    def can_write_eof(self) -> bool: ...

    def write_eof(self) -> None: ...

    def get_extra_info(self, name: str, default: Any = None) -> Any: ...


class AgiConnection:
    def __init__(self, core: ServerCore) -> None:
        self.core = core
        self.transport: Link | None = None
        self.phase = Phase.ENVIRONMENT
        self.deadline = NEVER
        self.admitted = False
        self.waiting_host: str | None = None
        """The peer this connection counts against while its environment has not arrived."""
        self.started = 0.0
        self._env_buffer = bytearray()
        self._partial = b""
        self._lines: deque[str] = deque()
        self._closed = False
        self._greenlet: SessionGreenlet | None = None
        self._waiting: Wake | None = None
        self._future: concurrent.futures.Future[Any] | None = None

    # ------------------------------------------------------------ stream callbacks (event loop)

    def connection_made(self, transport: Link) -> None:
        self.transport = transport
        self.started = time.monotonic()
        self.deadline = self.started + self.core.options.environment_timeout
        self.core.admit(self)

    def data_received(self, data: bytes) -> None:
        if self.phase is Phase.SESSION:
            self._feed(data)
            if self._waiting is Wake.LINE and self._lines:
                self._resume(Wake.LINE)
        elif self.phase is Phase.ENVIRONMENT:
            self._read_environment(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self.deadline = NEVER
        self.core.forget(self)
        if self._waiting is Wake.LINE:
            self._resume(Wake.CLOSED)

    # ------------------------------------------------------------ called by the server

    def reject(self, failure: bool) -> None:
        """Refuse the connection; with ``failure``, tell Asterisk ``FAILURE`` first so the dialplan
        sees ``AGISTATUS=FAILURE``, and give it a second to read that before we drop the socket."""
        assert self.transport is not None
        self.phase = Phase.CLOSING
        if not failure:
            self.transport.abort()
            return
        self.transport.write(FAILURE_LINE)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.deadline = time.monotonic() + 1.0

    def on_deadline(self) -> None:
        if self._waiting is not None:
            self._resume(Wake.TIMEOUT)
            return
        if self.phase is Phase.ENVIRONMENT:
            self.core.warn_no_environment(self.core.options.environment_timeout)
        self.deadline = NEVER
        self.abort()

    def abort(self) -> None:
        self.phase = Phase.CLOSING
        if self.transport is not None and not self._closed:
            self.transport.abort()

    @property
    def in_session(self) -> bool:
        return self.phase is Phase.SESSION

    # ------------------------------------------------------------ environment

    def _read_environment(self, data: bytes) -> None:
        buffer = self._env_buffer
        buffer += data
        end, separator = buffer.find(b"\n\n"), 2
        if end < 0:
            end, separator = buffer.find(b"\n\r\n"), 3
        if end < 0:
            if buffer[:1] == b"\n":
                end, separator = -1, 1
            elif len(buffer) > MAX_ENVIRONMENT_BYTES:
                SERVER_LOG.warning("closing a connection whose AGI environment exceeds %d bytes",
                                   MAX_ENVIRONMENT_BYTES)
                self.abort()
                return
            else:
                return
        head = bytes(buffer[:max(end, 0)])
        rest = bytes(buffer[end + separator:])
        self._env_buffer = bytearray()
        lines = decode_line(head).split("\n") if head else []
        if lines and lines[0].startswith(("GET ", "HEAD ")):
            self._answer_http(lines[0])
            return
        if not self.core.start_session(self):
            return
        self.phase = Phase.SESSION
        self.deadline = NEVER
        if rest:
            self._feed(rest)
        self._start_session(parse_environment(lines))

    def _answer_http(self, request_line: str) -> None:
        assert self.transport is not None
        self.phase = Phase.CLOSING
        self.transport.write(self.core.http_response(request_line))
        self.transport.close()

    # ------------------------------------------------------------ session (runs in its greenlet)

    def _start_session(self, env: dict[str, str]) -> None:
        session = SessionGreenlet(self._run_session, parent=self.core.hub)
        session.offload = self._offload
        session.submit = self._submit
        session.wait_for = self._wait_for
        self._greenlet = session
        session.switch(env)

    def _run_session(self, env: dict[str, str]) -> None:
        core = self.core
        request = None
        try:
            request = build_request(env)
            handler = find_handler(core.routes, request)
            if handler is None:
                self._send_failure()
                log_call(request, env, "unknown-script", self.started)
                metrics.script_done("unknown", "failed", time.monotonic() - self.started)
                return
            agi = SafeAGI(env, self, core.timeouts)
            end = run_handler(agi, request, handler, core.current_bundle(), core.services)
            if end.failed:
                self._send_failure()
            log_call(request, env, end.outcome, self.started)
            metrics.script_done(request.script, session_result(end), time.monotonic() - self.started)
        except Exception:  # a bug of ours, not the handler's: never let it reach the event loop
            SERVER_LOG.exception("session crashed outside its handler")
            log_call(request, env, "error=server", self.started)
            metrics.script_done("unknown", "failed", time.monotonic() - self.started)
        finally:
            self._finish()

    def _send_failure(self) -> None:
        if not self._closed and self.transport is not None:
            self.transport.write(FAILURE_LINE)

    def _finish(self) -> None:
        self.phase = Phase.CLOSING
        self.deadline = NEVER
        if self.transport is not None and not self._closed:
            try:
                self.transport.close()
            except RuntimeError:  # the loop is already closed (greenlet collected at shutdown)
                pass

    def _offload(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        return self._wait_for(self._submit(fn, args, kwargs), getattr(fn, "__name__", "call"))

    def _submit(self, fn: Callable[..., Any], args: tuple[Any, ...],
                kwargs: Mapping[str, Any]) -> concurrent.futures.Future[Any]:
        return self.core.executor.submit(fn, *args, **kwargs)

    def _wait_for(self, future: concurrent.futures.Future[Any], what: str = "call",
                  within: float | None = None) -> Any:
        """Park this session until ``future`` is done (at most the server's blocking timeout). With
        ``within`` (shorter), the work is left running past it: the caller asks again later."""
        if not future.done():
            limit = self.core.options.blocking_timeout if within is None else min(within, self.core.options.blocking_timeout)
            self._future = future
            future.add_done_callback(self._offload_done_in_worker)
            wake = self._park(Wake.DONE, limit)
            self._future = None
            if wake is Wake.TIMEOUT:
                if within is None:
                    future.cancel()
                raise BlockingCallTimeout(f"{what} took more than {limit:.1f} s")
        return future.result()

    def _offload_done_in_worker(self, future: concurrent.futures.Future[Any]) -> None:
        try:
            self.core.loop.call_soon_threadsafe(self._offload_done, future)
        except RuntimeError:  # the loop closed at shutdown while the call ran; nobody waits any more
            pass

    def _offload_done(self, future: concurrent.futures.Future[Any]) -> None:
        if self._waiting is Wake.DONE and self._future is future:
            self._resume(Wake.DONE)

    def _park(self, waiting_for: Wake, timeout: float) -> Wake:
        """Give the event loop back until ``waiting_for`` (or the deadline, or a close) happens."""
        self._waiting = waiting_for
        self.deadline = time.monotonic() + timeout
        try:
            wake: Wake = self.core.hub.switch()
        finally:
            self._waiting = None
            self.deadline = NEVER
        return wake

    def _resume(self, wake: Wake) -> None:
        assert self._greenlet is not None
        self._greenlet.switch(wake)

    # ------------------------------------------------------------ LineTransport (session side)

    @property
    def hangup_signalled(self) -> bool:
        return False  # FastAGI signals hangups in the line stream only

    def send(self, data: bytes) -> None:
        if self._closed or self.transport is None:
            raise ChannelHungUp("Asterisk closed the AGI connection")
        self.transport.write(data)

    def pending_line(self) -> str | None:
        return self._lines[0] if self._lines else None

    def read_line(self, timeout: float) -> str:
        if self._lines:
            return self._lines.popleft()
        if self._closed:
            raise ChannelHungUp("Asterisk closed the AGI connection")
        wake = self._park(Wake.LINE, timeout)
        if wake is Wake.LINE:
            return self._lines.popleft()
        if wake is Wake.CLOSED:
            raise ChannelHungUp("Asterisk closed the AGI connection")
        raise CommandTimeout(f"no reply from Asterisk within {timeout:.1f} s")

    # ------------------------------------------------------------ bytes to lines

    def _feed(self, data: bytes) -> None:
        if self._partial:
            data = self._partial + data
        if b"\n" not in data:
            self._partial = data
            if len(data) > MAX_LINE_BYTES:
                SERVER_LOG.warning("closing a connection that sent a line over %d bytes", MAX_LINE_BYTES)
                self._partial = b""
                self.abort()
            return
        end = data.rfind(b"\n")
        self._partial = data[end + 1:]
        if end > MAX_LINE_BYTES and max(map(len, data[:end].split(b"\n"))) > MAX_LINE_BYTES:
            SERVER_LOG.warning("closing a connection that sent a line over %d bytes", MAX_LINE_BYTES)
            self._partial = b""
            self.abort()
            return
        text = data[:end].decode("utf-8", "replace")
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        if "\n" in text:
            self._lines.extend(text.split("\n"))
        else:
            self._lines.append(text)
        if len(self._lines) > MAX_QUEUED_LINES:
            SERVER_LOG.warning("closing a connection that sent %d unanswered lines", len(self._lines))
            self._lines.clear()
            self.abort()
