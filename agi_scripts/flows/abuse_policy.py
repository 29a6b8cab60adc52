"""``flows/abuse_policy.yaml``: the agents' codes, the ladder per category, the teams and routing.

The ladder lists, per category, what happens on the 1st, 2nd, ... flag in one call; the last rung
applies to every later flag. Each rung is a list of actions, for example
``[warn: abuse_warning]`` then ``[disconnect: abuse_closing, open_case: {team: special_care}]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from yaml.nodes import MappingNode, Node, SequenceNode

from agi_scripts.flows.aftercare import Aftercare, Roster, load_aftercare, roster_reference
from agi_scripts.ground.errors import ConfigError
from agi_scripts.ground.yamlsource import Mapping, YamlFile, did_you_mean

FEATURE_CODE = re.compile(r"^[0-9*#]{1,10}$")
QUEUE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
PRIORITIES = ("low", "normal", "high", "urgent")
PRIORITY_RANK = {"urgent": 1, "high": 2, "normal": 3, "low": 4}
"""Case priorities as the store sorts them: smaller is more urgent."""
EVENT_AUDIENCES = ("supervisor", "team")
"""Who an ``ami_event`` is meant for (the ``Notify`` field of ``RespectlineFlag``, for wallboards)."""
RECORDING_STARTS = ("first_flag", "connect")
"""``first_flag``: MixMonitor from the first flag on. ``connect``: every answered call from the moment
the agent is connected, each direction in its own file, deleted when the call ends unflagged."""
ACTIONS = ("warn", "disconnect", "transfer", "open_case", "pause_agent", "ami_event", "check_in")
RENAMED_ACTIONS = {"notify": "ami_event"}
"""Old action names still accepted, with a warning, so admins' files keep working."""
_THIRTY_DAYS = 30 * 86400.0
CALLER_OUTCOMES = ("warn", "disconnect", "transfer")
"""At most one of these per rung: each decides what the caller hears next."""
DEFAULT_CASE_OUTCOMES: dict[str, str] = {
    "spoke_with_caller": "Spoke with the caller",
    "no_contact": "Could not reach the caller",
    "police_report_filed": "Police report filed",
    "access_restricted": "Caller's access restricted",
}
"""How a case may be closed when the file names no ``outcomes`` (id: label)."""


@dataclass(frozen=True)
class Action:
    kind: str
    prompt: str | None = None
    team: str | None = None
    priority: str = "normal"
    seconds: float = 0.0
    targets: tuple[str, ...] = ()
    roster: str | None = None
    """``check_in``: the roster rung (``seconds`` is its ``within``)."""


def length_text(seconds: float) -> str:
    """A pause's length for people: ``40 s``, ``15 min``, ``1 min 30 s``, ``2 h``, ``1 h 5 min``."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h"] if hours else []
    if minutes:
        parts.append(f"{minutes} min")
    if secs and not hours:
        parts.append(f"{secs} s")
    return " ".join(parts) or "0 s"


@dataclass(frozen=True)
class Category:
    id: str
    label: str
    code: str
    ladder: tuple[tuple[Action, ...], ...]

    def rung(self, flag_number: int) -> tuple[Action, ...]:
        """Actions for the ``flag_number``-th flag (1-based) in one call; the last rung repeats."""
        return self.ladder[min(flag_number, len(self.ladder)) - 1] if self.ladder else ()


@dataclass(frozen=True)
class Team:
    id: str
    name: str
    queue: str
    notice_prompt: str | None


@dataclass(frozen=True)
class AbusePolicy:
    file: Path
    categories: dict[str, Category]
    teams: dict[str, Team]
    dedupe_window: float
    agent_hears: str
    """``hold_music`` or ``silence`` while the caller hears a warning."""
    recording_start: str
    """When evidence recording starts: ``first_flag``, ``connect`` (see ``RECORDING_STARTS``), or ``off``
    (only from the old ``start_on_first_flag: false``)."""
    recording_notice: str | None
    repeat_caller_window: float
    warnings: tuple[ConfigError, ...] = ()
    """Old names still accepted (see ``RENAMED_ACTIONS``)."""
    case_outcomes: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CASE_OUTCOMES))
    spool_grace: float = 60.0
    aftercare: Aftercare = field(default_factory=Aftercare)
    """Rosters, check-in timings and the agent's own line (``flows.aftercare``)."""
    """``start: connect``: a call's spool untouched this long counts as left by a crash (the sweep)."""
    """The outcomes a case is closed with on the desk, id: label, in the file's order (``outcomes:``)."""
    """Seconds after a case closed during which the caller still goes to the team."""

    def prompt_ids(self) -> set[str]:
        ids = {a.prompt for c in self.categories.values() for rung in c.ladder for a in rung if a.prompt}
        ids |= {t.notice_prompt for t in self.teams.values() if t.notice_prompt}
        ids |= self.aftercare.prompt_ids()
        return ids | ({self.recording_notice} if self.recording_notice else set())

    def category_for_code(self, code: str) -> Category | None:
        return next((c for c in self.categories.values() if c.code == code), None)


