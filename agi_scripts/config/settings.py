"""``config/respectline.yaml``: where things are and how the server behaves.

Every key is optional; a missing key takes the default documented in docs/configuration.md.
Relative paths are relative to the folder of the config file, so a checkout works wherever it lies.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from yaml.nodes import Node

from agi_scripts.config.agents import AgentDirectory, load_agents
from agi_scripts.config.desk_settings import DeskSettings, read_desk
from agi_scripts.config.transcription_settings import TranscriptionSettings, read_transcription
from agi_scripts.config.callback_settings import CallbackSettings, read_callback
from agi_scripts.ground.errors import ConfigError
from agi_scripts.ground.yamlsource import ID_PATTERN, Mapping, YamlFile
from agi_scripts.prompts.catalog import LANGUAGE_PATTERN
from agi_scripts.server.options import ServerOptions, parse_listen

DEBIAN_SOUNDS_DIR = Path("/usr/share/asterisk/sounds")
QUEUE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
_EXTENSION_PATTERN = re.compile(r"^[0-9*#]{1,20}$")
_EMAIL_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                            r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\Z")
"""A bare address (``team@example.org``): no display name, comma or newline to smuggle into a header."""


@dataclass(frozen=True)
class LanguageSettings:
    default: str = "nl"
    fallback: tuple[str, ...] = ("en",)
    """Tried in order after the channel's own language and its base (nl-BE -> nl)."""


@dataclass(frozen=True)
class AmiSettings:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = ""
    secret: str = field(default="", repr=False)  # never in a logged repr

    @property
    def enabled(self) -> bool:
        return bool(self.username)


@dataclass(frozen=True)
class RetentionSettings:
    unflagged_recordings: float = 30 * 86400.0
    evidence_after_close: float = 365 * 86400.0


@dataclass(frozen=True)
class ComplimentSettings:
    say_agent_first_name: bool = False
    agent_line: str = "*88"
    """Extension agents call to hear their own compliments."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    starttls: bool = False
    username: str = ""
    """Empty: no login."""
    password: str = field(default="", repr=False)  # never in a logged repr
    timeout: float = 10.0
    """Seconds for the connection and for each SMTP command."""


@dataclass(frozen=True)
class EmailSettings:
    smtp: SmtpSettings
    sender: str
    supervisors: tuple[str, ...] = ()
    """Told when an agent is paused after a flag."""
    teams: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Team id (as in flows/abuse_policy.yaml) -> addresses told of each new case for that team."""
    team_positions: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Line and column of each team id, for the cross-check against the abuse policy's teams."""
    include_caller_number: bool = False
    """False: mails show the caller's number masked as in the logs (``+3247****12``)."""


@dataclass(frozen=True)
class NotificationSettings:
    email: EmailSettings | None = None
    """None: no e-mail is sent."""


