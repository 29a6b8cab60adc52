"""One digest for the files a server runs on: the config, the three flow files and the prompt catalog.

Servers announce the digest of what they loaded; the desk computes it for the files on disk and so
can say which server runs an older version. Only the files' names (not their folders: two hosts may
keep them in different places) and contents count.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

MAX_FILE = 4 * 1024 * 1024
"""A flow or config file is a few kilobytes; more than this is read no further (and changes the digest)."""


def files_digest(files: Iterable[Path]) -> str:
    """``sha256:`` and 16 hex digits over each file's name and bytes; a missing file counts as missing."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode("utf-8", "surrogateescape") + b"\0")
        try:
            with path.open("rb") as handle:
                digest.update(handle.read(MAX_FILE + 1))
        except OSError:
            digest.update(b"\0missing\0")
        digest.update(b"\0\0")
    return "sha256:" + digest.hexdigest()[:16]
