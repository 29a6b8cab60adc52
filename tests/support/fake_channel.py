"""A caller's channel as Asterisk would present it to our handlers over FastAGI, scripted by a test.

It answers the AGI commands the handlers send (read with a port of Asterisk's own argument parser,
so the test sees what Asterisk would), keeps channel variables, plays the caller's scripted keys
and writes a real WAV for RECORD FILE.
"""

from __future__ import annotations

import array
import re
import wave
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.agi_peer import AgiPeer, parse_agi_args


DEAD_CHANNEL_COMMANDS = frozenset({"EXEC", "GET VARIABLE", "GET FULL", "SET VARIABLE", "VERBOSE"})
"""What res_agi still runs once the channel hung up (its commands marked usable on a dead channel)."""


def _runs_on_dead_channel(argv: list[str]) -> bool:
    return bool({argv[0].upper(), " ".join(argv[:2]).upper()} & DEAD_CHANNEL_COMMANDS) if argv else False


@dataclass
class FakeChannel:
    variables: dict[str, str] = field(default_factory=dict)
    keys: deque[str] = field(default_factory=deque)
    """Keys the caller presses, one per STREAM FILE with escape digits or WAIT FOR DIGIT ('' = none)."""
    voice: bool = True
    """Whether RECORD FILE records a voice or silence."""
    hang_up_on: str = ""
    """Hang up (send HANGUP) when a command starting with this arrives (its words as Asterisk parsed them)."""
    commands: list[list[str]] = field(default_factory=list)
    hung_up: bool = False
    unplayable: str = ""
    """A sound STREAM FILE cannot open: answered ``result=-1`` on a live channel, as Asterisk does."""

    def press(self, keys: Iterable[str]) -> FakeChannel:
        self.keys.extend(keys)
        return self

    def serve(self, peer: AgiPeer, timeout: float = 10.0) -> list[list[str]]:
        """Answer every command until the server closes the session."""
        while (line := peer.read_line(timeout)) is not None:
            argv = parse_agi_args(line)
            self.commands.append(argv)
            try:
                if self.hung_up and not _runs_on_dead_channel(argv):
                    peer.reply("511 Command Not Permitted on a dead channel or intercept routine")
                elif self.hang_up_on and " ".join(argv).startswith(self.hang_up_on) and not self.hung_up:
                    # As Asterisk does: the HANGUP line, then the command's result. RECORD FILE has
                    # closed its file first, so what the caller said is on disk.
                    self.hung_up = True
                    if argv[:2] == ["RECORD", "FILE"]:
                        self._write_recording(Path(argv[2] + "." + argv[3]))
                        peer.reply("HANGUP", "200 result=-1 (hangup) endpos=16000")
                    elif _runs_on_dead_channel(argv):
                        peer.reply("HANGUP", self.answer(argv))  # a variable is still read or set
                    else:
                        peer.reply("HANGUP", "200 result=-1")
                else:
                    peer.reply(self.answer(argv))
            except (BrokenPipeError, ConnectionResetError):
                break
        return self.commands

    def answer(self, argv: list[str]) -> str:
        verb = " ".join(argv[:2]).upper()
        if verb == "GET FULL" and len(argv) >= 4:
            # As pbx_substitute_variables_helper does: each ${NAME} replaced, unset ones by nothing.
            expanded = re.sub(r"\$\{([A-Za-z0-9_]+)\}", lambda m: self.variables.get(m[1], ""), argv[3])
            return f"200 result=1 ({expanded})"
        if verb == "GET VARIABLE":
            value = self.variables.get(argv[2])
            return f"200 result=1 ({value})" if value is not None else "200 result=0"
        if verb == "SET VARIABLE":
            self.variables[argv[2]] = argv[3]
            return "200 result=1"
        if verb == "STREAM FILE" and self.unplayable and argv[2] == self.unplayable:
            return "200 result=-1 endpos=0"
        if verb == "STREAM FILE":
            escape = argv[3] if len(argv) > 3 else ""
            key = self.keys.popleft() if escape and self.keys and self.keys[0] in escape else ""
            return f"200 result={ord(key) if key else 0} endpos=8000"
        if verb == "WAIT FOR":
            key = self.keys.popleft() if self.keys else ""
            return f"200 result={ord(key) if key else 0}"
        if verb == "RECORD FILE":
            self._write_recording(Path(argv[2] + "." + argv[3]))
            return "200 result=0 (timeout) endpos=16000"
        if argv[0].upper() == "HANGUP":
            return "200 result=1"
        return "200 result=0"

    def sent(self, first_word: str) -> list[list[str]]:
        return [c for c in self.commands if c and c[0].upper() == first_word.upper()]

    def _write_recording(self, path: Path) -> None:
        samples = array.array("h", [((i % 16) - 8) * 2000 if self.voice else 0 for i in range(16000)])
        path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(8000)
            wav.writeframes(samples.tobytes())