@dataclass(frozen=True)
class Settings:
    file: Path
    server: ServerOptions = field(default_factory=ServerOptions)
    store_url: str = "sqlite:///../var/respectline.sqlite"
    flows_dir: Path = Path("flows")
    prompts_file: Path = Path("audio_prompts/prompts.yaml")
    sounds_dir: Path = Path("var/sounds")
    built_prompts_dir: Path = Path("var/sounds/respectline")
    """Where ``prompts build`` writes and ``prompts install`` reads (a cache; not Asterisk's folder)."""
    recordings_dir: Path = Path("var/recordings")
    spool_dir: Path = Path("var/spool")
    """The outbox: each flag's booking waits here until the store has it (see ``storage.outbox``)."""
    queues: tuple[str, ...] = ("support", "billing")
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Brussels"))
    language: LanguageSettings = field(default_factory=LanguageSettings)
    ami: AmiSettings = field(default_factory=AmiSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    compliments: ComplimentSettings = field(default_factory=ComplimentSettings)
    log_level: str = "info"
    notifications: NotificationSettings = field(default_factory=NotificationSettings)
    agents: AgentDirectory = field(default_factory=AgentDirectory)
    asterisk_hosts: tuple[str, ...] = ()
    """The ``systemname`` of each Asterisk host sharing this store; empty for one host (see the README)."""
    desk: DeskSettings = field(default_factory=DeskSettings)
    """The ``desk:`` section (``respectline desk``): see ``config.desk_settings``."""
    transcription: TranscriptionSettings = field(default_factory=TranscriptionSettings)
    """The ``transcription:`` section (``config.transcription_settings``); off while no model is named."""
    callback: CallbackSettings = field(default_factory=CallbackSettings)
    """The ``callback:`` section: calling a caller back from the desk (``config.callback_settings``)."""

    @property
    def flow_files(self) -> dict[str, Path]:
        return {name: self.flows_dir / f"{name}.yaml" for name in ("campaigns", "post_call", "abuse_policy")}


def load_settings(path: Path, errors: list[ConfigError]) -> Settings:
    """Read the config file; on errors the defaults stand in so the flows can still be checked."""
    source = YamlFile(path, errors)
    base = path.parent
    top = source.mapping(source.root(), optional=(
        "server", "store", "paths", "queues", "timezone", "language", "ami", "retention", "compliments",
        "logging", "notifications", "agents", "asterisk_hosts", "desk",
        "transcription", "callback"), what="Respectline configuration")
    defaults = Settings(file=path, flows_dir=(base / "../flows").resolve(),
                        prompts_file=(base / "../audio_prompts/prompts.yaml").resolve(),
                        sounds_dir=DEBIAN_SOUNDS_DIR,
                        built_prompts_dir=(base / "../var/sounds/respectline").resolve(),
                        recordings_dir=(base / "../var/recordings").resolve(),
                        spool_dir=(base / "../var/spool").resolve(),
                        store_url=_store_url("sqlite:///../var/respectline.sqlite", base))
    if top is None:
        return defaults
    paths = source.mapping(top.get("paths"), optional=("flows", "prompts", "sounds", "built_prompts", "recordings",
                                                              "spool"),
                           what="'paths' section")
    store = source.mapping(top.get("store"), optional=("url",), what="'store' section")
    logging_ = source.mapping(top.get("logging"), optional=("level",), what="'logging' section")
    return Settings(
        file=path,
        server=_server(source, top.get("server")),
        store_url=_store_url(_text(source, store, "url") or "sqlite:///../var/respectline.sqlite", base),
        flows_dir=_path(source, paths, "flows", base, defaults.flows_dir),
        prompts_file=_path(source, paths, "prompts", base, defaults.prompts_file),
        sounds_dir=_path(source, paths, "sounds", base, defaults.sounds_dir),
        built_prompts_dir=_path(source, paths, "built_prompts", base, defaults.built_prompts_dir),
        recordings_dir=_path(source, paths, "recordings", base, defaults.recordings_dir),
        spool_dir=_path(source, paths, "spool", base, defaults.spool_dir),
        queues=_queues(source, top.get("queues")) or defaults.queues,
        timezone=(source.timezone(top.get("timezone")) if top.get("timezone") else None) or defaults.timezone,
        language=_language(source, top.get("language")),
        ami=_ami(source, top.get("ami")),
        retention=_retention(source, top.get("retention")),
        compliments=_compliments(source, top.get("compliments")),
        log_level=(source.choice(logging_.get("level"), ("debug", "info", "warning", "error"), "log level")
                   if logging_ and logging_.get("level") else None) or "info",
        notifications=_notifications(source, top.get("notifications")),
        agents=load_agents(source, top.get("agents")),
        asterisk_hosts=_asterisk_hosts(source, top.get("asterisk_hosts")),
        desk=read_desk(source, top.get("desk")),
        transcription=read_transcription(source, top.get("transcription"), base),
        callback=read_callback(source, top.get("callback")),
    )


def _text(source: YamlFile, section: Mapping | None, key: str) -> str | None:
    node = section.get(key) if section else None
    return source.string(node) if node is not None else None


def _optional_text(source: YamlFile, section: Mapping, key: str) -> str:
    """A text that may be left empty to switch a feature off."""
    node = section.get(key)
    return (source.scalar(node, "a text") or "") if node is not None else ""


def _path(source: YamlFile, section: Mapping | None, key: str, base: Path, default: Path) -> Path:
    value = _text(source, section, key)
    return (base / value).resolve() if value else default


def _store_url(url: str, base: Path) -> str:
    """Make a relative ``sqlite:///x`` URL relative to the config folder rather than the cwd."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + str((base / url[len(prefix):]).resolve())
    return url


def _server(source: YamlFile, node: Node | None) -> ServerOptions:
    section = source.mapping(node, optional=(
        "listen", "allowed_peers", "max_sessions", "command_timeout", "environment_timeout",
        "drain_timeout", "reload_poll", "health_port"), what="'server' section")
    defaults = ServerOptions()
    if section is None:
        return defaults
    host, port = defaults.host, defaults.port
    listen_node = section.get("listen")
    if listen_node is not None:
        try:
            host, port = parse_listen(source.string(listen_node, "HOST:PORT") or "")
        except ValueError:
            source.error(listen_node, "expected HOST:PORT to listen on", "for example 127.0.0.1:4573")
    peers = defaults.allowed_peers
    peers_node = section.get("allowed_peers")
    if peers_node is not None:
        peers = tuple(p for p in (_address(source, n) for n in source.sequence(peers_node)) if p)
        if not source.sequence(peers_node):
            source.error(peers_node, "allowed_peers is empty: FastAGI has no authentication, so the server "
                                     "needs the list of Asterisk hosts that may connect",
                         "list them, for example [127.0.0.1, \"::1\"] or [10.0.0.5]")

    def number(key: str, default: int, low: int, high: int) -> int:
        n = section.get(key) if section else None
        value = source.integer(n, minimum=low, maximum=high) if n is not None else None
        return default if value is None else value

    def seconds(key: str, default: float, low: float, high: float) -> float:
        n = section.get(key) if section else None
        value = source.duration(n, minimum=low, maximum=high) if n is not None else None
        return default if value is None else value

    health = section.get("health_port")
    return ServerOptions(
        host=host, port=port, allowed_peers=peers,
        max_sessions=number("max_sessions", defaults.max_sessions, 1, 100_000),
        command_timeout=seconds("command_timeout", defaults.command_timeout, 0.1, 600),
        environment_timeout=seconds("environment_timeout", defaults.environment_timeout, 0.1, 60),
        drain_timeout=seconds("drain_timeout", defaults.drain_timeout, 0, 600),
        reload_poll=seconds("reload_poll", defaults.reload_poll, 0.1, 3600),
        health_port=source.integer(health, minimum=1, maximum=65535) if health is not None else None,
    )


def _address(source: YamlFile, node: Node) -> str | None:
    value = source.string(node, "an IP address")
    if value is None:
        return None
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        source.error(node, f"{value!r} is not an IP address or network", "for example 10.0.0.5 or 10.0.0.0/24")
        return None
    return value


SYSTEM_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
"""A ``systemname`` our call ids can carry (Asterisk writes uniqueids as ``<systemname>-<epoch>.<n>``)."""


def _asterisk_hosts(source: YamlFile, node: Node | None) -> tuple[str, ...]:
    names: list[str] = []
    for item in source.sequence(node, "list of Asterisk system names"):
        name = source.string(item, "an Asterisk systemname", pattern=SYSTEM_NAME_PATTERN,
                             pattern_hint="letters, digits, '.', '-' and '_', as in asterisk.conf [options]")
        if name in names:
            source.error(item, f"Asterisk host {name!r} is listed twice")
        elif name is not None:
            names.append(name)
    return tuple(names)


def _queues(source: YamlFile, node: Node | None) -> tuple[str, ...]:
    queues: list[str] = []
    for item in source.sequence(node, "list of queue names"):
        name = source.string(item, "a queue name", pattern=QUEUE_PATTERN,
                             pattern_hint="letters, digits, '.', '-' and '_', as in queues.conf")
        if name in queues:
            source.error(item, f"queue {name!r} is listed twice")
        elif name is not None:
            queues.append(name)
    return tuple(queues)


def _language(source: YamlFile, node: Node | None) -> LanguageSettings:
    section = source.mapping(node, optional=("default", "fallback"), what="'language' section")
    defaults = LanguageSettings()
    if section is None:
        return defaults

    def code(n: Node | None) -> str | None:
        return source.string(n, "a language code", pattern=LANGUAGE_PATTERN,
                             pattern_hint="use codes such as nl, fr, en or nl-BE")

    default = code(section.get("default"))
    fallback = defaults.fallback
    if section.get("fallback") is not None:
        fallback = tuple(c for c in (code(n) for n in source.sequence(section.get("fallback"))) if c)
    return LanguageSettings(default=default or defaults.default, fallback=fallback)


def _ami(source: YamlFile, node: Node | None) -> AmiSettings:
    section = source.mapping(node, optional=("host", "port", "username", "secret"), what="'ami' section")
    if section is None:
        return AmiSettings()
    port_node = section.get("port")
    return AmiSettings(
        host=_text(source, section, "host") or "127.0.0.1",
        port=(source.integer(port_node, minimum=1, maximum=65535) if port_node is not None else None) or 5038,
        username=_optional_text(source, section, "username"),
        secret=_optional_text(source, section, "secret"),
    )


def _retention(source: YamlFile, node: Node | None) -> RetentionSettings:
    section = source.mapping(node, optional=("unflagged_recordings", "evidence_after_close"),
                             what="'retention' section")
    defaults = RetentionSettings()
    if section is None:
        return defaults
    unflagged, evidence = (section.get(k) for k in ("unflagged_recordings", "evidence_after_close"))
    return RetentionSettings(
        unflagged_recordings=(source.duration(unflagged, minimum=0) if unflagged else None)
        or defaults.unflagged_recordings,
        evidence_after_close=(source.duration(evidence, minimum=0) if evidence else None)
        or defaults.evidence_after_close,
    )


def _compliments(source: YamlFile, node: Node | None) -> ComplimentSettings:
    section = source.mapping(node, optional=("say_agent_first_name", "agent_line"), what="'compliments' section")
    defaults = ComplimentSettings()
    if section is None:
        return defaults
    first_name = section.get("say_agent_first_name")
    line = section.get("agent_line")
    say = source.boolean(first_name) if first_name is not None else None
    return ComplimentSettings(
        say_agent_first_name=defaults.say_agent_first_name if say is None else say,
        agent_line=(source.string(line, "an extension", pattern=_EXTENSION_PATTERN,
                                  pattern_hint="digits, * and #") if line is not None else None)
        or defaults.agent_line,
    )


def _notifications(source: YamlFile, node: Node | None) -> NotificationSettings:
    section = source.mapping(node, optional=("email",), what="'notifications' section")
    return NotificationSettings(email=_email(source, section.get("email")) if section else None)


def _email(source: YamlFile, node: Node | None) -> EmailSettings | None:
    section = source.mapping(node, required=("smtp", "from"),
                             optional=("supervisors", "teams", "include_caller_number"),
                             what="'notifications.email' section")
    if section is None:
        return None
    smtp = _smtp(source, section.get("smtp"))
    sender_node = section.get("from")
    sender = _email_address(source, sender_node) if sender_node is not None else None
    supervisors = _email_addresses(source, section.get("supervisors"), "'supervisors'")
    teams, positions = _team_addresses(source, section.get("teams"))
    if "supervisors" not in section and "teams" not in section:
        source.error(section.node, "'notifications.email' names nobody to write to",
                     "add 'supervisors' and/or 'teams', or remove the section")
    if smtp is None or sender is None:
        return None
    return EmailSettings(smtp=smtp, sender=sender, supervisors=supervisors, teams=teams,
                         team_positions=positions,
                         include_caller_number=section.flag("include_caller_number", False))


def _smtp(source: YamlFile, node: Node | None) -> SmtpSettings | None:
    section = source.mapping(node, required=("host",),
                             optional=("port", "starttls", "username", "password", "timeout"),
                             what="'notifications.email.smtp' section")
    if section is None:
        return None
    host = _text(source, section, "host")
    username = _optional_text(source, section, "username")
    password = _optional_text(source, section, "password")
    if password and not username:
        source.error(section.key_node("password"), "an SMTP password without a username",
                     "add 'username', or remove 'password' for a server that needs no login")
    if host is None:
        return None
    return SmtpSettings(host=host, port=section.integer("port", 25, 1, 65535),
                        starttls=section.flag("starttls", False), username=username, password=password,
                        timeout=section.seconds("timeout", 10.0, 1.0, 120.0))


def _team_addresses(source: YamlFile, node: Node | None
                    ) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[int, int]]]:
    table = source.mapping(node, what="'teams' mapping (team id: list of addresses)")
    teams: dict[str, tuple[str, ...]] = {}
    positions: dict[str, tuple[int, int]] = {}
    for team, key_node, value_node in table.items() if table else ():
        if source.identifier(key_node, "a team id") is None:
            continue
        teams[team] = _email_addresses(source, value_node, f"addresses of team {team!r}")
        positions[team] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
    return teams, positions


def _email_addresses(source: YamlFile, node: Node | None, what: str) -> tuple[str, ...]:
    addresses: list[str] = []
    for item in source.sequence(node, f"list of e-mail addresses for {what}"):
        address = _email_address(source, item)
        if address is not None and address not in addresses:
            addresses.append(address)
    return tuple(addresses)


def _email_address(source: YamlFile, node: Node) -> str | None:
    return source.string(node, "an e-mail address", pattern=_EMAIL_ADDRESS,
                         pattern_hint="write a bare address such as specialcare@example.org, without a name or <>")


__all__ = ["ID_PATTERN", "Settings", "load_settings"]


RESTART_KEYS = ("server", "store", "paths.recordings", "paths.spool", "retention", "ami", "logging",
                "transcription")
"""What ``respectline serve`` reads once, at start: the listener and its limits, the store, the
folder and periods the retention sweeper works on, the outbox the keeper drains, the account that
lifts pauses, the log level, the transcription worker's model and limits."""


def restart_required(running: Settings, fresh: Settings) -> list[str]:
    """The ``RESTART_KEYS`` whose value differs between the settings in force and a reloaded file."""
    pairs = {
        "server": (running.server, fresh.server),
        "store": (running.store_url, fresh.store_url),
        "paths.recordings": (running.recordings_dir, fresh.recordings_dir),
        "paths.spool": (running.spool_dir, fresh.spool_dir),
        "retention": (running.retention, fresh.retention),
        "ami": (running.ami, fresh.ami),
        "logging": (running.log_level, fresh.log_level),
        "transcription": (running.transcription, fresh.transcription),
    }
    return [key for key in RESTART_KEYS if pairs[key][0] != pairs[key][1]]
