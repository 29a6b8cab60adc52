"""Non-blocking TCP on the event loop's selector, without asyncio's transports.

An AGI session is a few short lines each way, so most of what asyncio's transport layer does per
connection is overhead here: in Python 3.11 it creates a Task for every accepted connection, asks
the kernel for the socket's own address, and allocates a 256 KiB buffer per read. This module does
only what FastAGI needs, with ``loop.add_reader``: accept in batches, ``recv_into`` one shared
buffer, ``send`` directly and queue only the part the kernel did not take.

A :class:`SocketLink` offers the small part of ``asyncio.Transport`` the connection uses (``write``,
``close``, ``abort``, ``write_eof``, ``get_extra_info('peername')``) and calls the connection's
``connection_made`` / ``data_received`` / ``connection_lost`` like asyncio would, ``connection_lost``
always from a loop callback of its own.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable
from typing import Any, Protocol

LOG = logging.getLogger("respectline.server")

_BUFFER = bytearray(64 * 1024)
_VIEW = memoryview(_BUFFER)
"""One receive buffer for the whole loop thread: each read is copied out before the next one."""

_ACCEPT_BATCH = 64
_ACCEPT_RETRY_DELAY = 1.0
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


class StreamProtocol(Protocol):
    def connection_made(self, link: Any) -> None: ...

    def data_received(self, data: bytes) -> None: ...

    def connection_lost(self, exc: Exception | None) -> None: ...


class SocketLink:
    """One accepted connection."""

    __slots__ = ("_loop", "_sock", "_fd", "_peer", "_protocol", "_pending", "_writing", "_close_when_sent",
                 "_eof_when_sent", "_closed")

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, peer: Any,
                 protocol: StreamProtocol) -> None:
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._peer = peer
        self._protocol = protocol
        self._pending = b""
        self._writing = False
        self._close_when_sent = False
        self._eof_when_sent = False
        self._closed = False
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        loop.add_reader(self._fd, self._on_readable)
        protocol.connection_made(self)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._peer if name == "peername" else default

    def is_closing(self) -> bool:
        return self._closed or self._close_when_sent

    # ------------------------------------------------------------ reading

    def _on_readable(self) -> None:
        try:
            count = self._sock.recv_into(_VIEW, len(_BUFFER), socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            count = 0  # reset by peer and the like: the connection is over either way
        if count:
            self._protocol.data_received(_VIEW[:count].tobytes())
        else:
            self._close_now()

    # ------------------------------------------------------------ writing

    def write(self, data: bytes) -> None:
        if self._closed or self._close_when_sent:
            return
        if self._pending:
            self._pending += data
            return
        try:
            sent = self._sock.send(data, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._loop.call_soon(self._close_now)  # the peer is gone; the reader would find out too
            return
        if sent < len(data):
            self._pending = data[sent:]
            self._start_writing()

    def _start_writing(self) -> None:
        if not self._writing:
            self._writing = True
            self._loop.add_writer(self._fd, self._on_writable)

    def _on_writable(self) -> None:
        try:
            sent = self._sock.send(self._pending, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close_now()
            return
        self._pending = self._pending[sent:]
        if self._pending:
            return
        self._loop.remove_writer(self._fd)
        self._writing = False
        if self._close_when_sent:
            self._close_now()
        elif self._eof_when_sent:
            self._shutdown_write()

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        if self._pending:
            self._eof_when_sent = True
        else:
            self._shutdown_write()

    def _shutdown_write(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    # ------------------------------------------------------------ closing

    def close(self) -> None:
        """Close once what was written is sent."""
        if self._pending and not self._closed:
            self._close_when_sent = True
            self._loop.remove_reader(self._fd)
        else:
            self._close_now()

    def abort(self) -> None:
        self._pending = b""
        self._close_now()

    def _close_now(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._fd)
        if self._writing:
            self._loop.remove_writer(self._fd)
        self._sock.close()
        self._loop.call_soon(self._protocol.connection_lost, None)


class SocketListener:
    """A listening socket whose connections get a :class:`SocketLink` and a fresh protocol."""

    def __init__(self, loop: asyncio.AbstractEventLoop, host: str, port: int,
                 protocol_factory: Callable[[], StreamProtocol], backlog: int = 4096) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.create_server((host, port), family=family, backlog=backlog)
        self._sock.setblocking(False)
        self._loop = loop
        self._factory = protocol_factory
        self._listening = False
        self.address: tuple[str, int] = self._sock.getsockname()[:2]
        self._resume()

    def _resume(self) -> None:
        if not self._listening and self._sock.fileno() >= 0:
            self._listening = True
            self._loop.add_reader(self._sock.fileno(), self._on_acceptable)

    def _on_acceptable(self) -> None:
        for _ in range(_ACCEPT_BATCH):
            try:
                sock, peer = self._sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno not in _OUT_OF_RESOURCES:
                    raise
                # Too many open files: stop accepting for a second rather than spin on a readable socket.
                LOG.error("cannot accept FastAGI connections (%s); retrying in %.0f s", exc, _ACCEPT_RETRY_DELAY)
                self._pause()
                self._loop.call_later(_ACCEPT_RETRY_DELAY, self._resume)
                return
            try:
                SocketLink(self._loop, sock, peer, self._factory())
            except OSError:
                sock.close()

    def _pause(self) -> None:
        if self._listening:
            self._listening = False
            self._loop.remove_reader(self._sock.fileno())

    def close(self) -> None:
        self._pause()
        self._sock.close()
