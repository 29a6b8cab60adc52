"""The store's rules that do not depend on the database: pure functions every backend calls.

Backends call them through the module (``rules.name(...)``), so a test can replace one to make a
transaction fail half-way.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from agi_scripts.storage.base import Incident


def case_opened_detail(category: str, team: str) -> str:
    """The detail of a case's first event, ``case_opened``."""
    return f"category {category}, team {team}"


def flag_detail(number_in_call: int, category: str) -> str:
    """How a flag appears in a case's timeline (as the detail of an event named after its action)."""
    return f"flag {number_in_call}: {category}"


def carried_flag_events(incidents: Iterable[Incident], before: datetime) -> list[tuple[str, str, datetime]]:
    """The case's timeline starts with what happened on its call before it was opened (the warning):
    each earlier incident with an action, as (action, detail, at), in the order given."""
    return [(incident.action, flag_detail(incident.number_in_call, incident.category), incident.at)
            for incident in incidents if incident.action and incident.at < before]
