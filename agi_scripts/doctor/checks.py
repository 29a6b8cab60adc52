"""The checks, each from what Asterisk answered to the findings an admin reads.

The functions here take parsed answers (see :mod:`agi_scripts.doctor.parse`) and the files on disk,
never a connection, so each can be tested on recorded output. :mod:`agi_scripts.doctor.run` asks
Asterisk and hands the answers over.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from agi_scripts.asterisk_conf.aftercare import listen_in_features
from agi_scripts.asterisk_conf.callback import ANSWERED_CONTEXT as CALLBACK_ANSWERED_CONTEXT
from agi_scripts.asterisk_conf.callback import CONTEXT as CALLBACK_CONTEXT
from agi_scripts.asterisk_conf.generate import feature_name, prompt_sounds, sound_exists
from agi_scripts.config.bundle import Bundle
from agi_scripts.doctor.findings import Finding, fail, limited, ok, warn
from agi_scripts.doctor.parse import AgiTarget, Context, MohClass, QueueMember, dynamic_features_set
from agi_scripts.flows.campaigns import music_class_name
from agi_scripts.ground.redact import printable
from agi_scripts.prompts.catalog import SOUND_PREFIX

REQUIRED_MODULES: dict[str, str] = {
    "pbx_config": "reads extensions.conf (the generated contexts)",
    "res_agi": "AGI() to respectline serve",
    "app_queue": "Queue(), PauseQueueMember()",
    "app_stack": "Gosub on the agent's leg (Queue option b) and Return()",
    "app_exec": "ExecIf() in respectline-queue",
    "app_playback": "Playback() of the routing notice",
    "app_mixmonitor": "MixMonitor(): evidence recordings after a flag",
    "app_userevent": "UserEvent(): RespectlineCompliment and flag events for desktops",
    "res_musiconhold": "the campaigns' hold classes",
    "func_channel": "CHANNEL(musicclass) per call",
    "format_wav": "the prompts' .wav files",
    "format_sln": "the prompts' .sln16 files (16 kHz)",
}
AFTERCARE_MODULES: dict[str, str] = {
    "app_read": "Read(): the key a person on duty presses after the check-in or listen-in summary",
    "app_dial": "Dial(): the person on duty connected to the agent after a check-in",
}
LISTEN_IN_MODULES: dict[str, str] = {"app_chanspy": "ChanSpy(): listen-in (aftercare.listen_in)"}
GENERATED_CONTEXTS = ("respectline-queue", "respectline-agent", "respectline-agents")
CALL_ENDED_CONTEXT = "respectline-call-ended"
"""The hangup handler of calls recorded from the agent's answer (``recording.start: connect``)."""


@dataclass(frozen=True)
class Setup:
    """What the checks compare Asterisk against, and what the fixes name."""

    bundle: Bundle
    config_file: Path
    """As the admin gave it: fixes repeat it in commands."""
    conf_dir: Path
    """Where ``respectline asterisk-conf`` wrote (or should write) the generated files."""
    template: Mapping[str, str]
    """Settings of the generated ``(respectline)`` queue template."""

    @property
    def regenerate(self) -> str:
        return f"respectline asterisk-conf --config {self.config_file} --out {self.conf_dir}"

    def include(self, generated_file: str) -> str:
        return f'#include "{self.conf_dir / generated_file}"'

    def team_queues(self) -> list[str]:
        return sorted({team.queue for team in self.bundle.abuse_policy.teams.values()})


# ------------------------------------------------------------------ modules


def check_system_name(system_name: str | None, asterisk_hosts: tuple[str, ...] = ()) -> list[Finding]:
    """Asterisk's uniqueids carry the system name: without one, two Asterisk hosts sharing a store
    and a recordings share can give two calls the same id (flags counted together, one file). When
    the config lists the hosts (``asterisk_hosts``), a missing or unlisted name is an error."""
    fix = ("in asterisk.conf, under [options]: systemname = <this host's name> (required with several "
           "Asterisk hosts), then restart Asterisk")
    if asterisk_hosts and system_name not in asterisk_hosts:
        what = f"systemname {system_name!r} is" if system_name else "no systemname is set, which is"
        return [fail("asterisk", f"{what} not among asterisk_hosts ({', '.join(asterisk_hosts)}) in the config: "
                                 "call ids of the hosts sharing the store could collide",
                     f"{fix}; or add this host's name to asterisk_hosts")]
    if system_name:
        return [ok("asterisk", f"systemname is {system_name!r}: call ids are unique across Asterisk hosts")]
    return [warn("asterisk", "Asterisk has no systemname: with several Asterisk hosts on one store, two calls "
                             "can get the same id", fix)]


