"""Reading admin-edited YAML with the position of every value kept for error messages.

PyYAML's ``compose`` gives a node tree whose nodes carry their line and column; the readers
below walk that tree, convert values to Python types and record a ``ConfigError`` for anything
wrong instead of raising, so one pass over a file reports every problem in it.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from agi_scripts.ground.errors import ConfigError

T = TypeVar("T")

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
"""Ids admins choose (campaigns, steps, teams, prompts): safe in file names, logs and AGI args."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
_TIME_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")

MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 32


class YamlFile:
    """One YAML file being read; collects the errors found in it."""

    def __init__(self, path: Path, errors: list[ConfigError]) -> None:
        self.path = path
        self.errors = errors
        self.warnings: list[ConfigError] = []
        """What still works but should change (a renamed key): shown by ``validate``, logged at start."""

    def error(self, node: Node | None, message: str, hint: str = "") -> None:
        line, column = (node.start_mark.line + 1, node.start_mark.column + 1) if node else (1, 1)
        self.errors.append(ConfigError(self.path, line, column, message, hint))

    def warn(self, node: Node | None, message: str, hint: str = "") -> None:
        line, column = (node.start_mark.line + 1, node.start_mark.column + 1) if node else (1, 1)
        self.warnings.append(ConfigError(self.path, line, column, message, hint))

    def root(self) -> Node | None:
        """Parse the file; a syntax error is recorded at its own position and gives ``None``.

        Admins' files are small and plain: over ``MAX_FILE_BYTES``, nested deeper than
        ``MAX_DEPTH``, or with anchors and aliases (``&a`` / ``*a``, which let a few KB stand for
        gigabytes of nodes), a file is refused at the place that makes it so, before it is built.
        """
        text = self._read()
        if text is None:
            return None
        try:
            if not self._plain(text):
                return None
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            self.errors.append(_syntax_error(self.path, exc))
            return None
        except yaml.reader.ReaderError as exc:
            line, column = _line_column(text, exc.position)
            self.errors.append(ConfigError(self.path, line, column,
                                           f"character {exc.character!r} cannot be in a YAML file",
                                           "remove it (control characters are not allowed; tabs only inside quotes)"))
            return None
        if node is None:
            self.errors.append(ConfigError(self.path, 1, 1, "file is empty", "see the README for an example"))
        return node

    def _read(self) -> str | None:
        try:
            if not self.path.is_file():
                message = "file not found" if not self.path.exists() else "not a regular file"
                self.errors.append(ConfigError(self.path, 1, 1, message))
                return None
            with self.path.open("rb") as file:
                data = file.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            self.errors.append(ConfigError(self.path, 1, 1, f"cannot read file: {exc}"))
            return None
        if len(data) > MAX_FILE_BYTES:
            self.errors.append(ConfigError(self.path, 1, 1, f"file is larger than {MAX_FILE_BYTES // 1024} KB",
                                           "Respectline's files are a few KB; is this the right file?"))
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line, column = _line_column(data[:exc.start].decode("utf-8", "replace"), exc.start)
            self.errors.append(ConfigError(self.path, line, column, "not UTF-8 text", "save the file as UTF-8"))
            return None

    def _plain(self, text: str) -> bool:
        """No anchors, no aliases, no nesting past ``MAX_DEPTH``: checked on the parser's events,
        which cost time in proportion to the file, before any node is built."""
        depth = 0
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                self._refuse(event, "anchors and aliases (&name, *name) are not allowed here",
                             "write the value out in full where it is needed")
                return False
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    self._refuse(event, f"nested more than {MAX_DEPTH} levels deep",
                                 "Respectline's files need a few levels; check the brackets")
                    return False
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        return True

    def _refuse(self, event: yaml.Event, message: str, hint: str) -> None:
        mark = event.start_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        self.errors.append(ConfigError(self.path, line, column, message, hint))

    def mapping(self, node: Node | None, *, required: Sequence[str] = (), optional: Sequence[str] = (),
                what: str = "mapping") -> Mapping | None:
        if node is None:
            return None
        if not isinstance(node, MappingNode):
            self.error(node, f"expected a {what} (key: value lines), found {_describe(node)}")
            return None
        return Mapping(self, node, tuple(required), tuple(optional), what)

    def sequence(self, node: Node | None, what: str = "list") -> list[Node]:
        if node is None:
            return []
        if not isinstance(node, SequenceNode):
            self.error(node, f"expected a {what} (lines starting with '- '), found {_describe(node)}")
            return []
        return list(node.value)

    # Scalars. Each returns None after recording an error.

    def scalar(self, node: Node | None, what: str) -> str | None:
        """The text of a scalar; None for a missing value (whoever required it has said so already)."""
        if node is None:
            return None
        if not isinstance(node, ScalarNode):
            self.error(node, f"expected {what}, found {_describe(node)}")
            return None
        return str(node.value)

    def string(self, node: Node | None, what: str = "a text", *, pattern: re.Pattern[str] | None = None,
               pattern_hint: str = "") -> str | None:
        value = self.scalar(node, what)
        if value is None:
            return None
        if not value.strip():
            self.error(node, f"expected {what}, found an empty value")
            return None
        if pattern is not None and not pattern.fullmatch(value):  # whole: '$' would let a final newline by
            self.error(node, f"{value!r} is not {what}", pattern_hint)
            return None
        return value

    def identifier(self, node: Node | None, what: str = "an id") -> str | None:
        return self.string(node, what, pattern=ID_PATTERN,
                           pattern_hint="use lowercase letters, digits, '-' and '_', starting with a letter or digit")

    def choice(self, node: Node | None, choices: Sequence[str], what: str) -> str | None:
        value = self.scalar(node, what)
        if value is None:
            return None
        if value not in choices:
            self.error(node, f"{value!r} is not a valid {what}; expected one of: {', '.join(choices)}",
                       did_you_mean(value, choices))
            return None
        return value

    def integer(self, node: Node | None, what: str = "a whole number", *, minimum: int | None = None,
                maximum: int | None = None) -> int | None:
        value = self.scalar(node, what)
        if value is None or node is None:
            return None
        if node.tag != "tag:yaml.org,2002:int":
            self.error(node, f"expected {what}, found {value!r}")
            return None
        number = int(value.replace("_", ""), 0)
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            self.error(node, f"{number} is out of range for {what}: expected {_range(minimum, maximum)}")
            return None
        return number

    def boolean(self, node: Node | None, what: str = "true or false") -> bool | None:
        value = self.scalar(node, what)
        if value is None or node is None:
            return None
        if node.tag != "tag:yaml.org,2002:bool":
            self.error(node, f"expected true or false, found {value!r}")
            return None
        return value.lower() in ("true", "yes", "on", "y")

    def duration(self, node: Node | None, what: str = "a duration", *, minimum: float = 0.0,
                 maximum: float | None = None) -> float | None:
        """Seconds from ``45``, ``45s``, ``1500ms``, ``10m``, ``2h`` or ``30d``."""
        value = self.scalar(node, what)
        if value is None:
            return None
        match = _DURATION.match(value)
        if not match:
            self.error(node, f"{value!r} is not {what}", "write a number with a unit: 1500ms, 45s, 10m, 2h, 30d")
            return None
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        if seconds < minimum or (maximum is not None and seconds > maximum):
            self.error(node, f"{value} is out of range for {what}: expected "
                             f"{_range(_fmt(minimum), _fmt(maximum) if maximum is not None else None)}")
            return None
        return seconds

    def date(self, node: Node | None, what: str = "a date") -> dt.date | None:
        value = self.scalar(node, what)
        if value is None:
            return None
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            self.error(node, f"{value!r} is not {what}", "write dates as YYYY-MM-DD, for example 2026-10-06")
            return None

    def timezone(self, node: Node | None) -> ZoneInfo | None:
        value = self.scalar(node, "a timezone")
        if value is None:
            return None
        try:
            return ZoneInfo(value.strip())
        except (ZoneInfoNotFoundError, ValueError):
            self.error(node, f"{value!r} is not a known timezone",
                       did_you_mean(value, sorted(available_timezones())) or "for example Europe/Brussels")
            return None

    def time_range(self, node: Node | None) -> tuple[dt.time, dt.time] | None:
        """``08:00-18:00``; the end is exclusive and may be ``24:00``."""
        value = self.scalar(node, "a time range")
        if value is None:
            return None
        match = _TIME_RANGE.match(value)
        hint = "write hours as HH:MM-HH:MM, for example 08:30-17:00"
        if not match:
            self.error(node, f"{value!r} is not a time range", hint)
            return None
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
            self.error(node, f"{value!r} has an impossible time", hint)
            return None
        start = dt.time(h1, m1)
        end = dt.time.max if h2 == 24 else dt.time(h2, m2)
        if end <= start:
            self.error(node, f"{value!r} ends before it starts",
                       "a range cannot cross midnight: split it in two, for example 22:00-24:00 and 00:00-06:00")
            return None
        return start, end


