"""``flows/post_call.yaml``: the compliment flow a caller goes through after the agent hangs up.

The flow is a small state machine of steps, each one prompt with its own validation, timeout and
retries (PAGI's "node" idea): ``play`` a prompt, ``ask`` for a digit among choices, ``rate`` 1-5,
``record`` a short message, ``log`` the compliment as complete, ``hangup``. Every step names the
step that follows; ``end`` finishes the flow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from yaml.nodes import Node

from agi_scripts.flows.screening import ScreeningRules, load_screening
from agi_scripts.ground.errors import ConfigError
from agi_scripts.ground.yamlsource import Mapping, YamlFile

END = "end"
STEP_TYPES = ("play", "ask", "rate", "record", "log", "hangup")
MAX_STEPS_PER_CALL = 50
"""A flow whose choices loop back can never hold a caller longer than this many steps."""
_DIGIT = re.compile(r"^[0-9*#]$")
_FINISH_DIGITS = re.compile(r"^[0-9*#]{1,12}$")

_COMMON = ("type", "prompt", "next", "timeout", "retries", "on_timeout", "invalid_prompt")
_KEYS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "play": ("type", "prompt", "next"),
    "ask": _COMMON + ("choices",),
    "rate": _COMMON + ("min", "max"),
    "record": ("type", "prompt", "next", "max_length", "silence", "beep", "finish_digits", "min_length"),
    "log": ("type", "next"),
    "hangup": ("type",),
}
_ALL_KEYS = tuple(dict.fromkeys(k for keys in _KEYS_BY_TYPE.values() for k in keys))


@dataclass(frozen=True)
class Step:
    id: str
    type: str
    prompt: str | None = None
    next: str = END
    timeout: float = 5.0
    retries: int = 1
    on_timeout: str = END
    invalid_prompt: str | None = None
    choices: dict[str, str] = field(default_factory=dict)
    """Digit -> step id (``ask``)."""
    min_rating: int = 1
    max_rating: int = 5
    max_length: float = 30.0
    min_length: float = 1.0
    """A recording shorter than this, or silent throughout, is discarded."""
    silence: float = 4.0
    beep: bool = True
    finish_digits: str = "#"

    def targets(self) -> list[str]:
        return [self.next, self.on_timeout, *self.choices.values()]


@dataclass(frozen=True)
class PostCallFlow:
    file: Path
    enabled: bool
    offer_without_campaign: bool
    """Offer the compliment even when no campaign with ``offer_compliment`` ran for the call."""
    start: str
    steps: dict[str, Step]
    screening: ScreeningRules = field(default_factory=ScreeningRules)
    """Which compliments wait for the team lead before an agent hears them (``flows/screening.py``)."""
    warnings: tuple[ConfigError, ...] = ()

    def prompt_ids(self) -> set[str]:
        return {p for s in self.steps.values() for p in (s.prompt, s.invalid_prompt) if p}


def load_post_call(path: Path, errors: list[ConfigError]) -> PostCallFlow:
    source = YamlFile(path, errors)
    top = source.mapping(source.root(), required=("post_call",), optional=("screening",), what="post-call file")
    flow = source.mapping(top.get("post_call") if top else None, required=("steps",),
                          optional=("enabled", "offer_without_campaign", "start"), what="'post_call' section")
    steps: dict[str, Step] = {}
    table = source.mapping(flow.get("steps") if flow else None, what="'steps' mapping (step id: step)")
    for step_id, key_node, value_node in table.items() if table else ():
        if source.identifier(key_node, "a step id") is None:
            continue
        if step_id == END:
            source.error(key_node, f"{END!r} is reserved for finishing the flow; give this step another id")
            continue
        step = _step(source, step_id, value_node)
        if step is not None:
            steps[step_id] = step
    start = next(iter(steps), END)
    if flow is not None and flow.get("start") is not None:
        start = source.string(flow.get("start"), "a step id") or start
        if start not in steps:
            source.error(flow.get("start"), f"start step {start!r} does not exist",
                         _known(start, steps))
    if table is not None:
        _check_targets(source, table, steps)
    screening = load_screening(source, top.get("screening") if top else None)
    return PostCallFlow(path, flow.flag("enabled", True) if flow else True,
                        flow.flag("offer_without_campaign", False) if flow else False, start, steps,
                        screening, tuple(source.warnings))


def _step(source: YamlFile, step_id: str, node: Node) -> Step | None:
    spec = source.mapping(node, required=("type",), optional=_ALL_KEYS, what=f"step {step_id!r}")
    if spec is None or spec.get("type") is None:
        return None
    kind = source.choice(spec.get("type"), STEP_TYPES, "step type")
    if kind is None:
        return None
    allowed = _KEYS_BY_TYPE[kind]
    for key, key_node, _value in spec.items():
        if key not in allowed:
            source.error(key_node, f"key {key!r} does not apply to a {kind!r} step",
                         f"a {kind} step takes: {', '.join(allowed)}")
    if kind in ("play", "ask", "rate", "record") and spec.get("prompt") is None:
        source.error(spec.node, f"step {step_id!r} of type {kind!r} needs a 'prompt'")
    before = len(source.errors)
    step = Step(
        id=step_id, type=kind,
        prompt=spec.identifier("prompt", "a prompt id"),
        next=spec.identifier("next", "a step id") or END,
        timeout=spec.seconds("timeout", 5.0, 1.0, 60.0),
        retries=spec.integer("retries", 1, 0, 5),
        on_timeout=spec.identifier("on_timeout", "a step id") or END,
        invalid_prompt=spec.identifier("invalid_prompt", "a prompt id"),
        choices=_choices(source, spec),
        min_rating=spec.integer("min", 1, 0, 9),
        max_rating=spec.integer("max", 5, 1, 9),
        max_length=spec.seconds("max_length", 30.0, 3.0, 300.0),
        min_length=spec.seconds("min_length", 1.0, 0.0, 30.0),
        silence=spec.seconds("silence", 4.0, 1.0, 30.0),
        beep=spec.flag("beep", True),
        finish_digits=_finish_digits(source, spec),
    )
    if step.min_rating > step.max_rating:
        source.error(spec.get("min"), f"min rating {step.min_rating} is above max rating {step.max_rating}")
    if kind == "ask" and not step.choices:
        source.error(spec.node, f"ask step {step_id!r} needs 'choices' (digit: next step)")
    return step if len(source.errors) == before else None


def _check_targets(source: YamlFile, table: Mapping, steps: dict[str, Step]) -> None:
    for step in steps.values():
        for target in step.targets():
            if target != END and target not in steps:
                source.error(table.get(step.id), f"step {step.id!r} leads to unknown step {target!r}",
                             _known(target, steps))


def _known(name: str, steps: dict[str, Step]) -> str:
    from agi_scripts.ground.yamlsource import did_you_mean

    return did_you_mean(name, [*steps, END]) or f"known steps: {', '.join([*steps, END])}"


def _choices(source: YamlFile, spec: Mapping) -> dict[str, str]:
    table = source.mapping(spec.get("choices"), what="choices (digit: next step)")
    result: dict[str, str] = {}
    for digit, key_node, value_node in table.items() if table else ():
        if not _DIGIT.fullmatch(digit):
            source.error(key_node, f"choice {digit!r} is not one key", "use one of 0-9, * or #; quote it: \"1\"")
            continue
        target = source.identifier(value_node, "a step id")
        if target:
            result[digit] = target
    return result


def _finish_digits(source: YamlFile, spec: Mapping) -> str:
    node = spec.get("finish_digits")
    if node is None:
        return "#"
    return source.string(node, "finish digits", pattern=_FINISH_DIGITS, pattern_hint="digits, * and #") or "#"
