"""What handlers read from a call, cleaned: caller ID, agent, language.

Everything here comes from Asterisk but may originate with the caller (caller ID is set by the
far end), so each value is checked against a strict pattern before it is stored, logged or used.
"""

from __future__ import annotations

import re

from agi_scripts.config.bundle import Bundle
from agi_scripts.config.settings import QUEUE_PATTERN
from agi_scripts.config.yamlsource import ID_PATTERN
from agi_scripts.prompts.language import resolve_language

_NUMBER = re.compile(r"^\+?[0-9]{2,20}$")
_CALL_ID = re.compile(r"^[0-9A-Za-z_.-]{1,64}$")


def caller_number(raw: str) -> str:
    """The caller's number, or ``""`` when withheld or not a phone number."""
    value = raw.strip().replace(" ", "")
    return value if _NUMBER.match(value) else ""


def agent_for(bundle: Bundle, channel_or_interface: str) -> str:
    """The agent behind a queue member's interface or their own phone's channel, named by the
    config's ``agents`` section (see ``config.agents``); ``""`` when it is not a device."""
    return bundle.settings.agents.name_for(channel_or_interface)


def queue_name(raw: str) -> str:
    """A queue name read back from a channel variable (``RL_ROUTE``), or ``""``: it goes into event fields."""
    return raw if QUEUE_PATTERN.match(raw) else ""


def campaign_id(raw: str) -> str | None:
    return raw if ID_PATTERN.match(raw) else None


def call_id(uniqueid: str) -> str:
    return uniqueid if _CALL_ID.match(uniqueid) else ""


def mask_number(number: str) -> str:
    """For logs: keep the country prefix and the last two digits."""
    if len(number) <= 5:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 5) + number[-2:]


def call_language(bundle: Bundle, channel_language: str) -> str:
    """The channel's language if we have prompts in it, else the default, else the fallback chain."""
    settings = bundle.settings.language
    return resolve_language(channel_language, bundle.languages(), [settings.default, *settings.fallback],
                            settings.default)
