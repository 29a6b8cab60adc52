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
from dataclasses import dataclass
from datetime import datetime

from agi_scripts.ami.client import AmiClient, AmiError
from agi_scripts.config.settings import AmiSettings
from agi_scripts.protocol.errors import printable
from agi_scripts.storage.base import AgentPause, Store, StoreError, utc_now

LOG = logging.getLogger("respectline.pauses")


UNBOOKED_PAUSES = "unbooked_pauses"
"""The name under which ``respectline serve`` hands its :class:`UnbookedPauses` to handlers."""


@dataclass(frozen=True)
class UnbookedPause:
    agent: str
    reason: str
    paused_at: datetime
    resume_at: datetime
    case_id: int | None


class UnbookedPauses:
    """Pauses applied while the store could not record them. The server's :class:`PauseKeeper`
    books them as soon as the store answers again, and lifts them on time from here while it does
    not, so an agent is never left paused for good by a store outage (a restart in between loses
    this list: the log names each pause that was applied unbooked)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pauses: list[UnbookedPause] = []

    def add(self, pause: UnbookedPause) -> None:
        with self._lock:
            self._pauses.append(pause)

    def take(self, wanted: Callable[[UnbookedPause], bool]) -> list[UnbookedPause]:
        with self._lock:
            taken = [p for p in self._pauses if wanted(p)]
            self._pauses = [p for p in self._pauses if not wanted(p)]
        return taken

    def put_back(self, pauses: list[UnbookedPause]) -> None:
        with self._lock:
            self._pauses[:0] = pauses

    def __len__(self) -> int:
        with self._lock:
            return len(self._pauses)


class PauseKeeper:
    def __init__(self, store: Store, ami: AmiSettings, interval: float = 5.0,
                 clock: Callable[[], datetime] = utc_now, unbooked: UnbookedPauses | None = None) -> None:
        self.store, self.ami, self.interval, self.clock = store, ami, interval, clock
        self.unbooked = unbooked if unbooked is not None else UnbookedPauses()  # an empty one is falsy
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="respectline-pauses", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.interval + 5)

    def lift_due(self) -> int:
        """Book what the store missed, then lift every pause that is due now; returns how many were lifted."""
        lifted = self._book_or_lift_unbooked()
        try:
            due = self.store.due_pauses(self.clock())
        except StoreError:
            LOG.exception("cannot read agent pauses from the store; retrying later")
            return lifted
        return lifted + self._lift(due)

    def _book_or_lift_unbooked(self) -> int:
        pending = self.unbooked.take(lambda _pause: True)
        if not pending:
            return 0
        unbooked: list[UnbookedPause] = []
        for pause in pending:
            try:
                self.store.record_pause(agent=pause.agent, queues=(), reason=pause.reason, paused_at=pause.paused_at,
                                        resume_at=pause.resume_at, case_id=pause.case_id)
                LOG.info("recovery pause of %s booked after the store came back", printable(pause.agent))
            except StoreError:
                unbooked.append(pause)
        now = self.clock()
        due = [p for p in unbooked if p.resume_at <= now]
        self.unbooked.put_back([p for p in unbooked if p.resume_at > now])
        if not due:
            return 0
        try:
            with AmiClient(self.ami.host, self.ami.port) as ami:
                ami.login(self.ami.username, self.ami.secret)
                for pause in due:
                    self._unpause(ami, pause.agent)
                    LOG.warning("recovery pause of %s ended; the store never recorded it (it was down)",
                                printable(pause.agent))
        except (AmiError, OSError) as exc:
            self.unbooked.put_back(due)
            LOG.error("cannot reach Asterisk's AMI to end unbooked pauses: %s; retrying later", exc)
            return 0
        return len(due)

    def _lift(self, due: list[AgentPause]) -> int:
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
