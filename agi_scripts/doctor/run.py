"""Asks a live Asterisk, runs the checks, prints the findings. Exit codes: 0 every check holds,
1 something is wrong (each problem printed with its fix), 2 doctor could not look (AMI
unreachable, login refused, an account that may not inspect, an invalid configuration)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from agi_scripts.ami.client import AmiClient, AmiError
from agi_scripts.asterisk_conf.generate import queues as generated_queues
from agi_scripts.config.bundle import Bundle
from agi_scripts.doctor import checks, parse, probes
from agi_scripts.doctor.findings import Finding, failed, fail, render, summary
from agi_scripts.doctor.inspect import AmiInspector, Inspector, PermissionDenied
from agi_scripts.doctor.recordings_share import check_recordings_share

EXIT_OK, EXIT_PROBLEMS, EXIT_CANNOT_CHECK = 0, 1, 2
INSPECTION_RIGHTS = "write = command,config (read = none)"


@dataclass(frozen=True)
class DoctorOptions:
    config_file: Path
    ami_host: str
    ami_port: int
    ami_user: str
    ami_secret: str = field(repr=False)
    conf_dir: Path | None = None
    """Where the generated files live; default ``<Asterisk's configuration directory>/respectline``."""
    timeout: float = 5.0
    """Seconds for each AMI answer and each network probe."""


Step = Callable[[Inspector, checks.Setup, str], list[Finding]]
"""One group of checks: (Asterisk, what to compare with, ``core show settings`` output) -> findings."""


class CannotCheck(RuntimeError):
    """Doctor could not inspect Asterisk; the message says why and what to do."""


def run_doctor(bundle: Bundle, options: DoctorOptions, out: TextIO) -> int:
    try:
        findings = collect(bundle, options, lambda finding: print(render(finding), file=out, flush=True))
    except CannotCheck as exc:
        print(f"error: {exc}", file=out)
        return EXIT_CANNOT_CHECK
    print(summary(findings), file=out)
    return EXIT_PROBLEMS if failed(findings) else EXIT_OK


def collect(bundle: Bundle, options: DoctorOptions, report: Callable[[Finding], None]) -> list[Finding]:
    findings: list[Finding] = []

    def add(new: list[Finding]) -> None:
        for finding in new:
            report(finding)
        findings.extend(new)

    with _inspection_session(options) as client:
        inspector = AmiInspector(client)
        settings_text = _cli_or_cannot(inspector, "core show settings", options)
        setup = _setup(bundle, options, settings_text)
        add(checks.check_system_name(parse.core_setting(settings_text, "System name"),
                                     bundle.settings.asterisk_hosts))
        steps: tuple[Step, ...] = (_modules, _dialplan, _features, _queues, _sounds, _hold_music)
        for step in steps:
            try:
                add(step(inspector, setup, settings_text))
            except PermissionDenied as exc:
                add([fail("doctor", f"the account '{options.ami_user}' may not run {exc}",
                          f"give doctor's AMI account {INSPECTION_RIGHTS} in manager.conf, "
                          "then: asterisk -rx \"manager reload\"")])
        add(_agi_servers(inspector, setup, options))
    add(_server_account(bundle, setup, options.timeout))
    add(check_recordings_share(bundle, options.timeout))  # on this host, as this user: what a flag will do
    return findings


def _inspection_session(options: DoctorOptions) -> AmiClient:
    where = f"{options.ami_host}:{options.ami_port}"
    try:
        client = AmiClient(options.ami_host, options.ami_port, timeout=options.timeout)
    except AmiError as exc:
        raise CannotCheck(f"{exc}. Is Asterisk running, with AMI enabled on {where} "
                          "(manager.conf [general]: enabled = yes, port, bindaddr)? Use --ami-host/--ami-port "
                          "if it listens elsewhere.") from exc
    try:
        client.login(options.ami_user, options.ami_secret)
    except AmiError as exc:
        client.close()
        raise CannotCheck(f"AMI at {where} refused the login of '{options.ami_user}' ({exc}). Check the account's "
                          "secret and permit= lines in manager.conf; give doctor's secret in "
                          "$RESPECTLINE_DOCTOR_SECRET or with --ami-secret-stdin.") from exc
    return client