def check_aftercare_modules(loaded: set[str], bundle: Bundle) -> list[Finding]:
    """What the aftercare contexts run, only when the flows use them (rosters; listen_in)."""
    aftercare = bundle.abuse_policy.aftercare
    needed = dict(AFTERCARE_MODULES) if aftercare.rosters else {}
    needed |= LISTEN_IN_MODULES if aftercare.listen_in else {}
    return [fail("modules", f"{name}.so is not loaded ({why})",
                 f"asterisk -rx \"module load {name}.so\" (and remove any `noload => {name}.so` from modules.conf)")
            for name, why in needed.items() if name not in loaded]


def check_modules(loaded: set[str]) -> list[Finding]:
    missing = [name for name in REQUIRED_MODULES if name not in loaded]
    if not missing:
        return [ok("modules", f"the {len(REQUIRED_MODULES)} modules Respectline needs are loaded")]
    return [fail("modules", f"{name}.so is not loaded ({REQUIRED_MODULES[name]})",
                 f"asterisk -rx \"module load {name}.so\" (and remove any `noload => {name}.so` from modules.conf)")
            for name in missing]


# ------------------------------------------------------------------ dialplan


def check_contexts(contexts: Mapping[str, Context], setup: Setup) -> list[Finding]:
    missing = [name for name in GENERATED_CONTEXTS if name not in contexts]
    include = setup.include("extensions_respectline.conf")
    if missing:
        return [fail("dialplan", f"context {limited(missing)} not in Asterisk's dialplan",
                     f"add '{include}' to extensions.conf (anywhere outside a context, e.g. at the top),\n"
                     f"then: asterisk -rx \"dialplan reload\" (generate the file first with: {setup.regenerate})")]
    findings = [ok("dialplan", f"contexts {', '.join(GENERATED_CONTEXTS)} are loaded")]
    findings += _check_agent_codes(contexts["respectline-agent"], setup)
    findings += _check_agent_line(contexts, setup)
    findings += _check_call_recording(contexts, setup)
    findings += _check_callback(contexts, setup)
    return findings


def _check_callback(contexts: Mapping[str, Context], setup: Setup) -> list[Finding]:
    """``callback.dial`` set: the desk's Originate needs the generated call back contexts."""
    callback = setup.bundle.settings.callback
    if not callback.enabled:
        return []
    # An empty list is safe (nothing is dialled) but surprising: every press is refused.
    allowed = [] if callback.allowed else [
        warn("callback", "callback.dial is set but callback.allowed lists no number: every call back is refused",
             "list the numbers the desk may call in callback.allowed (see docs/configuration.md)")]
    missing = [name for name in (CALLBACK_CONTEXT, CALLBACK_ANSWERED_CONTEXT) if name not in contexts]
    if not missing:
        return [ok("dialplan", f"call back contexts {CALLBACK_CONTEXT} and {CALLBACK_ANSWERED_CONTEXT} are loaded"),
                *allowed]
    return allowed + [fail("dialplan", f"callback.dial is set but {limited(missing)} is not loaded: the desk's Call back "
                             "would ring the staff phone into nothing",
                 f"{setup.regenerate}\nthen: asterisk -rx \"dialplan reload\"")]


def _check_call_recording(contexts: Mapping[str, Context], setup: Setup) -> list[Finding]:
    """``recording.start: connect`` needs the hangup handler that removes an unflagged call's recording."""
    if setup.bundle.abuse_policy.recording_start != "connect" or CALL_ENDED_CONTEXT in contexts:
        return []
    return [fail("dialplan", f"abuse_policy.recording.start is connect but {CALL_ENDED_CONTEXT} is not loaded: "
                             "unflagged calls' recordings would stay until the server's sweep",
                 f"{setup.regenerate}\nthen: asterisk -rx \"dialplan reload\"")]


