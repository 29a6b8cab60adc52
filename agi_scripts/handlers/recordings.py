"""Where recordings go and whether one holds a voice. Paths are built here only, never from input."""

from __future__ import annotations

import array
import datetime as dt
import math
import os
import re
import stat
import wave
from dataclasses import dataclass
from pathlib import Path

from agi_scripts.ground import call_spool

_SAFE = re.compile(r"[^0-9A-Za-z_-]")
SILENCE_RMS = 300
"""16-bit RMS under which a recording counts as silence (line noise is far below a voice)."""


def compliment_recording_base(recordings_dir: Path, call_id: str, now: dt.datetime) -> Path:
    """``<dir>/compliments/YYYY/MM/<call id>``, without extension (Asterisk adds it).

    The call id's dots become dashes: Asterisk and ``Path.with_suffix`` would take ``.21`` of
    ``1700000000.21`` for an extension.
    """
    name = _SAFE.sub("_", call_id) or "call"
    return recordings_dir / "compliments" / f"{now:%Y}" / f"{now:%m}" / name


def evidence_file(recordings_dir: Path, call_id: str, now: dt.datetime) -> Path:
    """``<dir>/evidence/YYYY/MM/<call id>.wav``: where a flagged call's MixMonitor writes."""
    return recordings_dir / "evidence" / f"{now:%Y}" / f"{now:%m}" / f"{call_id}.wav"


MIN_FREE_BYTES = 1024 * 1024
"""Room an evidence recording needs at the least: about a minute of the call (8 kHz, 16-bit)."""


def evidence_room_problem(file: Path) -> str | None:
    """Why ``file`` cannot take an evidence recording, or None. Asterisk's MixMonitor reports its own
    failures only in Asterisk's log, so what can be known before is checked here: the folder made, the
    path free of anything but a regular file (a FIFO there would hold MixMonitor, and the call, for
    ever), room on the share. Runs on a worker thread (a share can hang)."""
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"evidence folder {file.parent} cannot be created ({exc.strerror or exc})"
    try:
        mode = file.lstat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        return f"evidence file {file} cannot be checked ({exc.strerror or exc})"
    if mode is not None and not stat.S_ISREG(mode):
        return f"evidence path {file} is taken by something that is not a regular file (a FIFO, a link, a folder)"
    return _room_problem(file.parent)


def _room_problem(folder: Path) -> str | None:
    try:
        room = os.statvfs(folder)
    except OSError as exc:
        return f"evidence folder {folder} cannot be checked ({exc.strerror or exc})"
    free = room.f_bavail * room.f_frsize
    if free < MIN_FREE_BYTES or (room.f_files and room.f_favail == 0):
        return (f"evidence folder {folder} has no room (No space left on device: {free // 1024} KB free, "
                f"{MIN_FREE_BYTES // 1024} KB needed)")
    return None


def adopt_spool(recordings_dir: Path, call_id: str, evidence: Path) -> str | None:
    """``recording.start: connect``: link the call's spooled recording (``ground.call_spool``) into
    ``evidence`` and its direction names; why it could not be done, or None. Runs on a worker thread."""
    answer = first_flag_evidence(recordings_dir, call_id, evidence, adopt=True)
    if answer.adopted:
        return answer.problem  # a direction file missing: the mixed one is evidence all the same
    return answer.problem or "no spool to adopt"


@dataclass(frozen=True)
class ShareAnswer:
    """What the recordings share said for a first flag's evidence file."""

    adopted: bool = False
    """The call's running recording is linked into the evidence place (``recording.start: connect``)."""
    may_record: bool = False
    """Nothing adopted, and nothing in the way: a new recording can start into the evidence file."""
    problem: str | None = None


