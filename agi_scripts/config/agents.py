"""Who the agent is: one mapping from the devices Asterisk knows to the names people read.

Asterisk knows an agent for sure by their device: the queue member's interface (``MEMBERINTERFACE``,
``PJSIP/agent1``) when a call reaches them, and the endpoint their own phone calls from
(``PJSIP/agent1-0000001a``) when they dial the agents' line. A caller ID name is set by the phone
and a member name by whoever wrote ``queues.conf``; neither is used to tell agents apart. The
``agents`` section of ``config/respectline.yaml`` names each agent once::

    agents:
      Agent One: PJSIP/agent1
      Sam: [PJSIP/care1, Local/2001@agents]

Compliments, incidents, cases and reports carry that name; a device the section does not list is
its own name (``PJSIP/agent7``), so nothing is lost while an admin has not named everyone yet.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from yaml.nodes import Node

from agi_scripts.ground.yamlsource import YamlFile

AGENT_NAME = re.compile(r"^[\w .@'()-]{1,80}$")
"""Names go into UserEvent fields and reports: no comma, double quote, slash or line break."""
DEVICE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,19}/[A-Za-z0-9_.@+-]{1,80}$")
_CHANNEL_SUFFIX = re.compile(r"-[0-9a-f]{8}(?:;[12])?$")
"""What Asterisk appends to a device to name one channel (``-0000001a``, Local's ``;1``/``;2``)."""
_LOCAL_OPTIONS = re.compile(r"^(Local/[^/]+)/[a-z]{1,4}$")
"""``Local/2001@agents/n`` in queues.conf is the device ``Local/2001@agents``."""


_INTERFACE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,19}/[A-Za-z0-9_.@+/-]{1,100}$")


def is_interface(text: str) -> bool:
    """A queue member's interface as Asterisk gives it (``PJSIP/agent1``, ``Local/2001@agents/n``):
    safe to store and to hand back to Asterisk in an action."""
    return bool(_INTERFACE.fullmatch(text))


def device_of(channel_or_interface: str) -> str:
    """``PJSIP/agent1-0000001a`` or ``PJSIP/agent1`` -> ``PJSIP/agent1``; ``""`` for anything else."""
    value = _CHANNEL_SUFFIX.sub("", channel_or_interface.strip())
    value = _LOCAL_OPTIONS.sub(r"\1", value)
    return value if DEVICE.fullmatch(value) else ""


@dataclass(frozen=True)
class AgentDirectory:
    names: Mapping[str, str] = field(default_factory=dict)
    """Device -> the agent's name."""

    def name_for(self, channel_or_interface: str) -> str:
        """The agent behind a device or one of its channels; ``""`` when it is not a device at all."""
        device = device_of(channel_or_interface)
        return self.names.get(device, device)


def load_agents(source: YamlFile, node: Node | None) -> AgentDirectory:
    table = source.mapping(node, what="'agents' section (agent name: device or list of devices)")
    names: dict[str, str] = {}
    for name, key_node, value_node in table.items() if table else ():
        if not AGENT_NAME.fullmatch(name):
            source.error(key_node, f"agent name {name!r} cannot be used",
                         "letters, digits, spaces and . @ ' ( ) - _ (up to 80)")
            continue
        values = source.sequence(value_node, "device or list of devices") \
            if value_node.tag.endswith(":seq") else [value_node]
        for device_node in values:
            raw = source.scalar(device_node, "a device")
            if raw is None:
                continue
            device = _LOCAL_OPTIONS.sub(r"\1", raw.strip())
            if not DEVICE.fullmatch(device):
                source.error(device_node, f"{raw!r} is not a device",
                             "the queue member's interface as in queues.conf, e.g. PJSIP/agent1")
                continue
            if device in names:
                source.error(device_node, f"device {device!r} is already {names[device]!r}'s",
                             "a device belongs to one agent")
                continue
            names[device] = name
    return AgentDirectory(names)
