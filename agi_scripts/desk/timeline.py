"""A case's timeline as the desk shows it, in the reader's language.

The police report (``reports.incident_report.timeline``) keeps its English wording: it is a document
handed over as it is. The desk builds the same entries from the same rows with words from the
catalogs: the call, the agent's flags and the case's events, oldest first.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from agi_scripts.desk.i18n import N_, Catalog
from agi_scripts.storage import Case
from agi_scripts.storage.rules import case_opened_detail
from agi_scripts.storage.base import Call, Incident

EVENT_WORDS: Mapping[str, str] = {
    "case_opened": N_("case opened"), "warn": N_("caller warned"), "disconnect": N_("call ended by Respectline"),
    "transfer": N_("caller transferred to the team"), "agent_paused": N_("agent paused to recover"),
    "assigned": N_("case assigned"), "note": N_("note"), "closed": N_("case closed"),
    "routed": N_("repeat call routed to the team"),
    "callback_started": N_("call back started"), "callback_staff_answered": N_("call back: staff answered"),
    "callback_staff_no_answer": N_("call back: staff phone not answered"),
    "callback_caller_answered": N_("call back: caller answered"),
    "callback_caller_no_answer": N_("call back: caller not reached"), "callback_ended": N_("call back ended"),
    "callback_failed": N_("call back failed"), "callback_unfollowed": N_("call back no longer followed"),
}
ACTION_WORDS: Mapping[str, str] = {"warn": N_("warned"), "disconnect": N_("call ended"),
                                   "transfer": N_("transferred to the team")}
"""What the caller got when the agent flagged the call (an incident's ``action``)."""


@dataclass(frozen=True)
class Entry:
    at: dt.datetime
    what: str
    detail: str
    by: str | None


def action_words(action: str | None, gettext: Callable[[str], str]) -> str:
    if not action:
        return ""
    return gettext(ACTION_WORDS.get(action, action))


_PAUSE_DETAIL = re.compile(r"^(?P<agent>.+) for (?P<length>(?:\d+ h)?(?: ?\d+ min)?(?: ?\d+ s)?)$")
"""The ladder's ``agent_paused`` detail: ``Agent One for 15 min``."""


def _event_detail(case: Case, action: str, detail: str, catalog: Catalog, category: Callable[[str], str],
                  outcome: Callable[[str], str], team_name: Callable[[str], str]) -> str:
    """The details the server writes in English, in the reader's language; any other as it was written."""
    _ = catalog.gettext
    if action == "closed" and detail:
        return outcome(detail)
    if action == "case_opened" and detail == case_opened_detail(case.category, case.team):
        return _("category %(category)s, team %(team)s") % {"category": category(case.category),
                                                             "team": team_name(case.team)}
    paused = _PAUSE_DETAIL.match(detail) if action == "agent_paused" else None
    if paused:
        return _("%(agent)s for %(length)s") % {"agent": paused["agent"], "length": paused["length"]}
    return detail


def case_timeline(case: Case, call: Call | None, incidents: Sequence[Incident], catalog: Catalog,
                  category: Callable[[str], str], outcome: Callable[[str], str],
                  team_name: Callable[[str], str]) -> tuple[Entry, ...]:
    """``category``, ``outcome`` and ``team_name`` name an id in the reader's language."""
    _ = catalog.gettext
    entries: list[Entry] = []
    if call is not None:
        entries.append(Entry(call.started_at, _("call started"),
                             _("caller entered queue %(queue)s") % {"queue": call.queue}, None))
    for incident in incidents:
        response = action_words(incident.action, _) or _("not recorded")
        entries.append(Entry(incident.at, _("agent flagged %(category)s") % {"category": category(incident.category)},
                             _("flag %(number)s in this call; Respectline's response: %(response)s")
                             % {"number": incident.number_in_call, "response": response}, incident.agent))
    for event in case.events:
        detail = _event_detail(case, event.action, event.detail, catalog, category, outcome, team_name)
        entries.append(Entry(event.at, _(EVENT_WORDS.get(event.action, event.action)), detail, event.author))
    if call is not None and call.ended_at is not None:
        entries.append(Entry(call.ended_at, _("call ended"), call.outcome or "", None))
    return tuple(sorted(entries, key=lambda entry: entry.at))
