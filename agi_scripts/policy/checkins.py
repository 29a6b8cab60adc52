"""The check-in keeper: after a hard call, somebody on duty really talks to the agent.

The ladder's ``check_in: {within: 10m, roster: duty}`` (or the agent's own line, key 3) books a check-in
(``storage.checkins``). ``respectline serve`` runs this keeper: every few seconds it claims the check-ins
that are due and works each on a thread of its own, never on a call's session:

1. the people of the roster on duty now (``flows.aftercare``), in the roster's order;
2. per person, an asynchronous AMI ``Originate`` of their phone into the generated
   ``[respectline-checkin]`` context, which plays the summary and reads one key: 1 connects them to the
   (paused, so free) agent, 2 says somebody already talked to them;
3. ``OriginateResponse`` says whether the phone answered; ``UserEvent(RespectlineCheckIn)`` from the
   dialplan says which key (or none) and whether the agent's phone answered;
4. no answer, no key or a hang-up: the next person. Everyone tried: again after ``retry_after``, until the
   check-in's ``within`` has passed; then it is ``missed``.

Each try and the end are written on the case's timeline with who and when. Every wait is bounded; a
failing AMI or store is logged and the check-in is tried again later, never lost silently.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from agi_scripts.ami.client import AmiClient, AmiError, AmiMessage
from agi_scripts.config.agents import device_of
from agi_scripts.config.settings import AmiSettings
from agi_scripts.flows.abuse_policy import AbusePolicy
from agi_scripts.flows.aftercare import OnDuty
from agi_scripts.ground.redact import printable
from agi_scripts.policy.checkin_summary import SummaryMaker
from agi_scripts.prompts.spoken import remove_spoken
from agi_scripts.storage.base import Store, StoreError, utc_now
from agi_scripts.storage.checkins import CheckIn, CheckInBook

LOG = logging.getLogger("respectline.checkins")

CONTEXT = "respectline-checkin"
LISTEN_CONTEXT = "respectline-listen"
NOBODY_CONTEXT = "respectline-listen-nobody"
EVENT = "RespectlineCheckIn"
PING_EVERY = 1.0
"""Asterisk 22.10 can hold an AMI event back until the next input (see real-asterisk notes): ping while waiting."""
AMI_TIMEOUT = 5.0
MAX_WORKERS = 4
"""Check-ins worked at the same time by one server (each holds one AMI connection)."""
SUMMARY_SECONDS = 15.0
"""The summary and the options are played before the key is read: part of each person's time."""
AGENT_RING_SECONDS = 30
_NAME = re.compile(r"[^A-Za-z0-9 ._'-]")

Connect = Callable[[AmiSettings], AmiClient]


def ami_connection(settings: AmiSettings) -> AmiClient:
    client = AmiClient(settings.host, settings.port, timeout=AMI_TIMEOUT)
    try:
        client.login(settings.username, settings.secret)
    except AmiError:
        client.close()
        raise
    return client


@dataclass(frozen=True)
class TryResult:
    """What one person's phone gave: the word kept with the try, and the timeline's sentence."""

    result: str
    """``no_answer``, ``not_acknowledged``, ``acknowledged``, ``connected``, ``agent_not_reached``, ``failed``."""
    detail: str

    @property
    def ends_check_in(self) -> bool:
        return self.result in ("acknowledged", "connected", "agent_not_reached")


