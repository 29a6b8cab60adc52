"""The sweep of call spools (``recording.start: connect``) that a crash left behind.

The hangup handler (``call_ended``) removes a call's spool the moment the call ends. When it could
not (the server down at that moment, Asterisk killed), the spool stays: this thread, started by
``respectline serve``, removes it. It first asks Asterisk over AMI which channels exist
(``CoreShowChannels``, ``write = reporting``): a live call's spool is never touched, however long the
caller waits in the queue (MixMonitor's three files hold only their WAV headers until an agent
answers); a dead call's goes ``recording.spool_grace`` after its last write. Without AMI (not
configured, or not answering) only the files speak: a spool with audio goes ``spool_grace`` after its
last write (a conversation writes several times a second), one without audio stays a day. Several
servers sharing a recordings folder may each sweep: removing a spool twice is harmless; but each asks
its own Asterisk only, so one recordings folder belongs to one Asterisk.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from agi_scripts.ami.client import AmiClient, AmiError
from agi_scripts.config.settings import AmiSettings
from agi_scripts.ground.call_spool import ADOPTIONS, sweep_spools

LOG = logging.getLogger("respectline.retention")
LONGEST_INTERVAL = 30.0
"""A crash's leftovers go within the grace plus this: well inside a minute with the default grace."""
AMI_TIMEOUT = 5.0

LiveCalls = Callable[[], "frozenset[str] | None"]
"""The uniqueids of the channels Asterisk has now, or None when it cannot tell."""


def live_calls_over_ami(settings: AmiSettings) -> LiveCalls:
    """Asks Asterisk for its channels (``CoreShowChannels``) at each sweep; None when it does not answer."""

    answered = [True]  # said once when AMI stops answering, and once when it answers again

    def live_calls() -> frozenset[str] | None:
        try:
            with AmiClient(settings.host, settings.port, timeout=AMI_TIMEOUT) as ami:
                ami.login(settings.username, settings.secret)
                _response, channels = ami.send_action_list("CoreShowChannels")
                ami.logoff()
        except (AmiError, OSError) as exc:
            if answered[0]:
                LOG.warning("call spools: Asterisk's AMI did not say which calls are alive (%s); until it does, "
                            "only spools with audio are swept (the account needs write = reporting)", exc)
            answered[0] = False
            return None
        if not answered[0]:
            LOG.info("call spools: Asterisk's AMI says which calls are alive again")
        answered[0] = True
        return frozenset(c["Uniqueid"] for c in channels if c.get("Uniqueid"))

    return live_calls


def no_live_calls_answer() -> frozenset[str] | None:
    """Without AMI: Asterisk is never asked."""
    return None


class SpoolSweeper:
    def __init__(self, recordings_dir: Path, grace: float, live_calls: LiveCalls = no_live_calls_answer) -> None:
        self.recordings_dir, self.grace, self.live_calls = recordings_dir, grace, live_calls
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
        live = self.live_calls()  # asked before the folder is read: a call that starts after has a fresh spool
        try:
            removed = sweep_spools(self.recordings_dir, self.grace, live_calls=live, keep=ADOPTIONS.calls())
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