class Mapping:
    """A YAML mapping with its keys checked: unknown keys get a 'did you mean', missing ones an error."""

    def __init__(self, source: YamlFile, node: MappingNode, required: tuple[str, ...],
                 optional: tuple[str, ...], what: str) -> None:
        self.source = source
        self.node = node
        self.entries: dict[str, tuple[Node, Node]] = {}
        allowed = required + optional
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, ScalarNode) else None
            if key is None:
                source.error(key_node, f"expected a plain key in this {what}, found {_describe(key_node)}")
            elif key in self.entries:
                first = self.entries[key][0].start_mark.line + 1
                source.error(key_node, f"key {key!r} appears twice in this {what} (first on line {first})",
                             "remove one of them")
            elif allowed and key not in allowed:
                source.error(key_node, f"unknown key {key!r} in {what}",
                             did_you_mean(key, allowed) or f"allowed keys: {', '.join(allowed)}")
            else:
                self.entries[key] = (key_node, value_node)
        for key in required:
            if key not in self.entries:
                source.error(node, f"missing required key {key!r} in {what}")

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def get(self, key: str) -> Node | None:
        entry = self.entries.get(key)
        return entry[1] if entry else None

    def key_node(self, key: str) -> Node | None:
        entry = self.entries.get(key)
        return entry[0] if entry else None

    def items(self) -> Iterator[tuple[str, Node, Node]]:
        for key, (key_node, value_node) in self.entries.items():
            yield key, key_node, value_node

    # Optional values: the default when the key is absent or its value was refused.

    def seconds(self, key: str, default: float, minimum: float = 0.0, maximum: float | None = None) -> float:
        node = self.get(key)
        value = self.source.duration(node, f"a duration for {key!r}", minimum=minimum, maximum=maximum) \
            if node is not None else None
        return default if value is None else value

    def flag(self, key: str, default: bool) -> bool:
        node = self.get(key)
        value = self.source.boolean(node) if node is not None else None
        return default if value is None else value

    def integer(self, key: str, default: int, minimum: int | None = None, maximum: int | None = None) -> int:
        node = self.get(key)
        value = self.source.integer(node, f"'{key}'", minimum=minimum, maximum=maximum) if node is not None else None
        return default if value is None else value

    def identifier(self, key: str, what: str = "an id") -> str | None:
        node = self.get(key)
        return self.source.identifier(node, what) if node is not None else None

    def text(self, key: str, default: str = "") -> str:
        node = self.get(key)
        value = self.source.string(node) if node is not None else None
        return default if value is None else value


