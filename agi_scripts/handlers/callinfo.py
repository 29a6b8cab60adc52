"""What handlers read from a call, cleaned: caller ID, agent, language.

Everything here comes from Asterisk but may originate with the caller (caller ID is set by the
far end), so each value is checked against a strict pattern before it is stored, logged or used.
"""

from __future__ import annotations

import re

from collections.abc import Sequence
from typing import TYPE_CHECKING

from agi_scripts.config.bundle import Bundle
from agi_scripts.config.settings import QUEUE_PATTERN
from agi_scripts.ground.yamlsource import ID_PATTERN
from agi_scripts.prompts.language import resolve_language
from agi_scripts.protocol.channel import Channel

if TYPE_CHECKING:
    from agi_scripts.handlers.context import HandlerContext

_NUMBER = re.compile(r"^\+?[0-9]{2,20}$")
_CALL_ID = re.compile(r"^[0-9A-Za-z_.-]{1,64}$")
_ASTERISK_ID = re.compile(r"^[0-9]+\.[0-9]+$")
"""What follows ``<systemname>-`` in a uniqueid: ``pbx-a`` is no prefix of ``pbx-a-2``'s ids."""


_SEPARATOR = "|~|"


def read_variables(agi: Channel, names: Sequence[str]) -> dict[str, str]:
    """Several channel variables in one round trip (``GET FULL VARIABLE``): on a busy Asterisk each
    round trip before the agent's protection costs a wait on both sides. Should a value hold the
    separator, the split would be ambiguous: then one ``GET VARIABLE`` each."""
    raw = agi.get_full_variable(_SEPARATOR.join(f"${{{name}}}" for name in names)) or ""
    parts = raw.split(_SEPARATOR)
    if len(parts) == len(names):
        return dict(zip(names, parts))
    return {name: agi.get_variable(name) or "" for name in names}


def caller_number(raw: str) -> str:
    """The caller's number, or ``""`` when withheld or not a phone number."""
    value = raw.strip().replace(" ", "")
    return value if _NUMBER.fullmatch(value) else ""


def agent_for(bundle: Bundle, channel_or_interface: str) -> str:
    """The agent behind a queue member's interface or their own phone's channel, named by the
    config's ``agents`` section (see ``config.agents``); ``""`` when it is not a device."""
    return bundle.settings.agents.name_for(channel_or_interface)


def queue_name(raw: str) -> str:
    """A queue name read back from a channel variable (``RL_ROUTE``), or ``""``: it goes into event fields."""
    return raw if QUEUE_PATTERN.fullmatch(raw) else ""


def campaign_id(raw: str) -> str | None:
    return raw if ID_PATTERN.fullmatch(raw) else None


def call_id_of(ctx: HandlerContext) -> str:
    """This session's call id (Asterisk's uniqueid), checked. With several Asterisk hosts on one store
    (``asterisk_hosts``), a uniqueid that carries none of their system names could equal another
    host's: the call is still served (the agent's protection first) and the log says what to fix."""
    raw = ctx.request.env.get("agi_uniqueid", "")
    call_id = raw if _CALL_ID.fullmatch(raw) else ""
    hosts = ctx.bundle.settings.asterisk_hosts
    if call_id and hosts and not any(_made_by(host, call_id) for host in hosts):
        ctx.log.error("call id %s carries none of the system names in asterisk_hosts (%s): two hosts may give "
                      "two calls this id; set systemname in asterisk.conf [options] on every Asterisk host",
                      call_id, ", ".join(hosts))
    return call_id


def _made_by(system_name: str, call_id: str) -> bool:
    prefix = f"{system_name}-"
    return call_id.startswith(prefix) and bool(_ASTERISK_ID.fullmatch(call_id[len(prefix):]))


def call_language(bundle: Bundle, channel_language: str) -> str:
    """The channel's language if we have prompts in it, else the default, else the fallback chain."""
    settings = bundle.settings.language
    return resolve_language(channel_language, bundle.languages(), [settings.default, *settings.fallback],
                            settings.default)
