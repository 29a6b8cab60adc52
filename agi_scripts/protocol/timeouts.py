"""How long to wait for Asterisk's reply to one command.

Once connected, Asterisk never gives up on an AGI session by itself, and a command whose channel
vanished without a word would hold a session slot forever, so every read has a deadline:

- a plain command (``GET VARIABLE``, ``SET VARIABLE``, ``VERBOSE``...): ``command_timeout``;
- a command that plays or records audio of a length we do not know (``STREAM FILE``, ``GET DATA``,
  ``EXEC``, ``GOSUB``...): plus ``media_timeout``;
- a command with its own timeout argument (``GET DATA file 5000``, ``WAIT FOR DIGIT 3000``,
  ``RECORD FILE ... 20000``): plus that timeout; "wait forever" (``-1``, or ``0`` where Asterisk reads
  it so) counts as ``media_timeout``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

_PLAYS_MEDIA = frozenset({
    "STREAM FILE", "CONTROL STREAM FILE", "GET DATA", "GET OPTION", "RECORD FILE", "EXEC", "GOSUB",
    "SAY ALPHA", "SAY DIGITS", "SAY NUMBER", "SAY PHONETIC", "SAY DATE", "SAY TIME", "SAY DATETIME",
    "SPEECH RECOGNIZE",
})

# Position of the command's own timeout argument (milliseconds), and whether 0 means "forever".
_OWN_TIMEOUT: dict[str, tuple[int, bool]] = {
    "WAIT FOR DIGIT": (0, False),
    "RECEIVE CHAR": (0, True),
    "GET DATA": (1, False),
    "GET OPTION": (2, False),
    "RECORD FILE": (3, False),
    "SPEECH RECOGNIZE": (1, False),
}


@dataclass(frozen=True)
class CommandTimeouts:
    command_timeout: float = 10.0
    media_timeout: float = 300.0

    def for_command(self, verb: str, args: Sequence[object]) -> float:
        """Seconds to wait for the reply to ``verb`` (upper case, single spaces) with ``args``."""
        seconds = self.command_timeout
        if verb in _PLAYS_MEDIA:
            seconds += self.media_timeout
        own = _OWN_TIMEOUT.get(verb)
        if own is not None:
            seconds += self._own_seconds(args, *own)
        return seconds

    def _own_seconds(self, args: Sequence[object], index: int, zero_is_forever: bool) -> float:
        if index >= len(args):
            return 0.0
        try:
            millis = float(str(args[index]))
        except ValueError:
            return 0.0
        if millis < 0 or (millis == 0 and zero_is_forever):
            return self.media_timeout
        return millis / 1000.0
