"""The AGI line format: how a command is written so Asterisk reads exactly what we meant, and how
its replies are read.

How Asterisk reads a command (``run_agi`` and ``parse_args`` in ``res/res_agi.c``):

- one command per line: it reads up to ``\\n``. A newline inside a value would end the command there
  and make the rest of the value a second command: injection.
- the line is read into a 2048-byte buffer (``AGI_BUF_LEN``); a longer line is cut after 2047 bytes
  and the remainder is read as the *next command*: injection again. So a whole line, newline
  included, must fit in :data:`MAX_COMMAND_BYTES`.
- words are split on unquoted space or tab; ``"`` toggles quoting (and starts a word); ``\\``
  makes the next character literal (``\\"`` is a quote, ``\\\\`` a backslash) and is itself dropped.
  ``""`` is an empty argument.

So every argument is written as ``"`` + value with ``\\`` and ``"`` backslash-escaped + ``"``.

Carriage return, line feed and NUL can never be carried by the protocol. We **replace each with a
space** instead of refusing the command: the values that carry them are mostly caller-controlled
(caller ID name, SIP headers), and a caller must not be able to make a flow fail by putting a
newline in their name. The value stays one argument on one line, which is what matters for safety.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from agi_scripts.protocol.errors import UnsafeCommand

MAX_COMMAND_BYTES = 2047
"""Longest command line Asterisk reads in one piece, trailing newline included."""

_COMMAND_WORDS = re.compile(r" *[A-Za-z]+(?: +[A-Za-z]+)* *\Z")
_UNSENDABLE = str.maketrans({"\r": " ", "\n": " ", "\x00": " "})
_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"'})


def escape_argument(value: object) -> str:
    """``value`` as one double-quoted AGI argument that ``parse_args`` reads back unchanged
    (CR, LF and NUL become spaces, see the module docstring)."""
    text = value if isinstance(value, str) else _to_text(value)
    if not text.isalnum():  # the common case (digits, plain words) needs no translation at all
        text = text.translate(_UNSENDABLE).translate(_ESCAPES)
    return '"' + text + '"'


def _to_text(value: object) -> str:
    if isinstance(value, bool):
        raise UnsafeCommand("a bool is not an AGI argument; pass '1'/'0' or a word")
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, bytes):
        raise UnsafeCommand("bytes are not an AGI argument; decode them first")
    raise UnsafeCommand(f"{type(value).__name__} is not an AGI argument")


def format_command(command: str, args: Sequence[object]) -> bytes:
    """The wire bytes of ``command`` with ``args``, newline included.

    ``command`` is the command word(s) (``STREAM FILE``) and is checked, never quoted. Every
    argument is sent quoted, an empty string as ``""``; ``None`` at the end leaves an optional
    argument out (``HANGUP`` without a channel name), ``None`` elsewhere is sent as ``""``.
    """
    verb = _VERBS.get(command) or _checked_verb(command)
    end = len(args)
    while end and args[end - 1] is None:
        end -= 1
    if end:
        quoted = [escape_argument("" if arg is None else arg) for arg in (args if end == len(args) else args[:end])]
        line = (verb + " " + " ".join(quoted) + "\n").encode("utf-8")
    else:
        line = (verb + "\n").encode("utf-8")
    if len(line) > MAX_COMMAND_BYTES:
        raise UnsafeCommand(
            f"AGI command {verb} is {len(line)} bytes; Asterisk reads at most {MAX_COMMAND_BYTES} "
            "per line and would run the rest as another command")
    return line


_VERBS: dict[str, str] = {}
"""Command words already checked, as given -> as sent (a handful of distinct ones per program)."""


def _checked_verb(command: str) -> str:
    if not _COMMAND_WORDS.match(command):
        raise UnsafeCommand(
            "an AGI command is letters and spaces only (pass values as separate arguments so "
            f"they are escaped): {command[:40]!r}")
    verb = " ".join(command.split())
    if len(_VERBS) < 256:
        _VERBS[command] = verb
    return verb


# ---------------------------------------------------------------- replies

ResultFields = dict[str, tuple[str, str]]
"""pyst2's result shape: ``{'result': (value, data), 'endpos': ('1234', ''), ...}``."""

_USUAL = re.compile(r"result=(?P<result>[^\s()]+)(?: \((?P<data>[^()]*)\))?(?: endpos=(?P<endpos>[0-9]+))?\Z")
"""``result=1 (nl)``, ``result=0 endpos=8000``, ``result=-1 (hangup) endpos=0``: no nested or unclosed
parentheses, each part matched one way only, so linear like the general reader below."""
# Asterisk's most frequent replies, pre-parsed: no regex on the hot path.
_COMMON: dict[str, ResultFields] = {
    "result=0": {"result": ("0", "")},
    "result=1": {"result": ("1", "")},
    "result=-1": {"result": ("-1", "")},
}


def split_code(line: str) -> tuple[int, str]:
    """``'200 result=1 (x)'`` -> ``(200, 'result=1 (x)')``; ``(0, line)`` when there is no code.

    The separator may be a space or ``-`` (``520-Invalid command syntax...``)."""
    if len(line) >= 3 and line[:3].isdigit():
        return int(line[:3]), line[4:] if len(line) > 3 else ""
    return 0, line


def parse_result_fields(text: str) -> ResultFields:
    """The ``key=value (data)`` pairs of a ``200`` reply, as pyst2 reads them: a value in
    parentheses runs to the last ``)`` of the line, spaces and all.

    pyst2's regex (``(\\w+)=([^\\s]+)\\s*(?:\\((.*)\\))*`` with ``findall``) gives these fields, but
    in time that grows with the square of the line, so a peer's line of unclosed parentheses could
    freeze every call; this reads it in one pass (a test compares the two on random lines).
    """
    common = _COMMON.get(text)
    if common is not None:
        return dict(common)
    usual = _USUAL.match(text)
    if usual is not None:  # what Asterisk nearly always sends, read by a regex with one way to match
        fields: ResultFields = {"result": (usual["result"], usual["data"] or "")}
        if usual["endpos"] is not None:
            fields["endpos"] = (usual["endpos"], "")
        return fields
    fields = {"result": ("", "")}
    last_close = text.rfind(")")
    position, end = 0, len(text)
    while (equals := text.find("=", position)) != -1:
        start = equals
        while start > position and _is_word(text[start - 1]):
            start -= 1
        value_end = equals + 1
        while value_end < end and not text[value_end].isspace():
            value_end += 1
        if start == equals or value_end == equals + 1:  # no key before '=' or no value after it
            position = equals + 1
            continue
        after = value_end
        while after < end and text[after].isspace():
            after += 1
        data = ""
        if after < end and text[after] == "(" and last_close > after:
            data, after = text[after + 1:last_close], last_close + 1
        fields[text[start:equals]] = (text[equals + 1:value_end], data)
        position = after
    return fields


def _is_word(character: str) -> bool:
    return character.isalnum() or character == "_"