def _cli_or_cannot(inspector: Inspector, command: str, options: DoctorOptions) -> str:
    try:
        return inspector.cli(command)
    except PermissionDenied as exc:
        raise CannotCheck(
            f"the AMI account '{options.ami_user}' may not run CLI commands through AMI, which doctor needs to "
            f"inspect Asterisk. Give doctor its own account in manager.conf with {INSPECTION_RIGHTS} and run "
            "`RESPECTLINE_DOCTOR_SECRET=... respectline doctor --ami-user NAME` (the server's own account "
            "needs only write = agent).") from exc
    except AmiError as exc:
        raise CannotCheck(f"AMI stopped answering: {exc}") from exc


def _setup(bundle: Bundle, options: DoctorOptions, settings_text: str) -> checks.Setup:
    etc = parse.core_setting(settings_text, "Configuration directory") or "/etc/asterisk"
    conf_dir = options.conf_dir or Path(etc) / "respectline"
    template = parse.template_settings(generated_queues(bundle))
    return checks.Setup(bundle, options.config_file, conf_dir, template)


def _modules(inspector: Inspector, setup: checks.Setup, settings_text: str) -> list[Finding]:
    loaded = parse.loaded_modules(inspector.cli("module show"))
    return checks.check_modules(loaded) + checks.check_aftercare_modules(loaded, setup.bundle)


def _dialplan(inspector: Inspector, setup: checks.Setup, settings_text: str) -> list[Finding]:
    return checks.check_contexts(parse.dialplan_contexts(inspector.cli("dialplan show")), setup)


def _features(inspector: Inspector, setup: checks.Setup, settings_text: str) -> list[Finding]:
    return checks.check_features(parse.dynamic_features(inspector.cli("features show")), setup)


def _queues(inspector: Inspector, setup: checks.Setup, settings_text: str) -> list[Finding]:
    answer = inspector.get_config("queues.conf")
    if answer.get("Response", "").lower() != "success":
        return [checks.queues_unreadable(answer.get("Message", "no answer"), setup)]
    categories = parse.config_categories(answer)
    findings: list[Finding] = []
    for name in [*setup.bundle.settings.queues, *setup.team_queues()]:
        members = parse.queue_members(inspector.cli(f"queue show {name}"))
        findings += checks.check_queue(name, members, categories.get(name), setup)
    return findings


def _asterisk_sounds(settings_text: str) -> Path:
    data = parse.core_setting(settings_text, "Data directory") or "/usr/share/asterisk"
    return Path(data) / "sounds"


def _sounds(inspector: Inspector, setup: checks.Setup, settings_text: str) -> list[Finding]:
    sounds = _asterisk_sounds(settings_text)
    findings = checks.check_sounds_dir(sounds, setup)
    if sounds.is_dir():
        findings += checks.check_prompts(sounds, setup)
    return findings


def _hold_music(inspector: Inspector, setup: checks.Setup, settings_text: str) -> list[Finding]:
    classes = parse.moh_classes(inspector.cli("moh show classes"), inspector.cli("moh show files"))
    return checks.check_moh(classes, setup)


def _agi_servers(inspector: Inspector, setup: checks.Setup, options: DoctorOptions) -> list[Finding]:
    text = "\n".join(inspector.cli(f"dialplan show {name}") for name in ("respectline-queue", "respectline-agents"))
    targets = checks.agi_addresses(parse.agi_targets(text))
    findings: list[Finding] = []
    for target in targets:
        if target.scheme == "hagi":
            findings.append(checks.srv_target(target))
            continue
        answer, error = probes.health_status_line(target.host, target.port or 4573, options.timeout)
        findings.append(checks.check_agi_health(target, answer, error, setup))
    return findings


def _server_account(bundle: Bundle, setup: checks.Setup, timeout: float) -> list[Finding]:
    ami = bundle.settings.ami
    if not ami.enabled:
        return [checks.check_server_account_missing(bundle, setup)]
    try:
        pause, command = probes.server_account_answers(ami.host, ami.port, ami.username, ami.secret, timeout)
    except AmiError as exc:
        return [fail("server AMI", f"the server cannot log in to AMI at {ami.host}:{ami.port} as "
                                   f"'{ami.username}': {exc}",
                     f"in manager.conf: [{ami.username}] with 'secret = ' the ami.secret of {setup.config_file}, "
                     "a permit= line for the server's address, 'write = agent', 'read = none';\n"
                     "then: asterisk -rx \"manager reload\"")]
    findings = [checks.check_server_queuepause(ami.username, pause)]
    extra = checks.check_server_extra_rights(ami.username, command)
    return findings + ([extra] if extra else [])
