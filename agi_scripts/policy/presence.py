"""A running ``respectline serve`` announces itself in the store, for the desk's configuration view.

One background thread (like the pause keeper) writes this server's row (``storage.servers``) at
start, after every reload and every ``interval`` seconds: host, process id, start time, the digest
of the files it loaded and when. No call waits for it: a reload only hands it the new digest, and a
store that does not answer costs one log line a round, nothing else.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from agi_scripts.config.digest import files_digest
from agi_scripts.storage.base import Store, StoreError, utc_now
from agi_scripts.storage.servers import ServerRegistry

LOG = logging.getLogger("respectline.presence")
ANNOUNCE_INTERVAL = 30.0
"""Seconds between two refreshes of the row; the desk counts a server gone after three missed ones."""


class PresenceAnnouncer:
    def __init__(self, store: Store, files: Sequence[Path], *, interval: float = ANNOUNCE_INTERVAL,
                 clock: Callable[[], datetime] = utc_now, host: str | None = None) -> None:
        self.registry = ServerRegistry(store)
        self.interval = interval
        self.clock = clock
        self.host = host or socket.gethostname()
        self.pid = os.getpid()
        self.started_at = clock()
        self.instance = f"{self.host}:{self.pid}:{int(self.started_at.timestamp())}"
        self._lock = threading.Lock()
        self._digest = files_digest(files)
        self._loaded_at = self.started_at
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="respectline-presence", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Mark the row stopped (best effort: a store that is down leaves it to age)."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(10)
        try:
            self.registry.stopped(self.instance, at=self.clock())
        except StoreError as error:
            LOG.warning("could not mark this server stopped in the store (%s)", error)

    def loaded(self, files: Sequence[Path]) -> None:
        """The server loaded its files again: announce the new digest soon (on the thread, not here)."""
        digest = files_digest(files)
        with self._lock:
            self._digest, self._loaded_at = digest, self.clock()
        self._wake.set()

    @property
    def digest(self) -> str:
        with self._lock:
            return self._digest

    def announce_once(self) -> bool:
        """One refresh of the row; False (logged once per outage) when the store did not take it."""
        with self._lock:
            digest, loaded_at = self._digest, self._loaded_at
        try:
            self.registry.announce(self.instance, host=self.host, pid=self.pid, started_at=self.started_at,
                                   bundle_digest=digest, loaded_at=loaded_at, at=self.clock())
        except StoreError as error:
            if not self._failing:
                LOG.error("cannot announce this server in the store (%s); retrying every %.0f s",
                          error, self.interval)
            self._failing = True
            return False
        if self._failing:
            LOG.info("server announced in the store again")
        self._failing = False
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.announce_once()
            except Exception:  # noqa: BLE001 - the thread must outlive any one bad round
                LOG.exception("announcing this server failed")
            self._wake.wait(self.interval)
            self._wake.clear()