def _check_agent_codes(context: Context, setup: Setup) -> list[Finding]:
    expected = sorted([feature_name(category) for category in setup.bundle.abuse_policy.categories]
                      + listen_in_features(setup.bundle))
    given = sorted(dynamic_features_set(context))
    if given == expected:
        return []
    return [fail("dialplan", f"respectline-agent gives the agent's leg the codes {given or 'none'}, "
                             f"the abuse policy has {expected}: the generated file is older than the flows",
                 f"{setup.regenerate}\nthen: asterisk -rx \"dialplan reload\"")]


def _check_agent_line(contexts: Mapping[str, Context], setup: Setup) -> list[Finding]:
    line = setup.bundle.settings.compliments.agent_line
    findings: list[Finding] = []
    if line not in contexts["respectline-agents"].extensions:
        findings.append(fail("dialplan", f"respectline-agents has no extension {line} (compliments.agent_line)",
                             f"{setup.regenerate}\nthen: asterisk -rx \"dialplan reload\""))
    including = sorted(name for name, context in contexts.items() if "respectline-agents" in context.includes)
    if including:
        findings.append(ok("dialplan", f"the agents' line {line} is reachable from {limited(including)}"))
    else:
        findings.append(fail("dialplan", f"no context includes respectline-agents: agents cannot dial {line}",
                             "add 'include => respectline-agents' to the context your agents' phones use "
                             "(their pjsip.conf context=),\nthen: asterisk -rx \"dialplan reload\""))
    entries = sorted(name for name, context in contexts.items() if name not in GENERATED_CONTEXTS
                     and any("Goto(respectline-queue," in text for text in context.lines))
    if not entries:
        queue = setup.bundle.settings.queues[0] if setup.bundle.settings.queues else "support"
        findings.append(warn("dialplan", "no extension sends calls to respectline-queue yet",
                             f"in your callers' context: exten => 100,1,Goto(respectline-queue,{queue},1)"))
    return findings


# ------------------------------------------------------------------ agents' codes


def check_features(features: Mapping[str, str], setup: Setup) -> list[Finding]:
    include = setup.include("features_respectline.conf")
    findings: list[Finding] = []
    absent: list[str] = []
    for category in setup.bundle.abuse_policy.categories.values():
        name = feature_name(category.id)
        code = features.get(name)
        if code is None:
            absent.append(name)
        elif code != category.code:
            findings.append(fail("features", f"{name} answers to {code}, the abuse policy says {category.code}",
                                 f"{setup.regenerate}\nthen: asterisk -rx \"module reload features\""))
    if absent:
        findings.append(fail("features", f"the agents' codes {limited(absent)} are not in Asterisk's applicationmap",
                             f"add '{include}' as the LAST line of features.conf,\n"
                             "then: asterisk -rx \"module reload features\""))
    if not findings:
        codes = ", ".join(f"{c.code} {c.id}" for c in setup.bundle.abuse_policy.categories.values())
        findings.append(ok("features", f"agents' codes loaded: {codes}"))
    return findings


# ------------------------------------------------------------------ queues


