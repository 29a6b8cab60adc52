"""``abuse_policy.recording.start: connect | first_flag``: validation, the generated dialplan, the call's
spool (linked into evidence at a flag, removed at hang-up, swept after a crash), retention and erasure
of the direction files."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from agi_scripts.asterisk_conf.generate import generate
from agi_scripts.config.bundle import load_bundle
from agi_scripts.config.settings import AmiSettings, RetentionSettings
from agi_scripts.doctor import checks, parse
from agi_scripts.doctor.findings import Finding, Status
from agi_scripts.doctor.recordings_share import check_spool_links, check_sweep_account
from agi_scripts.ground import call_spool
from agi_scripts.handlers.recordings import adopt_spool, call_spool_problem, evidence_file
from agi_scripts.privacy.retention import RecordingFile, plan_purge
from agi_scripts.privacy.spool_sweeper import SpoolSweeper, live_calls_over_ami
from agi_scripts.reports.incident_report import Labels, build_incident_report, markdown
from agi_scripts.cli.main import main as respectline
from agi_scripts.storage import CaseToOpen, Escalation, Store
from agi_scripts.storage.base import Case, utc_now
from tests.support.config_errors import errors_of, only
from tests.support.config_tree import PROJECT, ConfigTree
from tests.support.smtp_servers import free_port

OLD_KEY = "    start: first_flag             # evidence: record both sides from the first flag on (the default)\n"
CALL = "1765000000.42"


def _set_recording(tree: ConfigTree, line: str) -> None:
    tree.replace("flows/abuse_policy.yaml", OLD_KEY, line)


def test_the_shipped_policy_records_from_the_first_flag(config_tree: ConfigTree) -> None:
    policy = load_bundle(config_tree.config).abuse_policy
    assert policy.recording_start == "first_flag" and policy.recording_notice == "recording_notice"
    shipped = config_tree.path("flows/abuse_policy.yaml").read_text()
    assert "# start: connect" in shipped and "Belgian law" in shipped


def test_connect_and_its_grace_are_read(config_tree: ConfigTree) -> None:
    _set_recording(config_tree, "    start: connect\n    spool_grace: 5s\n")
    policy = load_bundle(config_tree.config).abuse_policy
    assert (policy.recording_start, policy.spool_grace) == ("connect", 5.0)


def test_a_misspelt_start_names_file_line_and_column(config_tree: ConfigTree) -> None:
    _set_recording(config_tree, "    start: conect\n")
    error = only(errors_of(config_tree), "not a valid recording start")
    assert error.file.name == "abuse_policy.yaml"
    assert (error.line, error.column) == (config_tree.line_of("flows/abuse_policy.yaml", "start: conect"), 12)
    assert "connect" in error.hint


def test_connect_without_a_notice_is_refused(config_tree: ConfigTree) -> None:
    _set_recording(config_tree, "    start: connect\n")
    config_tree.replace("flows/abuse_policy.yaml",
                        "    announce_prompt: recording_notice   # first_flag: told at the flag; connect: told at queue entry\n",
                        "")
    error = only(errors_of(config_tree), "must be told first")
    assert error.line == config_tree.line_of("flows/abuse_policy.yaml", "start: connect")
    assert "announce_prompt" in error.hint


def test_a_grace_out_of_bounds_is_refused(config_tree: ConfigTree) -> None:
    _set_recording(config_tree, "    start: connect\n    spool_grace: 0s\n")
    error = only(errors_of(config_tree), "spool_grace")
    assert error.line == config_tree.line_of("flows/abuse_policy.yaml", "spool_grace: 0s")


@pytest.mark.parametrize(("old", "start"), [("true", "first_flag"), ("false", "off")])
def test_the_old_key_still_works_with_a_warning_naming_the_new_one(config_tree: ConfigTree, old: str,
                                                                   start: str) -> None:
    _set_recording(config_tree, f"    start_on_first_flag: {old}\n")
    bundle = load_bundle(config_tree.config)
    [warning] = bundle.warnings
    assert warning.line == config_tree.line_of("flows/abuse_policy.yaml", "start_on_first_flag")
    assert "recording.start" in warning.message and "start: first_flag" in warning.hint
    assert bundle.abuse_policy.recording_start == start


def test_the_old_and_the_new_key_together_are_refused(config_tree: ConfigTree) -> None:
    _set_recording(config_tree, "    start: connect\n    start_on_first_flag: true\n")
    error = only(errors_of(config_tree), "both set")
    assert error.line == config_tree.line_of("flows/abuse_policy.yaml", "start_on_first_flag")


def test_the_dialplan_tells_the_caller_then_records_each_direction_while_bridged(config_tree: ConfigTree) -> None:
    dialplan = generate(load_bundle(config_tree.config), "127.0.0.1:4573")["extensions_respectline.conf"]
    queue_context = dialplan.split("[respectline-queue]")[1].split("\n\n")[0]
    lines = queue_context.splitlines()
    index = {name: next(n for n, line in enumerate(lines) if name in line)
             for name in ("/screen", "Playback(${RL_NOTICE})", 'GotoIf($["${RL_RECORDING}" = ""]?queue)',
                          "hangup_handler_push", "Playback(${RL_RECORDING_NOTICE})", "MixMonitor(", "(queue),Queue(")}
    # The handler first (a caller hanging up during the notice leaves no spool folder), the notice
    # before the recording, the recording before the queue.
    assert list(index.values()) == sorted(index.values())
    # A notice Asterisk could not play (a missing sound file) starts no recording.
    assert lines[index["Playback(${RL_RECORDING_NOTICE})"] + 1].endswith(
        'GotoIf($["${PLAYBACKSTATUS}" != "SUCCESS"]?queue)')
    mixmonitor = lines[index["MixMonitor("]]
    assert mixmonitor.endswith("MixMonitor(${RL_RECORDING}.wav,br(${RL_RECORDING}-caller.wav)"
                               "t(${RL_RECORDING}-agent.wav))")
    # Only one place starts a recording before the flag, and it is skipped when screen set no spool.
    assert len(re.findall(r",MixMonitor\(", dialplan)) == 1
    handler = dialplan.split("[respectline-call-ended]")[1].split("\n\n")[0]
    assert re.findall(r"(?:exten => s,1|same => n),(\w+)", handler) == ["StopMixMonitor", "AGI", "Return"]
    assert "agi://127.0.0.1:4573/call_ended" in handler
    assert "Set(CHANNEL(hangup_handler_push)=respectline-call-ended,s,1)" in queue_context


def test_a_recordings_folder_the_dialplan_cannot_carry_records_nothing(tmp_path: Path) -> None:
    assert call_spool_problem(tmp_path / "a,b(c)", CALL) is not None
    assert call_spool_problem(tmp_path, "1.2/../x") is not None
    assert call_spool_problem(tmp_path, CALL) is None
    # Only the spools' folder: the call's own is MixMonitor's to make, so a caller who hangs up before
    # the recording starts leaves nothing behind.
    assert (tmp_path / "calls").is_dir() and not (tmp_path / "calls" / CALL).exists()


def test_something_in_the_way_of_a_calls_spool_records_nothing(tmp_path: Path) -> None:
    (tmp_path / "calls").mkdir()
    (tmp_path / "calls" / CALL).symlink_to(tmp_path)
    assert "not a folder" in (call_spool_problem(tmp_path, CALL) or "")
    (tmp_path / "calls" / CALL).unlink()
    (tmp_path / "calls" / CALL).mkdir()
    os.mkfifo(tmp_path / "calls" / CALL / f"{CALL}-caller.wav")
    assert "not a regular file" in (call_spool_problem(tmp_path, CALL) or "")


def _spool(root: Path, call_id: str = CALL, names: tuple[str, ...] | None = None) -> Path:
    folder = call_spool.spool_folder(root, call_id)
    folder.mkdir(parents=True, exist_ok=True)
    for name in names if names is not None else call_spool.file_names(call_id):
        (folder / name).write_bytes(b"RIFF" + name.encode())
    return folder


def test_a_flag_links_the_spool_into_evidence_with_the_shared_names(tmp_path: Path) -> None:
    _spool(tmp_path)
    evidence = evidence_file(tmp_path, CALL, utc_now())
    assert adopt_spool(tmp_path, CALL, evidence) is None
    caller, agent = evidence.with_name(f"{CALL}-caller.wav"), evidence.with_name(f"{CALL}-agent.wav")
    assert caller.read_bytes() == b"RIFF" + f"{CALL}-caller.wav".encode()
    assert agent.read_bytes() == b"RIFF" + f"{CALL}-agent.wav".encode()
    # Linked, not copied: what MixMonitor writes after the flag lands in the evidence too.
    with open(call_spool.spool_folder(tmp_path, CALL) / f"{CALL}.wav", "ab") as still_writing:
        still_writing.write(b"later")
    assert evidence.read_bytes().endswith(b"later")
    # The hang-up removes the spool; the evidence stays.
    assert call_spool.remove_spool(tmp_path, CALL) == 3
    assert not call_spool.spool_folder(tmp_path, CALL).exists()
    assert evidence.is_file() and caller.is_file() and agent.is_file()
    # A second flag finds the evidence there already: no error, nothing doubled.
    assert adopt_spool(tmp_path, CALL, evidence) is not None  # the spool is gone: nothing to adopt


def test_a_flag_before_anything_was_recorded_has_nothing_to_adopt(tmp_path: Path) -> None:
    _spool(tmp_path, names=())
    problem = adopt_spool(tmp_path, CALL, evidence_file(tmp_path, CALL, utc_now()))
    assert problem is not None and "no recording yet" in problem


def test_an_unwritable_evidence_share_leaves_the_spool_for_the_hang_up(tmp_path: Path) -> None:
    _spool(tmp_path)
    (tmp_path / "evidence").write_text("a file where the evidence folder should be")
    problem = adopt_spool(tmp_path, CALL, evidence_file(tmp_path, CALL, utc_now()))
    assert problem is not None and "cannot be created" in problem
    assert (call_spool.spool_folder(tmp_path, CALL) / f"{CALL}.wav").is_file()


def test_removing_a_spool_never_follows_a_link(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.wav").write_bytes(b"x")
    (tmp_path / "calls").mkdir()
    (tmp_path / "calls" / CALL).symlink_to(outside)
    assert call_spool.remove_spool(tmp_path, CALL) == 0
    folder = _spool(tmp_path, "1765000000.43")
    (folder / "link.wav").symlink_to(outside / "keep.wav")
    call_spool.remove_spool(tmp_path, "1765000000.43")
    assert (outside / "keep.wav").is_file()
    assert call_spool.remove_spool(tmp_path, "../outside") == 0 and outside.is_dir()


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    for item in [*path.iterdir(), path]:
        os.utime(item, (then, then), follow_symlinks=False)


def _headers_only(root: Path, call_id: str) -> Path:
    """What MixMonitor leaves while the caller waits in the queue: its three files, a WAV header each."""
    folder = call_spool.spool_folder(root, call_id)
    folder.mkdir(parents=True, exist_ok=True)
    for name in call_spool.file_names(call_id):
        (folder / name).write_bytes(b"RIFF" + bytes(call_spool.WAV_HEADER_BYTES - 4))
    return folder


def _with_audio(root: Path, call_id: str) -> Path:
    """A spool of a call that was bridged: audio past the WAV headers."""
    folder = _headers_only(root, call_id)
    for file in folder.iterdir():
        file.write_bytes(file.read_bytes() + bytes(1600))
    return folder


def test_the_sweep_removes_only_spools_nothing_has_written_to_for_the_grace(tmp_path: Path) -> None:
    over = _with_audio(tmp_path, "1765000000.1")
    _age(over, 120)
    live = _with_audio(tmp_path, "1765000000.2")
    _age(live, 120)
    (live / "1765000000.2.wav").write_bytes(b"RIFF still written")  # written to just now
    waiting = _headers_only(tmp_path, "1765000000.3")
    _age(waiting, 3600)  # a caller an hour in the queue: MixMonitor's files hold only their headers
    crashed_empty = _headers_only(tmp_path, "1765000000.4")
    _age(crashed_empty, call_spool.EMPTY_SPOOL_AGE + 60)
    no_files = _spool(tmp_path, "1765000000.5", names=())
    _age(no_files, 3600)
    assert call_spool.sweep_spools(tmp_path, grace=60) == ["1765000000.1", "1765000000.4"]
    assert not over.exists() and live.is_dir() and waiting.is_dir() and no_files.is_dir()
    assert len(list(waiting.iterdir())) == 3


def test_the_sweep_never_touches_a_call_asterisk_says_is_alive_and_frees_a_dead_ones_at_once(
        tmp_path: Path) -> None:
    waiting = _headers_only(tmp_path, "1765000000.6")
    _age(waiting, 3 * 86400)  # older than any rule by the files alone: Asterisk's word wins
    quiet = _with_audio(tmp_path, "1765000000.7")
    _age(quiet, 600)  # bridged, but nothing written for a while (a long flag prompt, a stuck share)
    dead_waiting = _headers_only(tmp_path, "1765000000.8")
    _age(dead_waiting, 120)  # a caller who was waiting when the server was down, gone now
    fresh_dead = _headers_only(tmp_path, "1765000000.9")  # gone, but within the grace
    alive = frozenset({"1765000000.6", "1765000000.7"})
    assert call_spool.sweep_spools(tmp_path, grace=60, live_calls=alive) == ["1765000000.8"]
    assert waiting.is_dir() and quiet.is_dir() and fresh_dead.is_dir()


def test_the_sweeper_asks_for_the_live_calls_each_round_and_falls_back_to_the_files(tmp_path: Path) -> None:
    waiting = _headers_only(tmp_path, "1765000000.10")
    _age(waiting, 3600)
    answers: list[frozenset[str] | None] = [frozenset({"1765000000.10"}), None, frozenset()]
    sweeper = SpoolSweeper(tmp_path, 60, live_calls=lambda: answers.pop(0))
    assert sweeper.sweep() == [] and sweeper.sweep() == []  # alive; then no answer: a waiting caller stays
    assert sweeper.sweep() == ["1765000000.10"] and not waiting.exists()  # Asterisk no longer has it


def test_an_ami_that_does_not_answer_says_nothing_about_live_calls_and_is_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    ask = live_calls_over_ami(AmiSettings(host="127.0.0.1", port=free_port(), username="rl", secret="x"))
    assert ask() is None and ask() is None
    assert len([r for r in caplog.records if "did not say which calls are alive" in r.getMessage()]) == 1


def test_an_adoption_under_way_keeps_the_spool_from_the_hang_up_and_the_sweep(tmp_path: Path) -> None:
    adoptions = call_spool.AdoptionsUnderWay()
    assert not adoptions.after("1765000000.11", lambda: None)  # none under way: nothing deferred
    adoptions.begin("1765000000.11")
    done: list[str] = []
    assert adoptions.after("1765000000.11", lambda: done.append("removed"))
    assert adoptions.calls() == frozenset({"1765000000.11"}) and done == []
    adoptions.end("1765000000.11")
    assert done == ["removed"] and adoptions.calls() == frozenset()
    dead = _with_audio(tmp_path, "1765000000.11")
    _age(dead, 600)
    assert call_spool.sweep_spools(tmp_path, grace=60, live_calls=frozenset(), keep=frozenset({"1765000000.11"})) == []
    assert call_spool.sweep_spools(tmp_path, grace=60, live_calls=frozenset()) == ["1765000000.11"]


def test_the_sweep_has_nothing_to_do_without_a_spool_folder(tmp_path: Path) -> None:
    assert call_spool.sweep_spools(tmp_path, grace=1) == []


def test_retention_treats_the_direction_files_as_their_evidence(tmp_path: Path) -> None:
    now = utc_now()
    month = tmp_path / "evidence" / "2026" / "01"
    files = [RecordingFile(month / name, now - timedelta(days=400)) for name in call_spool.file_names(CALL)]
    retention = RetentionSettings(unflagged_recordings=30 * 86400, evidence_after_close=365 * 86400)
    open_case = Case(id=7, category="threat", team="security", priority=1, status="open", caller="", agent="a",
                     queue="support", call_id=CALL, recording=str(month / f"{CALL}.wav"),
                     opened_at=now - timedelta(days=400), closed_at=None, assignee=None, resolution=None, events=())
    kept = plan_purge(files, cases=[open_case], compliments=[], recordings_dir=tmp_path, retention=retention, now=now)
    assert [(d.kind, d.delete) for d in kept] == [("case_evidence", False)] * 3
    closed = dataclasses.replace(open_case, status="closed", closed_at=now - timedelta(days=366))
    due = plan_purge(files, cases=[closed], compliments=[], recordings_dir=tmp_path, retention=retention, now=now)
    assert [(d.kind, d.delete) for d in due] == [("case_evidence", True)] * 3
    assert call_spool.mixed_file_of(month / f"{CALL}-agent.wav") == month / f"{CALL}.wav"
    assert call_spool.direction_files(month / f"{CALL}.wav") == (month / f"{CALL}-caller.wav",
                                                                 month / f"{CALL}-agent.wav")


DIALPLAN_SHOW = """\
[ Context 'phones' created by 'pbx_config' ]
'100' =>          1. Goto(respectline-queue,support,1)          [extensions.conf:6]
Include =>        'respectline-agents'                          [pbx_config]

