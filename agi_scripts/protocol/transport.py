"""How :class:`~agi_scripts.protocol.safe_agi.SafeAGI` talks to Asterisk: whole lines in, whole lines
out, with a deadline on every read.

The FastAGI server provides a transport that parks the session's greenlet while Asterisk works;
:class:`FileLineTransport` serves classic AGI (stdin/stdout) and simple tools.
"""

from __future__ import annotations

import io
import os
import select
import time
from typing import BinaryIO, Protocol, Union

from agi_scripts.protocol.errors import ChannelHungUp, CommandTimeout

MAX_LINE_BYTES = 8 * 1024
"""A reply longer than this is not Asterisk: its own buffer for a variable's value is about 1 KB,
and no reply or environment line of a call comes near 8 KB."""


ByteStream = Union[BinaryIO, io.RawIOBase, io.BufferedIOBase]


class LineTransport(Protocol):
    def send(self, data: bytes) -> None:
        """Write one complete command line (newline included)."""

    def read_line(self, timeout: float) -> str:
        """The next line without its line ending.

        Raises :class:`CommandTimeout` after ``timeout`` seconds and :class:`ChannelHungUp` when
        Asterisk closed the connection."""

    def pending_line(self) -> str | None:
        """The next line if it already arrived, without waiting and without consuming it."""

    @property
    def hangup_signalled(self) -> bool:
        """Asterisk signalled the hangup outside the line stream (classic AGI's SIGHUP)."""


def decode_line(raw: bytes) -> str:
    """A received line as text: UTF-8, undecodable bytes replaced, trailing CR dropped."""
    text = raw.decode("utf-8", "replace")
    return text[:-1] if text.endswith("\r") else text


class FileLineTransport:
    """Blocking line transport over a pair of binary files (classic AGI's stdin/stdout).

    When the input has a file descriptor, reads go through ``os.read`` and ``select`` so the
    per-command timeout holds; otherwise (an in-memory stream in a test) reads block.
    """

    def __init__(self, stdin: ByteStream, stdout: ByteStream) -> None:
        self._in = stdin
        self._out = stdout
        self._buffer = b""
        self._closed = False
        self.got_sighup = False
        try:
            self._fd: int | None = stdin.fileno()
        except (AttributeError, OSError, ValueError):
            self._fd = None

    @property
    def hangup_signalled(self) -> bool:
        return self.got_sighup

    def send(self, data: bytes) -> None:
        try:
            self._out.write(data)
            self._out.flush()
        except (BrokenPipeError, ConnectionError) as exc:
            raise ChannelHungUp("Asterisk closed the AGI pipe") from exc

    def pending_line(self) -> str | None:
        if b"\n" not in self._buffer and self._fd is not None and not self._closed:
            readable, _, _ = select.select([self._fd], [], [], 0)
            if readable:
                self._fill()
        raw, newline, _ = self._buffer.partition(b"\n")
        return decode_line(raw) if newline else None

    def read_line(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            line = self._take_line()
            if line is not None:
                return line
            if self._closed:
                raise ChannelHungUp("Asterisk closed the AGI connection")
            if self._fd is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CommandTimeout(f"no reply from Asterisk within {timeout:.1f} s")
                readable, _, _ = select.select([self._fd], [], [], remaining)
                if not readable:
                    continue
            self._fill()

    def _fill(self) -> None:
        if self._fd is not None:
            chunk = os.read(self._fd, 65536)
        else:
            chunk = self._in.readline()
        if not chunk:
            self._closed = True
        self._buffer += chunk
        if len(self._buffer) > MAX_LINE_BYTES and b"\n" not in self._buffer:
            raise ChannelHungUp("Asterisk sent a line longer than any AGI reply")

    def _take_line(self) -> str | None:
        raw, newline, rest = self._buffer.partition(b"\n")
        if not newline:
            if self._closed and raw:
                self._buffer = b""
                return decode_line(raw)
            return None
        self._buffer = rest
        return decode_line(raw)