def check_queue(name: str, members: Sequence[QueueMember] | None, settings: Mapping[str, str] | None,
                setup: Setup) -> list[Finding]:
    """One queue: known to app_queue, with the template's settings, with members."""
    team = name in setup.team_queues()
    include = setup.include("queues_respectline.conf")
    if members is None:
        if team:
            return [fail("queues", f"team queue {name} does not exist in Asterisk",
                         f"add '{include}' near the top of queues.conf (before your own queues),\n"
                         "then: asterisk -rx \"module reload app_queue\"")]
        return [fail("queues", f"queue {name} (config queues:) does not exist in Asterisk",
                     f"add to queues.conf, below '{include}':\n[{name}](respectline)\n"
                     "member => PJSIP/agent1,0,Agent One\nthen: asterisk -rx \"module reload app_queue\"")]
    findings: list[Finding] = []
    wrong = [f"{key}={value}" for key, value in setup.template.items()
             if (settings or {}).get(key, "").lower() != value.lower()]
    if wrong:
        findings.append(fail("queues", f"queue {name} lacks {limited(wrong)} from the (respectline) template",
                             f"name the template on it in queues.conf: [{name}](respectline), with '{include}' "
                             "above it,\nthen: asterisk -rx \"module reload app_queue\""))
    if not members:
        example = f"[{name}](+)" if team else f"[{name}](respectline)"
        findings.append(warn("queues", f"queue {name} has no members (fine if agents log in dynamically)",
                             f"in queues.conf, below '{include}':\n{example}\nmember => PJSIP/agent1,0,Agent One"))
    if not wrong:
        findings.append(ok("queues", f"queue {name} uses the (respectline) template; {len(members)} member(s)"))
    return findings


def queues_unreadable(message: str, setup: Setup) -> Finding:
    return fail("queues", f"queues.conf does not load ({message}); usually a queue names the (respectline) "
                          "template before queues_respectline.conf is included",
                f"add '{setup.include('queues_respectline.conf')}' near the top of queues.conf, before your own "
                "queues,\nthen: asterisk -rx \"module reload app_queue\"")


# ------------------------------------------------------------------ sounds


def same_folder(one: Path, other: Path) -> bool:
    try:
        return os.path.samefile(one, other)
    except OSError:
        return one.resolve() == other.resolve()


def check_sounds_dir(asterisk_sounds: Path, setup: Setup) -> list[Finding]:
    configured = setup.bundle.settings.sounds_dir
    if not asterisk_sounds.is_dir():
        return [fail("sounds", f"Asterisk plays sounds from {asterisk_sounds}, which is not a folder on this machine",
                     "run `respectline doctor` on the Asterisk host (its files are checked on disk)")]
    if same_folder(configured, asterisk_sounds):
        return [ok("sounds", f"paths.sounds is Asterisk's sounds folder ({asterisk_sounds})")]
    config = setup.config_file
    return [fail("sounds", f"paths.sounds is {configured} but Asterisk plays sounds from {asterisk_sounds} "
                           "(core show settings: Data directory + /sounds)",
                 f"set 'sounds: {asterisk_sounds}' under paths: in {config}, then run:\n"
                 f"respectline prompts install --config {config}\n"
                 f"respectline prompts hold-music --config {config}\n"
                 f"{setup.regenerate}\nasterisk -rx \"moh reload\"")]


def check_prompts(asterisk_sounds: Path, setup: Setup) -> list[Finding]:
    names = prompt_sounds(setup.bundle)
    missing = [name for name in names if not sound_exists(asterisk_sounds / name)]
    total = len(names)
    if not missing:
        return [ok("sounds", f"all {total} prompts are in {asterisk_sounds / SOUND_PREFIX}, every language")]
    config = setup.config_file
    return [fail("sounds", f"{len(missing)} of {total} prompts are missing under {asterisk_sounds}: {limited(missing)}",
                 f"respectline prompts build --config {config}\nrespectline prompts install --config {config}")]


def check_moh(classes: Mapping[str, MohClass], setup: Setup) -> list[Finding]:
    bundle = setup.bundle
    expected = [music_class_name(campaign.id, language) for campaign in bundle.campaigns.campaigns
                for language in bundle.languages() if campaign.prompt_for(language) is not None]
    absent = [name for name in expected if name not in classes]
    if absent:
        return [fail("hold music", f"hold classes {limited(absent)} are not loaded",
                     f"add '{setup.include('musiconhold_respectline.conf')}' at the end of musiconhold.conf "
                     f"(generate it with: {setup.regenerate}),\nthen: asterisk -rx \"moh reload\"")]
    missing = sorted({entry for name in expected for entry in classes[name].files if not sound_exists(Path(entry))})
    empty = [name for name in expected if not classes[name].files]
    findings: list[Finding] = []
    if empty:
        findings.append(fail("hold music", f"hold classes {limited(empty)} have no playable entry",
                             f"{setup.regenerate}\nthen: asterisk -rx \"moh reload\""))
    if missing:
        config = setup.config_file
        findings.append(fail("hold music", f"{len(missing)} files the hold classes play are missing: {limited(missing)}",
                             f"respectline prompts install --config {config}\n"
                             f"respectline prompts hold-music --config {config}"))
    if not findings:
        findings.append(ok("hold music", f"{len(expected)} campaign hold classes loaded, every file present"))
    return findings


