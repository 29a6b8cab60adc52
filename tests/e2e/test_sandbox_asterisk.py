"""The Asterisk sandbox against the real Asterisk that `make asterisk` provides.

No skips: without an Asterisk these tests fail with the message telling to run `make asterisk`.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agi_scripts.ami.client import AmiClient, AmiError
from agi_scripts.sandbox.asterisk import (
    AsteriskNotFound,
    AsteriskSandboxError,
    AsteriskSandbox,
    find_asterisk_binary,
    render_template,
)

pytestmark = pytest.mark.e2e

TEST_DIALPLAN = """
[rl-sandbox-test]
exten => 100,1,NoOp(sip port ${sip_port} for ${EXTEN})
 same => n,Playback(beep)
 same => n,UserEvent(RlSandboxProbe,Token: ${TOKEN},Played: ${PLAYBACKSTATUS})
 same => n,Hangup()
"""


def process_group_members(pgid: int) -> list[int]:
    """Pids of the live (non-zombie) processes in process group ``pgid``, read from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # Fields after the command name, which is in parentheses and may hold spaces.
        fields = text.rsplit(")", 1)[1].split()
        state, process_group = fields[0], int(fields[2])
        if process_group == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


def pid_exists(pid: int) -> bool:
    """True for a live process; a zombie (dead, not yet reaped by init) does not count."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_exists(pid):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def sandbox() -> Iterator[AsteriskSandbox]:
    with AsteriskSandbox({"extensions.conf": TEST_DIALPLAN}) as ast:
        yield ast


def test_built_asterisk_is_found_and_is_version_20_or_later() -> None:
    binary = find_asterisk_binary()  # raises AsteriskNotFound("... run `make asterisk` ...")
    assert binary.is_file()


def test_sandbox_boots_asterisk_20_or_later(sandbox: AsteriskSandbox) -> None:
    version = sandbox.rx("core show version")
    match = re.search(r"Asterisk (\d+)\.", version)
    assert match, version
    assert int(match.group(1)) >= 20


def test_every_directory_but_the_modules_is_inside_the_sandbox(sandbox: AsteriskSandbox) -> None:
    settings = sandbox.rx("core show settings")
    section = settings.split("* Directories", 1)[1].split("\n\n", 1)[0]
    directories = dict(re.findall(r"^\s*([^:\n]+?):\s+(\S+)\s*$", section, re.MULTILINE))
    assert len(directories) >= 8, section
    for name, directory in directories.items():
        if name != "Module directory":
            assert Path(directory).is_relative_to(sandbox.base_dir), (name, directory)


def test_dialplan_given_by_the_test_is_loaded_with_templates_filled(sandbox: AsteriskSandbox) -> None:
    shown = sandbox.rx("dialplan show rl-sandbox-test")
    # ${sip_port} is the sandbox's; ${EXTEN} is Asterisk's and must stay for Asterisk.
    assert f"NoOp(sip port {sandbox.sip_port} for ${{EXTEN}})" in shown, shown
    assert "Playback(beep)" in shown


def test_sip_transport_listens_on_the_announced_loopback_port(sandbox: AsteriskSandbox) -> None:
    transports = sandbox.rx("pjsip show transports")
    assert f"127.0.0.1:{sandbox.sip_port}" in transports, transports
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        with pytest.raises(OSError):
            probe.bind(("127.0.0.1", sandbox.sip_port))


def test_modules_respectline_relies_on_are_running(sandbox: AsteriskSandbox) -> None:
    for module in ("app_queue", "res_agi", "chan_pjsip", "res_musiconhold", "app_mixmonitor",
                   "app_userevent", "res_pjsip_session", "codec_ulaw", "format_wav"):
        shown = sandbox.rx(f"module show like {module}.so")
        assert re.search(rf"{module}\.so\s.*\bRunning\b", shown), shown


def test_ami_login_works_and_a_wrong_secret_is_refused(sandbox: AsteriskSandbox) -> None:
    with sandbox.ami() as ami:
        assert "Asterisk" in ami.command("core show version")
    with AmiClient("127.0.0.1", sandbox.ami_port) as intruder:
        with pytest.raises(AmiError, match="(?i)authentication"):
            intruder.login(sandbox.ami_username, "not-the-secret")


def test_dialplan_plays_a_debian_sound_and_ami_sees_its_user_event(sandbox: AsteriskSandbox) -> None:
    assert (sandbox.sounds_dir / "en" / "beep.wav").is_file()
    with sandbox.ami() as ami:
        sandbox.rx("channel originate Local/100@rl-sandbox-test application Wait 2")
        event = ami.wait_for_event("UserEvent", {"UserEvent": "RlSandboxProbe"}, timeout=15)
    assert event["Played"] == "SUCCESS", event
    sandbox.wait_no_channels(timeout=10)


def test_default_hold_music_class_has_debian_music(sandbox: AsteriskSandbox) -> None:
    files = sandbox.rx("moh show files")
    assert "Class: default" in files, files
    assert re.search(r"File: \S+/moh/\S+", files), files


def test_channels_lists_a_live_channel_and_wait_no_channels_waits_for_its_end(
    sandbox: AsteriskSandbox,
) -> None:
    sandbox.rx("channel originate Local/100@rl-sandbox-test application Wait 3")
    assert any(name.startswith("Local/100@rl-sandbox-test") for name in sandbox.channels())
    sandbox.wait_no_channels(timeout=15)
    assert sandbox.channels() == []


def test_stop_leaves_no_process_behind() -> None:
    ast = AsteriskSandbox()
    ast.start()
    pid = ast.pid
    assert pid is not None and pid_exists(pid)
    base_dir = ast.base_dir
    ast.stop()
    assert not pid_exists(pid)
    assert process_group_members(pid) == []
    assert not base_dir.exists()
    ast.stop()  # a second stop is harmless


def test_leaving_the_context_with_an_error_still_stops_asterisk() -> None:
    pids: list[int] = []
    with pytest.raises(RuntimeError, match="test failure"):
        with AsteriskSandbox() as ast:
            assert ast.pid is not None
            pids.append(ast.pid)
            raise RuntimeError("test failure")
    assert not pid_exists(pids[0])
    assert process_group_members(pids[0]) == []


def test_stop_ends_an_asterisk_that_no_longer_answers_its_cli() -> None:
    ast = AsteriskSandbox()
    ast.start()
    pid = ast.pid
    assert pid is not None
    # Without its control socket `core stop now` cannot reach it: the signals must end it.
    (ast.run_dir / "asterisk.ctl").unlink()
    ast.stop(timeout=2)
    assert not pid_exists(pid)
    assert process_group_members(pid) == []



def test_a_sandbox_in_a_deep_folder_keeps_its_control_socket_in_a_short_one(tmp_path: Path) -> None:
    """A test's folder under pytest-xdist, or an admin's, can be too deep for a Unix socket's path."""
    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / "sandbox"
    ast = AsteriskSandbox(base_dir=deep)
    assert len(str(deep / "run" / "asterisk.ctl")) > 108
    ast.start()
    try:
        assert "Asterisk" in ast.rx("core show version")
        assert (ast.run_dir / "asterisk.ctl").exists() and not ast.run_dir.is_relative_to(deep)
    finally:
        ast.stop()
    assert not ast.run_dir.exists()


