"""Thank-you rounds delivered between calls, never during one: the background worker of ``respectline serve``.

While a round of ``flows/appreciation.yaml`` runs, the worker follows the queue members over AMI
(``QueueStatus`` each round, woken early by ``QueueMemberStatus`` / ``QueueMemberPause`` events) and
rings an agent only when, in every queue they belong to, they are free (device ``NOT_INUSE``), not
ringing, not in a call and not paused. Then:

1. it pauses them in all their queues (``QueuePause``, reason ``respectline-appreciation``), so no customer
   is routed to them while they listen, and reads their state again: a customer call that won the race
   gets the agent back at once (unpaused, the try not counted);
2. ``Originate`` rings their phone into the generated ``[respectline-appreciation]`` context, which plays
   the message and reports each step with ``UserEvent(RespectlineAppreciation)``;
3. when the call ends (the ``ended`` step, or the channel's ``Hangup``, or ``OriginateResponse`` saying it
   was not answered) they are unpaused. Not heard to the end: tried again after ``retry_after``, and
   counted as missed after ``tries`` tries.

At most ``max_parallel`` agents are rung at once. A recovery pause of the abuse policy (in the store)
keeps an agent out until it ends, or skips them (``on_recovery_pause``). All of this runs on one thread
of its own with its own AMI connection: no call and no event loop ever waits for it. A pause this worker
set and could not lift (AMI lost, server killed) is lifted when it connects again: its reason says it is
ours.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from agi_scripts.ami.client import AmiClient, AmiError, AmiMessage
from agi_scripts.config.agents import device_of
from agi_scripts.config.bundle import Bundle, load_bundle
from agi_scripts.config.settings import AmiSettings
from agi_scripts.flows.appreciation import Appreciation, Round
from agi_scripts.ground.errors import ValidationFailed
from agi_scripts.ground.redact import printable
from agi_scripts.prompts.spoken import spoken_file, spoken_value
from agi_scripts.storage.appreciation import AppreciationStore
from agi_scripts.storage.base import Store, StoreError, utc_now

LOG = logging.getLogger("respectline.appreciation")

CONTEXT = "respectline-appreciation"
LIVE_CONTEXT = "respectline-appreciation-live"
EVENT = "RespectlineAppreciation"
PAUSE_REASON = "respectline-appreciation"
"""The queue pause reason: a pause with it is this worker's, lifted at connect if it was left behind."""
FREE = "1"
"""``QueueMember`` ``Status`` AST_DEVICE_NOT_INUSE; 6 and 7 are ringing, 2, 3 and 8 in a call or on hold."""
AMI_TIMEOUT = 5.0
TICK = 1.0
"""Seconds between two looks at the members while a round runs (events wake it earlier)."""
SETTLE = 0.3
"""After pausing an agent, the device state gets this long to show a customer call that raced the pause."""
MAX_CALL_SECONDS = 15 * 60.0
RECONNECT_AFTER = 5.0
INTRO = {"nl": "{name}, {queue}, {position} van {total}", "fr": "{name}, {queue}, {position} sur {total}",
         "en": "{name}, {queue}, {position} of {total}"}
"""What the manager hears before each agent in live mode, in the round's language (English otherwise)."""
RECORDING_PATH = re.compile(r"^/[A-Za-z0-9_./-]{1,400}$")
"""A path the dialplan's ``FILTER`` leaves as it is (and ``Record`` takes as one argument)."""


@dataclass
class Member:
    """One agent as Asterisk reports them, over all their queues."""

    device: str
    queues: list[str] = field(default_factory=list)
    statuses: set[str] = field(default_factory=set)
    in_call: bool = False
    paused: bool = False
    paused_by_us: bool = False

    @property
    def free(self) -> bool:
        return self.statuses == {FREE} and not self.in_call and not self.paused


