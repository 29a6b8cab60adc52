"""``flag``: an agent pressed an abuse code. Runs on the caller's channel, the agent's being its peer.

features.conf: ``rl_<category> => CODE,peer,AGI,agi://HOST/flag?category=<category>``, given to the
agent's leg only. The category's ladder in ``flows/abuse_policy.yaml`` says what this flag does: the
bookkeeping (case, pause, notification) happens first, then what the caller hears, because a
disconnect ends this session.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from agi_scripts.config.agents import is_interface
from agi_scripts.flows.abuse_policy import Action, Category, length_text
from agi_scripts.handlers.callinfo import agent_for, call_id, call_language, caller_number
from agi_scripts.handlers.recordings import evidence_file, is_evidence_of
from agi_scripts.notify import CaseNotice, EmailNotifier, PauseNotice
from agi_scripts.policy.pauses import UNBOOKED_PAUSES, UnbookedPause
from agi_scripts.policy.routing import PRIORITY_RANK
from agi_scripts.server.blocking import run_blocking
from agi_scripts.server.routing import HandlerContext, route
from agi_scripts.storage.base import StoreError, utc_now


@route
def flag(ctx: HandlerContext) -> None:
    policy = ctx.bundle.abuse_policy
    category = policy.categories.get(ctx.request.params.get("category") or ctx.request.arg(1))
    uniqueid = call_id(ctx.request.env.get("agi_uniqueid", ""))
    if category is None or not uniqueid:
        ctx.log.warning("flag: unknown category or call; nothing done")
        ctx.outcome = "unknown-category"
        return
    now = utc_now()
    call = FlaggedCall(ctx, category, uniqueid, now)
    memory = FlagMemory.read(ctx.agi.get_variable(FlagMemory.VARIABLE) or "")
    try:
        result = ctx.store.record_flag(uniqueid, category.id, agent=call.agent, caller=call.caller,
                                       queue=call.queue, at=now, dedupe_seconds=policy.dedupe_window)
    except StoreError:
        # The agent's protection comes first: the channel remembers this call's flags, so the
        # ladder still climbs (warn, then disconnect) while the store is down.
        if memory.is_repeat(category.id, now.timestamp(), policy.dedupe_window):
            ctx.outcome = f"duplicate category={category.id} store=down"
            return
        count, first = memory.count(category.id) + 1, memory.total() == 0
        call.store_down = True
        ctx.log.error("flag: store unavailable; flag %d of %s counted on the channel, nothing booked",
                      count, category.id)
        ctx.outcome = f"category={category.id} flag={count} store=down"
        memory.remember(ctx.agi, category.id, count, now.timestamp())
        call.apply(category.rung(count), first_flag=first, incident_id=None)
        return
    if result.duplicate:
        ctx.outcome = f"duplicate category={category.id}"
        return
    ctx.outcome = f"category={category.id} flag={result.count_in_category}"
    memory.remember(ctx.agi, category.id, result.count_in_category, now.timestamp())
    call.apply(category.rung(result.count_in_category), first_flag=result.count_total == 1,
               incident_id=result.incident_id)


class FlagMemory:
    """This call's flags, kept on the caller's channel (``RL_FLAGS``: ``category:count:epoch`` items)
    so the ladder climbs without the store. Read back from Asterisk, so checked like any input."""

    VARIABLE = "RL_FLAGS"
    _ITEM = re.compile(r"^([a-z0-9][a-z0-9_-]{0,62}):([0-9]{1,3}):([0-9]{1,12}(?:\.[0-9]{1,6})?)$")

    def __init__(self, flags: dict[str, tuple[int, float]]) -> None:
        self.flags = flags

    @classmethod
    def read(cls, raw: str) -> FlagMemory:
        flags: dict[str, tuple[int, float]] = {}
        for item in raw[:2000].split(","):
            match = cls._ITEM.match(item)
            if match:
                flags[match[1]] = (int(match[2]), float(match[3]))
        return cls(flags)

    def count(self, category: str) -> int:
        return self.flags.get(category, (0, 0.0))[0]

    def total(self) -> int:
        return sum(count for count, _at in self.flags.values())

    def is_repeat(self, category: str, at: float, window: float) -> bool:
        _count, last = self.flags.get(category, (0, 0.0))
        return bool(last) and 0 <= at - last < window

    def remember(self, agi: Any, category: str, count: int, at: float) -> None:
        """Set before the rung acts: a disconnect ends what may still be sent to the channel."""
        self.flags[category] = (count, at)
        agi.set_variable(self.VARIABLE, ",".join(f"{c}:{n}:{t:.3f}" for c, (n, t) in sorted(self.flags.items())))


class FlaggedCall:
    def __init__(self, ctx: HandlerContext, category: Category, uniqueid: str, now: dt.datetime) -> None:
        self.ctx, self.category, self.call_id, self.now = ctx, category, uniqueid, now
        agi = ctx.agi
        interface = agi.get_variable("MEMBERINTERFACE") or ""
        self.member_interface = interface if is_interface(interface) else ""
        self.agent = agent_for(ctx.bundle, self.member_interface)
        self.agent_channel = agi.get_variable("BRIDGEPEER") or ""
        self.caller = caller_number(ctx.request.env.get("agi_callerid", ""))
        self.queue = agi.get_variable("RL_ROUTE") or agi.get_variable("QUEUENAME") or ""
        self.language = call_language(ctx.bundle, agi.get_variable("RL_LANGUAGE")
                                      or ctx.request.env.get("agi_language", ""))
        evidence = agi.get_variable("RL_EVIDENCE") or ""
        self.evidence = evidence if is_evidence_of(evidence, ctx.bundle.settings.recordings_dir, uniqueid) else ""
        if evidence and not self.evidence:
            ctx.log.warning("flag: RL_EVIDENCE on the channel is not this call's evidence file; ignored")
        self.case_id: int | None = None
        self.store_down = False
        """Set at the first store failure of this flag; later book-keeping is not tried again."""
        self.done: list[str] = []
        self.mail = EmailNotifier.for_call(ctx)

    def apply(self, rung: tuple[Action, ...], *, first_flag: bool, incident_id: int | None) -> None:
        # A caller flagged for abuse is not asked to compliment the agent afterwards.
        self.ctx.agi.set_variable("RL_OFFER_COMPLIMENT", "0")
        if first_flag:
            self._start_evidence_recording()
        for action in rung:
            if action.kind == "open_case" and action.team:
                self._open_case(action)
        for action in rung:
            if action.kind == "pause_agent":
                self._pause_agent(action)
            elif action.kind == "notify":
                self._notify(action)
        outcome = next((a for a in rung if a.kind in ("warn", "disconnect", "transfer")), None)
        if incident_id is not None and outcome is not None:
            self._store(lambda: self.ctx.store.set_incident_action(incident_id, outcome.kind, case_id=self.case_id))
        self.ctx.outcome += f" actions={','.join(self.done + ([outcome.kind] if outcome else []))}"
        if outcome is not None:
            self._case_event(outcome.kind, outcome.prompt or outcome.team or "")
            getattr(self, f"_{outcome.kind}")(outcome)

    # What the caller hears.

    def _warn(self, action: Action) -> None:
        self.ctx.agi.stream_file(self._sound(action.prompt))

    def _disconnect(self, action: Action) -> None:
        self.ctx.agi.stream_file(self._sound(action.prompt))
        self.ctx.agi.hangup()

    def _transfer(self, action: Action) -> None:
        team = self.ctx.bundle.abuse_policy.teams[action.team or ""]
        # An application run from a feature cannot Goto; the dialplan after Queue() sends the caller
        # on once the agent's leg is gone.
        self.ctx.agi.set_variable("RL_TRANSFER", team.queue)
        if self.agent_channel:
            self.ctx.agi.hangup(self.agent_channel)

    # Bookkeeping.

    def _start_evidence_recording(self) -> None:
        policy = self.ctx.bundle.abuse_policy
        if not policy.record_on_first_flag or self.evidence:
            return
        file = evidence_file(self.ctx.bundle.settings.recordings_dir, self.call_id, self.now)
        base = file.parent
        try:
            run_blocking(base.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            # A read-only, full or missing share must not cost the agent their protection.
            self.ctx.log.error("flag: evidence folder %s cannot be created (%s); the ladder goes on "
                               "without a recording", base, exc.strerror or exc)
            return
        self.evidence = str(file)
        if policy.recording_notice:
            self.ctx.agi.stream_file(self._sound(policy.recording_notice))
        self.ctx.agi.exec_command("MixMonitor", self.evidence)
        self.ctx.agi.set_variable("RL_EVIDENCE", self.evidence)
        self.done.append("recording")

    def _open_case(self, action: Action) -> None:
        def write() -> None:
            case = self.ctx.store.open_case(
                category=self.category.id, team=action.team or "", priority=PRIORITY_RANK[action.priority],
                caller=self.caller, agent=self.agent, queue=self.queue, call_id=self.call_id,
                recording=self.evidence or None, at=self.now)
            self.case_id = case.id
            self._carry_earlier_flags(case.id)
            self.ctx.agi.exec_command("UserEvent", ",".join([
                "RespectlineCase", f"CaseId: {case.id}", f"Team: {case.team}", f"Category: {case.category}",
                f"Priority: {action.priority}", f"Agent: {self.agent}", f"Queue: {self.queue}"]))
        self._store(write)
        if self.case_id is not None:  # the log says what was really done
            self.done.append("case_opened")
            self.mail.case_opened(CaseNotice(self.case_id, action.team or "", self.category.id, action.priority,
                                             self.queue, self.agent, self.caller, self.now))

    def _carry_earlier_flags(self, case_id: int) -> None:
        """The case's timeline starts with what happened before it was opened (the warning)."""
        for incident in self.ctx.store.list_incidents(call_id=self.call_id):
            if incident.action and incident.at < self.now:
                self.ctx.store.add_case_event(case_id, incident.action,
                                              f"flag {incident.number_in_call}: {incident.category}", at=incident.at)

    def _pause_agent(self, action: Action) -> None:
        if not self.member_interface:
            return
        reason = f"Respectline recovery after {self.category.label}"
        resume_at = self.now + dt.timedelta(seconds=action.seconds)
        # Recorded before it is applied, so whoever lifts pauses knows of it; without the store, the
        # server's keeper holds it and lifts it on time.
        try:
            if self.store_down:
                raise StoreError("the store failed earlier in this flag")
            self.ctx.store.record_pause(agent=self.member_interface, queues=(), reason=reason, paused_at=self.now,
                                        resume_at=resume_at, case_id=self.case_id)
        except StoreError:
            self.store_down = True
            unbooked = self.ctx.extra.get(UNBOOKED_PAUSES)
            if unbooked is not None:
                unbooked.add(UnbookedPause(self.member_interface, reason, self.now, resume_at, self.case_id))
            self.ctx.log.error("flag: store unavailable; pause of %s applied, %s", self.member_interface,
                               "to be booked and lifted by this server" if unbooked is not None
                               else "NOT recorded: lift it by hand")
        self.ctx.agi.exec_command("PauseQueueMember", f",{self.member_interface},,{reason}")
        self._case_event("agent_paused", f"{self.agent} for {length_text(action.seconds)}")
        self.done.append("agent_paused")
        self.mail.agent_paused(PauseNotice(self.agent, self.member_interface, self.category.id, self.queue,
                                           self.case_id, self.now, resume_at))

    def _notify(self, action: Action) -> None:
        self.ctx.agi.exec_command("UserEvent", ",".join([
            "RespectlineFlag", f"Category: {self.category.id}", f"Agent: {self.agent}", f"Queue: {self.queue}",
            f"CaseId: {self.case_id or ''}", f"Notify: {'/'.join(action.targets)}"]))
        self.done.append("notified")

    def _case_event(self, action: str, detail: str) -> None:
        if self.case_id is not None:
            case_id = self.case_id
            self._store(lambda: self.ctx.store.add_case_event(case_id, action, detail, at=self.now))

    def _store(self, write: Any) -> None:
        if self.store_down:
            return  # one wait for a failing store per flag: the caller and the agent wait for nothing else
        try:
            write()
        except StoreError:
            self.store_down = True
            self.ctx.log.exception("flag: store write failed; the call goes on")

    def _sound(self, prompt_id: str | None) -> str:
        return self.ctx.bundle.prompts.sound_name(prompt_id or "", self.language)
