"""The ``callback:`` section of ``config/respectline.yaml``: calling a caller back from the desk.

The desk rings the staff member's own phone (their desk profile's ``phone``) with AMI ``Originate``;
when they answer, the generated ``[respectline-callback]`` context dials the caller through ``dial``,
a dial string with ``{number}`` where the caller's number goes (``PJSIP/{number}@trunk``). The
template is checked here so that only the number varies, and the number itself is filtered to digits
and ``+`` twice: by the desk before the Originate and by the dialplan (``FILTER``) before the Dial.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from yaml.nodes import Node

from agi_scripts.ground.yamlsource import YamlFile

DIAL_TEMPLATE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,15}/[A-Za-z0-9@._:/-]*\{number\}[A-Za-z0-9@._:/-]*$")
"""``TECH/...{number}...``: no comma, ampersand, ``$``, parenthesis or second ``{number}`` to smuggle in."""
CALLER_ID = re.compile(r"^\+?[0-9]{1,20}$")


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

    @property
    def enabled(self) -> bool:
        return bool(self.dial)

    def dialplan_dial(self, variable: str) -> str:
        """The dial string with ``${variable}`` where the number goes, for the generated dialplan."""
        return self.dial.replace("{number}", "${" + variable + "}")


def read_callback(source: YamlFile, node: Node | None) -> CallbackSettings:
    section = source.mapping(node, optional=("dial", "ring_staff", "ring_caller", "caller_id"),
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
    )
