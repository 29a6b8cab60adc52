"""A scripted fake Asterisk for FastAGI tests, over a real TCP socket.

``AgiPeer`` connects like Asterisk's ``launch_netscript`` does, sends the environment, then reads the
server's commands and answers them as the test scripts it. ``parse_agi_args`` is a line-by-line port
of ``parse_args`` in Asterisk's ``res/res_agi.c``, so tests check what Asterisk would actually read.

Also here: test-only handlers (``TEST_ROUTES``, never registered in the product's ``ROUTES``) and a
JSON bundle loader for the reload tests, both importable by a server subprocess.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agi_scripts.ground.errors import ConfigError, ValidationFailed
from agi_scripts.server.registry import Session

MAX_ARGS = 128
HOSTILE_CALLER_NAME = 'Bob"\nEXEC System "touch /tmp/p'


def parse_agi_args(line: str) -> list[str]:
    """What Asterisk's ``parse_args`` makes of one command line (port of res_agi.c)."""
    argv: list[str] = []
    current: list[str] | None = None
    quoted = escaped = False
    whitespace = True
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and whitespace:
                current = []
                argv.append("")  # placeholder, filled when the word ends
                whitespace = False
            escaped = False
            continue
        if ch in " \t" and not quoted and not escaped:
            if current is not None:
                argv[-1] = "".join(current)
            current = None
            whitespace = True
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        if whitespace:
            if len(argv) >= MAX_ARGS - 1:
                continue
            current = []
            argv.append("")
            whitespace = False
        if current is None:  # a quote opened a word that a space "closed" inside quotes cannot reach
            current = []
        current.append(ch)
        escaped = False
    if current is not None:
        argv[-1] = "".join(current)
    return argv