def load_abuse_policy(path: Path, errors: list[ConfigError]) -> AbusePolicy:
    source = YamlFile(path, errors)
    top = source.mapping(source.root(), required=("abuse_policy",), what="abuse policy file")
    spec = source.mapping(top.get("abuse_policy") if top else None, required=("categories", "teams"),
                          optional=("dedupe_window", "agent_hears", "recording", "repeat_callers", "outcomes",
                                    "aftercare"),
                          what="'abuse_policy' section")
    teams = _teams(source, spec.get("teams") if spec else None)
    aftercare = load_aftercare(source, spec.get("aftercare") if spec else None)
    categories = _categories(source, spec.get("categories") if spec else None, teams, aftercare.rosters)
    _check_listen_in_code(source, aftercare, categories)
    recording = source.mapping(spec.get("recording") if spec else None,
                               optional=("start", "start_on_first_flag", "announce_prompt", "spool_grace"),
                               what="'recording' section")
    recording_notice = recording.identifier("announce_prompt", "a prompt id") if recording else None
    repeat = source.mapping(spec.get("repeat_callers") if spec else None, optional=("route_to_team_for",),
                            what="'repeat_callers' section")
    agent_hears = spec.get("agent_hears") if spec else None
    return AbusePolicy(
        file=path, categories=categories, teams=teams,
        dedupe_window=spec.seconds("dedupe_window", 3.0, 0.0, 60.0) if spec else 3.0,
        agent_hears=(source.choice(agent_hears, ("hold_music", "silence"), "agent_hears value")
                     if agent_hears is not None else None) or "hold_music",
        recording_start=_recording_start(source, recording, recording_notice),
        recording_notice=recording_notice,
        repeat_caller_window=repeat.seconds("route_to_team_for", _THIRTY_DAYS, 0.0, 3650 * 86400.0)
        if repeat else _THIRTY_DAYS,
        warnings=tuple(source.warnings),
        case_outcomes=_case_outcomes(source, spec.get("outcomes") if spec else None),
        spool_grace=recording.seconds("spool_grace", 60.0, 1.0, 3600.0) if recording else 60.0,
        aftercare=aftercare,
    )


def _recording_start(source: YamlFile, recording: Mapping | None, notice: str | None) -> str:
    """``recording.start``; the old ``start_on_first_flag`` still read, with a warning naming the new key."""
    if recording is None:
        return "first_flag"
    start_node, old_node = recording.get("start"), recording.get("start_on_first_flag")
    if old_node is not None:
        old = source.boolean(old_node)
        if start_node is not None:
            source.error(recording.key_node("start_on_first_flag"), "'start_on_first_flag' and 'start' are both set",
                         "keep only 'start: first_flag' or 'start: connect'")
        elif old is not None:
            source.warn(recording.key_node("start_on_first_flag"), "'start_on_first_flag' is now 'recording.start'",
                        "write 'start: first_flag' (was true) or 'start: connect' to record from the moment the "
                        "agent answers" + ("; 'false' still means no evidence recording" if not old else ""))
            return "first_flag" if old else "off"
    if start_node is None:
        return "first_flag"
    start = source.choice(start_node, RECORDING_STARTS, "recording start") or "first_flag"
    if start == "connect" and notice is None:
        source.error(start_node, "'start: connect' records every answered call, so the caller must be told first",
                     "add 'announce_prompt: recording_notice' (a prompt naming the purpose and the retention)")
    return start


def _check_listen_in_code(source: YamlFile, aftercare: Aftercare,
                          categories: dict[str, Category]) -> None:
    """The listen-in key is a feature code like the categories': equal or prefix codes would shadow each other."""
    listen_in = aftercare.listen_in
    if listen_in is None:
        return
    for category in categories.values():
        if category.code.startswith(listen_in.code) or listen_in.code.startswith(category.code):
            source.error(listen_in.code_node, f"listen_in code {listen_in.code!r} clashes with {category.id!r}'s "
                         f"{category.code!r}", "give listen-in its own code of the same length, such as \"*4\"")


