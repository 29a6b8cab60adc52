"""The ``aftercare:`` section of ``flows/abuse_policy.yaml``: nobody alone with a bad call.

- ``rosters``: who is on duty to talk to an agent after (or during) a hard call: per person a name, the
  phone Respectline rings (an endpoint such as ``PJSIP/lead1``), their hours and their languages.
- ``check_in``: how long each person's phone rings and how long they have to press 1 or 2 after the
  summary; the ladder action ``check_in: {within: 10m, roster: duty}`` says when and whom.
- ``agent_line``: the agent's own line (``*89``): extend the pause, take calls again, talk to someone now.

Only the model and its validation live here; ``policy.checkins`` rings people, ``handlers.agent_line``
answers the agent's line, ``asterisk_conf.aftercare`` writes the dialplan.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from yaml.nodes import Node, ScalarNode

from agi_scripts.ground.yamlsource import Mapping, YamlFile, did_you_mean

ENDPOINT = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,15}/[A-Za-z0-9@._+-]{1,80}$")
"""A phone to ring: ``PJSIP/lead1``, ``Local/2001@staff``; no comma, ``&`` or ``$`` that ``Originate`` or
``Dial`` would read as a second destination or a variable."""
LINE_CODE = re.compile(r"^[0-9*#]{1,10}$")
LANGUAGE = re.compile(r"^[a-z]{2}$")
QUEUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
MAX_PEOPLE = 50
"""People per roster: each is rung in turn, so a longer list would never be worked through anyway."""
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LISTEN_IN_PROMPTS = frozenset({"listen_in_request", "listen_in_asked", "listen_in_nobody"})
CHECK_IN_PROMPTS = frozenset({"checkin_summary", "checkin_options", "checkin_connecting", "checkin_thanks"})
AGENT_LINE_PROMPTS = frozenset({"agent_line_menu", "agent_line_menu_no_talk", "agent_line_extended",
                                "agent_line_resumed", "agent_line_someone_calls"})


@dataclass(frozen=True)
class OnDuty:
    """One person of a roster."""

    name: str
    endpoint: str
    hours: tuple[tuple[dt.time, dt.time], ...] = ()
    """Empty: any time of day."""
    days: tuple[int, ...] = ()
    """Weekdays (0 = Monday) they are on duty; empty: every day."""
    languages: tuple[str, ...] = ()
    """What they speak, first the language they hear Respectline's summary in; empty: the site's language."""

    def on_duty(self, moment: dt.datetime) -> bool:
        """Whether ``moment`` (local time of the site) is within their days and hours."""
        if self.days and moment.weekday() not in self.days:
            return False
        now = moment.time()
        return not self.hours or any(start <= now < end or (end == dt.time.max and now >= start)
                                     for start, end in self.hours)

    def language(self, preferred: str, default: str) -> str:
        """The language they hear Respectline in: ``preferred`` (the call's) when they speak it, else their first."""
        if preferred in self.languages or not self.languages:
            return preferred or default
        return self.languages[0]


@dataclass(frozen=True)
class Roster:
    id: str
    people: tuple[OnDuty, ...]

    def on_duty(self, moment: dt.datetime, language: str | None = None) -> list[OnDuty]:
        """Who is on duty at ``moment``, in the roster's order; speakers of ``language`` first when given."""
        present = [person for person in self.people if person.on_duty(moment)]
        if language is None:
            return present
        return sorted(present, key=lambda person: bool(person.languages) and language not in person.languages)


@dataclass(frozen=True)
class CheckInTimings:
    ring_for: float = 20.0
    """How long one person's phone rings before the next person is tried."""
    answer_within: float = 10.0
    """After the summary, how long they have to press 1 (connect me) or 2 (someone already did)."""
    retry_after: float = 60.0
    """Everyone on duty tried and nobody acknowledged: the round starts again after this, until ``within``."""


@dataclass(frozen=True)
class AgentLine:
    code: str = "*89"
    extend_by: float = 600.0
    """Key 1: the agent's pause is extended by this much."""
    roster: str | None = None
    """Key 3 ("talk to someone now") rings this roster; None: key 3 is not offered."""


@dataclass(frozen=True)
class EntryNotice:
    """The boundary made known: a prompt callers hear when they enter a queue, before the hold campaign."""

    prompt: str
    queues: tuple[str, ...] = ()
    """Empty: every queue."""
    hours: tuple[tuple[dt.time, dt.time], ...] = ()
    days: tuple[int, ...] = ()
    languages: tuple[str, ...] = ()
    """Empty: every language (the prompt in the call's language)."""

    def applies(self, queue: str, language: str, moment: dt.datetime) -> bool:
        """``moment`` in the site's time."""
        if (self.queues and queue not in self.queues) or (self.languages and language not in self.languages):
            return False
        return OnDuty("", "", self.hours, self.days).on_duty(moment)


@dataclass(frozen=True)
class Whisper:
    """Played to the agent's leg only, before the caller is connected, when the caller has history."""

    case_open: str | None = None
    """The caller has an open (or recent) case: they are routed to its team, whose member hears this."""
    warned_before: str | None = None
    """The caller was flagged before (within ``repeat_callers.route_to_team_for``)."""
    calls_today: str | None = None
    calls_today_from: int = 3
    """``calls_today`` is played from this call of the day on (this one counted)."""

    def prompt_ids(self) -> set[str]:
        return {p for p in (self.case_open, self.warned_before, self.calls_today) if p}


@dataclass(frozen=True)
class ListenIn:
    """The agent's key during a hard call: the first free person on duty listens in (``ChanSpy``, whisper
    mode: they hear both sides, the agent hears them, the caller does not) and may barge in with 6."""

    code: str = "*4"
    roster: str = ""
    ring_for: float = 15.0
    within: float = 60.0
    """Nobody listening by then: the agent hears a tone and "no one is free"."""
    code_node: Node | None = field(default=None, compare=False, repr=False)
    """Where the code was written, for an error about it found later (a clash with a category's code)."""


@dataclass(frozen=True)
class Aftercare:
    rosters: dict[str, Roster] = field(default_factory=dict)
    check_in: CheckInTimings = field(default_factory=CheckInTimings)
    agent_line: AgentLine | None = None
    entry_notices: tuple[EntryNotice, ...] = ()
    """The first that applies is played; none: no notice."""
    whisper: Whisper = field(default_factory=Whisper)
    listen_in: ListenIn | None = None

    def entry_notice(self, queue: str, language: str, moment: dt.datetime) -> str | None:
        """The prompt a caller entering ``queue`` hears first, or None."""
        return next((n.prompt for n in self.entry_notices if n.applies(queue, language, moment)), None)

    def prompt_ids(self) -> set[str]:
        ids = set(CHECK_IN_PROMPTS) if self.rosters else set()
        ids |= {notice.prompt for notice in self.entry_notices} | self.whisper.prompt_ids()
        ids |= set(LISTEN_IN_PROMPTS) if self.listen_in else set()
        return ids | (set(AGENT_LINE_PROMPTS) if self.agent_line else set())

    def people(self, roster: str) -> tuple[OnDuty, ...]:
        found = self.rosters.get(roster)
        return found.people if found else ()


def load_aftercare(source: YamlFile, node: Node | None) -> Aftercare:
    spec = source.mapping(node, optional=("rosters", "check_in", "agent_line", "entry_notice", "whisper", "listen_in"),
                          what="'aftercare' section")
    if spec is None:
        return Aftercare()
    rosters = _rosters(source, spec.get("rosters"))
    timings = source.mapping(spec.get("check_in"), optional=("ring_for", "answer_within", "retry_after"),
                             what="'check_in' timings (ring_for, answer_within, retry_after)")
    check_in = CheckInTimings(
        ring_for=timings.seconds("ring_for", 20.0, 5.0, 120.0),
        answer_within=timings.seconds("answer_within", 10.0, 3.0, 60.0),
        retry_after=timings.seconds("retry_after", 60.0, 5.0, 3600.0)) if timings else CheckInTimings()
    notices = tuple(n for n in (_entry_notice(source, item) for item in source.sequence(
        spec.get("entry_notice"), "list of entry notices ('- prompt: boundary_notice')")) if n)
    return Aftercare(rosters=rosters, check_in=check_in, agent_line=_agent_line(source, spec.get("agent_line"), rosters),
                     entry_notices=notices, whisper=_whisper(source, spec.get("whisper")),
                     listen_in=_listen_in(source, spec.get("listen_in"), rosters))


def _listen_in(source: YamlFile, node: Node | None, rosters: dict[str, Roster]) -> ListenIn | None:
    spec = source.mapping(node, required=("code", "roster"), optional=("ring_for", "within"),
                          what="'listen_in' (code, roster, ring_for, within)")
    if spec is None or spec.get("code") is None or spec.get("roster") is None:
        return None
    code = source.string(spec.get("code"), "a feature code", pattern=LINE_CODE,
                         pattern_hint='digits, * and #, for example "*4"; quote it in YAML')
    roster = roster_reference(source, spec.get("roster"), rosters)
    if code is None or roster is None:
        return None
    return ListenIn(code, roster, spec.seconds("ring_for", 15.0, 5.0, 60.0), spec.seconds("within", 60.0, 10.0, 600.0),
                    spec.get("code"))


def _whisper(source: YamlFile, node: Node | None) -> Whisper:
    spec = source.mapping(node, optional=("case_open", "warned_before", "calls_today", "calls_today_from"),
                          what="'whisper' (case_open, warned_before, calls_today, calls_today_from)")
    if spec is None:
        return Whisper()
    return Whisper(case_open=spec.identifier("case_open", "a prompt id"),
                   warned_before=spec.identifier("warned_before", "a prompt id"),
                   calls_today=spec.identifier("calls_today", "a prompt id"),
                   calls_today_from=spec.integer("calls_today_from", 3, minimum=2, maximum=100))


def _entry_notice(source: YamlFile, node: Node) -> EntryNotice | None:
    spec = source.mapping(node, required=("prompt",), optional=("queues", "hours", "days", "languages"),
                          what="entry notice (prompt, queues, hours, days, languages)")
    if spec is None:
        return None
    prompt = source.identifier(spec.get("prompt"), "a prompt id")
    queues = [source.string(n, "a queue name", pattern=QUEUE, pattern_hint="as in queues.conf")
              for n in source.sequence(spec.get("queues"), "list of queues, such as [support, billing]")]
    languages = [source.string(n, "a two-letter language code", pattern=LANGUAGE, pattern_hint="nl, fr, en")
                 for n in source.sequence(spec.get("languages"), "list of languages, such as [nl, fr]")]
    hours, days = _hours(source, spec), _days(source, spec)
    if prompt is None or hours is None or days is None or None in queues or None in languages:
        return None
    return EntryNotice(prompt, tuple(q for q in queues if q), hours, days, tuple(lang for lang in languages if lang))


def _agent_line(source: YamlFile, node: Node | None, rosters: dict[str, Roster]) -> AgentLine | None:
    spec = source.mapping(node, required=("code",), optional=("extend_by", "roster"),
                          what="'agent_line' (code, extend_by, roster)")
    if spec is None:
        return None
    code = source.string(spec.get("code"), "a number agents dial", pattern=LINE_CODE,
                         pattern_hint='digits, * and #, for example "*89"; quote it in YAML')
    roster_node = spec.get("roster")
    roster = roster_reference(source, roster_node, rosters) if roster_node is not None else None
    extend_by = spec.seconds("extend_by", 600.0, 60.0, 4 * 3600.0)
    return AgentLine(code, extend_by, roster) if code else None


def roster_reference(source: YamlFile, node: Node | None, rosters: dict[str, Roster]) -> str | None:
    """A roster id that must exist (the ladder's ``check_in``, the agent line)."""
    roster = source.identifier(node, "a roster id")
    if roster is not None and roster not in rosters:
        source.error(node, f"unknown roster {roster!r}", did_you_mean(roster, list(rosters)) or
                     f"rosters defined under 'aftercare: rosters:': {', '.join(rosters) or 'none'}")
        return None
    return roster


def _rosters(source: YamlFile, node: Node | None) -> dict[str, Roster]:
    table = source.mapping(node, what="'rosters' mapping (roster id: a list of people)")
    rosters: dict[str, Roster] = {}
    for roster_id, key_node, value_node in table.items() if table else ():
        if source.identifier(key_node, "a roster id") is None:
            continue
        entries = source.sequence(value_node, f"list of people on roster {roster_id!r}")
        if value_node is not None and not entries:
            source.error(value_node, f"roster {roster_id!r} has nobody on it",
                         "add a person: '- {name: Sam, endpoint: PJSIP/lead1}'")
        if len(entries) > MAX_PEOPLE:
            source.error(value_node, f"roster {roster_id!r} has {len(entries)} people; at most {MAX_PEOPLE}",
                         "split it: each person is rung in turn")
        people = [p for p in (_person(source, n) for n in entries[:MAX_PEOPLE]) if p]
        endpoints = [p.endpoint for p in people]
        for index, endpoint in enumerate(endpoints):
            if endpoint in endpoints[:index]:
                source.error(entries[index], f"{endpoint} is on roster {roster_id!r} twice",
                             "list each phone once; give a person several hour ranges instead")
        rosters[roster_id] = Roster(roster_id, tuple(people))
    return rosters


def _person(source: YamlFile, node: Node) -> OnDuty | None:
    spec = source.mapping(node, required=("name", "endpoint"), optional=("hours", "days", "languages"),
                          what="person on duty (name, endpoint, hours, days, languages)")
    if spec is None:
        return None
    name = source.string(spec.get("name"), "a name")
    endpoint = source.string(spec.get("endpoint"), "a phone endpoint", pattern=ENDPOINT,
                             pattern_hint="technology/resource, such as PJSIP/lead1 or Local/2001@staff "
                                          "(letters, digits and @ . _ + -; no comma, & or $)")
    hours = _hours(source, spec)
    days = _days(source, spec)
    languages: list[str] = []
    for language_node in source.sequence(spec.get("languages"), "list of languages, such as [nl, en]"):
        language = source.string(language_node, "a two-letter language code", pattern=LANGUAGE,
                                 pattern_hint="lowercase, as in the prompt catalog: nl, fr, en")
        if language:
            languages.append(language)
    if name is None or endpoint is None or hours is None or days is None:
        return None
    return OnDuty(" ".join(name.split())[:80], endpoint, hours, days, tuple(languages))


def _hours(source: YamlFile, spec: Mapping) -> tuple[tuple[dt.time, dt.time], ...] | None:
    node = spec.get("hours")
    if node is None:
        return ()
    items = source.sequence(node, "list of hours") if not _is_scalar(node) else [node]
    ranges = [source.time_range(item) for item in items]
    return None if any(r is None for r in ranges) else tuple(r for r in ranges if r is not None)


def _days(source: YamlFile, spec: Mapping) -> tuple[int, ...] | None:
    node = spec.get("days")
    if node is None:
        return ()
    chosen = [source.choice(item, DAYS, "day") for item in source.sequence(node, "list of days, such as [mon, tue]")]
    return None if any(d is None for d in chosen) else tuple(sorted({DAYS.index(d) for d in chosen if d}))


def _is_scalar(node: Node) -> bool:
    return isinstance(node, ScalarNode)