def asterisk_environment(script: str = "test", *, port: int = 4573, args: Iterable[str] = (),
                         callerid: str = "+32471234512", calleridname: str = "Alice",
                         channel: str = "PJSIP/alice-00000001", uniqueid: str = "1700000000.1",
                         extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment Asterisk 22 sends for ``AGI(agi://127.0.0.1:PORT/SCRIPT,args...)``."""
    env = {
        "agi_network": "yes",
        "agi_network_script": script,
        "agi_request": f"agi://127.0.0.1:{port}/{script}",
        "agi_channel": channel,
        "agi_language": "nl",
        "agi_type": "PJSIP",
        "agi_uniqueid": uniqueid,
        "agi_version": "22.10.1",
        "agi_callerid": callerid,
        "agi_calleridname": calleridname,
        "agi_callingpres": "0",
        "agi_callingani2": "0",
        "agi_callington": "0",
        "agi_callingtns": "0",
        "agi_dnid": "100",
        "agi_rdnis": "unknown",
        "agi_context": "incoming",
        "agi_extension": "100",
        "agi_priority": "2",
        "agi_enhanced": "0.0",
        "agi_accountcode": "",
        "agi_threadid": "140000000000000",
    }
    env.update(extra or {})
    for index, value in enumerate(args, start=1):
        env[f"agi_arg_{index}"] = value
    return env


def encode_environment(env: Mapping[str, str]) -> bytes:
    return "".join(f"{key}: {value}\n" for key, value in env.items()).encode() + b"\n"


class AgiPeer:
    """One fake-Asterisk connection. Every read has a timeout so a broken server fails the test
    instead of hanging it."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0,
                 sock: socket.socket | None = None) -> None:
        self.sock = sock or socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self._buffer = b""
        self.received = b""
        """Every byte the server sent, to check line discipline."""

    @classmethod
    def over(cls, sock: socket.socket, timeout: float = 5.0) -> AgiPeer:
        """A peer on an already connected socket (classic AGI's pipe, in tests)."""
        return cls(0, timeout=timeout, sock=sock)

    def start(self, script: str = "test", **environment: Any) -> AgiPeer:
        self.sock.sendall(encode_environment(asterisk_environment(script, **environment)))
        return self

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self, *lines: str) -> None:
        self.sock.sendall("".join(line + "\n" for line in lines).encode())

    def read_line(self, timeout: float | None = None) -> str | None:
        """The next line from the server, or ``None`` once it closed the connection."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the server sent no complete line in time")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                if self._buffer:
                    line, self._buffer = self._buffer, b""
                    return line.decode()
                return None
            self.received += chunk
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def command(self, timeout: float | None = None) -> str:
        line = self.read_line(timeout)
        if line is None:
            raise AssertionError("the server closed the connection instead of sending a command")
        return line

    def answer_all(self, respond: Callable[[str], str | None] = lambda _c: "200 result=0",
                   timeout: float | None = None) -> list[str]:
        """Answer each command until the server closes; returns the commands seen.
        ``respond`` returning ``None`` leaves a command unanswered."""
        seen: list[str] = []
        while (line := self.read_line(timeout)) is not None:
            seen.append(line)
            answer = respond(line)
            if answer is not None:
                try:
                    self.reply(answer)
                except (BrokenPipeError, ConnectionResetError):
                    break
        return seen

    def is_closed(self, timeout: float = 2.0) -> bool:
        """The server closed the connection (pending lines are consumed)."""
        try:
            while self.read_line(timeout) is not None:
                pass
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> AgiPeer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


# ---------------------------------------------------------------- test handlers and bundle


def _echo(ctx: Session[Any, Any]) -> None:
    """Reports what it was given, through AGI commands the peer can read."""
    ctx.agi.verbose(f"script={ctx.request.script} params={sorted(ctx.request.params.items())}")
    ctx.agi.verbose("args=" + "|".join(ctx.request.args))
    ctx.agi.verbose(f"bundle={getattr(ctx.bundle, 'data', None)}")


def _six_commands(ctx: Session[Any, Any]) -> None:
    """The benchmark's session: six commands through pyst2's API."""
    agi = ctx.agi
    agi.answer()
    agi.get_variable("CHANNEL(language)")
    agi.set_variable("RL_SEEN", "1")
    agi.stream_file("beep")
    agi.get_data("beep", 2000, 4)
    agi.verbose("done")
    ctx.outcome = "six"


def _caller_name(ctx: Session[Any, Any]) -> None:
    ctx.agi.set_variable("RL_NAME", ctx.request.env["agi_calleridname"])


def _wait_digit(ctx: Session[Any, Any]) -> None:
    ctx.outcome = "waited digit=" + ctx.agi.wait_for_digit(1000)


def _boom(ctx: Session[Any, Any]) -> None:
    ctx.agi.answer()
    raise KeyError("deliberate failure in a test handler")


def _two_commands(ctx: Session[Any, Any]) -> None:
    ctx.agi.answer()
    ctx.outcome = "first-done"
    ctx.agi.stream_file("hold")
    ctx.outcome = "second-done"


TEST_ROUTES: dict[str, Callable[[Session[Any, Any]], None]] = {
    "echo": _echo,
    "six": _six_commands,
    "caller_name": _caller_name,
    "wait_digit": _wait_digit,
    "boom": _boom,
    "two": _two_commands,
}


@dataclass
class JsonBundle:
    path: Path
    data: dict[str, Any] = field(default_factory=dict)

    def watched_files(self) -> list[Path]:
        return [self.path]


def load_json_bundle(path: Path) -> JsonBundle:
    """A stand-in for ``load_bundle``: JSON object with ``"valid": false`` or bad JSON is refused
    with a ``ValidationFailed`` naming file, line and column."""
    text = path.read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed([ConfigError(path, exc.lineno, exc.colno, exc.msg)]) from None
    if data.get("valid") is False:
        raise ValidationFailed([ConfigError(path, 1, 1, "marked invalid"),
                                ConfigError(path, 2, 3, "second problem")])
    return JsonBundle(path, data)


def load_bundle_from_environment() -> JsonBundle:
    """For a server subprocess: the JSON file named by ``RESPECTLINE_TEST_BUNDLE``."""
    return load_json_bundle(Path(os.environ["RESPECTLINE_TEST_BUNDLE"]))