class CheckInKeeper:
    """Claims due check-ins and works them on threads; started and stopped by ``respectline serve``."""

    def __init__(self, store: Store, ami: AmiSettings, policy: AbusePolicy, *, timezone: dt.tzinfo,
                 default_language: str, languages: Collection[str], interval: float = 2.0,
                 connect: Connect = ami_connection, worker: str = "", summaries: SummaryMaker | None = None) -> None:
        self.book = CheckInBook(store)
        self.ami, self.policy, self.timezone = ami, policy, timezone
        self.default_language, self.languages = default_language, frozenset(languages)
        self.interval, self.connect = interval, connect
        self.summaries = summaries
        """Speaks who, where and what for each try; without it (or when a summary cannot be made) the generic
        prompt plays."""
        self.worker = worker or f"serve-{secrets.token_hex(4)}"
        self._stop = threading.Event()
        self._busy: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="respectline-checkins", daemon=True)

    def start(self) -> None:
        if self.summaries is not None:
            self.summaries.clear_left()
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.interval + 5)
        for thread in list(self._busy):
            thread.join(timeout)

    def reloaded(self, policy: AbusePolicy) -> None:
        """The flow files changed: the next check-in rings the rosters as they are now."""
        self.policy = policy

    def claim_round(self) -> int:
        """Claim what is due (as many as there are free workers) and start working them; how many."""
        if not self.ami.enabled:
            return 0
        with self._lock:
            self._busy = {t for t in self._busy if t.is_alive()}
            free = MAX_WORKERS - len(self._busy)
        if free <= 0:
            return 0
        try:
            claimed = self.book.claim_due(self.worker, limit=free)
        except StoreError as exc:
            LOG.error("cannot read check-ins from the store (%s); retrying in %.0f s", exc, self.interval)
            return 0
        for check_in in claimed:
            thread = threading.Thread(target=self.work, args=(check_in,), name=f"respectline-checkin-{check_in.id}",
                                      daemon=True)
            with self._lock:
                self._busy.add(thread)
            thread.start()
        return len(claimed)

    def work(self, check_in: CheckIn) -> None:
        """Ring the people on duty in turn until one of them takes the check-in, or give it back for later."""
        try:
            self._work(check_in)
        except StoreError as exc:
            # The claim stays; after STALE_CLAIM any server takes it up again.
            LOG.error("check-in %d: the store failed (%s); it is taken up again later", check_in.id, exc)
        except Exception:
            LOG.exception("check-in %d failed; it is taken up again later", check_in.id)

    def _work(self, check_in: CheckIn) -> None:
        roster = self.policy.aftercare.rosters.get(check_in.roster)
        now = utc_now()
        people = roster.on_duty(now.astimezone(self.timezone), check_in.language or None) if roster else []
        if roster is None:
            LOG.error("check-in %d: roster %r is no longer in the flow files", check_in.id, check_in.roster)
        for person in people:
            if self._stop.is_set():
                self.book.try_again_at(check_in, utc_now())
                return
            if utc_now() >= check_in.due_at:
                break
            if check_in.reason == "listen_in" and not self.call_is_up(check_in.spy_channel):
                self.book.finish(check_in, "missed", None, f"{check_in.agent}'s call ended before anyone listened in")
                return
            tried = self.ring(check_in, person)
            self.book.add_try(check_in, person.name, person.endpoint, tried.result, tried.detail)
            LOG.info("check-in %d: %s: %s", check_in.id, printable(person.name), tried.result)
            if tried.ends_check_in:
                self.book.finish(check_in, "connected" if tried.result == "connected" else tried.result,
                                 person.name, tried.detail)
                return
        if check_in.reason == "listen_in" or utc_now() >= check_in.due_at:
            # A listen-in is for the call going on now: one round, then the agent is told nobody is free.
            who = "nobody on duty" if not people else f"none of {len(people)} on duty"
            self.book.finish(check_in, "missed", None, f"{who} took the check-in of {check_in.agent} in time")
            LOG.warning("check-in %d of %s missed: %s", check_in.id, printable(check_in.agent), who)
            if check_in.reason == "listen_in":
                self.tell_nobody_is_free(check_in)
            return
        retry_at = utc_now() + dt.timedelta(seconds=self.policy.aftercare.check_in.retry_after)
        self.book.try_again_at(check_in, min(retry_at, check_in.due_at))

    def call_is_up(self, channel: str) -> bool:
        """Whether the agent's channel of a listen-in still exists (AMI ``Status``); when AMI cannot say, yes."""
        try:
            client = self.connect(self.ami)
        except (AmiError, OSError):
            return True
        try:
            return client.send_action("Status", {"Channel": channel}, check=False).get("Response", "").lower() != "error"
        except (AmiError, OSError, ValueError):
            return True
        finally:
            client.logoff()
            client.close()

    def tell_nobody_is_free(self, check_in: CheckIn) -> None:
        """The agent hears a tone and "no one is free" in their call (a Local channel whispers it through
        ``ChanSpy``); the caller hears nothing of it."""
        language = check_in.language if check_in.language in self.languages else self.default_language
        try:
            client = self.connect(self.ami)
        except (AmiError, OSError) as exc:
            LOG.error("listen-in %d: cannot tell the agent nobody is free: %s", check_in.id, exc)
            return
        try:
            client.send_action("Originate", {
                "Channel": f"Local/{language}@{NOBODY_CONTEXT}", "Application": "ChanSpy",
                "Data": f"{check_in.spy_channel},qwES", "Timeout": "5000", "Async": "true",
                "CallerID": '"Respectline" <>'})
        except (AmiError, OSError, ValueError) as exc:
            LOG.error("listen-in %d: cannot tell the agent nobody is free: %s", check_in.id, exc)
        finally:
            client.logoff()
            client.close()

    def ring(self, check_in: CheckIn, person: OnDuty) -> TryResult:
        """One person: their phone rings with the summary; what they did."""
        timings = self.policy.aftercare.check_in
        listen_in = self.policy.aftercare.listen_in
        ring_for = listen_in.ring_for if check_in.reason == "listen_in" and listen_in else timings.ring_for
        language = person.language(check_in.language, self.default_language)
        if language not in self.languages:
            language = self.default_language
        token = secrets.token_hex(8)
        try:
            client = self.connect(self.ami)
        except (AmiError, OSError) as exc:
            return TryResult("failed", f"Asterisk's AMI is unavailable ({printable(str(exc), 200)})")
        summary = ""
        try:
            summary = self.summary(client, check_in, language, token)
            fields = originate_fields(person.endpoint, check_in, token, language, ring_for, timings.answer_within,
                                      summary=summary)
            action_id = client.send_action("Originate", fields).get("ActionID", "")
            return follow_try(client, token, action_id, person, check_in,
                              answer_wait=ring_for + 15, key_wait=timings.answer_within + SUMMARY_SECONDS)
        except (AmiError, OSError, ValueError) as exc:
            return TryResult("failed", f"ringing {person.endpoint} failed ({printable(str(exc), 200)})")
        finally:
            remove_spoken(summary)  # made for this try only
            client.logoff()
            client.close()

    def summary(self, client: AmiClient, check_in: CheckIn, language: str, token: str) -> str:
        """This try's spoken summary (a path without extension), or ``""`` for the generic prompt. Never
        raises: the person is rung either way."""
        if self.summaries is None:
            return ""
        try:
            queues = agent_queues(client, check_in.agent_endpoint) if check_in.reason == "listen_in" else []
            category = self.policy.categories.get(check_in.category)
            return self.summaries.make(check_in, language, token, category.label if category else "", queues)
        except (StoreError, AmiError, OSError, ValueError) as exc:
            LOG.warning("check-in %d: no spoken summary (%s); the generic prompt plays", check_in.id,
                        printable(str(exc), 200))
            return ""

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.claim_round()
            except Exception:  # one bad round must not end the check-ins for good
                LOG.exception("check-in round failed; retrying in %.0f s", self.interval)
            self._stop.wait(self.interval)