def _case_outcomes(source: YamlFile, node: Node | None) -> dict[str, str]:
    """``outcomes: {id: label, ...}``: how Special Care and Security may close a case."""
    if node is None:
        return dict(DEFAULT_CASE_OUTCOMES)
    table = source.mapping(node, what="'outcomes' mapping (outcome id: its label)")
    outcomes: dict[str, str] = {}
    for outcome_id, key_node, value_node in table.items() if table else ():
        if source.identifier(key_node, "an outcome id") is None:
            continue
        label = source.string(value_node, "a label for the outcome")
        if label is not None:
            outcomes[outcome_id] = " ".join(label.split())
    if table is not None and not table.entries:
        source.error(node, "the 'outcomes' list is empty", "name at least one, such as 'spoke_with_caller: Spoke with"
                     " the caller'")
    return outcomes or dict(DEFAULT_CASE_OUTCOMES)


def _teams(source: YamlFile, node: Node | None) -> dict[str, Team]:
    table = source.mapping(node, what="'teams' mapping (team id: its queue)")
    teams: dict[str, Team] = {}
    for team_id, key_node, value_node in table.items() if table else ():
        spec = source.mapping(value_node, required=("queue",), optional=("name", "notice_prompt"),
                              what=f"team {team_id!r}")
        if source.identifier(key_node, "a team id") is None or spec is None or spec.get("queue") is None:
            continue
        queue = source.string(spec.get("queue"), "a queue name", pattern=QUEUE_NAME,
                              pattern_hint="letters, digits, '.', '-' and '_', as in queues.conf")
        name_node = spec.get("name")
        name = (source.string(name_node) if name_node is not None else None) or team_id
        if queue:
            teams[team_id] = Team(team_id, name, queue, _id(source, spec.get("notice_prompt"), "a prompt id"))
    return teams


def _categories(source: YamlFile, node: Node | None, teams: dict[str, Team],
                rosters: dict[str, Roster]) -> dict[str, Category]:
    table = source.mapping(node, what="'categories' mapping (category id: code and ladder)")
    categories: dict[str, Category] = {}
    code_nodes: dict[str, tuple[str, Node]] = {}
    for category_id, key_node, value_node in table.items() if table else ():
        spec = source.mapping(value_node, required=("code", "ladder"), optional=("label",),
                              what=f"category {category_id!r}")
        if source.identifier(key_node, "a category id") is None or spec is None:
            continue
        code_node = spec.get("code")
        code = source.string(code_node, "a feature code", pattern=FEATURE_CODE,
                             pattern_hint="digits, * and #, for example \"*1\"; quote it in YAML") \
            if code_node is not None else None
        if code is not None and code_node is not None:
            _check_code_clash(source, category_id, code, code_node, code_nodes)
        ladder = _ladder(source, spec.get("ladder"), teams, category_id, rosters)
        label_node = spec.get("label")
        label = (source.string(label_node) if label_node is not None else None) or category_id.replace("_", " ")
        if code is not None and ladder:
            categories[category_id] = Category(category_id, label, code, ladder)
    return categories


def _check_code_clash(source: YamlFile, category: str, code: str, node: Node,
                      seen: dict[str, tuple[str, Node]]) -> None:
    """Asterisk matches feature codes as they are typed: equal or prefix codes would shadow each other."""
    for other_code, (other_category, other_node) in seen.items():
        line = other_node.start_mark.line + 1
        if other_code == code:
            source.error(node, f"code {code!r} of {category!r} is already used by {other_category!r} (line {line})",
                         "give every category its own code")
        elif code.startswith(other_code) or other_code.startswith(code):
            source.error(node, f"code {code!r} of {category!r} and {other_code!r} of {other_category!r} "
                               f"(line {line}) start the same way, so Asterisk would never reach the longer one",
                         "use codes of the same length, such as *1, *2, *3")
    seen[code] = (category, node)


