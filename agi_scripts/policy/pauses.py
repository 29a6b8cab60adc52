"""Agents' recovery pauses end on time, also when the server restarted in between.

``flag`` pauses the agent (``PauseQueueMember``) and stores the pause with its end time. The
``PauseKeeper`` here lifts every pause that is due through AMI (``QueuePause`` with
``Paused: false``) and marks it resumed. Pauses live in the store, not in memory, so a restart
loses none: the first round after start lifts whatever came due meanwhile.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from agi_scripts.ami.client import AmiClient, AmiError
from agi_scripts.config.settings import AmiSettings
from agi_scripts.protocol.errors import printable
from agi_scripts.storage.base import Store, StoreError, utc_now

LOG = logging.getLogger("respectline.pauses")


class PauseKeeper:
    def __init__(self, store: Store, ami: AmiSettings, interval: float = 5.0,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.store, self.ami, self.interval, self.clock = store, ami, interval, clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="respectline-pauses", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.interval + 5)

    def lift_due(self) -> int:
        """Lift every pause that is due now; returns how many were lifted."""
        try:
            due = self.store.due_pauses(self.clock())
        except StoreError:
            LOG.exception("cannot read agent pauses from the store; retrying later")
            return 0
        if not due:
            return 0
        lifted = 0
        now = self.clock()
        try:
            running = [p for p in self.store.active_pauses() if p.resume_at is None or p.resume_at > now]
            with AmiClient(self.ami.host, self.ami.port) as ami:
                ami.login(self.ami.username, self.ami.secret)
                for pause in due:
                    # Overlapping pauses of one agent: the agent takes calls again when the last one ends.
                    if not any(other.agent == pause.agent for other in running):
                        self._unpause(ami, pause.agent)
                    self.store.mark_resumed(pause.id)
                    lifted += 1
                    LOG.info("recovery pause of %s ended (pause %d)", printable(pause.agent), pause.id)
        except (AmiError, OSError) as exc:
            LOG.error("cannot reach Asterisk's AMI at %s:%d to end agent pauses: %s; retrying later",
                      self.ami.host, self.ami.port, exc)
        except StoreError:
            LOG.exception("could not mark an agent pause as ended; it will be lifted again")
        return lifted

    def _unpause(self, ami: AmiClient, interface: str) -> None:
        try:
            ami.send_action("QueuePause", {"Interface": interface, "Paused": "false",
                                           "Reason": "Respectline recovery time over"})
        except AmiError as exc:
            # Not a member any more (logged off, removed): nothing left to lift.
            LOG.warning("QueuePause for %s refused: %s", printable(interface), exc)
        except ValueError:
            # A row no AMI action can carry (a line break in it): Asterisk could not have paused it either.
            LOG.error("pause of %s cannot be lifted through AMI (not an interface); marked ended", printable(interface))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.lift_due()
            except Exception:  # one bad round must not end the lifting of every later pause
                LOG.exception("lifting agent pauses failed; retrying in %.0f s", self.interval)
            self._stop.wait(self.interval)
