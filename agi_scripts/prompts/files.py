"""Writing files so that a reader never sees half of one.

Asterisk opens a sound file when it starts playing it. Writing the new content to a temporary
file in the same folder and renaming it over the old name (``os.replace``, atomic on POSIX within
one file system) means a caller mid-playback keeps the old file's inode and the next playback
gets the complete new one.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

FILE_MODE = 0o644
"""Readable by Asterisk's own user when we run as another one; mkstemp would give 0600."""
DIR_MODE = 0o755


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def ensure_dir(path: Path) -> None:
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)


def write_atomic(path: Path, data: bytes, mode: int = FILE_MODE) -> None:
    """Replace ``path`` with ``data`` in one step; on any failure the old file stays as it was."""
    ensure_dir(path.parent)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, path)
    except BaseException:
        # The rename did not happen: drop the partial temporary file, keep the old target.
        try:
            os.unlink(temp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def same_content(path: Path, data: bytes) -> bool:
    try:
        if path.stat().st_size != len(data):
            return False
        return path.read_bytes() == data
    except FileNotFoundError:
        return False


def _fsync_dir(path: Path) -> None:
    """Make the rename itself durable; not every file system allows opening a folder."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
