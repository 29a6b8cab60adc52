"""A call's own recording spool (``abuse_policy.recording.start: connect``) and the evidence names.

With ``start: connect`` the dialplan starts MixMonitor on the caller's channel before the queue, with
its ``b`` option: Asterisk writes only while the caller is bridged with an agent, so the hold music
and the post-call flow are never recorded. The files go into a folder that belongs to the call::

    <recordings>/calls/<call id>/<call id>.wav          both directions mixed
    <recordings>/calls/<call id>/<call id>-caller.wav   what the caller said (MixMonitor r())
    <recordings>/calls/<call id>/<call id>-agent.wav    what the agent said  (MixMonitor t())

When the call is flagged, the flag handler hard-links the three files into the evidence place with
the same names (``evidence/YYYY/MM/<call id>.wav``, ``<call id>-caller.wav``, ``<call id>-agent.wav``):
MixMonitor keeps writing through its open file, and the links stay when the spool goes. When the call
ends, the hangup handler (``call_ended``) removes the spool; the sweep in ``respectline serve`` removes
what a crash left behind. This naming is shared with whatever reads evidence (transcription, retention,
erasure): keep it.

Everything here deletes through folder handles (``O_NOFOLLOW``), never by a walked path.
"""

from __future__ import annotations

import os
import re
import stat
import time
from dataclasses import dataclass
from pathlib import Path

SPOOL_FOLDER = "calls"
CALLER_SUFFIX = "-caller"
"""What the caller said: MixMonitor's ``r()`` file on the caller's channel (the audio it reads)."""
AGENT_SUFFIX = "-agent"
"""What the agent said: MixMonitor's ``t()`` file on the caller's channel (the audio sent to it), so
also what Asterisk played to the caller meanwhile (a warning from the ladder)."""
DIRECTION_SUFFIXES = (CALLER_SUFFIX, AGENT_SUFFIX)
CALL_ID = re.compile(r"^[0-9A-Za-z_-][0-9A-Za-z_.-]{0,63}$")
"""Asterisk's uniqueid (``1700000000.21``); anything else never names a spool."""
SAFE_FOLDER = re.compile(r"^/[0-9A-Za-z_./-]{1,400}$")
"""A recordings folder the dialplan can take as a MixMonitor argument as it is (no ',', '(', ')',
'$', spaces...): it is pasted into ``MixMonitor(${RL_RECORDING}.wav,...)``."""
EMPTY_SPOOL_AGE = 86400.0
"""An empty spool (MixMonitor made the folder, no agent answered yet) may be a caller still waiting:
the sweep leaves it for a day."""

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def spool_folder(recordings_dir: Path, call_id: str) -> Path:
    """``<recordings>/calls/<call id>``; ``call_id`` must match ``CALL_ID`` (checked by the caller)."""
    return recordings_dir / SPOOL_FOLDER / call_id


def spool_base(recordings_dir: Path, call_id: str) -> Path:
    """The files' common stem, without extension: ``<recordings>/calls/<call id>/<call id>``."""
    return spool_folder(recordings_dir, call_id) / call_id


def file_names(call_id: str) -> tuple[str, ...]:
    """The mixed file first, then the caller's and the agent's direction."""
    return (f"{call_id}.wav", *(f"{call_id}{suffix}.wav" for suffix in DIRECTION_SUFFIXES))


def direction_files(mixed: Path) -> tuple[Path, Path]:
    """The caller's and the agent's file beside a mixed evidence file (``<call id>.wav``)."""
    return (mixed.with_name(f"{mixed.stem}{CALLER_SUFFIX}{mixed.suffix}"),
            mixed.with_name(f"{mixed.stem}{AGENT_SUFFIX}{mixed.suffix}"))


def mixed_file_of(path: Path) -> Path:
    """The mixed file a direction file belongs to (``x-caller.wav`` -> ``x.wav``); others unchanged."""
    for suffix in DIRECTION_SUFFIXES:
        if path.stem.endswith(suffix) and len(path.stem) > len(suffix):
            return path.with_name(path.stem[:-len(suffix)] + path.suffix)
    return path


@dataclass(frozen=True)
class Adopted:
    """What ``link_into_evidence`` made: the mixed evidence file, and the direction files linked."""

    mixed: Path
    directions: tuple[Path, ...]


