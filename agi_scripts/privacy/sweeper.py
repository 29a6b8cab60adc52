"""The server applies retention by itself: ``RetentionSweeper`` runs it every hour.

Each sweep also retries the erasure requests that wait for kept cases, and finishes those whose
cases have aged out. ``respectline privacy purge`` does the same by hand (with ``--dry-run`` to see
what is due). There is no switch to turn the sweep off: deleting on time is a legal duty. Several
servers sharing one recordings folder and store may each sweep; deleting a file or erasing a number
twice is harmless.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from agi_scripts.config.settings import RetentionSettings
from agi_scripts.privacy.retention import apply_retention
from agi_scripts.storage.base import Store, StoreError, utc_now

LOG = logging.getLogger("respectline.retention")


class RetentionSweeper:
    def __init__(self, store: Store, recordings_dir: Path, retention: RetentionSettings, *,
                 interval: float = 3600.0, clock: Callable[[], datetime] = utc_now) -> None:
        self.store, self.recordings_dir, self.retention = store, recordings_dir, retention
        self.interval, self.clock = interval, clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="respectline-retention", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(30)

    def sweep(self) -> None:
        try:
            apply_retention(self.store, self.recordings_dir, self.retention, now=self.clock())
        except StoreError as exc:  # an outage, not a bug: one line, no traceback
            LOG.error("retention sweep of %s: store unavailable (%s); retrying in %.0f s", self.recordings_dir, exc,
                      self.interval)
        except Exception:  # noqa: BLE001  (whatever it was, the next hour's sweep must still run)
            LOG.exception("retention sweep of %s failed; retrying in %.0f s", self.recordings_dir, self.interval)

    def _run(self) -> None:
        # A short delay first: a server restarting in a loop should not walk the folder each time.
        while not self._stop.wait(min(60.0, self.interval)):
            self.sweep()
            if self._stop.wait(max(self.interval - 60.0, 0.0)):
                return
