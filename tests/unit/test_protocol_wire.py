"""The AGI line format: what we write is exactly what Asterisk's parse_args reads back."""

from __future__ import annotations

import random
import time

import pytest
from asterisk.agi import re_kv

from tests.support.agi_peer import HOSTILE_CALLER_NAME, parse_agi_args

from agi_scripts.protocol.errors import UnsafeCommand
from agi_scripts.protocol.timeouts import CommandTimeouts
from agi_scripts.protocol.wire import (MAX_COMMAND_BYTES, escape_argument, format_command, parse_result_fields,
                                       split_code)

TRICKY_VALUES = [
    "plain",
    "",
    "two words",
    'a "quoted" word',
    "back\\slash",
    "trailing backslash\\",
    '\\"',
    '"',
    "tab\there",
    "  leading and trailing  ",
    "ünïcødé €",
    "semi;colon|pipe,comma",
    "${EVIL}$[1+1]",
]


def test_parse_args_port_reads_asterisk_examples_as_asterisk_does() -> None:
    # Cases worked out by hand from res_agi.c's parse_args, to trust the port used below.
    assert parse_agi_args('SET VARIABLE "a b" c') == ["SET", "VARIABLE", "a b", "c"]
    assert parse_agi_args('X ""') == ["X", ""]
    assert parse_agi_args('X "a"b') == ["X", "ab"]
    assert parse_agi_args('X a\\ b') == ["X", "a b"]
    assert parse_agi_args('X "a\\"b"') == ["X", 'a"b']
    assert parse_agi_args('X \\n') == ["X", "n"]


@pytest.mark.parametrize("value", TRICKY_VALUES)
def test_every_value_comes_back_unchanged_as_one_argument(value: str) -> None:
    line = format_command("SET VARIABLE", ["NAME", value]).decode()
    assert line.endswith("\n") and line.count("\n") == 1
    assert parse_agi_args(line[:-1]) == ["SET", "VARIABLE", "NAME", value]


def test_hostile_caller_id_stays_one_argument_on_one_line() -> None:
    line = format_command("SET VARIABLE", ["CALLERNAME", HOSTILE_CALLER_NAME])
    assert line.count(b"\n") == 1 and line.endswith(b"\n")
    args = parse_agi_args(line.decode()[:-1])
    assert len(args) == 4
    assert args[3] == 'Bob" EXEC System "touch /tmp/p'  # the newline became a space, nothing else changed


@pytest.mark.parametrize("control", ["\n", "\r", "\r\n", "\x00"])
def test_line_breaks_and_nul_never_reach_the_wire(control: str) -> None:
    line = format_command("VERBOSE", [f"one{control}two", 1])
    assert line.count(b"\n") == 1 and b"\r" not in line and b"\x00" not in line
    assert parse_agi_args(line.decode()[:-1])[1].split() == ["one", "two"]


def test_a_line_asterisk_would_cut_in_two_is_refused() -> None:
    fits = "x" * (MAX_COMMAND_BYTES - len(b'VERBOSE ""\n'))
    assert len(format_command("VERBOSE", [fits])) == MAX_COMMAND_BYTES
    with pytest.raises(UnsafeCommand, match="2047"):
        format_command("VERBOSE", [fits + "x"])
    # escaping counts: 1100 quotes need 2200 bytes on the wire
    with pytest.raises(UnsafeCommand):
        format_command("VERBOSE", ['"' * 1100])


@pytest.mark.parametrize("command", ["EXEC System", "STREAM FILE", "set priority", " GET  DATA "])
def test_command_words_are_letters_and_spaces(command: str) -> None:
    assert format_command(command, []).decode() == " ".join(command.split()) + "\n"


@pytest.mark.parametrize("command", ["VERBOSE hi\nEXEC", "VERBOSE\r", "STREAM\tFILE", 'SET VARIABLE "X"', "NOOP;",
                                     "GET DATA \\", ""])
def test_command_words_with_anything_else_are_refused(command: str) -> None:
    with pytest.raises(UnsafeCommand):
        format_command(command, [])