@dataclass
class Ringing:
    """A delivery in progress: its agent paused, their phone rung."""

    round_id: str
    device: str
    token: str
    action_id: str
    started: float
    reply: str = ""
    """Where the agent's reply is recorded (without ``.wav``); ``""``: no reply possible."""
    language: str = ""
    manager: str = ""
    """Live mode: the manager's phone, rung first and connected to the agent."""
    answered_uniqueid: str = ""
    heard: bool = False


class AppreciationWorker:
    """Delivers the running rounds; ``start``/``stop`` with the server, ``loaded`` on each reload."""

    def __init__(self, store: Store, ami: AmiSettings, bundle: Bundle, *, config: Path | None = None,
                 clock: Callable[[], datetime] = utc_now,
                 connect: Callable[[AmiSettings], AmiClient] | None = None) -> None:
        self.rounds = AppreciationStore(store)
        self.store = store
        self.ami = ami
        self.clock = clock
        self._connect = connect or _login
        self._bundle = bundle
        self._config = config
        self._seen = _stamps(bundle)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._client: AmiClient | None = None
        self._ringing: dict[str, Ringing] = {}
        """Token -> delivery in progress."""
        self._warned: set[str] = set()
        self._manager_back: dict[str, float] = {}
        self._enlisted: set[tuple[str, str]] = set()
        """(round, device) already in the store: a look writes only the agents it has not seen before."""
        """Live mode: a manager who did not answer is rung again from this monotonic time."""
        self._thread = threading.Thread(target=self._run, name="respectline-appreciation", daemon=True)

    # ------------------------------------------------------------ life cycle

    def start(self) -> None:
        try:
            left = self.rounds.interrupted()
            if left:
                LOG.info("%d thank-you call(s) were interrupted by a stop; those agents wait again", left)
        except StoreError as error:
            LOG.error("cannot read the thank-you rounds from the store (%s)", error)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(AMI_TIMEOUT * 3)

    def loaded(self, bundle: Bundle) -> None:
        """A reload: the next look uses the rounds as they are now."""
        with self._lock:
            self._bundle = bundle
        self._seen = _stamps(bundle)

    def _reload_if_changed(self) -> None:
        """Edits of the rounds take effect at the next look, as the server's reload does for calls; a file
        with errors keeps the rounds as they were (the server's reload logs the errors)."""
        if self._config is None or _stamps(self.bundle) == self._seen:
            return
        try:
            fresh = load_bundle(self._config)
        except ValidationFailed:
            self._seen = _stamps(self.bundle)
            return
        self.loaded(fresh)

    @property
    def bundle(self) -> Bundle:
        with self._lock:
            return self._bundle

    # ------------------------------------------------------------ the loop

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._round_once()
            except (AmiError, OSError) as error:
                LOG.warning("thank-you rounds: AMI connection lost (%s); agents being rung are unpaused when "
                            "it is back", printable(str(error), 200))
                self._drop_connection()
                self._stop.wait(RECONNECT_AFTER)
            except StoreError as error:
                LOG.error("thank-you rounds: the store does not answer (%s); nobody is rung meanwhile", error)
                self._stop.wait(RECONNECT_AFTER)
            except Exception:  # a bug here must not end the thread: the next look tries again
                LOG.exception("thank-you rounds: unexpected error")
                self._stop.wait(RECONNECT_AFTER)
        self._shutdown()

    def _round_once(self) -> None:
        self._reload_if_changed()
        appreciation = self.bundle.appreciation
        active = appreciation.active(self.clock()) if self.ami.enabled else []
        if not active and not self._ringing:
            self._drop_connection()
            self._stop.wait(TICK)
            return
        client = self._client_now()
        members = self._members(client)
        for found in active:
            self._enlist(found, members)
        self._start_deliveries(client, appreciation, active, members)
        self._follow(client, appreciation, time.monotonic() + TICK)

    def _client_now(self) -> AmiClient:
        if self._client is None:
            self._client = self._connect(self.ami)
            self._lift_left_pauses(self._client)
        return self._client

    def _drop_connection(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _shutdown(self) -> None:
        """Stopping: the agents being rung now are unpaused (their try waits for the next start)."""
        client = self._client
        for ringing in list(self._ringing.values()):
            if client is not None:
                self._unpause(client, ringing.device)
        self._ringing.clear()
        self._drop_connection()

    # ------------------------------------------------------------ who is who

    def _members(self, client: AmiClient) -> dict[str, Member]:
        _response, items = client.send_action_list("QueueStatus")
        members: dict[str, Member] = {}
        for item in items:
            if item.get("Event") != "QueueMember":
                continue
            device = device_of(item.get("StateInterface") or item.get("Location", ""))
            if not device:
                continue
            member = members.setdefault(device, Member(device))
            member.queues.append(item.get("Queue", ""))
            member.statuses.add(item.get("Status", ""))
            member.in_call = member.in_call or item.get("InCall", "0") == "1"
            if item.get("Paused", "0") == "1":
                member.paused = True
                member.paused_by_us = member.paused_by_us or item.get("PausedReason", "") == PAUSE_REASON
        return members

    def _lift_left_pauses(self, client: AmiClient) -> None:
        """Pauses with our reason that no delivery of this process holds: left by a stop or a lost connection."""
        ours = {r.device for r in self._ringing.values()}
        for member in self._members(client).values():
            if member.paused_by_us and member.device not in ours:
                LOG.info("lifting the thank-you pause left on %s", member.device)
                self._unpause(client, member.device)

    def _enlist(self, found: Round, members: dict[str, Member]) -> None:
        names = self.bundle.settings.agents
        for member in members.values():
            if (found.id, member.device) in self._enlisted:
                continue
            if not found.queues or set(found.queues) & set(member.queues):
                self.rounds.enlist(found.id, member.device, names.name_for(member.device), at=self.clock())
                self._enlisted.add((found.id, member.device))

    # ------------------------------------------------------------ ringing

    def _start_deliveries(self, client: AmiClient, appreciation: Appreciation, active: list[Round],
                          members: dict[str, Member]) -> None:
        busy = {r.device for r in self._ringing.values()}
        recovering = {pause.agent for pause in self.store.active_pauses()}
        now = self.clock()
        for found in active:
            if found.mode == "live":
                if len(self._ringing) < appreciation.max_parallel:
                    self._start_live(client, appreciation, found, members, recovering)
                continue
            sound = self._sound(found)
            if not sound:
                continue
            for delivery in self.rounds.deliveries(found.id):
                if len(self._ringing) >= appreciation.max_parallel:
                    return
                if delivery.status != "waiting" or delivery.agent in busy:
                    continue
                if delivery.next_try_at is not None and delivery.next_try_at > now:
                    continue
                if delivery.agent in recovering:
                    if found.on_recovery_pause == "skip":
                        self.rounds.skipped(found.id, delivery.agent, "on a recovery pause", at=now)
                    continue
                member = members.get(delivery.agent)
                if member is None or not member.free:
                    continue
                if self._ring(client, appreciation, found, member, sound):
                    busy.add(member.device)

    def _ring(self, client: AmiClient, appreciation: Appreciation, found: Round, member: Member, sound: str) -> bool:
        # Claimed in the store (another server may have taken this agent), paused, and looked at again:
        # a customer call may have reached the agent between the look and the pause.
        if not self._claim(client, found, member):
            return False
        token = secrets.token_hex(8)
        language = found.language or self.bundle.settings.language.default
        reply = self._reply_path(found, member.device, token)
        variables = {"RL_APPRECIATION": token, "RL_APPRECIATION_SOUND": sound,
                     "RL_APPRECIATION_LANG": language, "RL_APPRECIATION_REPLY": reply}
        fields = {"Channel": member.device, "Context": CONTEXT, "Exten": "s", "Priority": "1",
                  "Timeout": str(int(appreciation.ring_timeout * 1000)), "Async": "true",
                  "CallerID": f'"{_caller_id_name(found)}" <>',
                  "Variable": ",".join(f"{key}={value}" for key, value in variables.items())}
        try:
            action_id = client.send_action("Originate", fields).get("ActionID", "")
        except AmiError as error:
            self._unpause(client, member.device)
            self._not_reached(appreciation, found.id, member.device,
                              f"Asterisk refused to ring ({printable(str(error), 200)})")
            return False
        self._ringing[token] = Ringing(found.id, member.device, token, action_id, time.monotonic(), reply, language)
        LOG.info("thank-you round %s: ringing %s", found.id, member.device)
        return True

    def _sound(self, found: Round) -> str:
        """What the agent hears: the prompt in the round's language, or the manager's recording."""
        bundle = self.bundle
        language = found.language or bundle.settings.language.default
        if found.prompt:
            return bundle.prompts.sound_name(found.prompt, language)
        recordings = self.rounds.recordings(found.id)
        chosen = next((r for r in recordings if r.language == language), recordings[0] if recordings else None)
        if chosen is None:
            self._warn_once(f"recording:{found.id}", "round %s waits for its manager's recording (%s on %s)",
                            found.id, bundle.appreciation.manager_line, found.manager)
            return ""
        return chosen.path

    def _reply_path(self, found: Round, device: str, token: str) -> str:
        folder = self.bundle.settings.recordings_dir / "appreciation" / found.id
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            self._warn_once(f"replies:{folder}", "replies cannot be kept: %s", error)
            return ""
        path = str(folder / f"reply-{device.replace('/', '_')}-{token}")
        if not RECORDING_PATH.fullmatch(path):  # the dialplan would filter it into another path: no reply then
            self._warn_once(f"replies:{folder}", "replies cannot be kept under %s: use letters, digits and "
                            "_ . / - in paths.recordings", folder)
            return ""
        return path

    # ------------------------------------------------------------ following

    def _follow(self, client: AmiClient, appreciation: Appreciation, until: float) -> None:
        """Reads events until ``until``: each delivery's answer, steps and end."""
        while (left := until - time.monotonic()) > 0:
            event = client.next_event(timeout=min(left, 0.5))
            if event is None:
                client.send_action("Ping", check=False)  # flushes an event Asterisk 22.10 may hold back
            else:
                self._on_event(client, appreciation, event)
            self._expire(client, appreciation)

    def _on_event(self, client: AmiClient, appreciation: Appreciation, event: AmiMessage) -> None:
        name = event.get("Event", "")
        if name == "OriginateResponse":
            ringing = next((r for r in self._ringing.values() if r.action_id == event.get("ActionID")), None)
            if ringing is None:
                return
            if event.get("Response", "").lower() == "success":
                ringing.answered_uniqueid = event.get("Uniqueid", "")
            elif ringing.manager:
                self._manager_missed(client, appreciation, ringing)
            else:
                self._finish(client, appreciation, ringing, "no answer")
        elif name == "UserEvent" and event.get("UserEvent") == EVENT:
            ringing = self._ringing.get(event.get("Delivery", ""))
            if ringing is None:
                return
            step = event.get("Step", "")
            if step == "heard" and event.get("Status", "") == "SUCCESS":
                ringing.heard = True
                self.rounds.reached(ringing.round_id, ringing.device, at=self.clock())
            elif step == "replied" and ringing.reply:
                self._replied(ringing)
            elif step == "ended":
                self._finish(client, appreciation, ringing, "hung up before the end of the message")
        elif name == "Hangup":
            uniqueid = event.get("Uniqueid", "")
            ringing = next((r for r in self._ringing.values() if uniqueid and r.answered_uniqueid == uniqueid), None)
            if ringing is not None:
                self._finish(client, appreciation, ringing, "hung up before the end of the message")

    def _replied(self, ringing: Ringing) -> None:
        """The reply is kept for the manager, screened as a spoken compliment is (``flows/post_call.yaml``'s
        screening). Replies get no transcript in this version, so ``without_transcript`` decides."""
        file = Path(ringing.reply + ".wav")
        if not file.is_file():
            return  # hung up before saying anything: Record left no file
        rules = self.bundle.post_call.screening
        decision = rules.decide(rating=None, has_message=True, transcript=None, language=ringing.language,
                                transcription_on=False)
        state = "released" if decision.state == "released" else "held"
        self.rounds.replied(ringing.round_id, ringing.device, str(file), screening=state, reason=decision.reason,
                            at=self.clock())
        LOG.info("thank-you round %s: %s replied (%s)", ringing.round_id, ringing.device, state)

    def _expire(self, client: AmiClient, appreciation: Appreciation) -> None:
        now = time.monotonic()
        for ringing in list(self._ringing.values()):
            limit = MAX_CALL_SECONDS if ringing.answered_uniqueid else appreciation.ring_timeout + 15
            if now - ringing.started > limit:
                self._finish(client, appreciation, ringing, "no word from Asterisk")

    def _finish(self, client: AmiClient, appreciation: Appreciation, ringing: Ringing, why: str) -> None:
        if self._ringing.pop(ringing.token, None) is None:
            return
        self._unpause(client, ringing.device)
        if ringing.heard:
            LOG.info("thank-you round %s: %s heard the message", ringing.round_id, ringing.device)
            return
        self._not_reached(appreciation, ringing.round_id, ringing.device, why)

    def _not_reached(self, appreciation: Appreciation, round_id: str, device: str, why: str) -> None:
        retry_at = self.clock() + timedelta(seconds=appreciation.retry_after)
        status = self.rounds.not_reached(round_id, device, why, tries=appreciation.tries, retry_at=retry_at,
                                         at=self.clock())
        LOG.info("thank-you round %s: %s not reached (%s): %s", round_id, device, why, status)

    # ------------------------------------------------------------ live mode

    def _start_live(self, client: AmiClient, appreciation: Appreciation, found: Round, members: dict[str, Member],
                    recovering: set[str]) -> None:
        """One agent at a time per manager: the manager's phone rings, hears who is next, then talks to them."""
        if any(r.manager == found.manager for r in self._ringing.values()):
            return
        if self._manager_back.get(found.manager, 0.0) > time.monotonic():
            return
        now = self.clock()
        everyone = self.rounds.deliveries(found.id)
        for delivery in everyone:
            if delivery.status != "waiting" or (delivery.next_try_at is not None and delivery.next_try_at > now):
                continue
            if delivery.agent in recovering:
                if found.on_recovery_pause == "skip":
                    self.rounds.skipped(found.id, delivery.agent, "on a recovery pause", at=now)
                continue
            member = members.get(delivery.agent)
            if member is None or not member.free:
                continue
            position = 1 + sum(d.status in ("reached", "missed", "skipped") for d in everyone)
            self._ring_live(client, appreciation, found, member, delivery.agent_name, position, len(everyone))
            return

    def _ring_live(self, client: AmiClient, appreciation: Appreciation, found: Round, member: Member, name: str,
                   position: int, total: int) -> None:
        if not self._claim(client, found, member):
            return
        token = secrets.token_hex(8)
        language = found.language or self.bundle.settings.language.default
        intro = self._intro(found, token, language, name, ", ".join(q for q in member.queues if q), position, total)
        variables = {"RL_APPRECIATION": token, "RL_APPRECIATION_AGENT": member.device, "RL_APPRECIATION_INTRO": intro}
        fields = {"Channel": found.manager, "Context": LIVE_CONTEXT, "Exten": "s", "Priority": "1",
                  "Timeout": str(int(appreciation.ring_timeout * 1000)), "Async": "true",
                  "CallerID": f'"{_caller_id_name(found)}" <>',
                  "Variable": ",".join(f"{key}={value}" for key, value in variables.items())}
        try:
            action_id = client.send_action("Originate", fields).get("ActionID", "")
        except AmiError as error:
            self._unpause(client, member.device)
            self.rounds.released(found.id, member.device, f"Asterisk refused to ring the manager "
                                 f"({printable(str(error), 200)})", at=self.clock())
            self._manager_back[found.manager] = time.monotonic() + appreciation.retry_after
            return
        self._ringing[token] = Ringing(found.id, member.device, token, action_id, time.monotonic(), "", language,
                                       manager=found.manager)
        LOG.info("thank-you round %s (live): ringing the manager %s for %s", found.id, found.manager, member.device)

    def _claim(self, client: AmiClient, found: Round, member: Member) -> bool:
        """The agent's try starts in the store, they are paused, and they are still free after the pause."""
        if not self.rounds.ringing(found.id, member.device, at=self.clock()):
            return False
        self._pause(client, member.device)
        time.sleep(SETTLE)
        again = self._members(client).get(member.device)
        if again is None or again.statuses != {FREE} or again.in_call:
            self._unpause(client, member.device)
            self.rounds.released(found.id, member.device, "a customer call came first", at=self.clock())
            return False
        return True

    def _intro(self, found: Round, token: str, language: str, name: str, queue: str, position: int,
               total: int) -> str:
        """"Agent One, billing, 3 of 12", spoken (espeak-ng, as the prompts are built) into the round's folder;
        ``""`` when it cannot be made (the manager is still connected, without the intro)."""
        text = INTRO.get(language, INTRO["en"]).format(name=spoken_value(name), queue=spoken_value(queue),
                                                       position=position, total=total)
        folder = self.bundle.settings.recordings_dir / "appreciation" / found.id
        path = spoken_file(text, language, folder, f"intro-{token}")
        if not path:
            self._warn_once(f"intro:{found.id}", "round %s: the spoken intro cannot be made; the manager "
                            "is connected without it", found.id)
        return path

    def _manager_missed(self, client: AmiClient, appreciation: Appreciation, ringing: Ringing) -> None:
        """The manager did not answer: the agent's try does not count; the manager is rung again later."""
        self._ringing.pop(ringing.token, None)
        self._unpause(client, ringing.device)
        self.rounds.released(ringing.round_id, ringing.device, "the manager did not answer", at=self.clock())
        self._manager_back[ringing.manager] = time.monotonic() + appreciation.retry_after
        LOG.info("thank-you round %s (live): the manager %s did not answer", ringing.round_id, ringing.manager)

    # ------------------------------------------------------------ pauses

    def _pause(self, client: AmiClient, device: str) -> None:
        client.send_action("QueuePause", {"Interface": device, "Paused": "true", "Reason": PAUSE_REASON})

    def _unpause(self, client: AmiClient, device: str) -> None:
        try:
            client.send_action("QueuePause", {"Interface": device, "Paused": "false", "Reason": PAUSE_REASON})
        except AmiError as error:  # lifted at the next connect (the reason marks it as ours)
            LOG.warning("could not unpause %s after a thank-you call: %s", device, printable(str(error), 200))

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            LOG.warning(message, *args)


def _caller_id_name(found: Round) -> str:
    """What the agent's phone shows: the round's title, without what would end the quoted name."""
    return "".join(c for c in found.title if c.isalnum() or c in " -_.'")[:40] or "Thank you"


def _stamps(bundle: Bundle) -> tuple[tuple[str, int], ...]:
    """The watched files' modification times (0 for a missing file)."""
    stamps = []
    for path in bundle.watched_files():
        try:
            stamps.append((str(path), path.stat().st_mtime_ns))
        except OSError:
            stamps.append((str(path), 0))
    return tuple(stamps)


def _login(settings: AmiSettings) -> AmiClient:
    client = AmiClient(settings.host, settings.port, timeout=AMI_TIMEOUT)
    try:
        client.login(settings.username, settings.secret)
    except AmiError:
        client.close()
        raise
    return client


def recordings_folder(recordings_dir: Path, round_id: str) -> Path:
    """Where a round's manager recordings and agents' replies are kept."""
    return recordings_dir / "appreciation" / round_id