def agent_queues(client: AmiClient, agent_endpoint: str) -> list[str]:
    """The queues Asterisk has the agent in, the ones they are in a call on first (for the listen-in's summary)."""
    _response, items = client.send_action_list("QueueStatus", {"Member": agent_endpoint})
    members = [i for i in items if i.get("Event") == "QueueMember"
               and device_of(i.get("StateInterface") or i.get("Location", "")) == agent_endpoint]
    members.sort(key=lambda i: i.get("InCall", "0") != "1")
    return [i.get("Queue", "") for i in members]


def originate_fields(endpoint: str, check_in: CheckIn, token: str, language: str, ring_for: float,
                     answer_within: float, *, summary: str = "") -> dict[str, str]:
    """The ``Originate`` of one person's phone. Values are checked ones (endpoint, interface, hex, two
    letters, digits, the summary's path) and the dialplan filters them again; the agent's name is shown on
    the phone's display."""
    name = _NAME.sub("", check_in.agent)[:40] or "an agent"
    variables = {"RL_CHECKIN": token, "RL_CHECKIN_LANG": language, "RL_CHECKIN_AGENT": check_in.agent_endpoint,
                 "RL_CHECKIN_WAIT": str(round(answer_within))}
    if summary:
        variables["RL_CHECKIN_SUMMARY"] = summary
    context, label = CONTEXT, "Check-in"
    if check_in.reason == "listen_in":
        variables["RL_LISTEN_SPY"] = check_in.spy_channel
        context, label = LISTEN_CONTEXT, "Help"
    return {"Channel": endpoint, "Context": context, "Exten": "s", "Priority": "1",
            "Timeout": str(int(ring_for * 1000)), "CallerID": f'"{label} {name}" <>', "Async": "true",
            "Variable": ",".join(f"{key}={value}" for key, value in variables.items())}


