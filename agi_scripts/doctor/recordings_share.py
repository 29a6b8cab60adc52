"""``recording.start: connect`` asks three things of the recordings folder that Asterisk cannot report:
the calls' spools (``calls/``) and the evidence (``evidence/``) on one file system that makes hard
links; a file Asterisk wrote may be linked by the server's user, which Debian's
``fs.protected_hardlinks=1`` allows only to a user that may read *and* write it; and Asterisk, often
another user, may make each call's folder in ``calls/``. Checked here by trying, on the server's host
as the server's user (``sudo -u respectline respectline doctor``)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from agi_scripts.ami.client import AmiClient, AmiError
from agi_scripts.config.bundle import Bundle
from agi_scripts.config.settings import AmiSettings
from agi_scripts.doctor.findings import Finding, fail, ok, warn
from agi_scripts.ground import call_spool
from agi_scripts.ground.redact import printable

AREA = "recordings"
PROBE = f".respectline-doctor-{os.getpid()}.wav"
MOST_FILES_LOOKED_AT = 200
"""Files of ``calls/`` and ``evidence/`` looked at for one Asterisk wrote (bounded on a big share)."""
SHARED_SETUP = ("run Asterisk with umask 0002 (systemd: UMask=0002 in asterisk.service) and give the recordings "
                "folder a group both users are in, setgid so new files get it: chgrp -R GROUP RECORDINGS; "
                "chmod 2775 RECORDINGS RECORDINGS/calls RECORDINGS/evidence")


def check_recordings_share(bundle: Bundle, timeout: float) -> list[Finding]:
    if bundle.abuse_policy.recording_start != "connect":
        return []
    sweep = [check_sweep_account(bundle.settings.ami, timeout)] if bundle.settings.ami.enabled else []
    return sweep + check_spool_links(bundle.settings.recordings_dir)


def check_sweep_account(ami: AmiSettings, timeout: float) -> Finding:
    """The server's account asks ``CoreShowChannels`` before each sweep of the spools; refused, a
    spool without audio (a caller waiting in the queue) stays a day instead of going with its call."""
    try:
        with AmiClient(ami.host, ami.port, timeout=timeout) as client:
            client.login(ami.username, ami.secret)
            answer = client.send_action("CoreShowChannels", check=False)
            client.logoff()
    except AmiError as exc:
        return warn("server AMI", f"the server's AMI account '{ami.username}' could not be asked for the live calls "
                    f"({exc})")
    if answer.get("Response", "").lower() == "success":
        return ok("server AMI", f"the server's AMI account '{ami.username}' may list the live calls "
                  "(the sweep of call spools)")
    return warn("server AMI", f"the server's AMI account '{ami.username}' may not list the live calls "
                f"({printable(answer.get('Message', ''), 120)}): the sweep of call spools cannot tell a caller "
                "waiting in the queue from an ended call, and leaves spools without audio a day",
                f"in manager.conf, section [{ami.username}]: add reporting to write (write = agent,reporting)\n"
                "then: asterisk -rx \"manager reload\"")


def check_spool_links(recordings: Path) -> list[Finding]:
    calls, evidence = recordings / call_spool.SPOOL_FOLDER, recordings / "evidence"
    try:
        for folder in (calls, evidence):
            folder.mkdir(parents=True, exist_ok=True)
        same_device = calls.stat().st_dev == evidence.stat().st_dev
    except OSError as exc:
        return [fail(AREA, f"{recordings} cannot be prepared ({exc.strerror or exc})",
                     "create it on the server's host, writable by the server's user")]
    if not same_device:
        return [fail(AREA, f"{calls} and {evidence} are on different file systems: a flag cannot link the call's "
                     "recording into evidence (EXDEV), and every first flag records from the flag instead",
                     "keep paths.recordings on one file system (no mount of its own for calls/ or evidence/)")]
    findings = [_own_file_links(calls, evidence), _asterisk_may_write(calls), _asterisks_file_links(calls, evidence)]
    if os.geteuid() == 0:
        findings.append(warn(AREA, "doctor runs as root, which may link any file: the link checks say nothing of "
                             "the server's user", "run it as that user: sudo -u respectline respectline doctor"))
    return findings


def _own_file_links(calls: Path, evidence: Path) -> Finding:
    source, target = calls / PROBE, evidence / PROBE
    try:
        source.write_bytes(b"")
        os.link(source, target)
    except OSError as exc:
        return fail(AREA, f"the recordings share makes no hard link from {calls} to {evidence} ({exc.strerror or exc}); "
                    "every first flag records from the flag instead of adopting the call's recording",
                    "use a file system with hard links for paths.recordings (a local disk or NFS; not CIFS/SMB)")
    finally:
        for probe in (target, source):
            try:
                probe.unlink()
            except OSError:
                pass
    return ok(AREA, f"{calls} and {evidence}: one file system, hard links made")


def _asterisk_may_write(calls: Path) -> Finding:
    mode = calls.stat().st_mode
    if mode & stat.S_IWOTH or (mode & stat.S_IWGRP and mode & stat.S_ISGID):
        return ok(AREA, f"{calls} is writable by its group, which new folders keep")
    return warn(AREA, f"{calls} is not group-writable with setgid: unless Asterisk runs as the server's user, "
                "MixMonitor cannot make a call's folder there and calls are not recorded though the caller heard "
                "the notice", SHARED_SETUP)


def _asterisks_file_links(calls: Path, evidence: Path) -> Finding:
    foreign = _file_of_another_user(calls, evidence)
    if foreign is None:
        return warn(AREA, f"no recording of another user found under {calls.parent} to try a link with (Asterisk "
                    "writes the spools; fs.protected_hardlinks may refuse its files to the server's user)",
                    "run doctor again after a call was recorded from connect")
    target = evidence / PROBE
    try:
        os.link(foreign, target)
    except OSError as exc:
        return fail(AREA, f"a file Asterisk wrote ({foreign}) cannot be linked by this user ({exc.strerror or exc}): "
                    "fs.protected_hardlinks lets a user link another's file only when it may read and write it, "
                    "so every first flag would record from the flag instead", SHARED_SETUP)
    try:
        target.unlink()
    except OSError:
        pass
    return ok(AREA, f"a file of another user ({foreign.name}) links into {evidence}")


def _file_of_another_user(*folders: Path) -> Path | None:
    """A regular file under ``folders`` (two levels down at most) owned by another user than this one."""
    me, looked = os.geteuid(), 0
    pending = [(folder, 0) for folder in folders]
    while pending and looked < MOST_FILES_LOOKED_AT:
        folder, depth = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries[:MOST_FILES_LOOKED_AT]:
            looked += 1
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode) and depth < 2:
                pending.append((Path(entry.path), depth + 1))
            elif stat.S_ISREG(info.st_mode) and info.st_uid != me and entry.name != PROBE:
                return Path(entry.path)
    return None