def test_every_argument_is_sent_and_only_trailing_none_is_left_out() -> None:
    assert format_command("SET VARIABLE", ["X", ""]) == b'SET VARIABLE "X" ""\n'
    assert format_command("HANGUP", [None]) == b"HANGUP\n"
    assert format_command("SAY DATETIME", [5, "", None, None]) == b'SAY DATETIME "5" ""\n'
    assert format_command("X", [None, "a"]) == b'X "" "a"\n'


@pytest.mark.parametrize("value", [True, b"bytes", object()])
def test_values_that_are_not_text_or_numbers_are_refused(value: object) -> None:
    with pytest.raises(UnsafeCommand):
        escape_argument(value)


def test_numbers_are_sent_as_text() -> None:
    assert format_command("WAIT FOR DIGIT", [2000]) == b'WAIT FOR DIGIT "2000"\n'
    assert format_command("X", [1.5]) == b'X "1.5"\n'


@pytest.mark.parametrize("reply", [
    "result=0",
    "result=1",
    "result=-1",
    "result=1 (nl)",
    "result=1 (value with spaces and = signs)",
    "result=1 (nested (parens) inside)",
    "result=0 endpos=12345",
    "result=-1 (hangup) endpos=0",
    "result=12 (timeout)",
    "result=0 (timeout) endpos=8000",
])
def test_result_fields_match_pyst2s_reading(reply: str) -> None:
    expected = {"result": ("", "")}
    expected.update({key: (value, data) for key, value, data in re_kv.findall(reply)})
    assert parse_result_fields(reply) == expected


def test_result_fields_match_pyst2s_reading_on_random_lines() -> None:
    rng = random.Random(1700)
    alphabet = "ab_1=() \t-é0"
    shapes = ("", "result=", "result=1 (", "result=-1 (hangup) endpos=")
    for _ in range(30000):
        reply = rng.choice(shapes) + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        expected = {"result": ("", "")}
        expected.update({key: (value, data) for key, value, data in re_kv.findall(reply)})
        assert parse_result_fields(reply) == expected, reply


@pytest.mark.parametrize("hostile", [
    "result=1 " + "a=1 (" * 40000,              # unclosed parentheses: pyst2's regex takes seconds
    "result=1 " + "a" * 200000,                 # a word that never reaches '='
    "result=1 (" + "x=" * 100000 + ")",
])
def test_a_hostile_reply_line_is_read_in_linear_time(hostile: str) -> None:
    started = time.perf_counter()
    fields = parse_result_fields(hostile)
    assert fields["result"][0] == "1"
    assert time.perf_counter() - started < 0.5  # linear: a few ms for these 200 KB


def test_reply_codes_are_split_from_their_text() -> None:
    assert split_code("200 result=1 (x)") == (200, "result=1 (x)")
    assert split_code("520-Invalid command syntax.  Proper usage follows:") == (
        520, "Invalid command syntax.  Proper usage follows:")
    assert split_code("HANGUP") == (0, "HANGUP")
    assert split_code("511") == (511, "")


def test_plain_commands_get_the_command_timeout() -> None:
    timeouts = CommandTimeouts(command_timeout=10, media_timeout=300)
    assert timeouts.for_command("GET VARIABLE", ["X"]) == 10
    assert timeouts.for_command("SET VARIABLE", ["X", "1"]) == 10


def test_commands_with_their_own_timeout_get_it_plus_a_margin() -> None:
    timeouts = CommandTimeouts(command_timeout=10, media_timeout=300)
    assert timeouts.for_command("WAIT FOR DIGIT", [2000]) == 12
    assert timeouts.for_command("GET DATA", ["beep", 5000, 4]) == 315  # prompt of unknown length + 5 s
    assert timeouts.for_command("RECORD FILE", ["f", "wav", "#", 20000, 0, "beep", "s=3"]) == 330
    assert timeouts.for_command("STREAM FILE", ["beep", "", 0]) == 310
    assert timeouts.for_command("WAIT FOR DIGIT", [-1]) == 310  # "forever" is bounded too
