"""A small, blocking Asterisk Manager Interface (AMI) client.

Enough for tests, the demo and the server: log in, send an action and get its response (and the
events of an event list), and watch events such as ``UserEvent`` or ``QueueMemberPause``.

AMI speaks ``Key: Value`` lines ending in CRLF; a blank line ends a message. A key may repeat in one
message (``Output:`` lines of a ``Command`` response): the values are joined with newlines here.
Events that arrive while waiting for a response are kept, in order, for :meth:`AmiClient.next_event`.
"""

from __future__ import annotations

import itertools
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping
from types import TracebackType

AmiMessage = dict[str, str]
EventFilter = Callable[[AmiMessage], bool]

_END_OF_MESSAGE = b"\r\n\r\n"


MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""The largest AMI message read (a CLI answer of a very large dialplan is a few MB)."""


class AmiError(RuntimeError):
    """The AMI connection failed, timed out, or Asterisk refused an action."""


def encode_action(action: str, fields: Mapping[str, str]) -> bytes:
    """One action as AMI wire text; refuses values that would smuggle in another line."""
    lines = [f"Action: {action}"]
    for key, value in fields.items():
        if any(c in key for c in ":\r\n") or any(c in value for c in "\r\n"):
            raise ValueError(f"AMI field {key!r} has a line break or colon in it")
        lines.append(f"{key}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def decode_message(raw: bytes) -> AmiMessage:
    """Parses one message (without its terminating blank line); repeated keys are joined by newlines
    (collected first and joined once: a CLI answer of 80,000 ``Output:`` lines stays linear)."""
    values: dict[str, list[str]] = {}
    for line in raw.decode("utf-8", errors="replace").split("\r\n"):
        key, sep, value = line.partition(":")
        if not sep:
            # Old "Command" responses carry bare output lines; keep them under Output.
            key, value = "Output", line
        values.setdefault(key.strip(), []).append(value.strip())
    return {key: "\n".join(parts) for key, parts in values.items()}


def event_matches(event: AmiMessage, name: str, fields: Mapping[str, str]) -> bool:
    """True for an event called ``name`` (case-insensitive) whose fields include ``fields``."""
    if event.get("Event", "").lower() != name.lower():
        return False
    return all(event.get(key) == value for key, value in fields.items())


class AmiClient:
    """A blocking AMI connection. Use as a context manager, or call :meth:`close`."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._action_ids = itertools.count(1)
        self._buffer = b""
        self._events: deque[AmiMessage] = deque()
        try:
            self._sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise AmiError(f"cannot connect to AMI at {host}:{port}: {exc}") from exc
        self.banner = self._read_line(time.monotonic() + timeout)
        if not self.banner.startswith("Asterisk Call Manager"):
            self.close()
            raise AmiError(f"not an AMI server at {host}:{port}: {self.banner!r}")

    def __enter__(self) -> AmiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass

    def login(self, username: str, secret: str) -> AmiMessage:
        """Logs in; raises :class:`AmiError` when Asterisk refuses the credentials."""
        return self.send_action("Login", {"Username": username, "Secret": secret})

    def logoff(self) -> None:
        try:
            self.send_action("Logoff", check=False)
        except AmiError:
            pass  # Asterisk may close the socket before we read the "Goodbye".

    def send_action(
        self, action: str, fields: Mapping[str, str] | None = None, *, check: bool = True
    ) -> AmiMessage:
        """Sends an action and returns its response; raises on ``Response: Error`` if ``check``."""
        action_id = self._send(action, fields or {})
        response = self._wait_for(lambda m: "Response" in m and m.get("ActionID") == action_id)
        if check and response.get("Response", "").lower() not in ("success", "follows", "goodbye"):
            raise AmiError(f"AMI {action} failed: {response.get('Message', response)}")
        return response

    def send_action_list(
        self, action: str, fields: Mapping[str, str] | None = None
    ) -> tuple[AmiMessage, list[AmiMessage]]:
        """Sends an action that answers with an event list (QueueStatus, CoreShowChannels...)."""
        action_id = self._send(action, fields or {})
        response = self._wait_for(lambda m: "Response" in m and m.get("ActionID") == action_id)
        if response.get("Response", "").lower() != "success":
            raise AmiError(f"AMI {action} failed: {response.get('Message', response)}")
        items: list[AmiMessage] = []
        while True:
            event = self._wait_for(lambda m: "Event" in m and m.get("ActionID") == action_id)
            if event.get("EventList", "").lower() == "complete":
                return response, items
            items.append(event)

    def command(self, cli_command: str) -> str:
        """Runs a CLI command through AMI and returns its output."""
        return self.send_action("Command", {"Command": cli_command}).get("Output", "")

    def next_event(self, timeout: float | None = None) -> AmiMessage | None:
        """The next event (kept or new), or None if none arrives within ``timeout`` seconds."""
        if self._events:
            return self._events.popleft()
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            message = self._read_message(deadline, allow_timeout=True)
            if message is None:
                return None
            if "Event" in message:
                return message

    def wait_for_event(
        self, name: str, fields: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> AmiMessage:
        """Waits for the event ``name`` with the given field values; other events are dropped."""
        wanted = fields or {}
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            event = self.next_event(timeout=max(0.0, deadline - time.monotonic()))
            if event is None:
                raise AmiError(f"no AMI event {name} {dict(wanted)} within the timeout")
            if event_matches(event, name, wanted):
                return event

    def _send(self, action: str, fields: Mapping[str, str]) -> str:
        action_id = f"rl-{next(self._action_ids)}"
        try:
            self._sock.sendall(encode_action(action, {**fields, "ActionID": action_id}))
        except OSError as exc:
            raise AmiError(f"AMI connection lost while sending {action}: {exc}") from exc
        return action_id

    def _wait_for(self, wanted: EventFilter) -> AmiMessage:
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._read_message(deadline, allow_timeout=False)
            assert message is not None
            if wanted(message):
                return message
            if "Event" in message:
                self._events.append(message)

    def _read_message(self, deadline: float, *, allow_timeout: bool) -> AmiMessage | None:
        while _END_OF_MESSAGE not in self._buffer:
            if not self._receive(deadline):
                if allow_timeout:
                    return None
                raise AmiError("AMI response timed out")
        raw, self._buffer = self._buffer.split(_END_OF_MESSAGE, 1)
        return decode_message(raw)

    def _read_line(self, deadline: float) -> str:
        while b"\r\n" not in self._buffer:
            if not self._receive(deadline):
                raise AmiError("AMI banner timed out")
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line.decode("utf-8", errors="replace")

    def _receive(self, deadline: float) -> bool:
        """Reads what arrived before ``deadline``; False on timeout, AmiError when closed."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self._sock.settimeout(remaining)
        try:
            chunk = self._sock.recv(65536)
        except TimeoutError:
            return False
        except OSError as exc:
            raise AmiError(f"AMI connection lost: {exc}") from exc
        if not chunk:
            raise AmiError("AMI connection closed by Asterisk")
        self._buffer += chunk
        if len(self._buffer) > MAX_MESSAGE_BYTES and _END_OF_MESSAGE not in self._buffer:
            raise AmiError(f"an AMI message over {MAX_MESSAGE_BYTES // (1024 * 1024)} MB; giving up on this connection")
        return True
