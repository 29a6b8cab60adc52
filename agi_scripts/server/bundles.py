"""The configuration bundle in force, and its reload on SIGHUP or when a watched file changes.

The server depends only on this protocol: ``load_bundle()`` returns an object whose
``watched_files()`` lists the paths to watch (files or folders: a folder's mtime changes when a
file is added to it), and raises on a broken configuration. An exception with an ``errors`` list
(``agi_scripts.ground.errors.ValidationFailed``) has every error logged one per line
(``file:line:col: message``); the last good bundle stays in force.

Watching is a poll of each path's (mtime, size, inode) every ``reload_poll`` seconds: no extra
dependency, and an editor's write-then-rename is seen like an in-place write. A session takes the
bundle current when it starts and keeps it to its end.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

LOG = logging.getLogger("respectline.reload")

Signature = tuple[int, int, int] | None


def file_signature(path: Path) -> Signature:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def watched_paths(bundle: Any) -> list[Path]:
    watched = getattr(bundle, "watched_files", None)
    return [Path(p) for p in watched()] if callable(watched) else []


class BundleKeeper:
    def __init__(self, load: Callable[[], Any]) -> None:
        self._load = load
        self.current: Any = None
        self.generation = 0
        self._signatures: dict[Path, Signature] = {}
        self._busy = False
        self._again = False
        self._reasons: list[str] = []
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="respectline-reload")

    def load_first(self) -> None:
        """The bundle to start with; any error propagates (the server must not start without one)."""
        self.current = self._load()
        self.generation = 1
        self._signatures = self._signatures_of(watched_paths(self.current))

    def changed_paths(self) -> list[Path]:
        return [p for p, sig in self._signatures.items() if file_signature(p) != sig]

    async def watch(self, interval: float) -> None:
        """Poll the watched files forever; reload when one changed."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            if self._busy:
                continue
            try:
                changed = await loop.run_in_executor(self._thread, self.changed_paths)
                if changed:
                    await self.reload("changed: " + ", ".join(p.name for p in changed[:5]))
            except Exception:  # the watcher must outlive any surprise; the next poll tries again
                LOG.exception("checking the watched configuration files failed")

    async def reload(self, reason: str) -> bool:
        """Load again; True if a new bundle is in force. A reload asked for while one runs is run
        right after it, so the last change is never missed."""
        self._reasons.append(reason)
        if self._busy:
            self._again = True
            return False
        self._busy = True
        loop = asyncio.get_running_loop()
        swapped = False
        try:
            while True:
                self._again = False
                reasons, self._reasons = self._reasons, []
                swapped = await loop.run_in_executor(self._thread, self._reload_now, "; ".join(reasons))
                if not self._again:
                    return swapped
        finally:
            self._busy = False

    def _reload_now(self, reason: str) -> bool:
        # Signatures are taken *before* loading: a file saved while we load is seen as changed next poll.
        before = self._signatures_of(self._signatures)
        try:
            bundle = self._load()
        except Exception as exc:  # a broken file must never take down the server
            self._report(exc, reason)
            self._signatures = before  # no retry loop: wait for the next change
            return False
        fresh = watched_paths(bundle)
        self._signatures = {p: before[p] if p in before else file_signature(p) for p in fresh}
        self.current = bundle
        self.generation += 1
        LOG.info("configuration reloaded (%s); generation %d, %d files watched", reason, self.generation,
                 len(fresh))
        return True

    def _report(self, exc: Exception, reason: str) -> None:
        errors = getattr(exc, "errors", None)
        if isinstance(errors, list) and errors:
            for error in errors:
                LOG.error("%s", error)
            LOG.error("configuration reload (%s) refused: %d error(s); keeping generation %d",
                      reason, len(errors), self.generation)
        else:
            LOG.error("configuration reload (%s) failed; keeping generation %d", reason, self.generation,
                      exc_info=exc)

    @staticmethod
    def _signatures_of(paths: Iterable[Path]) -> dict[Path, Signature]:
        return {p: file_signature(p) for p in paths}

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)