# ------------------------------------------------------------------ the FastAGI server


def agi_addresses(targets: Sequence[AgiTarget]) -> list[AgiTarget]:
    """One target per distinct server address, in the order the dialplan names them."""
    seen: dict[str, AgiTarget] = {}
    for target in targets:
        seen.setdefault(target.address, target)
    return list(seen.values())


def check_agi_health(target: AgiTarget, answer: str | None, error: str | None, setup: Setup) -> Finding:
    """``answer`` is the HTTP status line of ``GET /health`` (None when it could not be had)."""
    where = f"{target.host}:{target.port or 4573}"
    if answer is not None and answer.split()[1:2] == ["200"]:
        return ok("server", f"respectline serve answers GET /health at {where} (the dialplan's {target.address})")
    config = setup.config_file
    if answer is not None:
        return fail("server", f"{where} answered GET /health with '{answer}' (503: the server is draining)",
                    "wait for it to restart, or: systemctl restart respectline")
    return fail("server", f"nothing answers GET /health at {where}, where the dialplan sends AGI ({error})",
                f"start the server: systemctl start respectline (respectline serve --config {config}),\n"
                f"or, if it listens elsewhere, generate the dialplan for it: {setup.regenerate} --agi HOST:PORT")


def srv_target(target: AgiTarget) -> Finding:
    return warn("server", f"{target.address} finds its servers by DNS SRV (_agi._tcp.{target.host}); "
                          "doctor does not resolve SRV records",
                f"check each server: curl http://SERVER:PORT/health (dig SRV _agi._tcp.{target.host})")


# ------------------------------------------------------------------ the server's AMI account


def pauses_agents(bundle: Bundle) -> bool:
    return any(action.kind == "pause_agent" for category in bundle.abuse_policy.categories.values()
               for rung in category.ladder for action in rung)


def check_server_account_missing(bundle: Bundle, setup: Setup) -> Finding:
    if not pauses_agents(bundle):
        return ok("server AMI", "no AMI account configured; none is needed (the abuse policy pauses no agent)")
    return fail("server AMI", "ami.username is empty, so the server cannot end agents' recovery pauses "
                              "(the abuse policy has pause_agent)",
                f"add an account to manager.conf (see README: 'write = agent', 'read = none'), then set "
                f"ami: username/secret in {setup.config_file} and restart the server")


def check_server_queuepause(username: str, response: Mapping[str, str]) -> Finding:
    """The answer to ``QueuePause`` of a made-up interface: 'Interface not found' means permitted."""
    message = response.get("Message", "")
    if "permission denied" in message.lower():
        return fail("server AMI", f"the server's AMI account '{username}' may not send QueuePause "
                                  "(it ends agents' recovery pauses)",
                    f"in manager.conf, section [{username}]: write = agent\n"
                    "then: asterisk -rx \"manager reload\"")
    if "not found" in message.lower() or response.get("Response", "").lower() == "success":
        return ok("server AMI", f"the server's AMI account '{username}' may pause and unpause queue members")
    return warn("server AMI", f"QueuePause probe of '{username}' answered unexpectedly: "
                              f"{printable(message or str(dict(response)))}")


def check_server_extra_rights(username: str, command_response: Mapping[str, str]) -> Finding | None:
    """A server account that may also run CLI commands has more rights than it needs."""
    if command_response.get("Response", "").lower() == "success":
        return warn("server AMI", f"the server's AMI account '{username}' may also run CLI commands; "
                                  "it needs only 'write = agent' and 'read = none'",
                    f"in manager.conf, section [{username}]: read = none, write = agent\n"
                    "then: asterisk -rx \"manager reload\" (give doctor its own account: --ami-user)")
    return None
