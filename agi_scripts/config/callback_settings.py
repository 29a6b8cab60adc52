"""The ``callback:`` section of ``config/respectline.yaml``: calling a caller back from the desk.

The desk rings the staff member's own phone (their desk profile's ``phone``) with AMI ``Originate``;
when they answer, the generated ``[respectline-callback]`` context dials the caller through ``dial``,
a dial string with ``{number}`` where the caller's number goes (``PJSIP/{number}@trunk``). The
template is checked here so that only the number varies, and the number itself is filtered to digits
and ``+`` twice: by the desk before the Originate and by the dialplan (``FILTER``) before the Dial.

The caller's number comes from their caller ID, which a caller can set to anything: a premium-rate line
they own, or a victim's number. ``allowed`` lists the only numbers that may be called back, as
Asterisk-style patterns matched against the whole number as the case holds it (``X`` any digit, ``Z``
1-9, ``N`` 2-9, ``[1-57]`` one of a set, a leading ``+`` as itself): ``+324[5-9]XXXXXXX`` is a Belgian
mobile. An empty or missing list allows no number: every call back is refused until one is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from yaml.nodes import Node

from agi_scripts.ground.yamlsource import YamlFile

DIAL_TEMPLATE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,15}/[A-Za-z0-9@._:/-]*\{number\}[A-Za-z0-9@._:/-]*$")
"""``TECH/...{number}...``: no comma, ampersand, ``$``, parenthesis or second ``{number}`` to smuggle in."""
CALLER_ID = re.compile(r"^\+?[0-9]{1,20}$")
NUMBER_PATTERN = re.compile(r"\+?(?:[0-9XZN]|\[(?:[0-9](?:-[0-9])?){1,10}\]){3,24}")
"""One ``allowed`` entry: an optional ``+``, then 3 to 24 digits, ``X``, ``Z``, ``N`` or ``[...]`` sets."""
MAX_ALLOWED = 200
PATTERN_HINT = ("digits with X (any digit), Z (1-9), N (2-9) or a set such as [1-57], an optional leading +; "
                "it must match the whole number, for example +324[5-9]XXXXXXX for a Belgian mobile")


@dataclass(frozen=True)
class CallbackSettings:
    dial: str = ""
    """The outbound dial string with ``{number}``; empty: calling back is off."""
    ring_staff: float = 30.0
    """How long the staff member's phone rings before the try counts as not answered."""
    ring_caller: float = 40.0
    """How long the caller's phone rings (Dial's timeout)."""
    caller_id: str = ""
    """The number the caller sees (digits, optional ``+``); empty: the trunk's default."""
    allowed: tuple[str, ...] = ()
    """The only numbers that may be called back (``NUMBER_PATTERN`` patterns); empty: none."""

    @property
    def enabled(self) -> bool:
        return bool(self.dial)

    def allows(self, number: str) -> bool:
        """Whether ``number`` (as the case holds it) matches one of the ``allowed`` patterns whole."""
        return any(_number_regex(pattern).fullmatch(number) for pattern in self.allowed)

    def dialplan_dial(self, variable: str) -> str:
        """The dial string with ``${variable}`` where the number goes, for the generated dialplan."""
        return self.dial.replace("{number}", "${" + variable + "}")


@lru_cache(maxsize=MAX_ALLOWED)
def _number_regex(pattern: str) -> re.Pattern[str]:
    """An ``allowed`` pattern (checked by ``NUMBER_PATTERN``) as a regular expression: ``[...]`` sets of
    digits stay as they are, the letters become their digit classes."""
    letters = {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]", "+": r"\+"}
    return re.compile("".join(letters.get(char, char) for char in pattern))


def _read_allowed(source: YamlFile, node: Node | None) -> tuple[str, ...]:
    items = source.sequence(node, "list of number patterns")
    if len(items) > MAX_ALLOWED:
        source.error(node, f"{len(items)} number patterns; at most {MAX_ALLOWED}", "use [..] sets to join patterns")
        return ()
    found: list[str] = []
    for item in items:
        value = source.string(item, "a number pattern")
        if value is None:
            continue
        if not NUMBER_PATTERN.fullmatch(value):
            source.error(item, f"{value!r} is not a number pattern", PATTERN_HINT)
        elif value not in found:
            found.append(value)
    return tuple(found)


def read_callback(source: YamlFile, node: Node | None) -> CallbackSettings:
    section = source.mapping(node, optional=("dial", "ring_staff", "ring_caller", "caller_id", "allowed"),
                             what="'callback' section")
    defaults = CallbackSettings()
    if section is None:
        return defaults
    dial_node = section.get("dial")
    dial = None
    if dial_node is not None and (source.scalar(dial_node, "a dial string") or "").strip():  # "": off
        dial = source.string(dial_node, "a dial string", pattern=DIAL_TEMPLATE,
                             pattern_hint="TECH/...{number}..., for example PJSIP/{number}@trunk: letters, digits "
                                          "and @ . _ : / - around one {number}")
    caller_id_node = section.get("caller_id")
    caller_id = None
    if caller_id_node is not None and (source.scalar(caller_id_node, "a phone number") or "").strip():  # "": trunk's
        caller_id = source.string(caller_id_node, "a phone number", pattern=CALLER_ID,
                                  pattern_hint="digits with an optional leading +, for example +3223456789")
    return CallbackSettings(
        dial=dial or "",
        ring_staff=section.seconds("ring_staff", defaults.ring_staff, minimum=5.0, maximum=120.0),
        ring_caller=section.seconds("ring_caller", defaults.ring_caller, minimum=5.0, maximum=120.0),
        caller_id=caller_id or "",
        allowed=_read_allowed(source, section.get("allowed")),
    )