KILLED_OWNER_SCRIPT = """
import os, signal, sys
from agi_scripts.sandbox.asterisk import AsteriskSandbox
ast = AsteriskSandbox()
ast.start()
print(ast.pid, ast.base_dir, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # no __exit__, no atexit
"""


def test_asterisk_dies_with_an_owner_killed_without_cleanup() -> None:
    owner = subprocess.run(
        [sys.executable, "-c", KILLED_OWNER_SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert owner.returncode == -9, owner.stderr
    pid_text, base_dir = owner.stdout.split()
    try:
        assert wait_until_gone(int(pid_text), timeout=15), f"Asterisk {pid_text} outlived its owner"
    finally:
        shutil.rmtree(base_dir, ignore_errors=True)


def test_two_sandboxes_run_at_once_on_their_own_ports() -> None:
    with AsteriskSandbox() as first, AsteriskSandbox() as second:
        assert first.sip_port != second.sip_port
        assert first.ami_port != second.ami_port
        assert first.base_dir != second.base_dir
        assert first.pid != second.pid
        for ast in (first, second):
            assert f"127.0.0.1:{ast.sip_port}" in ast.rx("pjsip show transports")
            with ast.ami() as ami:
                assert "Asterisk" in ami.command("core show version")
        # Each AMI has its own secret.
        with AmiClient("127.0.0.1", second.ami_port) as ami:
            with pytest.raises(AmiError):
                ami.login(first.ami_username, first.ami_secret)


def test_a_failing_start_says_why_and_leaves_nothing_running() -> None:
    broken = AsteriskSandbox({"modules.conf": "require => res_does_not_exist.so\n"})
    with pytest.raises(AsteriskSandboxError, match="(?s)Asterisk exited.*res_does_not_exist"):
        broken.start(timeout=30)
    assert broken.pid is not None
    assert not pid_exists(broken.pid)


def test_missing_asterisk_tells_to_run_make_asterisk(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("RESPECTLINE_ASTERISK", str(tmp_path / "no-asterisk-here"))
    with pytest.raises(AsteriskNotFound, match="make asterisk"):
        find_asterisk_binary()
    monkeypatch.delenv("RESPECTLINE_ASTERISK")
    monkeypatch.setenv("RESPECTLINE_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AsteriskNotFound, match="make asterisk"):
        find_asterisk_binary()


def test_template_replaces_only_the_sandbox_names() -> None:
    text = "port=${sip_port} exten=${EXTEN} cost=$$5 ${CALLERID(num)}"
    assert render_template(text, {"sip_port": "5070"}) == "port=5070 exten=${EXTEN} cost=$$5 ${CALLERID(num)}"


def test_ami_queue_pause_is_applied_and_reported_as_an_event() -> None:
    queues = "[general]\npersistentmembers = no\n\n[rl-support]\nstrategy = ringall\nmember => Local/200@rl-agents\n"
    with AsteriskSandbox({"queues.conf": queues}) as ast, ast.ami() as ami:
        ami.send_action("QueuePause", {"Queue": "rl-support", "Interface": "Local/200@rl-agents",
                                       "Paused": "true", "Reason": "after-abusive-call"})
        event = ami.wait_for_event("QueueMemberPause", {"Queue": "rl-support"}, timeout=10)
        assert event["Paused"] == "1" and event["PausedReason"] == "after-abusive-call", event
        _, members = ami.send_action_list("QueueStatus", {"Queue": "rl-support"})
        member = next(m for m in members if m.get("Event") == "QueueMember")
        assert member["Paused"] == "1", member
        assert "paused" in ast.rx("queue show rl-support").lower()
