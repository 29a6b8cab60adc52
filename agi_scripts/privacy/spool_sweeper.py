"""The sweep of call spools (``recording.start: connect``) that a crash left behind.

The hangup handler (``call_ended``) removes a call's spool the moment the call ends. When it could
not (the server down at that moment, Asterisk killed), the spool stays: this thread, started by
``respectline serve``, removes each spool nothing has been written to for ``recording.spool_grace``.
A conversation in progress writes several times a second, so a spool still being written is never
touched; an empty one (a caller still waiting in the queue) is left a day. Several servers sharing a
recordings folder may each sweep: removing a spool twice is harmless.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from agi_scripts.ground.call_spool import sweep_spools

LOG = logging.getLogger("respectline.retention")
LONGEST_INTERVAL = 30.0
"""A crash's leftovers go within the grace plus this: well inside a minute with the default grace."""


class SpoolSweeper:
    def __init__(self, recordings_dir: Path, grace: float) -> None:
        self.recordings_dir, self.grace = recordings_dir, grace
        self.interval = max(0.5, min(LONGEST_INTERVAL, grace / 2))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="respectline-spool-sweep", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def sweep(self) -> list[str]:
        try:
            removed = sweep_spools(self.recordings_dir, self.grace)
        except OSError as exc:  # a share gone for a while: the next round tries again
            LOG.error("call spools under %s could not be swept (%s); retrying in %.0f s", self.recordings_dir, exc,
                      self.interval)
            return []
        if removed:
            LOG.info("call spools: %d recording(s) of ended unflagged calls removed (left by a crash or a hang-up "
                     "the server did not see)", len(removed))
        return removed

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sweep()