def follow_try(client: AmiClient, token: str, action_id: str, person: OnDuty, check_in: CheckIn, *,
               answer_wait: float, key_wait: float, clock: Callable[[], float] = time.monotonic) -> TryResult:
    """Follow one ring through AMI until it says what the person did; every wait bounded."""
    answered = _wait(client, clock() + answer_wait, clock,
                     lambda e: e.get("Event") == "OriginateResponse" and e.get("ActionID") == action_id)
    if answered is None or answered.get("Response", "").lower() != "success":
        return TryResult("no_answer", f"{person.name} ({person.endpoint}) did not answer")
    channel = answered.get("Uniqueid", "")

    def is_ours(event: AmiMessage) -> bool:
        if event.get("Event") == "UserEvent":
            return event.get("UserEvent") == EVENT and event.get("CheckIn") == token
        return bool(channel) and event.get("Event") == "Hangup" and event.get("Uniqueid") == channel

    deadline = clock() + key_wait + AGENT_RING_SECONDS + 10
    connecting = False
    while True:
        event = _wait(client, deadline, clock, is_ours)
        step = "hung_up" if event is None or event.get("Event") == "Hangup" else event.get("Step", "")
        if step == "acknowledged":
            return TryResult("acknowledged", f"{person.name} said someone already talked to {check_in.agent}")
        if step == "connecting":
            connecting = True
        elif step == "agent_answered":
            return TryResult("connected", f"{person.name} was connected to {check_in.agent}")
        elif step == "listening":
            return TryResult("connected", f"{person.name} listens in on {check_in.agent}'s call")
        elif step == "agent_not_reached" or (step == "hung_up" and connecting):
            return TryResult("agent_not_reached", f"{person.name} pressed 1 but {check_in.agent}'s phone did not "
                                                  "answer")
        elif step in ("no_key", "hung_up"):
            return TryResult("not_acknowledged", f"{person.name} answered but pressed neither 1 nor 2")


def _wait(client: AmiClient, deadline: float, clock: Callable[[], float],
          wanted: Callable[[AmiMessage], bool]) -> AmiMessage | None:
    while (left := deadline - clock()) > 0:
        event = client.next_event(timeout=min(PING_EVERY, left))
        if event is None:
            client.send_action("Ping", check=False)  # flushes an event Asterisk may hold back
            continue
        if wanted(event):
            return event
    return None
