"""Deleting and reading recordings without trusting paths: every step through a directory handle.

Walking a tree and then unlinking by path races with anyone who can swap a folder for a symbolic
link in between: the path would then lead outside the recordings folder. Here each folder on the
way is opened relative to the one before with ``O_NOFOLLOW | O_DIRECTORY``, and the file is removed
(``unlinkat``) or opened (``O_NOFOLLOW``, a regular file only) relative to its own folder's handle,
so a link anywhere on the way stops the operation instead of being followed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
COPY_MODE = 0o600


class NotBeneath(OSError):
    """The path is not a plain file below the folder (outside it, through a link, not a file)."""


def _parts(root: Path, path: Path) -> list[str]:
    try:
        parts = list(path.relative_to(root).parts)
    except ValueError:
        raise NotBeneath(f"{path} is not inside {root}") from None
    if not parts or any(part in ("", ".", "..") for part in parts):
        raise NotBeneath(f"{path} is not a file inside {root}")
    return parts


@contextmanager
def _folder_of(root: Path, parts: list[str]) -> Iterator[int]:
    """A handle on the folder holding ``parts[-1]``, reached from ``root`` without following links."""
    try:
        fd = os.open(root, _DIRECTORY)
    except OSError as error:
        raise NotBeneath(f"{root} cannot be opened as a folder: {error.strerror}") from None
    try:
        for name in parts[:-1]:
            try:
                inner = os.open(name, _DIRECTORY, dir_fd=fd)
            except OSError as error:
                raise NotBeneath(f"{name!r} on the way is not a folder (or is a link): {error.strerror}") from None
            os.close(fd)
            fd = inner
        yield fd
    finally:
        os.close(fd)


def unlink_beneath(root: Path, path: Path) -> None:
    """Delete the regular file ``path`` inside ``root``; a missing file is no error."""
    parts = _parts(root, path)
    with _folder_of(root, parts) as folder:
        try:
            info = os.stat(parts[-1], dir_fd=folder, follow_symlinks=False)
        except FileNotFoundError:
            return
        if not stat.S_ISREG(info.st_mode):
            raise NotBeneath(f"{path} is not a regular file; left alone")
        try:
            os.unlink(parts[-1], dir_fd=folder)
        except FileNotFoundError:
            pass


def copy_out(root: Path, path: Path, target: Path) -> None:
    """Copy the regular file ``path`` inside ``root`` to a new file ``target`` (mode 0600, never
    over an existing file or through a link at the target)."""
    parts = _parts(root, path)
    with _folder_of(root, parts) as folder:
        source = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=folder)
        try:
            if not stat.S_ISREG(os.fstat(source).st_mode):
                raise NotBeneath(f"{path} is not a regular file")
            destination = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                  COPY_MODE)
            try:
                os.fchmod(destination, COPY_MODE)  # whatever the umask
                while chunk := os.read(source, 1 << 20):
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(destination, view):]
                os.fsync(destination)
            finally:
                os.close(destination)
        finally:
            os.close(source)


def real_path(path: Path) -> Path:
    """The file in its folder's real location: a path from the store may name the recordings share
    through another mount point; the handles above then check every step from the real root."""
    return Path(os.path.realpath(path.parent)) / path.name
