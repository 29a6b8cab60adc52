"""pyst2's ``AGI`` with its traps removed, keeping its whole API for handlers.

What changes compared to ``asterisk.agi.AGI`` (pyst2 0.5.1):

- the constructor takes an environment already read and a :class:`LineTransport`; it installs no
  signal handler (pyst2 calls ``signal.signal(SIGHUP)``, which fails outside the main thread) and
  reads nothing from stdin;
- nothing is written to stderr: pyst2 prints the whole environment (caller number included) and
  every command and reply there;
- every argument is escaped for Asterisk's ``parse_args`` and checked to fit one line
  (:mod:`agi_scripts.protocol.wire`); the command word itself must be letters and spaces;
- every reply has a deadline (:mod:`agi_scripts.protocol.timeouts`);
- the reply stream is read the way Asterisk writes it: ``HANGUP`` lines (sent when ``AGISIGHUP`` is
  not ``no``) may come at any time and mark the channel hung up; ``100 Trying...`` precedes the
  real reply (``GOSUB``); ``511`` (channel is dead), ``520`` (one line, or ``520-`` ...
  ``520 End of proper usage.``) and ``510`` become typed errors;
- after a hangup, the next command raises :class:`ChannelHungUp` without being sent; after a reply
  timeout, replies would be out of step, so every later command raises :class:`CommandTimeout`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, NoReturn

from asterisk.agi import AGI, AGIAppError, AGIDBError, AGIError, AGIInvalidCommand, AGIUnknownError

from agi_scripts.protocol.errors import ChannelHungUp, CommandTimeout, UsageError
from agi_scripts.protocol.timeouts import CommandTimeouts
from agi_scripts.protocol.transport import LineTransport
from agi_scripts.protocol.wire import ResultFields, format_command, parse_result_fields, split_code

HANGUP_LINE = "HANGUP"
MAX_USAGE_LINES = 200


def _digit(result: str) -> str:
    """pyst2's reading of a DTMF result: '0' is no digit, else the digit's character code."""
    if result == "0":
        return ""
    try:
        return chr(int(result))
    except ValueError:
        raise AGIError(f"Unable to convert result to char: {result}") from None


_UPPER: dict[str, str] = {}


def _upper_verb(command: str) -> str:
    verb = " ".join(command.upper().split())
    if len(_UPPER) < 256:
        _UPPER[command] = verb
    return verb


class _Discard:
    """Stands in for pyst2's ``stderr`` so no inherited code path can print call data."""

    def write(self, _text: str) -> int:
        return 0

    def flush(self) -> None:
        pass