class NoSpool(OSError):
    """The call has no spooled recording to adopt (never started, or nothing bridged yet)."""


def link_into_evidence(recordings_dir: Path, call_id: str, mixed_evidence: Path) -> Adopted:
    """Hard-link the call's spooled files to ``mixed_evidence`` and its direction names beside it.
    The spool must hold the mixed file (else ``NoSpool``); a file already there is left as it is (a
    second flag, or a retried one). Runs on a worker thread: a share can hang."""
    if not CALL_ID.match(call_id):
        raise NoSpool(f"call id {call_id!r} names no spool")
    folder = spool_folder(recordings_dir, call_id)
    names = file_names(call_id)
    targets = (mixed_evidence, *direction_files(mixed_evidence))
    try:
        spool = os.open(folder, _DIRECTORY)
    except FileNotFoundError:
        raise NoSpool(f"no spool {folder}") from None
    try:
        if not _is_regular(spool, names[0]):
            raise NoSpool(f"the spool {folder} holds no recording yet")
        mixed_evidence.parent.mkdir(parents=True, exist_ok=True)
        linked: list[Path] = []
        for name, target in zip(names, targets):
            if not _is_regular(spool, name):
                continue
            try:
                os.link(name, target, src_dir_fd=spool, follow_symlinks=False)
            except FileExistsError:
                pass
            linked.append(target)
        return Adopted(mixed_evidence, tuple(linked[1:]))
    finally:
        os.close(spool)


def remove_spool(recordings_dir: Path, call_id: str) -> int:
    """Delete the call's spool folder and the files in it; returns how many files went. A missing
    spool is no error; a link or anything not a regular file inside is left, and so is the folder."""
    if not CALL_ID.match(call_id):
        return 0
    try:
        calls = os.open(recordings_dir / SPOOL_FOLDER, _DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    try:
        return _remove_folder(calls, call_id)
    finally:
        os.close(calls)


def sweep_spools(recordings_dir: Path, grace: float, now: float | None = None) -> list[str]:
    """Remove the spools of calls that are over: nothing written to them for ``grace`` seconds (a
    bridged call writes several times a second). An empty spool may be a caller still waiting in
    the queue (MixMonitor makes the folder when it starts) and stays ``EMPTY_SPOOL_AGE``. Returns the
    call ids removed."""
    now = time.time() if now is None else now
    try:
        calls = os.open(recordings_dir / SPOOL_FOLDER, _DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):
        return []
    removed = []
    try:
        for call_id in sorted(os.listdir(calls)):
            if not CALL_ID.match(call_id):
                continue
            newest, files = _newest_write(calls, call_id)
            if newest is None or now - newest < (grace if files else max(grace, EMPTY_SPOOL_AGE)):
                continue
            _remove_folder(calls, call_id)
            removed.append(call_id)
    finally:
        os.close(calls)
    return removed


def _newest_write(calls: int, call_id: str) -> tuple[float | None, int]:
    """(newest mtime of the folder and its files, how many files); (None, 0) for anything odd."""
    try:
        folder = os.open(call_id, _DIRECTORY, dir_fd=calls)
    except OSError:
        return None, 0  # gone meanwhile, a link, or not a folder: not ours to judge
    try:
        newest, files = os.fstat(folder).st_mtime, 0
        for name in os.listdir(folder):
            try:
                info = os.stat(name, dir_fd=folder, follow_symlinks=False)
            except FileNotFoundError:
                continue
            newest, files = max(newest, info.st_mtime), files + 1
        return newest, files
    finally:
        os.close(folder)


def _remove_folder(calls: int, call_id: str) -> int:
    try:
        folder = os.open(call_id, _DIRECTORY, dir_fd=calls)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    except OSError as error:
        if error.errno == getattr(os, "ELOOP", 40):
            return 0  # a link in place of the folder: never followed
        raise
    removed = 0
    try:
        for name in os.listdir(folder):
            if _is_regular(folder, name):
                try:
                    os.unlink(name, dir_fd=folder)
                    removed += 1
                except FileNotFoundError:
                    pass
    finally:
        os.close(folder)
    try:
        os.rmdir(call_id, dir_fd=calls)
    except FileNotFoundError:
        pass
    except OSError as error:
        if error.errno != getattr(os, "ENOTEMPTY", 39):
            raise
    return removed


def _is_regular(folder: int, name: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return False
