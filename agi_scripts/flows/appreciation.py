"""``flows/appreciation.yaml``: thank-you rounds, a manager's words played to every agent between calls.

A round has a window (dates, days, hours, time zone), recipients (queues, or every agent of the queues
Asterisk reports), a message (a prompt of ``prompts.yaml``, or what a manager recorded on the manager's
line) and a mode: ``message`` plays it to each agent, ``live`` connects the manager's own phone to each
agent in turn. Agents on a recovery pause are skipped or reached after it (``on_recovery_pause``).

The file also holds the manager's line (``manager_line``, default ``*87``), the endpoints allowed on it
(``managers``) and the delivery's pace (``max_parallel``, ``ring_timeout``, ``tries``, ``retry_after``).
The file is optional: without it there are no rounds and no manager's line.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from yaml.nodes import Node, ScalarNode

from agi_scripts.flows.schedule import one_or_many, weekdays, within_window
from agi_scripts.ground.errors import ConfigError
from agi_scripts.ground.yamlsource import Mapping, YamlFile

Mode = Literal["message", "live"]
RecoveryPause = Literal["skip", "after"]
MODES: tuple[Mode, ...] = ("message", "live")
RECOVERY_PAUSE: tuple[RecoveryPause, ...] = ("skip", "after")
ENDPOINT = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,19}/[A-Za-z0-9_.@+-]{1,80}$")
"""A phone Asterisk can ``Originate`` to and name a channel after: no comma, ``&`` or ``$``."""
EXTENSION = re.compile(r"^[*#]?[0-9]{1,10}$")
MAX_ROUNDS = 100

_TOP_KEYS = ("manager_line", "managers", "max_parallel", "ring_timeout", "tries", "retry_after",
             "max_recording", "rounds")
_ROUND_KEYS = ("id", "title", "enabled", "from", "until", "days", "hours", "timezone", "to", "message",
               "mode", "manager", "on_recovery_pause", "language")


@dataclass(frozen=True)
class Round:
    id: str
    title: str
    start: dt.date | None
    end: dt.date | None
    """Inclusive."""
    timezone: ZoneInfo
    days: frozenset[int]
    hours: tuple[tuple[dt.time, dt.time], ...]
    queues: tuple[str, ...]
    """Empty: every agent (every member of the queues Asterisk reports)."""
    prompt: str
    """The prompt played in ``message`` mode; ``""`` when the manager's recording is the message."""
    mode: Mode
    manager: str
    """The manager's endpoint: whose recording is played, and whose phone ``live`` mode rings."""
    on_recovery_pause: RecoveryPause
    language: str
    """The language the agents hear (prompts, the recording made in it); ``""``: the config's default."""
    enabled: bool = True
    line: int = 0

    @property
    def recorded(self) -> bool:
        return not self.prompt

    def is_active(self, at: dt.datetime) -> bool:
        if not self.enabled:
            return False
        return within_window(at, self.timezone, self.start, self.end, self.days, self.hours)

    def has_ended(self, at: dt.datetime) -> bool:
        return self.end is not None and at.astimezone(self.timezone).date() > self.end


@dataclass(frozen=True)
class Appreciation:
    file: Path
    rounds: tuple[Round, ...] = ()
    manager_line: str = "*87"
    managers: tuple[str, ...] = ()
    max_parallel: int = 2
    ring_timeout: float = 20.0
    tries: int = 3
    retry_after: float = 120.0
    max_recording: float = 120.0
    """Longest message recorded on the manager's line (and ten times the reply an agent may leave)."""

    @property
    def enabled(self) -> bool:
        return bool(self.rounds) or bool(self.managers)

    def active(self, at: dt.datetime) -> list[Round]:
        return [r for r in self.rounds if r.is_active(at)]

    def round(self, round_id: str) -> Round | None:
        return next((r for r in self.rounds if r.id == round_id), None)

    def prompt_ids(self) -> set[str]:
        return {r.prompt for r in self.rounds if r.prompt}

    def is_manager(self, endpoint: str) -> bool:
        return endpoint in self.managers


def load_appreciation(path: Path, errors: list[ConfigError], default_timezone: ZoneInfo) -> Appreciation:
    """The rounds; an absent file is no rounds (the feature is off), never an error."""
    if not path.exists():
        return Appreciation(path)
    source = YamlFile(path, errors)
    top = source.mapping(source.root(), optional=_TOP_KEYS, what="appreciation file")
    if top is None:
        return Appreciation(path)
    defaults = Appreciation(path)
    managers = _managers(source, top.get("managers"))
    line_node = top.get("manager_line")
    manager_line = (source.string(line_node, "an extension", pattern=EXTENSION,
                                  pattern_hint="digits with an optional leading * or #, for example *87")
                    if line_node is not None else None) or defaults.manager_line
    rounds = _rounds(source, top.get("rounds"), default_timezone, managers)
    return Appreciation(
        file=path, rounds=rounds, manager_line=manager_line, managers=managers,
        max_parallel=top.integer("max_parallel", defaults.max_parallel, minimum=1, maximum=50),
        ring_timeout=top.seconds("ring_timeout", defaults.ring_timeout, minimum=5.0, maximum=120.0),
        tries=top.integer("tries", defaults.tries, minimum=1, maximum=20),
        retry_after=top.seconds("retry_after", defaults.retry_after, minimum=5.0, maximum=86400.0),
        max_recording=top.seconds("max_recording", defaults.max_recording, minimum=5.0, maximum=600.0),
    )