def first_flag_evidence(recordings_dir: Path, call_id: str, evidence: Path, *, adopt: bool) -> ShareAnswer:
    """Everything a first flag asks of the share, in one job (``handlers.file_work``): with ``adopt``,
    link the call's spool into ``evidence``; when there is none (or the link is refused), whether a
    new recording may go there. A file of someone else already at the evidence path is never
    recorded over."""
    problem = evidence_room_problem(evidence)
    if problem:
        return ShareAnswer(problem=problem)
    if not adopt:
        return ShareAnswer(may_record=True)
    try:
        adopted = call_spool.link_into_evidence(recordings_dir, call_id, evidence)
    except call_spool.NoSpool as missing:
        return ShareAnswer(may_record=True, problem=str(missing))
    except call_spool.EvidenceTaken as taken:
        return ShareAnswer(problem=str(taken))
    except OSError as exc:
        # Refused (fs.protected_hardlinks, another file system, a share without hard links): nothing
        # was linked, so a recording from the flag on takes nothing from anyone.
        return ShareAnswer(may_record=True, problem=f"the call's recording could not be linked into "
                                                    f"{evidence.parent} ({exc.strerror or exc})")
    return ShareAnswer(adopted=True, problem="; ".join(adopted.refused) or None)


def call_spool_problem(recordings_dir: Path, call_id: str) -> str | None:
    """``recording.start: connect``: why this call cannot be recorded into its spool, or None: the
    spools' folder (``calls/``) made, room in it, nothing in the way of the call's folder and files
    (no FIFO or link), a path the dialplan can take. The call's own folder is not made here:
    MixMonitor makes it when the recording starts, so a caller who hangs up before leaves nothing."""
    if not call_spool.CALL_ID.fullmatch(call_id):
        return f"call id {call_id!r} cannot name a recording"
    if not call_spool.SAFE_FOLDER.fullmatch(str(recordings_dir)):
        return (f"paths.recordings {recordings_dir} holds characters Asterisk's MixMonitor arguments cannot "
                "carry (use letters, digits, '.', '_', '-' and '/')")
    calls = recordings_dir / call_spool.SPOOL_FOLDER
    try:
        calls.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"call recording folder {calls} cannot be created ({exc.strerror or exc})"
    folder = call_spool.spool_folder(recordings_dir, call_id)
    try:
        mode = folder.lstat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        return f"call recording folder {folder} cannot be checked ({exc.strerror or exc})"
    if mode is not None:
        if not stat.S_ISDIR(mode):
            return f"call recording path {folder} is taken by something that is not a folder (a link, a file)"
        for name in call_spool.file_names(call_id):
            problem = evidence_room_problem(folder / name)
            if problem:
                return problem.replace("evidence", "call recording", 1)
        return None
    problem = _room_problem(calls)
    return problem.replace("evidence", "call recording", 1) if problem else None


_EVIDENCE_TAIL = re.compile(r"^evidence/[0-9]{4}/[0-9]{2}/(?P<call>[0-9A-Za-z_.-]{1,64})\.wav$")


def is_evidence_of(path: str, recordings_dir: Path, call_id: str) -> bool:
    """Whether a path read back from the channel (``RL_EVIDENCE``) is one ``evidence_file`` made for
    this call: under the recordings folder, no ``..``, this call's name. Anything else is not stored
    as a case's recording (``cases export`` opens it)."""
    prefix = f"{recordings_dir}/"
    if not path.startswith(prefix) or "/../" in f"/{path}/" or "/./" in f"/{path}/":
        return False
    match = _EVIDENCE_TAIL.fullmatch(path[len(prefix):])
    return match is not None and match["call"] == call_id


def holds_voice(file: Path, min_seconds: float) -> bool:
    """At least ``min_seconds`` long and louder than line noise somewhere in it."""
    try:
        with wave.open(str(file), "rb") as wav:
            if wav.getsampwidth() != 2:
                return True  # not ours to judge; keep it
            frames = wav.getnframes()
            rate = wav.getframerate()
            samples = array.array("h", wav.readframes(frames))
    except (OSError, EOFError, wave.Error):
        return False
    if frames < min_seconds * rate:
        return False
    window = max(rate // 10, 1)  # 100 ms windows: one spoken syllable is enough
    for start in range(0, len(samples), window):
        chunk = samples[start:start + window]
        if chunk and math.sqrt(sum(s * s for s in chunk) / len(chunk)) > SILENCE_RMS:
            return True
    return False
