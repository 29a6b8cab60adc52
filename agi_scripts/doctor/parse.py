"""Pure parsers for what Asterisk answers (CLI output through AMI ``Command``, AMI ``GetConfig``).

Every function takes text or a message and returns plain data, so the checks can be tested on
recorded output. Parsers are line-based and linear: Asterisk's output is trusted only as far as
its shape, never executed or used as a path outside the checks' own folders.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_MODULE_ROW = re.compile(r"^(?P<name>[A-Za-z0-9_]+)\.so\s")
_CONTEXT_HEADER = re.compile(r"^\[ Context '(?P<name>[^']+)' created by")
_INCLUDE = re.compile(r"^Include =>\s+'(?P<name>[^']+)'")
_EXTENSION = re.compile(r"^'(?P<exten>[^']+)' =>")
_AGI_URL = re.compile(r"\b(?P<scheme>h?agi)://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>\d{1,5}))?/(?P<script>[a-z_]+)")
_FEATURE_ROW = re.compile(r"^(?P<name>\S+)\s+(?:no def|\S+)\s+(?P<code>[0-9*#]+)\s*$")
_MOH_CLASS = re.compile(r"^Class:\s*(?P<name>\S+)")
_MOH_MODE = re.compile(r"^Mode:\s*(?P<mode>\S+)")
_MOH_FILE = re.compile(r"^File:\s*(?P<path>.+?)\s*$")
_QUEUE_HEADER = re.compile(r"^(?P<name>\S+) has \d+ calls")
_MEMBER_ROW = re.compile(r"^(?P<name>.*?) \((?P<interface>[A-Za-z0-9_]+/[^)\s]+)(?: from [^)]*)?\)")
_GETCONFIG_CATEGORY = re.compile(r"^Category-(?P<cat>\d{6})$")
_GETCONFIG_LINE = re.compile(r"^Line-(?P<cat>\d{6})-\d{6}$")
_DYNAMIC_FEATURES = re.compile(r"Set\(DYNAMIC_FEATURES=(?P<codes>[^)]*)\)")


def loaded_modules(module_show: str) -> set[str]:
    """Module names (without ``.so``) from ``module show``."""
    return {m["name"] for line in module_show.splitlines() if (m := _MODULE_ROW.match(line.strip()))}


def core_setting(core_show_settings: str, label: str) -> str | None:
    """The value of a ``Label:   value`` line of ``core show settings`` (``Data directory``...)."""
    prefix = label.lower() + ":"
    for line in core_show_settings.splitlines():
        stripped = line.strip()
        if stripped.lower().startswith(prefix):
            return stripped[len(prefix):].strip() or None
    return None


@dataclass
class Context:
    name: str
    extensions: list[str] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def dialplan_contexts(dialplan_show: str) -> dict[str, Context]:
    """Contexts of ``dialplan show [CONTEXT]`` with their extensions, includes and raw lines."""
    contexts: dict[str, Context] = {}
    current: Context | None = None
    for raw in dialplan_show.splitlines():
        line = raw.strip()
        header = _CONTEXT_HEADER.match(line)
        if header:
            current = contexts.setdefault(header["name"], Context(header["name"]))
            continue
        if current is None:
            continue
        current.lines.append(line)
        if (include := _INCLUDE.match(line)) is not None:
            current.includes.append(include["name"])
        elif (exten := _EXTENSION.match(line)) is not None:
            current.extensions.append(exten["exten"])
    return contexts


@dataclass(frozen=True)
class AgiTarget:
    scheme: str
    host: str
    port: int | None
    script: str

    @property
    def address(self) -> str:
        return f"{self.scheme}://{self.host}" + (f":{self.port}" if self.port else "")


def agi_targets(text: str) -> list[AgiTarget]:
    """Every ``agi://HOST[:PORT]/script`` and ``hagi://NAME/script`` named in ``text``, in order."""
    return [AgiTarget(m["scheme"], m["host"], int(m["port"]) if m["port"] else None, m["script"])
            for m in _AGI_URL.finditer(text)]


def dynamic_features_set(context: Context) -> list[str]:
    """The feature names a ``Set(DYNAMIC_FEATURES=a#b)`` line of ``context`` gives the channel."""
    for line in context.lines:
        match = _DYNAMIC_FEATURES.search(line)
        if match and match["codes"]:
            return [name for name in match["codes"].split("#") if name]
    return []


def dynamic_features(features_show: str) -> dict[str, str]:
    """``features show``'s dynamic features (applicationmap): name -> current DTMF code."""
    found: dict[str, str] = {}
    in_dynamic = False
    for raw in features_show.splitlines():
        line = raw.strip()
        if line.startswith(("Dynamic Feature", "Feature Groups")):
            in_dynamic = line.startswith("Dynamic Feature")
        elif in_dynamic and (match := _FEATURE_ROW.match(line)) is not None:
            found[match["name"]] = match["code"]
    return found


@dataclass
class MohClass:
    name: str
    mode: str = ""
    files: list[str] = field(default_factory=list)


def moh_classes(moh_show_classes: str, moh_show_files: str = "") -> dict[str, MohClass]:
    """Hold classes from ``moh show classes`` (mode) and ``moh show files`` (playlist entries)."""
    classes: dict[str, MohClass] = {}
    for text in (moh_show_classes, moh_show_files):
        current: MohClass | None = None
        for raw in text.splitlines():
            line = raw.strip()
            if (header := _MOH_CLASS.match(line)) is not None:
                current = classes.setdefault(header["name"], MohClass(header["name"]))
            elif current is not None and (mode := _MOH_MODE.match(line)) is not None:
                current.mode = mode["mode"]
            elif current is not None and (entry := _MOH_FILE.match(line)) is not None:
                current.files.append(entry["path"])
    return classes


@dataclass(frozen=True)
class QueueMember:
    name: str
    interface: str


def queue_members(queue_show: str) -> list[QueueMember] | None:
    """Members of the one queue in ``queue show NAME``; None when Asterisk has no such queue."""
    lines = [line.strip() for line in queue_show.splitlines()]
    if not any(_QUEUE_HEADER.match(line) for line in lines):
        return None
    members: list[QueueMember] = []
    in_members = False
    for line in lines:
        if line.startswith("Members:"):
            in_members = True
        elif line.startswith(("No Callers", "Callers:", "No Members")):
            in_members = False
        elif in_members and (row := _MEMBER_ROW.match(line)) is not None:
            members.append(QueueMember(row["name"], row["interface"]))
    return members


def config_categories(get_config: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """An AMI ``GetConfig`` answer as category -> {variable: value} (inherited template lines
    included, as Asterisk reports them; the last value of a repeated variable wins)."""
    names = {m["cat"]: value for key, value in get_config.items() if (m := _GETCONFIG_CATEGORY.match(key))}
    categories: dict[str, dict[str, str]] = {name: {} for name in names.values()}
    for key, value in get_config.items():
        match = _GETCONFIG_LINE.match(key)
        if match is None or match["cat"] not in names:
            continue
        variable, _, setting = value.partition("=")
        categories[names[match["cat"]]][variable.strip()] = setting.strip()
    return categories


def template_settings(queues_conf: str, template: str = "respectline") -> dict[str, str]:
    """The settings of ``[template](!)`` in a queues.conf text (the generated one), comments dropped."""
    settings: dict[str, str] = {}
    inside = False
    for raw in queues_conf.splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("["):
            inside = line.startswith(f"[{template}](!")
            continue
        if inside and "=" in line:
            variable, _, value = line.partition("=")
            settings[variable.strip()] = value.strip().lstrip(">").strip()
    return settings