def _ladder(source: YamlFile, node: Node | None, teams: dict[str, Team], category: str,
            rosters: dict[str, Roster]) -> tuple[tuple[Action, ...], ...]:
    rungs: list[tuple[Action, ...]] = []
    for number, rung_node in enumerate(source.sequence(node, "ladder (a list of rungs)"), start=1):
        actions = [a for a in (_action(source, n, teams, rosters) for n in source.sequence(
            rung_node, f"list of actions for flag {number} of {category!r}")) if a]
        outcomes = [a.kind for a in actions if a.kind in CALLER_OUTCOMES]
        if len(outcomes) > 1:
            source.error(rung_node, f"flag {number} of {category!r} has {' and '.join(outcomes)}",
                         "choose one of warn, disconnect or transfer per flag")
        for kind, hint in (("open_case", "one case per flag: give it the team that should take it"),
                           ("pause_agent", "one pause per flag: give it the longest wanted length"),
                           ("check_in", "one check-in per flag: its roster lists everyone to try in turn")):
            if sum(a.kind == kind for a in actions) > 1:
                source.error(rung_node, f"flag {number} of {category!r} has {kind} more than once", hint)
        rungs.append(tuple(actions))
    if node is not None and not rungs:
        source.error(node, f"the ladder of {category!r} is empty", "add at least one rung, such as [warn: abuse_warning]")
    return tuple(rungs)


def _action(source: YamlFile, node: Node, teams: dict[str, Team], rosters: dict[str, Roster]) -> Action | None:
    if not isinstance(node, MappingNode) or len(node.value) != 1:
        source.error(node, "expected one action written as 'name: value'",
                     f"actions: {', '.join(ACTIONS)}; for example 'warn: abuse_warning'")
        return None
    key_node, value = node.value[0]
    old_name = key_node.value if isinstance(key_node.value, str) else ""
    if old_name in RENAMED_ACTIONS:
        kind: str | None = RENAMED_ACTIONS[old_name]
        source.warn(key_node, f"the action '{old_name}' is now called '{kind}' (it sends an AMI event, no e-mail)",
                    f"rename it to '{kind}:'; '{old_name}:' keeps working for now")
    else:
        kind = source.choice(key_node, ACTIONS, "action")
    if kind in ("warn", "disconnect"):
        prompt = _id(source, value, "a prompt id")
        return Action(kind, prompt=prompt) if prompt else None
    if kind == "transfer":
        team = _team(source, value, teams)
        return Action(kind, team=team) if team else None
    if kind == "open_case":
        return _open_case(source, value, teams)
    if kind == "pause_agent":
        seconds = source.duration(value, "a pause", minimum=0, maximum=8 * 3600)
        return Action(kind, seconds=seconds) if seconds is not None else None
    if kind == "ami_event":
        items = source.sequence(value) if isinstance(value, SequenceNode) else [value]
        targets = [source.choice(n, EVENT_AUDIENCES, "ami_event audience") for n in items]
        return Action(kind, targets=tuple(t for t in targets if t)) if all(targets) else None
    if kind == "check_in":
        return _check_in(source, value, rosters)
    return None


def _check_in(source: YamlFile, node: Node, rosters: dict[str, Roster]) -> Action | None:
    """``check_in: {within: 10m, roster: duty}``: someone on the roster talks to the agent within that time."""
    spec = source.mapping(node, required=("within", "roster"), what="check_in (within, roster)")
    if spec is None or spec.get("roster") is None or spec.get("within") is None:
        return None
    roster = roster_reference(source, spec.get("roster"), rosters)
    within = source.duration(spec.get("within"), "a time for the check-in", minimum=30.0, maximum=24 * 3600.0)
    return Action("check_in", seconds=within, roster=roster) if roster and within else None


def _open_case(source: YamlFile, node: Node, teams: dict[str, Team]) -> Action | None:
    spec = source.mapping(node, required=("team",), optional=("priority",), what="open_case (team, priority)")
    if spec is None or spec.get("team") is None:
        return None
    team = _team(source, spec.get("team"), teams)
    priority_node = spec.get("priority")
    priority = source.choice(priority_node, PRIORITIES, "priority") if priority_node is not None else "normal"
    return Action("open_case", team=team, priority=priority) if team and priority else None


def _team(source: YamlFile, node: Node | None, teams: dict[str, Team]) -> str | None:
    team = source.identifier(node, "a team id")
    if team is not None and team not in teams:
        source.error(node, f"unknown team {team!r}", did_you_mean(team, list(teams)) or
                     f"teams defined under 'teams': {', '.join(teams) or 'none'}")
        return None
    return team


def _id(source: YamlFile, node: Node | None, what: str) -> str | None:
    return source.identifier(node, what) if node is not None else None