[ Context 'respectline-agents' created by 'pbx_config' ]
'*88' =>          1. Answer()                                   [extensions_respectline.conf:46]

[ Context 'respectline-agent' created by 'pbx_config' ]
's' =>            1. Set(DYNAMIC_FEATURES=rl_verbal_abuse#rl_threat#rl_discrimination) [extensions_respectline.conf:40]
2. Return()                                   [extensions_respectline.conf:41]

[ Context 'respectline-queue' created by 'pbx_config' ]
'_[A-Za-z0-9].' => 1. NoOp(Respectline: caller enters queue ${EXTEN}) [extensions_respectline.conf:13]
{call_ended}
-= 4 extensions (6 priorities) in 4 contexts. =-
"""
CALL_ENDED_SHOW = """
[ Context 'respectline-call-ended' created by 'pbx_config' ]
's' =>            1. StopMixMonitor()                           [extensions_respectline.conf:50]
2. AGI(agi://127.0.0.1:4573/call_ended)       [extensions_respectline.conf:51]
3. Return()                                   [extensions_respectline.conf:52]
"""


def test_doctor_fails_a_connect_policy_whose_asterisk_lacks_the_hangup_handler(config_tree: ConfigTree) -> None:
    _set_recording(config_tree, "    start: connect\n")
    bundle = load_bundle(config_tree.config)
    setup = checks.Setup(bundle, config_tree.config, Path("/etc/asterisk/respectline"), {})
    def hangup_handler_failures(show: str, setup: checks.Setup) -> list[Finding]:
        # Only this check's: the sample's other contexts are not what this test is about.
        return [f for f in checks.check_contexts(parse.dialplan_contexts(show), setup)
                if f.status is Status.FAIL and "respectline-call-ended" in f.message]

    [problem] = hangup_handler_failures(DIALPLAN_SHOW.replace("{call_ended}", ""), setup)
    assert "asterisk-conf" in problem.fix
    assert not hangup_handler_failures(DIALPLAN_SHOW.replace("{call_ended}", CALL_ENDED_SHOW), setup)
    shipped = checks.Setup(load_bundle(PROJECT / "config/respectline.yaml"), config_tree.config,
                           Path("/etc/asterisk/respectline"), {})
    assert not hangup_handler_failures(DIALPLAN_SHOW.replace("{call_ended}", ""), shipped)  # first_flag needs none


@pytest.fixture
def open_recordings() -> Iterator[Path]:
    """A recordings folder another user may reach (pytest's own temporary folders are root's only)."""
    folder = Path(tempfile.mkdtemp(prefix="rl-recordings-"))
    folder.chmod(0o777)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _doctor_as(uid: int, recordings: Path) -> list[tuple[str, str]]:
    """``check_spool_links`` run by another user (the server's), as doctor would run on the host."""
    code = ("import json, sys; from pathlib import Path; "
            "from agi_scripts.doctor.recordings_share import check_spool_links; "
            "print(json.dumps([(f.status.value, f.message) for f in check_spool_links(Path(sys.argv[1]))]))")
    done = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", sys.executable, "-c",
                           code, str(recordings)], capture_output=True, text=True, cwd=PROJECT, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return [tuple(pair) for pair in json.loads(done.stdout)]


needs_root = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                                reason="needs root and setpriv to act as two users (Asterisk's and the server's)")


@needs_root
def test_doctor_fails_when_the_kernel_refuses_the_server_a_link_to_asterisks_file(open_recordings: Path) -> None:
    if Path("/proc/sys/fs/protected_hardlinks").read_text().strip() != "1":
        pytest.skip("fs.protected_hardlinks is off on this machine: the kernel would refuse nothing")
    calls = open_recordings / "calls"
    (open_recordings / "evidence").mkdir(mode=0o777)
    calls.mkdir()
    calls.chmod(0o2777)
    (open_recordings / "evidence").chmod(0o777)
    spool = calls / CALL
    spool.mkdir()
    spool.chmod(0o777)
    asterisks = spool / f"{CALL}.wav"
    asterisks.write_bytes(b"RIFF")
    os.chown(asterisks, 65533, 65533)  # Asterisk's file, 0644 as its usual umask makes it
    asterisks.chmod(0o644)
    found = _doctor_as(65534, open_recordings)
    [refused] = [m for status, m in found if status == "FAIL"]
    assert "cannot be linked by this user" in refused and "protected_hardlinks" in refused
    assert ("ok", f"{open_recordings / 'calls'} and {open_recordings / 'evidence'}: one file system, hard links made") \
        in found
    asterisks.chmod(0o666)  # Asterisk with umask 0002 (and a shared group): the server may read and write it
    assert [s for s, _m in _doctor_as(65534, open_recordings) if s == "FAIL"] == []


@needs_root
def test_doctor_fails_when_calls_and_evidence_are_on_two_file_systems(open_recordings: Path) -> None:
    evidence = open_recordings / "evidence"
    evidence.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "rl-evidence", str(evidence)],
                             capture_output=True, text=True, check=False)
    assert mounted.returncode == 0, mounted.stderr
    try:
        [finding] = check_spool_links(open_recordings)
    finally:
        subprocess.run(["umount", "-l", str(evidence)], capture_output=True, check=False)
    assert finding.status is Status.FAIL and "different file systems" in finding.message


