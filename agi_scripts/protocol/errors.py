"""Typed errors of the AGI protocol layer.

They subclass pyst2's own exceptions, so handler code written against pyst2 (``except AGIHangup``,
``except AGIError``) keeps working unchanged.
"""

from __future__ import annotations

from asterisk.agi import AGIError, AGIHangup, AGIUsageError


class ChannelHungUp(AGIHangup):  # type: ignore[misc]  # pyst2 has no type hints
    """The caller's channel is gone (``HANGUP`` line, ``511``, closed connection).

    The server treats it as a normal end of the session, not as an error.
    """


class CommandTimeout(AGIError):  # type: ignore[misc]  # pyst2 has no type hints
    """Asterisk did not answer a command in time; the session cannot go on (replies would be out of step)."""


class UnsafeCommand(AGIError, ValueError):  # type: ignore[misc]  # pyst2 has no type hints
    """A command that cannot be sent safely: bad command word, or a line Asterisk would cut in two."""


class UsageError(AGIUsageError):  # type: ignore[misc]  # pyst2 has no type hints
    """Asterisk answered ``520``: the command's arguments did not match its syntax."""

    def __init__(self, command: str, usage: str) -> None:
        self.command = command
        self.usage = usage
        # The message reaches logs: the peer's text, cut and without control characters or line breaks.
        super().__init__(f"Asterisk refused the syntax of AGI command {command!r}: {printable(usage)}")


def printable(text: str, limit: int = 300) -> str:
    """Peer text made safe for one log line: control characters shown as ``?``, cut at ``limit``."""
    cleaned = "".join(c if c.isprintable() else "?" for c in text[:limit])
    return cleaned + ("..." if len(text) > limit else "")


class BlockingCallTimeout(AGIError):  # type: ignore[misc]  # pyst2 has no type hints
    """A call offloaded to the worker threads (a store write, ...) took longer than allowed."""
