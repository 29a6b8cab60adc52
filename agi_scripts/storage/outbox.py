"""Escalations written ahead of the call's protection, kept until the store has booked them.

The ladder protects first and books second: before the agent is paused and the caller warned or
disconnected, the flag's :class:`Escalation` is written here (one small JSON file per flag, in
``paths.spool``); once ``book_escalation`` has stored it, the file goes. When the store is down,
locked or slow, the file stays, and the server's keeper books it when the store answers again
(``book_escalation`` is idempotent, so a crash between booking and removing the file books nothing
twice). A spool folder that cannot be written (full, read-only) costs nothing of the protection:
the escalation is then held in memory by this process, and the log says so.

Files are created ``O_EXCL|O_NOFOLLOW`` with mode 0600 in a 0700 folder: they hold callers' numbers.
They are not fsynced: the write sits between the agent's key press and the warning the caller hears,
and what it guards against is a store outage or a crash of this process (the kernel keeps the file),
not a power cut in the same second.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from agi_scripts.storage.base import CaseToOpen, Escalation, PauseToBook

LOG = logging.getLogger("respectline.outbox")

MAX_FILE_BYTES = 64 * 1024
"""An escalation is well under 2 KB; anything bigger in the spool is not ours."""
SUFFIX = ".escalation.json"


class Outbox:
    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        self._memory: dict[str, Escalation] = {}
        """Escalations whose file could not be written: held by this process only."""
        self._in_flight: set[str] = set()
        """Keys a handler of this process is still booking: the keeper leaves them alone."""
        self._handed_over: set[str] = set()
        """Keys a handler of this process could not book: the keeper takes them at once."""

    # ------------------------------------------------------------ the ladder's side

    def hold(self, escalation: Escalation) -> None:
        """Write ``escalation`` down before the call is touched; never raises."""
        with self._lock:
            self._in_flight.add(escalation.key)
        if not self._write(escalation):
            with self._lock:
                self._memory[escalation.key] = escalation

    def booked(self, escalation: Escalation) -> None:
        """The store has it: forget it."""
        self._forget(escalation.key)

    def unbooked(self, escalation: Escalation) -> None:
        """The store failed: from now on the keeper books it."""
        with self._lock:
            self._in_flight.discard(escalation.key)
            self._handed_over.add(escalation.key)

    def keep_in_memory(self, escalation: Escalation) -> None:
        """For when writing the file did not finish in time (a hung disk): held here as well."""
        with self._lock:
            self._memory[escalation.key] = escalation

    # ------------------------------------------------------------ the keeper's side

    def pending(self, *, min_age_seconds: float = 0.0, now: datetime | None = None) -> list[Escalation]:
        """What waits for the store, oldest flag first. Files another process wrote are taken only
        once ``min_age_seconds`` old (that process may still be booking them)."""
        with self._lock:
            in_flight, handed_over = set(self._in_flight), set(self._handed_over)
            held = dict(self._memory)
        busy = {self._path(key) for key in in_flight}
        for key, escalation in self._read_folder(skip=busy).items():
            if key in held or key in in_flight:
                continue
            young = now is not None and (now - escalation.at).total_seconds() < min_age_seconds
            if young and key not in handed_over:
                continue
            held[key] = escalation
        return sorted((e for k, e in held.items() if k not in in_flight), key=lambda e: (e.at, e.number_in_call))

    def update(self, escalation: Escalation) -> None:
        """Replace a held escalation (its pause was lifted meanwhile)."""
        if self._write(escalation, replace_existing=True):
            with self._lock:
                self._memory.pop(escalation.key, None)
        else:
            with self._lock:
                self._memory[escalation.key] = escalation

    def release(self, escalation: Escalation) -> None:
        self._forget(escalation.key)

    def __len__(self) -> int:
        return len(self.pending())

    # ------------------------------------------------------------ files

    def _path(self, key: str) -> Path | None:
        if self.folder is None:
            return None
        # The key holds a call id read from Asterisk: hashed, it can never name another path.
        return self.folder / (hashlib.sha256(key.encode()).hexdigest()[:32] + SUFFIX)

    def _write(self, escalation: Escalation, *, replace_existing: bool = False) -> bool:
        path = self._path(escalation.key)
        if path is None or self.folder is None:
            return False
        data = json.dumps(encode(escalation), sort_keys=True).encode()
        # Written beside under a name the keeper does not read, then put in place whole (a link for a new
        # file, so an existing one is never overwritten; a rename for a replacement): a reader never sees
        # half a file.
        target = path.with_name(path.name + ".new")
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:  # FileExistsError too: a file where the folder should be
            LOG.error("outbox %s cannot be written (%s): flag %s is held in this process's memory only",
                      self.folder, exc.strerror or exc, escalation.key)
            return False
        try:
            _unlink(target)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            if replace_existing:
                os.replace(target, path)
            else:
                try:
                    os.link(target, path)
                except FileExistsError:
                    pass  # the same flag held twice: the first copy stands
                _unlink(target)
            return True
        except OSError as exc:
            _unlink(target)
            LOG.error("outbox %s cannot be written (%s): flag %s is held in this process's memory only",
                      self.folder, exc.strerror or exc, escalation.key)
            return False

    def _read_folder(self, skip: set[Path | None] | None = None) -> dict[str, Escalation]:
        """Every escalation in the folder but those in ``skip`` (a handler of this process is writing them)."""
        if self.folder is None:
            return {}
        found: dict[str, Escalation] = {}
        try:
            names = [entry.name for entry in os.scandir(self.folder) if entry.name.endswith(SUFFIX)]
        except FileNotFoundError:
            return {}
        except OSError as exc:
            LOG.error("outbox %s cannot be read (%s); retrying later", self.folder, exc.strerror or exc)
            return {}
        for name in names:
            if skip and self.folder / name in skip:
                continue
            escalation = self._read_file(self.folder / name)
            if escalation is not None:
                found[escalation.key] = escalation
        return found

    def _read_file(self, path: Path) -> Escalation | None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as exc:
            LOG.error("outbox file %s cannot be opened (%s); left alone", path.name, exc.strerror or exc)
            return None
        try:
            with os.fdopen(fd, "rb") as file:
                raw = file.read(MAX_FILE_BYTES + 1)
            if len(raw) > MAX_FILE_BYTES:
                raise ValueError("too large")
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            return decode(data)
        except Exception as exc:  # whatever is in there, one odd file must not stop the keeper's rounds
            LOG.error("outbox file %s is not an escalation (%s); moved aside as .bad", path.name, exc)
            try:
                os.replace(path, path.with_name(path.name + ".bad"))
            except OSError:
                pass
            return None

    def _forget(self, key: str) -> None:
        with self._lock:
            self._in_flight.discard(key)
            self._handed_over.discard(key)
            self._memory.pop(key, None)
        path = self._path(key)
        if path is not None:
            _unlink(path)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        LOG.error("outbox file %s cannot be removed (%s)", path.name, exc.strerror or exc)


def encode(escalation: Escalation) -> dict[str, Any]:
    data = asdict(escalation)
    data["at"] = escalation.at.isoformat()
    if escalation.pause is not None:
        data["pause"]["resume_at"] = escalation.pause.resume_at.isoformat()
        resumed = escalation.pause.resumed_at
        data["pause"]["resumed_at"] = resumed.isoformat() if resumed else None
    data["events"] = [list(event) for event in escalation.events]
    return data


def decode(data: dict[str, Any]) -> Escalation:
    """The inverse of :func:`encode`, checking every field's type (the file is read back from disk)."""
    def text(value: Any) -> str:
        if not isinstance(value, str) or len(value) > 4096:
            raise ValueError("a text field is not text")
        return value

    def number(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1_000_000:
            raise ValueError("a number field is not a number")
        return value

    def moment(value: Any) -> datetime:
        parsed = datetime.fromisoformat(text(value))
        if parsed.tzinfo is None:
            raise ValueError("a time without its zone")
        return parsed

    case = data.get("case")
    pause = data.get("pause")
    events = data.get("events") or []
    if not isinstance(events, list) or len(events) > 32:
        raise ValueError("events is not a short list")
    return Escalation(
        call_id=text(data["call_id"]), category=text(data["category"]),
        number_in_call=number(data["number_in_call"]), number_in_category=number(data["number_in_category"]),
        agent=text(data["agent"]), caller=text(data["caller"]), queue=text(data["queue"]), at=moment(data["at"]),
        outcome=text(data["outcome"]) if data.get("outcome") is not None else None,
        team=text(data["team"]) if data.get("team") is not None else None,
        case=CaseToOpen(team=text(case["team"]), priority=number(case["priority"]),
                        recording=text(case["recording"]) if case.get("recording") is not None else None)
        if case is not None else None,
        pause=PauseToBook(agent=text(pause["agent"]), reason=text(pause["reason"]),
                          resume_at=moment(pause["resume_at"]),
                          resumed_at=moment(pause["resumed_at"]) if pause.get("resumed_at") else None)
        if pause is not None else None,
        events=tuple((text(e[0]), text(e[1])) for e in events if isinstance(e, list) and len(e) == 2),
    )


def with_pause_lifted(escalation: Escalation, at: datetime) -> Escalation:
    assert escalation.pause is not None
    return replace(escalation, pause=replace(escalation.pause, resumed_at=at))
