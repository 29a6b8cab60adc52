"""respectline doctor's pure parts: parsing what Asterisk 22 answers (recorded from a real one) and
turning it into findings with fixes. The live checks run in tests/e2e/test_own_asterisk.py."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agi_scripts.asterisk_conf.generate import queues as generated_queues
from agi_scripts.config.bundle import Bundle, load_bundle
from agi_scripts.doctor import checks, parse, probes
from agi_scripts.doctor.findings import Finding, Status, failed, render, summary
from agi_scripts.doctor.run import EXIT_CANNOT_CHECK, DoctorOptions, run_doctor
from agi_scripts.sandbox.asterisk import free_port
from tests.support.config_tree import PROJECT, ConfigTree

MODULE_SHOW = """\
Module                         Description                              Use Count  Status      Support Level
app_queue.so                   True Call Queueing                       0          Running              core
res_agi.so                     Asterisk Gateway Interface (AGI)         1          Running              core
features                       Call Features                            1          Running              core
3 modules loaded
"""

DIALPLAN_SHOW = """\
[ Context 'phones' created by 'pbx_config' ]
'100' =>          1. Goto(respectline-queue,support,1)          [extensions.conf:6]
Include =>        'respectline-agents'                          [pbx_config]

[ Context 'respectline-agents' created by 'pbx_config' ]
'*88' =>          1. Answer()                                   [extensions_respectline.conf:46]
2. AGI(agi://127.0.0.1:4573/my_compliments)  [extensions_respectline.conf:47]
3. Hangup()                                   [extensions_respectline.conf:48]

[ Context 'respectline-agent' created by 'pbx_config' ]
's' =>            1. Set(DYNAMIC_FEATURES=rl_verbal_abuse#rl_threat#rl_discrimination#rl_listen_in) [extensions_respectline.conf:40]
2. Return()                                   [extensions_respectline.conf:41]

[ Context 'respectline-queue' created by 'pbx_config' ]
'_[A-Za-z0-9].' => 1. NoOp(Respectline: caller enters queue ${EXTEN}) [extensions_respectline.conf:13]
4. AGI(agi://127.0.0.1:4573/screen,${EXTEN})  [extensions_respectline.conf:16]
[queue]        9. Queue(${RL_ROUTE},cb(respectline-agent^s^1)) [extensions_respectline.conf:21]
13. AGI(agi://127.0.0.1:4573/post_call)       [extensions_respectline.conf:25]

-= 4 extensions (10 priorities) in 4 contexts. =-
"""

FEATURES_SHOW = """\
Builtin Feature           Default Current
---------------           ------- -------
Pickup                    *8      *8
Blind Transfer            #       #
Attended Transfer
Disconnect Call           *       *

Dynamic Feature           Default Current
---------------           ------- -------
rl_discrimination         no def  *3
rl_threat                 no def  *2
rl_verbal_abuse           no def  *1

Feature Groups:
---------------
(none)
"""

QUEUE_SHOW = """\
support has 0 calls (max unlimited) in 'rrmemory' strategy (0s holdtime, 0s talktime), W:0, C:0, A:0, SL:0.0%, SL2:0.0% within 0s
Members:
Agent One (PJSIP/agent1) (ringinuse disabled) (Not in use) has taken no calls yet (login was 0 secs ago)
Sam (PJSIP/care1 from PJSIP/care1) (ringinuse disabled) (paused) (Invalid) has taken 2 calls
No Callers
"""

CORE_SETTINGS = """\
* Directories
-------------
Configuration file:          /etc/asterisk/asterisk.conf
Configuration directory:     /etc/asterisk
Data directory:              /usr/share/asterisk
"""


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return load_bundle(PROJECT / "config/respectline.yaml")


@pytest.fixture
def setup(bundle: Bundle) -> checks.Setup:
    return checks.Setup(bundle, Path("/etc/respectline/respectline.yaml"), Path("/etc/asterisk/respectline"),
                        parse.template_settings(generated_queues(bundle)))


def statuses(findings: list[Finding]) -> list[Status]:
    return [finding.status for finding in findings]


# ------------------------------------------------------------------ parsers


def test_loaded_modules_are_the_so_rows_only() -> None:
    assert parse.loaded_modules(MODULE_SHOW) == {"app_queue", "res_agi"}


def test_core_setting_reads_the_data_and_configuration_directories() -> None:
    assert parse.core_setting(CORE_SETTINGS, "Data directory") == "/usr/share/asterisk"
    assert parse.core_setting(CORE_SETTINGS, "Configuration directory") == "/etc/asterisk"
    assert parse.core_setting(CORE_SETTINGS, "Spool directory") is None


def test_dialplan_contexts_with_extensions_includes_and_agi_addresses() -> None:
    contexts = parse.dialplan_contexts(DIALPLAN_SHOW)
    assert set(contexts) == {"phones", "respectline-agents", "respectline-agent", "respectline-queue"}
    assert contexts["phones"].includes == ["respectline-agents"]
    assert contexts["respectline-agents"].extensions == ["*88"]
    assert parse.dynamic_features_set(contexts["respectline-agent"]) == [
        "rl_verbal_abuse", "rl_threat", "rl_discrimination", "rl_listen_in"]
    targets = parse.agi_targets(DIALPLAN_SHOW)
    assert [(t.host, t.port, t.script) for t in targets] == [
        ("127.0.0.1", 4573, "my_compliments"), ("127.0.0.1", 4573, "screen"), ("127.0.0.1", 4573, "post_call")]
    assert [t.address for t in checks.agi_addresses(targets)] == ["agi://127.0.0.1:4573"]


def test_srv_addresses_keep_their_scheme_and_no_port() -> None:
    [target] = parse.agi_targets("AGI(hagi://agi.example.org/screen,${EXTEN})")
    assert (target.scheme, target.host, target.port) == ("hagi", "agi.example.org", None)
    assert checks.srv_target(target).status is Status.WARN


def test_dynamic_features_ignores_the_builtin_table() -> None:
    assert parse.dynamic_features(FEATURES_SHOW) == {"rl_discrimination": "*3", "rl_threat": "*2",
                                                     "rl_verbal_abuse": "*1"}
    assert parse.dynamic_features(FEATURES_SHOW.split("Dynamic Feature")[0]) == {}


def test_queue_members_and_a_missing_queue() -> None:
    members = parse.queue_members(QUEUE_SHOW)
    assert members == [parse.QueueMember("Agent One", "PJSIP/agent1"), parse.QueueMember("Sam", "PJSIP/care1")]
    assert parse.queue_members("No such queue: nosuch.\n") is None


def test_getconfig_categories_include_the_templates_lines() -> None:
    answer = {"Response": "Success", "Category-000000": "general", "Line-000000-000000": "persistentmembers=no",
              "Category-000001": "support", "Templates-000001": "respectline",
              "Line-000001-000000": "setinterfacevar=yes", "Line-000001-000001": "member=PJSIP/agent1,0,Agent One"}
    categories = parse.config_categories(answer)
    assert categories["support"] == {"setinterfacevar": "yes", "member": "PJSIP/agent1,0,Agent One"}
    assert categories["general"] == {"persistentmembers": "no"}


def test_moh_classes_with_their_playlist_entries() -> None:
    classes = parse.moh_classes("Class: default\nMode: files\nDirectory: moh\nClass: rl-x-en\nMode: playlist\n",
                                "Class: rl-x-en\nFile: /s/respectline/hold/gap-4s\nFile: /s/respectline/en/p\n")
    assert classes["default"].mode == "files"
    assert classes["rl-x-en"].mode == "playlist"
    assert classes["rl-x-en"].files == ["/s/respectline/hold/gap-4s", "/s/respectline/en/p"]


def test_template_settings_come_from_the_generated_queues_file(bundle: Bundle) -> None:
    template = parse.template_settings(generated_queues(bundle))
    assert template["setinterfacevar"] == "yes"
    assert template["announce-to-first-user"] == "yes"
    assert "strategy" not in template  # the teams' own settings are not the template's


# ------------------------------------------------------------------ findings


def test_every_missing_module_is_a_problem_with_the_load_command() -> None:
    findings = checks.check_modules({"app_queue", "res_agi"})
    assert all(f.status is Status.FAIL for f in findings)
    assert any("module load app_mixmonitor.so" in f.fix for f in findings)
    assert statuses(checks.check_modules(set(checks.REQUIRED_MODULES))) == [Status.OK]


def test_dialplan_as_recorded_passes(setup: checks.Setup) -> None:
    findings = checks.check_contexts(parse.dialplan_contexts(DIALPLAN_SHOW), setup)
    assert not failed(findings), [render(f) for f in findings]


def test_missing_generated_context_names_the_include_line(setup: checks.Setup) -> None:
    text = DIALPLAN_SHOW.replace("respectline-agent'", "elsewhere'")
    [finding] = checks.check_contexts(parse.dialplan_contexts(text), setup)
    assert finding.status is Status.FAIL and "respectline-agent " in finding.message
    assert '#include "/etc/asterisk/respectline/extensions_respectline.conf"' in finding.fix


def test_agents_line_not_included_anywhere_is_a_problem(setup: checks.Setup) -> None:
    text = DIALPLAN_SHOW.replace("Include =>        'respectline-agents'", "")
    problems = failed(checks.check_contexts(parse.dialplan_contexts(text), setup))
    assert [f.fix.splitlines()[0] for f in problems] == [
        "add 'include => respectline-agents' to the context your agents' phones use (their pjsip.conf context=),"]


def test_stale_codes_on_the_agent_leg_ask_to_regenerate(setup: checks.Setup) -> None:
    text = DIALPLAN_SHOW.replace("#rl_discrimination", "")
    [problem] = failed(checks.check_contexts(parse.dialplan_contexts(text), setup))
    assert problem.fix.startswith("respectline asterisk-conf --config /etc/respectline/respectline.yaml "
                                  "--out /etc/asterisk/respectline")


def test_features_missing_or_on_another_code(setup: checks.Setup) -> None:
    assert statuses(checks.check_features(parse.dynamic_features(FEATURES_SHOW), setup)) == [Status.OK]
    [missing] = checks.check_features({}, setup)
    assert missing.status is Status.FAIL
    assert "'#include \"/etc/asterisk/respectline/features_respectline.conf\"' as the LAST line" in missing.fix
    [moved] = checks.check_features({"rl_verbal_abuse": "*9", "rl_threat": "*2", "rl_discrimination": "*3"}, setup)
    assert "answers to *9" in moved.message and moved.status is Status.FAIL


def test_queue_checks(setup: checks.Setup) -> None:
    members = parse.queue_members(QUEUE_SHOW)
    template = dict(setup.template)
    assert statuses(checks.check_queue("support", members, template, setup)) == [Status.OK]
    [absent] = checks.check_queue("support", None, None, setup)
    assert "[support](respectline)\nmember => PJSIP/agent1,0,Agent One" in absent.fix
    [team] = checks.check_queue("special-care", None, None, setup)
    assert "near the top of queues.conf" in team.fix
    no_interface_vars = {**template, "setinterfacevar": "no"}
    [problem] = checks.check_queue("support", members, no_interface_vars, setup)
    assert problem.status is Status.FAIL and "setinterfacevar=yes" in problem.message
    empty = checks.check_queue("special-care", [], template, setup)
    assert statuses(empty) == [Status.WARN, Status.OK] and "[special-care](+)" in empty[0].fix


def test_sounds_folder_that_is_not_asterisks(tmp_path: Path, config_tree: ConfigTree) -> None:
    asterisk_sounds = tmp_path / "asterisk-sounds"
    asterisk_sounds.mkdir()
    config_tree.replace("config/respectline.yaml", "sounds: /usr/share/asterisk/sounds", f"sounds: {tmp_path / 'other'}")
    (tmp_path / "other").mkdir()
    bundle = load_bundle(config_tree.config)
    setup = checks.Setup(bundle, Path("cfg.yaml"), Path("/etc/asterisk/respectline"), {})
    [finding] = checks.check_sounds_dir(asterisk_sounds, setup)
    assert finding.status is Status.FAIL
    assert f"set 'sounds: {asterisk_sounds}' under paths: in cfg.yaml" in finding.fix
    assert "respectline prompts install --config cfg.yaml" in finding.fix
    same = checks.Setup(bundle, Path("cfg.yaml"), Path("/x"), {})
    assert statuses(checks.check_sounds_dir(tmp_path / "other", same)) == [Status.OK]


def test_prompts_are_looked_for_in_every_language(tmp_path: Path, setup: checks.Setup) -> None:
    catalog = setup.bundle.prompts
    for prompt in catalog.prompts.values():
        for language in prompt.languages():
            target = tmp_path / f"{catalog.sound_name(prompt.id, language)}.sln16"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"\0\0")
    assert statuses(checks.check_prompts(tmp_path, setup)) == [Status.OK]
    (tmp_path / "respectline" / "fr" / "abuse_warning.sln16").unlink()
    [finding] = checks.check_prompts(tmp_path, setup)
    assert finding.status is Status.FAIL and "respectline/fr/abuse_warning" in finding.message
    assert finding.fix.splitlines() == ["respectline prompts build --config /etc/respectline/respectline.yaml",
                                        "respectline prompts install --config /etc/respectline/respectline.yaml"]


def test_hold_classes_absent_or_with_missing_files(tmp_path: Path, setup: checks.Setup) -> None:
    [absent] = checks.check_moh({}, setup)
    assert "musiconhold_respectline.conf" in absent.fix and "moh reload" in absent.fix
    (tmp_path / "gap-20s.wav").write_bytes(b"RIFF")
    names = [c.id for c in setup.bundle.campaigns.campaigns]
    classes = {f"rl-{cid}-{lang}": parse.MohClass(f"rl-{cid}-{lang}", "playlist",
                                                  [str(tmp_path / "gap-20s"), str(tmp_path / "missing")])
               for cid in names for lang in setup.bundle.languages()}
    [missing] = checks.check_moh(classes, setup)
    assert missing.status is Status.FAIL and str(tmp_path / "missing") in missing.message
    assert "gap-20s" not in missing.message
    assert "respectline prompts hold-music --config" in missing.fix


def test_agi_health_answers(setup: checks.Setup) -> None:
    [target] = parse.agi_targets("AGI(agi://10.0.0.5/screen)")
    assert checks.check_agi_health(target, "HTTP/1.0 200 OK", None, setup).status is Status.OK
    draining = checks.check_agi_health(target, "HTTP/1.0 503 Service Unavailable", None, setup)
    assert draining.status is Status.FAIL and "draining" in draining.message
    down = checks.check_agi_health(target, None, "Connection refused", setup)
    assert "10.0.0.5:4573" in down.message and "systemctl start respectline" in down.fix


def test_server_account_probes(setup: checks.Setup) -> None:
    allowed = checks.check_server_queuepause("rlserver", {"Response": "Error", "Message": "Interface not found"})
    assert allowed.status is Status.OK
    denied = checks.check_server_queuepause("rlserver", {"Response": "Error", "Message": "Permission denied"})
    assert denied.status is Status.FAIL and "[rlserver]: write = agent" in denied.fix
    assert checks.check_server_extra_rights("rlserver", {"Response": "Error", "Message": "Permission denied"}) is None
    extra = checks.check_server_extra_rights("rlserver", {"Response": "Success"})
    assert extra is not None and extra.status is Status.WARN


def test_render_and_summary() -> None:
    problem = Finding("queues", Status.FAIL, "queue x is missing", "line one\nline two")
    assert render(problem) == ("FAIL queues: queue x is missing\n       fix: line one\n            line two")
    assert summary([problem]).startswith("1 problem found in 1 checks")
    assert summary([Finding("a", Status.OK, "fine")]).startswith("all 1 checks passed")


# ------------------------------------------------------------------ probes and exit codes


@pytest.fixture
def one_answer_server() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP server answering each connection with the next canned bytes, recording the request."""
    answers: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                connection.recv(1024)
                if answers:
                    connection.sendall(answers.pop(0))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port, answers
    listener.close()
    thread.join(2)


def test_health_probe_reads_the_status_line(one_answer_server: tuple[int, list[bytes]]) -> None:
    port, answers = one_answer_server
    answers.append(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    assert probes.health_status_line("127.0.0.1", port, 2.0) == ("HTTP/1.0 200 OK", None)
    answers.append(b"200 result=1\n")
    line, error = probes.health_status_line("127.0.0.1", port, 2.0)
    assert line is None and error is not None and "not an HTTP answer" in error


def test_health_probe_of_a_server_that_closes_without_answering(one_answer_server: tuple[int, list[bytes]]) -> None:
    port, _ = one_answer_server  # accepts, reads, closes
    line, error = probes.health_status_line("127.0.0.1", port, 0.5)
    assert line is None and error


def test_unreachable_ami_is_exit_2_with_what_to_check(bundle: Bundle) -> None:
    out = io.StringIO()
    options = DoctorOptions(Path("c.yaml"), "127.0.0.1", free_port(), "doctor", "x", timeout=1.0)
    assert run_doctor(bundle, options, out) == EXIT_CANNOT_CHECK
    assert "cannot connect to AMI" in out.getvalue() and "enabled = yes" in out.getvalue()


def test_health_probe_is_bounded_when_the_server_never_answers() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # the kernel accepts; nobody ever reads
        started = time.monotonic()
        line, error = probes.health_status_line("127.0.0.1", silent.getsockname()[1], 0.5)
        assert time.monotonic() - started < 2.0
    assert line is None and error


def test_an_inspection_account_without_a_secret_is_refused_before_connecting(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from agi_scripts.cli.main import main

    monkeypatch.delenv("RESPECTLINE_DOCTOR_SECRET", raising=False)
    code = main(["doctor", "--config", str(PROJECT / "config/respectline.yaml"), "--ami-user", "rldoctor"])
    assert code == EXIT_CANNOT_CHECK
    assert "RESPECTLINE_DOCTOR_SECRET" in capsys.readouterr().err


def test_a_secret_without_an_account_to_use_it_is_refused_and_never_shown(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from agi_scripts.cli.main import main

    monkeypatch.setenv("RESPECTLINE_DOCTOR_SECRET", "s3cret-value")
    code = main(["doctor", "--config", str(PROJECT / "config/respectline.yaml")])
    assert code == EXIT_CANNOT_CHECK
    err = capsys.readouterr().err
    assert "no --ami-user" in err and "s3cret-value" not in err
    options = DoctorOptions(Path("c.yaml"), "127.0.0.1", 5038, "rldoctor", "s3cret-value")
    assert "s3cret-value" not in repr(options)


def test_a_health_answer_trickled_byte_by_byte_ends_at_the_timeout() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        def trickle() -> None:
            connection, _ = listener.accept()
            with connection:
                try:
                    for _ in range(2000):
                        connection.sendall(b"x")
                        time.sleep(0.004)
                except OSError:
                    pass

        threading.Thread(target=trickle, daemon=True).start()
        started = time.monotonic()
        line, error = probes.health_status_line("127.0.0.1", listener.getsockname()[1], 0.5)
        assert time.monotonic() - started < 1.5
    assert line is None and error


def test_a_missing_systemname_is_reported_because_call_ids_of_two_hosts_could_collide() -> None:
    [missing] = checks.check_system_name(parse.core_setting(CORE_SETTINGS, "System name"))
    assert missing.status is Status.WARN and "systemname = " in missing.fix
    named = CORE_SETTINGS + "  System name:                 pbx-gent-1\n"
    [present] = checks.check_system_name(parse.core_setting(named, "System name"))
    assert present.status is Status.OK and "pbx-gent-1" in present.message


def test_with_several_hosts_configured_a_missing_or_unlisted_systemname_fails() -> None:
    hosts = ("pbx-gent", "pbx-brugge")
    [missing] = checks.check_system_name(parse.core_setting(CORE_SETTINGS, "System name"), hosts)
    assert missing.status is Status.FAIL and "asterisk_hosts" in missing.message
    unlisted = CORE_SETTINGS + "  System name:                 pbx-antwerpen\n"
    [other] = checks.check_system_name(parse.core_setting(unlisted, "System name"), hosts)
    assert other.status is Status.FAIL and "'pbx-antwerpen'" in other.message
    listed = CORE_SETTINGS + "  System name:                 pbx-brugge\n"
    [good] = checks.check_system_name(parse.core_setting(listed, "System name"), hosts)
    assert good.status is Status.OK