def did_you_mean(word: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else ""


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    value = str(node.value)
    return f"{value!r}" if value else "an empty value"


def _range(minimum: object, maximum: object) -> str:
    if minimum is not None and maximum is not None:
        return f"{minimum} to {maximum}"
    return f"at least {minimum}" if minimum is not None else f"at most {maximum}"


def _fmt(seconds: float) -> str:
    return f"{seconds:g}s"


def _syntax_error(path: Path, exc: yaml.MarkedYAMLError) -> ConfigError:
    """At the mistake, not where the parser noticed it: an unclosed ``[``/``{`` is only found on a
    later line, so it is reported where the list or mapping opened."""
    unclosed = bool(exc.context and exc.context.startswith("while parsing a flow") and exc.context_mark)
    mark = exc.context_mark if unclosed else exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = exc.problem or "invalid YAML"
    if unclosed:
        kind = "list" if "sequence" in (exc.context or "") else "mapping"
        closer = "]" if kind == "list" else "}"
        return ConfigError(path, line, column, f"YAML syntax error: this {kind} is not closed ({problem})",
                           f"close it with '{closer}' on this line, or separate its items with ','")
    context = f" {exc.context}" if exc.context else ""
    return ConfigError(path, line, column, f"YAML syntax error: {problem}{context}",
                       "check indentation, colons and quotes around this line")


def _line_column(text: str, position: int) -> tuple[int, int]:
    before = text[:position]
    return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1
