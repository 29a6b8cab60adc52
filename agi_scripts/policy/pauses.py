"""Agents' recovery pauses end on time, and flags held in the outbox get booked.

``flag`` pauses the agent (``PauseQueueMember``) and books the pause with its end time. The
``PauseKeeper`` here lifts every pause that is due through AMI (``QueuePause`` with
``Paused: false``) and marks it resumed. Pauses live in the store, not in memory, so a restart
loses none: the first round after start lifts whatever came due meanwhile.

While the store is down, a flag's booking waits in the outbox (``storage.outbox``). Each round
first books what waits there (exactly once: the store refuses a second booking of one flag), and
announces the cases that were opened late; pauses still waiting there are lifted on time from the
outbox itself and booked as ended once the store answers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Set
from datetime import datetime

from agi_scripts.ami.client import AmiClient, AmiError
from agi_scripts.config.settings import AmiSettings
from agi_scripts.flows.abuse_policy import PRIORITY_RANK
from agi_scripts.flows.ladder import Notifier
from agi_scripts.ground import metrics
from agi_scripts.ground.redact import printable
from agi_scripts.storage.base import AgentPause, Escalation, EscalationBooked, Store, StoreError, utc_now
from agi_scripts.storage.outbox import Outbox, with_pause_lifted

LOG = logging.getLogger("respectline.pauses")


HELD_MIN_AGE_SECONDS = 60.0
"""Outbox files written by another process (classic AGI) are taken once this old: it may still be booking."""
PRIORITY_NAMES = {rank: name for name, rank in PRIORITY_RANK.items()}


class PauseKeeper:
    def __init__(self, store: Store, ami: AmiSettings, interval: float = 5.0,
                 clock: Callable[[], datetime] = utc_now, outbox: Outbox | None = None,
                 notifier: Notifier | None = None) -> None:
        self.store, self.ami, self.interval, self.clock = store, ami, interval, clock
        self.outbox = outbox if outbox is not None else Outbox(None)
        self.notifier = notifier
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="respectline-pauses", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.interval + 5)

    def lift_due(self) -> int:
        """Book what waits in the outbox, then lift every pause that is due now; returns how many were lifted."""
        waiting = self._book_held()
        metrics.outbox_waiting(len(waiting))
        if not self.ami.enabled:
            self._count_pauses()
            return 0  # nothing can lift a pause without AMI (``serve`` says so at start)
        lifted = self._lift_held(waiting)
        try:
            due = self.store.due_pauses(self.clock())
        except StoreError as exc:  # one line a round: a traceback every 5 s would bury the log in an outage
            metrics.store_failed("pause_keeper")
            LOG.error("cannot read agent pauses from the store (%s); retrying in %.0f s", exc, self.interval)
            return lifted
        lifted += self._lift(due, held_running=self._running_agents(waiting))
        self._count_pauses()
        return lifted

    def _count_pauses(self) -> None:
        """The pauses-in-force gauge, from the store (every process sharing it sees the same number)."""
        try:
            metrics.pauses_in_force(len(self.store.active_pauses()))
        except StoreError:
            metrics.store_failed("pause_keeper")

    def _book_held(self) -> list[Escalation]:
        """Book the outbox, oldest flag first; returns what still waits (the store failed)."""
        pending = self.outbox.pending(min_age_seconds=HELD_MIN_AGE_SECONDS, now=self.clock())
        waiting: list[Escalation] = []
        for index, escalation in enumerate(pending):
            try:
                booked = self.store.book_escalation(escalation)
            except StoreError as exc:
                metrics.store_failed("outbox")
                waiting.append(escalation)
                if len(waiting) >= 2 and waiting[-2] is pending[index - 1]:
                    # Two in a row: the store is down, not this flag; try the rest next round.
                    still = waiting + pending[index + 1:]
                    LOG.error("store still unavailable (%s): %d flag(s) wait in the outbox", exc, len(still))
                    return still
                LOG.error("flag %s in the outbox not booked (%s); the next ones are tried, it again next round",
                          printable(escalation.key), exc)
                continue
            except ValueError as exc:  # a file the store refuses outright would block the rest for ever
                LOG.error("flag %s in the outbox cannot be booked (%s); set aside", printable(escalation.key), exc)
                self.outbox.release(escalation)
                continue
            self.outbox.release(escalation)
            if not booked.already:
                if booked.case_id is not None and escalation.case is not None:
                    metrics.case_opened(escalation.case.team)
                LOG.warning("flag %s booked late, from the outbox (incident %d%s)", printable(escalation.key),
                            booked.incident_id, f", case {booked.case_id}" if booked.case_id else "")
                self._announce_late(escalation, booked)
        return waiting

    def _announce_late(self, escalation: Escalation, booked: EscalationBooked) -> None:
        if booked.case_id is None or escalation.case is None:
            return
        priority = PRIORITY_NAMES.get(escalation.case.priority, "normal")
        if self.notifier is not None:
            self.notifier.case_opened(escalation, booked.case_id, priority)
        if not self.ami.enabled:
            return
        try:
            with AmiClient(self.ami.host, self.ami.port) as ami:
                ami.login(self.ami.username, self.ami.secret)
                ami.send_action("UserEvent", {
                    "UserEvent": "RespectlineCase", "CaseId": str(booked.case_id), "Team": escalation.case.team,
                    "Category": escalation.category, "Priority": priority, "Agent": escalation.agent,
                    "Queue": escalation.queue, "Late": "yes"})
        except (AmiError, OSError, ValueError) as exc:
            LOG.error("case %d booked late but not announced through AMI: %s", booked.case_id, exc)

    @staticmethod
    def _running_agents(waiting: list[Escalation]) -> set[str]:
        return {e.pause.agent for e in waiting if e.pause is not None and e.pause.resumed_at is None}

    def _lift_held(self, waiting: list[Escalation]) -> int:
        """Lift the pauses that came due while their flag waits in the outbox (the store is down)."""
        now = self.clock()
        live = [e for e in waiting if e.pause is not None and e.pause.resumed_at is None]
        due = [e for e in live if e.pause is not None and e.pause.resume_at <= now]
        if not due:
            return 0
        running = {e.pause.agent for e in live if e.pause is not None and e.pause.resume_at > now}
        try:
            with AmiClient(self.ami.host, self.ami.port) as ami:
                ami.login(self.ami.username, self.ami.secret)
                for escalation in due:
                    assert escalation.pause is not None
                    if escalation.pause.agent not in running:
                        self._unpause(ami, escalation.pause.agent)
                    self.outbox.update(with_pause_lifted(escalation, now))
                    LOG.warning("recovery pause of %s ended; its flag still waits in the outbox for the store",
                                printable(escalation.pause.agent))
        except (AmiError, OSError) as exc:
            LOG.error("cannot reach Asterisk's AMI to end agent pauses: %s; retrying later", exc)
            return 0
        return len(due)

    def _lift(self, due: list[AgentPause], held_running: Set[str] = frozenset()) -> int:
        if not due:
            return 0
        lifted = 0
        now = self.clock()
        try:
            running = {p.agent for p in self.store.active_pauses() if p.resume_at is None or p.resume_at > now}
            running |= held_running
            with AmiClient(self.ami.host, self.ami.port) as ami:
                ami.login(self.ami.username, self.ami.secret)
                for pause in due:
                    # Overlapping pauses of one agent: the agent takes calls again when the last one ends.
                    if pause.agent not in running:
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