def _managers(source: YamlFile, node: Node | None) -> tuple[str, ...]:
    found: list[str] = []
    for item in source.sequence(node, "list of endpoints"):
        endpoint = source.string(item, "an endpoint", pattern=ENDPOINT,
                                 pattern_hint="the manager's phone as Asterisk names it, e.g. PJSIP/manager1")
        if endpoint and endpoint in found:
            source.error(item, f"endpoint {endpoint!r} is listed twice", "remove one of them")
        elif endpoint:
            found.append(endpoint)
    return tuple(found)


def _rounds(source: YamlFile, node: Node | None, default_timezone: ZoneInfo,
            managers: tuple[str, ...]) -> tuple[Round, ...]:
    items = source.sequence(node, "list of rounds")
    if len(items) > MAX_ROUNDS:
        source.error(items[MAX_ROUNDS], f"more than {MAX_ROUNDS} rounds", "remove rounds that have ended")
        items = items[:MAX_ROUNDS]
    rounds: list[Round] = []
    seen: dict[str, int] = {}
    for item in items:
        found = _round(source, item, default_timezone, managers)
        if found is None:
            continue
        if found.id in seen:
            source.error(item, f"round id {found.id!r} is already used on line {seen[found.id]}",
                         "every round needs its own id: the report counts agents per round")
            continue
        seen[found.id] = found.line
        rounds.append(found)
    return tuple(rounds)


def _round(source: YamlFile, node: Node, default_timezone: ZoneInfo, managers: tuple[str, ...]) -> Round | None:
    spec = source.mapping(node, required=("id", "message"), optional=_ROUND_KEYS, what="round")
    if spec is None:
        return None
    before = len(source.errors)
    round_id = spec.identifier("id", "a round id")
    title = spec.text("title", round_id or "")
    timezone = source.timezone(spec.get("timezone")) if spec.get("timezone") else default_timezone
    start = source.date(spec.get("from")) if spec.get("from") else None
    end = source.date(spec.get("until")) if spec.get("until") else None
    if start and end and end < start:
        source.error(spec.get("until"), f"round ends ({end}) before it starts ({start})")
    days = weekdays(source, spec.get("days"))
    hours = tuple(r for r in (source.time_range(n) for n in one_or_many(source, spec.get("hours"))) if r)
    queues = _recipients(source, spec.get("to"))
    prompt = _message(source, spec.get("message"))
    mode_node = spec.get("mode")
    mode = source.choice(mode_node, MODES, "mode") if mode_node is not None else "message"
    pause_node = spec.get("on_recovery_pause")
    on_pause = source.choice(pause_node, RECOVERY_PAUSE, "on_recovery_pause") if pause_node is not None else "after"
    manager = _manager(source, spec, managers, needed=mode == "live" or prompt == "")
    language_node = spec.get("language")
    language = source.string(language_node, "a language code", pattern=re.compile(r"^[a-z]{2,3}$"),
                             pattern_hint="a language of prompts.yaml, e.g. nl") if language_node is not None else ""
    enabled = spec.flag("enabled", True)
    if len(source.errors) > before or round_id is None or prompt is None or timezone is None:
        return None
    return Round(id=round_id, title=title, start=start, end=end, timezone=timezone, days=days, hours=hours,
                 queues=queues, prompt=prompt, mode="live" if mode == "live" else "message", manager=manager,
                 on_recovery_pause="skip" if on_pause == "skip" else "after", language=language or "",
                 enabled=enabled, line=node.start_mark.line + 1)


def _recipients(source: YamlFile, node: Node | None) -> tuple[str, ...]:
    """``to: all`` (or absent) is every agent; otherwise a list of queues."""
    if node is None or (isinstance(node, ScalarNode) and node.value == "all"):
        return ()
    if isinstance(node, ScalarNode):
        source.error(node, f"'to' is {node.value!r}", "write 'to: all' or a list of queues, e.g. [support, billing]")
        return ()
    queues = [q for q in (source.string(n, "a queue name") for n in source.sequence(node, "list of queues")) if q]
    if not queues:
        source.error(node, "'to' lists no queue", "write 'to: all' for every agent")
    return tuple(queues)


def _message(source: YamlFile, node: Node | None) -> str | None:
    """``{prompt: ID}`` -> the prompt id; ``recorded`` -> ``""`` (the manager's recording)."""
    if node is None:
        return None
    if isinstance(node, ScalarNode) and node.value == "recorded":
        return ""
    spec = source.mapping(node, required=("prompt",), what="message (prompt: ID, or 'recorded')")
    if spec is None:
        return None
    return spec.identifier("prompt", "a prompt id")


def _manager(source: YamlFile, spec: Mapping, managers: tuple[str, ...], *, needed: bool) -> str:
    node = spec.get("manager")
    if node is None:
        if needed:
            source.error(spec.node, "this round needs a 'manager'",
                         "live mode rings the manager's phone and a recorded message is the manager's: "
                         "name one of 'managers'")
        return ""
    endpoint = source.string(node, "an endpoint", pattern=ENDPOINT,
                             pattern_hint="the manager's phone as Asterisk names it, e.g. PJSIP/manager1")
    if endpoint and endpoint not in managers:
        source.error(node, f"{endpoint!r} is not in 'managers'",
                     "list it under managers: at the top of the file, so it may use the manager's line")
        return ""
    return endpoint or ""