class SafeAGI(AGI):  # type: ignore[misc]  # pyst2 ships no type hints
    def __init__(self, env: Mapping[str, str], transport: LineTransport,
                 timeouts: CommandTimeouts | None = None) -> None:
        # AGI.__init__ is deliberately not called: it installs a SIGHUP handler and reads stdin.
        self.env = dict(env)
        self.stdin = None
        self.stdout = None
        self.stderr = _Discard()
        self._got_sighup = False
        self._transport = transport
        self._timeouts = timeouts or CommandTimeouts()
        self._hangup_reason = ""
        self._out_of_step = ""

    # ------------------------------------------------------------ state

    @property
    def hung_up(self) -> bool:
        """The channel is known to be gone (every further command raises :class:`ChannelHungUp`)."""
        if not self._hangup_reason and self._transport.hangup_signalled:
            self._hangup_reason = "SIGHUP"
        return bool(self._hangup_reason)

    @property
    def hangup_reason(self) -> str:
        return self._hangup_reason

    def mark_hung_up(self, reason: str) -> None:
        if not self._hangup_reason:
            self._hangup_reason = reason
        self._got_sighup = True

    def notice_pending_hangup(self) -> bool:
        """Take ``HANGUP`` lines that already arrived (without waiting); say whether the channel is gone.
        Any other line is left for the next reply read."""
        while self._transport.pending_line() == HANGUP_LINE:
            self._transport.read_line(0)
            self.mark_hung_up("HANGUP line")
        return self.hung_up

    def test_hangup(self) -> None:
        if self.notice_pending_hangup():
            raise ChannelHungUp(f"the channel hung up ({self._hangup_reason})")

    # ------------------------------------------------------------ pyst2 overrides

    def _quote(self, string: Any) -> str:
        # Quoting and escaping happen for every argument when the line is written.
        return string if isinstance(string, str) else str(string)

    def execute(self, command: str, *args: Any) -> ResultFields:
        if self._hangup_reason or self.notice_pending_hangup():
            raise ChannelHungUp(f"the channel hung up ({self._hangup_reason})")
        if self._out_of_step:
            raise CommandTimeout(self._out_of_step)
        line = format_command(command, args)
        verb = _UPPER.get(command) or _upper_verb(command)
        self._transport.send(line)
        return self._read_reply(verb, self._timeouts.for_command(verb, args))

    def send_command(self, command: str, *args: Any) -> None:
        """pyst2's low-level write, kept for callers that pair it with :meth:`get_result`."""
        self._transport.send(format_command(command, args))

    def get_result(self, stdin: Any = None) -> ResultFields:
        return self._read_reply("", self._timeouts.command_timeout)

    # pyst2 left optional arguments out by passing '' and stripping the line; every argument is
    # sent now, so these methods leave them out with None instead.

    def hangup(self, channel: str = "") -> None:
        self.execute("HANGUP", channel or None)

    def channel_status(self, channel: str = "") -> int:
        try:
            result = self.execute("CHANNEL STATUS", channel or None)
        except ChannelHungUp:
            raise
        except AGIAppError:
            result = {"result": ("-1", "")}
        return int(result["result"][0])

    def say_datetime(self, seconds: int, escape_digits: Any = "", format: str = "", zone: str = "") -> str:
        digits = self._process_digit_list(escape_digits)
        res = self.execute("SAY DATETIME", seconds, digits, format or None if not zone else format,
                           zone or None)["result"][0]
        return _digit(res)

    def exec_command(self, command: str, *args: Any) -> ResultFields:
        options = ",".join(map(str, args))
        return self.execute("EXEC", command, options or None)

    def exec_even_if_hung_up(self, application: str, *args: Any) -> bool:
        """``EXEC`` that is sent after the caller hung up too; True when Asterisk ran it.

        Asterisk keeps a FastAGI session open after a hangup and still runs ``EXEC`` there (res_agi
        marks it usable on a dead channel), so what a caller gave before hanging up can still be
        announced (``UserEvent``). Every other command keeps stopping at a pending ``HANGUP``.
        Nothing is sent when the connection itself is gone or replies are out of step.
        """
        self.notice_pending_hangup()
        if self._out_of_step or self._hangup_reason == "connection closed":
            return False
        options = ",".join(map(str, args))
        try:
            self._transport.send(format_command("EXEC", (application, options or None)))
            self._read_reply("EXEC", self._timeouts.for_command("EXEC", (application,)))
        except (ChannelHungUp, AGIAppError, CommandTimeout):
            return False
        return True

    def database_get(self, family: str, key: str) -> str:
        # pyst2 wraps family and key in quotes twice; with real escaping that would put the quotes
        # into the key, so this is the same method quoting once.
        result = self.execute("DATABASE GET", self._quote(family), self._quote(key))
        res, value = result["result"]
        if res == "0":
            raise AGIDBError(f"Key not found in database: family={family}, key={key}")
        if res == "1":
            return value
        raise AGIError(f"Unknown result for DATABASE GET family={family}, key={key}: {res}")

    # ------------------------------------------------------------ replies

    def _read_reply(self, verb: str, timeout: float) -> ResultFields:
        line = self._next_line(verb, timeout, timeout)
        if line.startswith("200 "):  # the usual case, straight through
            return self._result(line[4:])
        return self._read_unusual_reply(verb, timeout, line)

    def _read_unusual_reply(self, verb: str, timeout: float, line: str) -> ResultFields:
        deadline = time.monotonic() + timeout
        while True:
            if line == HANGUP_LINE:
                self.mark_hung_up("HANGUP line")
            else:
                code, rest = split_code(line)
                if code == 200:
                    return self._result(rest)
                if code != 100 and line.strip():
                    self._raise_for(code, verb, rest, line, deadline)
            # HANGUP, 100 Trying or a stray blank line: the real reply is still to come.
            line = self._next_line(verb, max(0.0, deadline - time.monotonic()), timeout)

    def _next_line(self, verb: str, wait: float, timeout: float) -> str:
        try:
            return self._transport.read_line(wait)
        except CommandTimeout:
            self._out_of_step = f"no reply to AGI {verb or 'command'} within {timeout:.1f} s"
            raise CommandTimeout(self._out_of_step) from None
        except ChannelHungUp:
            self.mark_hung_up("connection closed")
            raise

    def _result(self, rest: str) -> ResultFields:
        fields = parse_result_fields(rest)
        value, data = fields["result"]
        if value == "-1":
            if data == "hangup" or self.notice_pending_hangup() or self._channel_gone():
                self.mark_hung_up("result -1 (hangup)")
                raise ChannelHungUp("the channel hung up during the command")
            raise AGIAppError("Error executing application, or hangup")
        return fields

    def _channel_gone(self) -> bool:
        """After a ``-1`` (error *or* hangup), ask Asterisk whether the channel still exists.

        A real Asterisk answers ``STREAM FILE`` with ``200 result=-1`` when the caller hangs up
        mid-prompt, and the ``HANGUP`` line, if any, may come later; one ``CHANNEL STATUS`` tells
        the two apart: a dead channel gets ``HANGUP``, ``511`` or ``-1``.
        """
        timeout = self._timeouts.command_timeout
        deadline = time.monotonic() + timeout  # one deadline: "100 Trying" lines do not extend it
        self._transport.send(format_command("CHANNEL STATUS", ()))
        while True:
            line = self._next_line("CHANNEL STATUS", max(0.0, deadline - time.monotonic()), timeout)
            if line == HANGUP_LINE:
                self.mark_hung_up("HANGUP line")
                continue
            code, rest = split_code(line)
            if code == 100 or not line.strip():
                continue
            if code == 511 or (code == 200 and parse_result_fields(rest)["result"][0] == "-1"):
                self.mark_hung_up("channel gone after result -1")
            return self.hung_up

    def _raise_for(self, code: int, verb: str, rest: str, line: str, deadline: float) -> NoReturn:
        if code == 511:
            self.mark_hung_up("511 dead channel")
            raise ChannelHungUp(f"Asterisk refused {verb or 'a command'}: the channel is dead")
        if code == 510:
            raise AGIInvalidCommand(f"Asterisk does not know AGI command {verb!r}")
        if code == 520:
            raise UsageError(verb, self._usage(line, rest, deadline))
        raise AGIUnknownError(code, "Unhandled code or undefined response")

    def _usage(self, first: str, rest: str, deadline: float) -> str:
        """The usage text of a ``520`` reply, one line or ``520-`` ... ``520 End of proper usage.``

        Asterisk's longest usage texts are some 40 lines; a peer that goes on past
        ``MAX_USAGE_LINES`` is not Asterisk, and the session stops reading from it."""
        if not first.startswith("520-"):
            return rest
        usage: list[str] = []
        while len(usage) < MAX_USAGE_LINES:
            line = self._next_line("520 usage", max(0.0, deadline - time.monotonic()),
                                   self._timeouts.command_timeout)
            if line.startswith("520 ") or line == "520":
                return "\n".join(usage).strip()
            usage.append(line)
        self._out_of_step = f"a 520 usage text of over {MAX_USAGE_LINES} lines"
        return "\n".join(usage[:5]).strip() + "\n..."
