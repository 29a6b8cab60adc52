"""A recording served to the browser's audio player: only from the recordings folders, with HTTP range
requests (RFC 9110, one range per request) so seeking works.

The path comes from the store (written by the server, never by a browser) and is still checked: it
must lie inside one of the allowed folders once symbolic links are resolved, and it is opened with
``O_NOFOLLOW`` as a regular file. The open file is what is served, so a file swapped after the check
is not.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

CHUNK = 64 * 1024
_RANGE = re.compile(r"^bytes=(\d{0,18})-(\d{0,18})$")  # 18 digits: past any file, short of int() limits
CONTENT_TYPES = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".gsm": "audio/x-gsm"}


class NotServable(Exception):
    """The recording cannot be served: none, missing, outside the recordings folders, or not a file."""


@dataclass(frozen=True)
class Slice:
    """What one response sends: bytes ``start`` to ``end`` inclusive of a file of ``size`` bytes."""

    start: int
    end: int
    size: int
    partial: bool

    @property
    def length(self) -> int:
        return self.end - self.start + 1 if self.size else 0


class Unsatisfiable(Exception):
    """A range that starts past the end of the file (416)."""


def parse_range(header: str | None, size: int) -> Slice:
    """The part of a file of ``size`` bytes a ``Range`` header asks for; the whole file when there is
    no header or one this server does not take (several ranges, another unit): that is allowed."""
    whole = Slice(0, max(size - 1, 0), size, partial=False)
    if not header:
        return whole
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return whole
    first, last = match.group(1), match.group(2)
    if not first and not last:
        return whole
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable()
        return Slice(max(size - suffix, 0), size - 1, size, partial=True)
    start = int(first)
    if start >= size:
        raise Unsatisfiable()
    end = min(int(last), size - 1) if last else size - 1
    if end < start:
        return whole  # an invalid range is ignored (RFC 9110 14.2)
    return Slice(start, end, size, partial=True)


def checked_path(recording: str | None, roots: Sequence[Path]) -> Path:
    """The recording's path when it lies inside one of ``roots`` (symbolic links resolved)."""
    if not recording:
        raise NotServable("this case has no recording")
    path = Path(recording)
    if not path.is_absolute():
        raise NotServable("the recording's path is not absolute")
    real = Path(os.path.realpath(path))
    for root in roots:
        base = Path(os.path.realpath(root))
        if real.is_relative_to(base) and real != base:
            return real
    raise NotServable("the recording lies outside the recordings folders")


def open_recording(path: Path) -> tuple[int, int]:
    """(file descriptor, size) of a regular file, opened without following a final symbolic link."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise NotServable(f"the recording cannot be opened ({error.strerror})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise NotServable("the recording is not a regular file")
    os.set_blocking(fd, True)
    return fd, info.st_size


def read_slice(fd: int, part: Slice) -> Iterator[bytes]:
    """The bytes of ``part`` in chunks; the descriptor is closed at the end (or when abandoned)."""
    try:
        position, left = part.start, part.length
        while left > 0:
            chunk = os.pread(fd, min(CHUNK, left), position)
            if not chunk:
                break  # the file shrank meanwhile: send what there is
            position += len(chunk)
            left -= len(chunk)
            yield chunk
    finally:
        os.close(fd)


def content_type(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