def test_doctor_warns_when_asterisk_cannot_make_a_calls_folder(tmp_path: Path) -> None:
    (tmp_path / "calls").mkdir(mode=0o755)
    (tmp_path / "calls").chmod(0o755)
    warned = [f for f in check_spool_links(tmp_path) if f.status is Status.WARN and "setgid" in f.message]
    assert warned and "umask 0002" in warned[0].fix
    (tmp_path / "calls").chmod(0o2775)
    assert not [f for f in check_spool_links(tmp_path) if "setgid" in f.message]
    assert not list((tmp_path / "calls").iterdir()) and not list((tmp_path / "evidence").iterdir())  # probes gone


class RefusingAmi:
    """An AMI that logs the account in and refuses it ``CoreShowChannels``, as Asterisk does an
    account without ``write = reporting`` (one connection, then closed)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _address = self.listener.accept()
        with connection, connection.makefile("rb") as lines:
            connection.sendall(b"Asterisk Call Manager/9.0.0\r\n")
            action: dict[str, str] = {}
            for raw in lines:
                line = raw.decode().strip()
                if line:
                    key, _sep, value = line.partition(":")
                    action[key.strip().lower()] = value.strip()
                    continue
                answer = {"login": "Response: Success\r\nMessage: Authentication accepted",
                          "coreshowchannels": "Response: Error\r\nMessage: Permission denied",
                          "logoff": "Response: Goodbye"}[action.get("action", "").lower()]
                connection.sendall(f"{answer}\r\nActionID: {action.get('actionid', '')}\r\n\r\n".encode())
                if action.get("action", "").lower() == "logoff":
                    return
                action = {}


def test_doctor_warns_when_the_servers_account_may_not_list_the_live_calls() -> None:
    ami = RefusingAmi()
    finding = check_sweep_account(AmiSettings(host="127.0.0.1", port=ami.port, username="rl", secret="x"), 5)
    ami.thread.join(5)
    assert finding.status is Status.WARN and "may not list the live calls" in finding.message
    assert "Permission denied" in finding.message and "write = agent,reporting" in finding.fix


def _closed_case_long_ago(store: Store, call_id: str, caller: str, mixed: Path, *, closed: bool) -> int:
    long_ago = utc_now() - timedelta(days=900)
    store.record_call_start(call_id, caller=caller, queue="support", language="nl", route="support", agent="anna",
                            started_at=long_ago)
    booked = store.book_escalation(Escalation(
        call_id=call_id, category="threat", number_in_call=1, number_in_category=1, agent="anna", caller=caller,
        queue="support", at=long_ago, outcome="disconnect", team="security",
        case=CaseToOpen(team="security", priority=1, recording=str(mixed))))
    assert booked.case_id is not None
    if closed:
        store.close_case(booked.case_id, "called back", at=long_ago + timedelta(days=1))
    return booked.case_id


def _evidence_with_directions(recordings: Path, call_id: str) -> list[Path]:
    month = recordings / "evidence" / "2024" / "03"
    month.mkdir(parents=True, exist_ok=True)
    files = [month / name for name in call_spool.file_names(call_id)]
    for file in files:
        file.write_bytes(b"RIFF....WAVE")
    return files


def test_erasure_deletes_the_direction_files_with_the_evidence_and_keeps_them_with_a_kept_case(
        store: Store, store_url: str, config_tree: ConfigTree, capsys: pytest.CaptureFixture[str]) -> None:
    recordings = config_tree.root / "var" / "recordings"
    gone = _evidence_with_directions(recordings, "5.1")
    _closed_case_long_ago(store, "5.1", "+32470123456", gone[0], closed=True)
    kept = _evidence_with_directions(recordings, "5.2")
    _closed_case_long_ago(store, "5.2", "+32470777777", kept[0], closed=False)

    argv = ["--config", str(config_tree.config), "--db", store_url, "--format", "json"]
    assert respectline(["privacy", "erase", "--caller", "+32470123456", "--yes", *argv]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert sorted(answer["recordings_deleted"]) == sorted(str(f) for f in gone)
    assert not any(f.exists() for f in gone)

    assert respectline(["privacy", "erase", "--caller", "+32470777777", "--yes", *argv]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["recordings_deleted"] == [] and all(f.exists() for f in kept)
    assert sorted(k["path"] for k in answer["recordings_kept_as_evidence"]) == sorted(str(f) for f in kept)


def test_the_incident_report_hashes_each_side_beside_the_mixed_evidence(
        store: Store, config_tree: ConfigTree) -> None:
    recordings = config_tree.root / "var" / "recordings"
    mixed, caller_side, agent_side = _evidence_with_directions(recordings, "6.1")
    caller_side.write_bytes(b"RIFF caller's words")
    case_id = _closed_case_long_ago(store, "6.1", "+32470123456", mixed, closed=False)
    case = store.get_case(case_id)
    assert case is not None
    report = markdown(build_incident_report(store, case, load_bundle(config_tree.config).settings, Labels(), utc_now()))
    assert str(caller_side) in report and str(agent_side) in report
    assert hashlib.sha256(b"RIFF caller's words").hexdigest() in report
    assert hashlib.sha256(b"RIFF....WAVE").hexdigest() in report  # the mixed file's and the agent's
    agent_side.unlink()  # a first_flag recording has no sides: nothing claimed
    report = markdown(build_incident_report(store, case, load_bundle(config_tree.config).settings, Labels(), utc_now()))
    assert str(agent_side) not in report and str(caller_side) in report


def test_an_incident_report_made_during_the_call_says_the_evidence_still_grows(
        store: Store, config_tree: ConfigTree) -> None:
    recordings = config_tree.root / "var" / "recordings"
    mixed, _caller_side, _agent_side = _evidence_with_directions(recordings, "6.2")
    case_id = _closed_case_long_ago(store, "6.2", "+32470123456", mixed, closed=False)
    case = store.get_case(case_id)
    assert case is not None
    settings = load_bundle(config_tree.config).settings
    with open(mixed, "ab") as recording:  # MixMonitor still writing: the call goes on
        recording.write(b"more of the call")
    report = markdown(build_incident_report(store, case, settings, Labels(), utc_now()))
    assert "still being written when this report was made" in report
    assert hashlib.sha256(b"RIFF....WAVEmore of the call").hexdigest() in report
    _age_file(mixed, 60)
    assert "still being written" not in markdown(build_incident_report(store, case, settings, Labels(), utc_now()))


def _age_file(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_privacy_export_lists_and_copies_both_sides_of_the_evidence(
        store: Store, store_url: str, config_tree: ConfigTree, tmp_path: Path) -> None:
    recordings = config_tree.root / "var" / "recordings"
    files = _evidence_with_directions(recordings, "7.1")
    _closed_case_long_ago(store, "7.1", "+32470123456", files[0], closed=False)
    out, copies = tmp_path / "export.json", tmp_path / "copies"
    assert respectline(["privacy", "export", "--caller", "+32470123456", "--out", str(out), "--copy-recordings",
                        str(copies), "--config", str(config_tree.config), "--db", store_url]) == 0
    exported = json.loads(out.read_text())
    assert sorted(r["path"] for r in exported["recordings"]) == sorted(str(f) for f in files)
    assert len(list(copies.iterdir())) == 3
