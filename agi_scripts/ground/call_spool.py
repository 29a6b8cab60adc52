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
what a crash left behind, asking Asterisk first which calls are alive (a caller waiting in the queue
has a spool of header-only files). This naming is shared with whatever reads evidence (transcription, retention,
erasure): keep it.

Everything here deletes through folder handles (``O_NOFOLLOW``), never by a walked path.
"""

from __future__ import annotations

import os
import re
import stat
import threading
import time
from collections.abc import Callable
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
"""A spool without audio may be a caller still waiting in the queue: MixMonitor opens its three files
(a WAV header each) when it starts, and with ``b`` writes nothing until an agent answers. Without an
answer from Asterisk on which calls are alive, the sweep leaves such a spool a day, longer than any
queue wait."""
WAV_HEADER_BYTES = 44
"""What Asterisk's ``format_wav`` writes before the first sample: a file no longer than this holds no audio."""

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class AdoptionsUnderWay:
    """The calls whose spool this process is linking into evidence right now. On a slow or hung share a
    link can outlast the flag's wait, and the call: removing the spool meanwhile (the hangup handler,
    the sweep) would leave the case naming evidence that never comes. So the removal waits for the
    link (:meth:`after`), and the sweep leaves these calls alone (:meth:`calls`). Per process: a
    hangup handler served by another server does not know of it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, list[Callable[[], None]]] = {}

    def begin(self, call_id: str) -> None:
        with self._lock:
            self._waiting.setdefault(call_id, [])

    def end(self, call_id: str) -> None:
        """The link is made (or failed): what waited for it runs now, here."""
        with self._lock:
            waiting = self._waiting.pop(call_id, [])
        for then in waiting:
            then()

    def after(self, call_id: str, then: Callable[[], None]) -> bool:
        """Run ``then`` once the adoption of ``call_id`` ends; False (nothing kept) when none is under way."""
        with self._lock:
            if call_id not in self._waiting:
                return False
            self._waiting[call_id].append(then)
            return True

    def calls(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._waiting)


ADOPTIONS = AdoptionsUnderWay()


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
    """What ``link_into_evidence`` made: the mixed evidence file, the direction files linked, and why
    a direction file could not be (the mixed one is evidence all the same)."""

    mixed: Path
    directions: tuple[Path, ...]
    refused: tuple[str, ...] = ()


class NoSpool(OSError):
    """The call has no spooled recording to adopt (never started, or nothing bridged yet)."""


class EvidenceTaken(OSError):
    """The evidence path holds another file than the call's recording (a stale file, another host's
    call with the same uniqueid): never adopted over, never recorded over."""


def link_into_evidence(recordings_dir: Path, call_id: str, mixed_evidence: Path) -> Adopted:
    """Hard-link the call's spooled files to ``mixed_evidence`` and its direction names beside it.
    The spool must hold the mixed file (else ``NoSpool``). A link already there to the same file is
    left as it is (a retried or late adoption); another file there raises ``EvidenceTaken`` for the
    mixed file, and leaves that direction out. Once the mixed file is linked, a direction file that
    cannot be is only reported (``Adopted.refused``). Runs on a worker thread: a share can hang."""
    if not CALL_ID.fullmatch(call_id):
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
        _link_once(spool, names[0], mixed_evidence)  # the case's recording: any failure is the caller's to handle
        linked: list[Path] = []
        refused: list[str] = []
        for name, target in zip(names[1:], targets[1:]):
            if not _is_regular(spool, name):
                continue
            try:
                _link_once(spool, name, target)
            except OSError as exc:
                refused.append(f"{target.name} not linked ({exc.strerror or exc})")
                continue
            linked.append(target)
        return Adopted(mixed_evidence, tuple(linked), tuple(refused))
    finally:
        os.close(spool)


def _link_once(spool: int, name: str, target: Path) -> None:
    """Link ``name`` (in the spool) to ``target``; a link there already must be to the same file."""
    try:
        os.link(name, target, src_dir_fd=spool, follow_symlinks=False)
    except FileExistsError:
        ours = os.stat(name, dir_fd=spool, follow_symlinks=False)
        there = os.stat(target, follow_symlinks=False)
        if (ours.st_dev, ours.st_ino) != (there.st_dev, there.st_ino):
            raise EvidenceTaken(f"evidence path {target} already holds another file than this call's "
                                "recording; left as it is") from None


def remove_spool(recordings_dir: Path, call_id: str) -> int:
    """Delete the call's spool folder and the files in it; returns how many files went. A missing
    spool is no error; a link or anything not a regular file inside is left, and so is the folder."""
    if not CALL_ID.fullmatch(call_id):
        return 0
    try:
        calls = os.open(recordings_dir / SPOOL_FOLDER, _DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    try:
        return _remove_folder(calls, call_id)
    finally:
        os.close(calls)


def sweep_spools(recordings_dir: Path, grace: float, now: float | None = None,
                 live_calls: frozenset[str] | None = None, keep: frozenset[str] = frozenset()) -> list[str]:
    """Remove the spools of calls that are over; returns the call ids removed.

    ``live_calls`` is Asterisk's answer (AMI ``CoreShowChannels``) on which channels exist, or None
    when it could not be asked. A live call's spool is never touched, whatever its age. A spool of a
    call Asterisk no longer has goes once nothing was written to it for ``grace``. Without Asterisk's
    answer only the files speak: a spool with audio goes ``grace`` after its last write (a bridged call
    writes several times a second); one without audio (no files, or only WAV headers: a caller still
    waiting in the queue) stays ``EMPTY_SPOOL_AGE``. The spools in ``keep`` (adoptions under way) stay."""
    now = time.time() if now is None else now
    try:
        calls = os.open(recordings_dir / SPOOL_FOLDER, _DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):
        return []
    removed = []
    try:
        for call_id in sorted(os.listdir(calls)):
            if not CALL_ID.fullmatch(call_id) or call_id in keep or (live_calls is not None and call_id in live_calls):
                continue
            newest, audio = _newest_write(calls, call_id)
            if newest is None:
                continue
            wait = grace if audio or live_calls is not None else max(grace, EMPTY_SPOOL_AGE)
            if now - newest < wait:
                continue
            _remove_folder(calls, call_id)
            removed.append(call_id)
    finally:
        os.close(calls)
    return removed


def _newest_write(calls: int, call_id: str) -> tuple[float | None, bool]:
    """(newest mtime of the folder and its files, whether a file holds audio past its WAV header);
    (None, False) for anything odd."""
    try:
        folder = os.open(call_id, _DIRECTORY, dir_fd=calls)
    except OSError:
        return None, False  # gone meanwhile, a link, or not a folder: not ours to judge
    try:
        newest, audio = os.fstat(folder).st_mtime, False
        for name in os.listdir(folder):
            try:
                info = os.stat(name, dir_fd=folder, follow_symlinks=False)
            except FileNotFoundError:
                continue
            newest = max(newest, info.st_mtime)
            audio = audio or (stat.S_ISREG(info.st_mode) and info.st_size > WAV_HEADER_BYTES)
        return newest, audio
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
