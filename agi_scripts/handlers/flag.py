"""``flag``: an agent pressed an abuse code. Runs on the caller's channel, the agent's being its peer.

features.conf: ``rl_<category> => CODE,peer,AGI,agi://HOST/flag?category=<category>``, given to the
agent's leg only. The category's ladder in ``flows/abuse_policy.yaml`` says what this flag does;
``flows.ladder`` runs it: protect first (pause, warning, disconnect, transfer), book second (one
store transaction, with the outbox behind it), announce last. This module is only the adapters:
the call over AGI, the store and outbox, the e-mail.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from agi_scripts.config.agents import is_interface
from agi_scripts.config.bundle import Bundle
from agi_scripts.flows.ladder import CallerGone, Evidence, EvidenceWork, FlaggedCall, FlagMemory, run_ladder
from agi_scripts.ground import call_spool, channel_vars, metrics
from agi_scripts.handlers.callinfo import agent_for, call_id_of, call_language, caller_number, read_variables
from agi_scripts.handlers.context import HandlerContext
from agi_scripts.handlers.file_work import RECORDINGS_SHARE, FileJob, ShareNotAnswering
from agi_scripts.handlers.recordings import ShareAnswer, evidence_file, first_flag_evidence, is_evidence_of
from agi_scripts.notify import EmailNotifier, LadderMail
from agi_scripts.protocol.errors import BlockingCallTimeout, ChannelHungUp
from agi_scripts.server.blocking import Pending, run_blocking, start_blocking
from agi_scripts.storage.base import Escalation, EscalationBooked, Store, StoreError, utc_now
from agi_scripts.storage.checkins import CheckInBook, CheckInToBook
from agi_scripts.storage.outbox import Outbox


def flag(ctx: HandlerContext) -> None:
    policy = ctx.bundle.abuse_policy
    category = policy.categories.get(ctx.request.params.get("category") or ctx.request.arg(1))
    call_id = call_id_of(ctx)
    if category is None or not call_id:
        ctx.log.warning("flag: unknown category or call; nothing done")
        ctx.outcome = "unknown-category"
        return
    metrics.flag_pressed(category.id)
    # Everything the ladder needs of the channel in one round trip: the key press waits for it.
    variables = read_variables(ctx.agi, READ_BEFORE_THE_LADDER)
    call = _flagged_call(ctx, call_id, variables)
    memory = FlagMemory.read(variables[channel_vars.FLAGS])
    language = call_language(ctx.bundle, variables[channel_vars.LANGUAGE] or ctx.request.env.get("agi_language", ""))
    channel = AgiCallerChannel(ctx, language, call)
    book = StoreCaseBook(ctx.services.store, outbox_of(ctx), ctx.log)
    mail = EmailNotifier(ctx.bundle.settings.notifications.email, ctx.services.mail, ctx.bundle)
    trace = run_ladder(policy, category, call, memory, channel, book, LadderMail(mail),
                       check_ins=StoreCheckIns(ctx.services.store, language, ctx.log))
    ctx.outcome = trace.summary(category.id)


READ_BEFORE_THE_LADDER = ("MEMBERINTERFACE", channel_vars.EVIDENCE, channel_vars.ROUTE, "QUEUENAME",
                          channel_vars.FLAGS, channel_vars.LANGUAGE)


def _flagged_call(ctx: HandlerContext, call_id: str, variables: dict[str, str]) -> FlaggedCall:
    interface = variables["MEMBERINTERFACE"]
    member_interface = interface if is_interface(interface) else ""
    evidence = variables[channel_vars.EVIDENCE]
    checked = evidence if is_evidence_of(evidence, ctx.bundle.settings.recordings_dir, call_id) else ""
    if evidence and not checked:
        ctx.log.warning("flag: RL_EVIDENCE on the channel is not this call's evidence file; ignored")
    return FlaggedCall(
        call_id=call_id, agent=agent_for(ctx.bundle, member_interface), member_interface=member_interface,
        caller=caller_number(ctx.request.env.get("agi_callerid", "")),
        queue=variables[channel_vars.ROUTE] or variables["QUEUENAME"], evidence=checked, at=utc_now())


def outbox_of(ctx: HandlerContext) -> Outbox:
    """The server's outbox (its keeper drains it); a classic AGI process writes to the same folder."""
    outbox = ctx.services.outbox
    return outbox if outbox is not None else Outbox(ctx.bundle.settings.spool_dir)


class AgiCallerChannel:
    """The ladder's view of the call, over the caller's AGI session."""

    def __init__(self, ctx: HandlerContext, language: str, call: FlaggedCall) -> None:
        self.ctx, self.agi, self.bundle, self.language, self.call = ctx, ctx.agi, ctx.bundle, language, call

    def remember(self, flags: str) -> None:
        try:
            self.agi.set_variable(FlagMemory.VARIABLE, flags)
        except ChannelHungUp as gone:
            raise CallerGone() from gone

    def no_compliment_offer(self) -> None:
        try:
            self.agi.set_variable(channel_vars.OFFER_COMPLIMENT, "0")
        except ChannelHungUp as gone:
            raise CallerGone() from gone

    def start_evidence(self, adopt: bool) -> EvidenceWork:
        call_id = self.call.call_id
        file = evidence_file(self.bundle.settings.recordings_dir, call_id, self.call.at)
        if adopt:
            call_spool.ADOPTIONS.begin(call_id)  # the hangup handler and the sweep leave the spool to it
        try:
            job = RECORDINGS_SHARE.start(partial(first_flag_evidence, adopt=adopt), self.bundle.settings.recordings_dir,
                                         call_id, file)
        except ShareNotAnswering as busy:
            call_spool.ADOPTIONS.end(call_id)
            # Known hung already: this flag neither waits for the share nor records.
            self.ctx.log.error("flag: %s; the ladder goes on without a recording", busy)
            return NoEvidence()
        if adopt:
            job.future.add_done_callback(lambda _done: call_spool.ADOPTIONS.end(call_id))
        return ShareEvidence(self, job, file, adopt)

    def keep_evidence(self, file: str) -> None:
        try:
            self.agi.set_variable(channel_vars.EVIDENCE, file)
        except ChannelHungUp:
            pass  # linked all the same: the evidence is booked with the case

    def start_recording(self, evidence: str) -> None:
        policy = self.bundle.abuse_policy
        if policy.recording_notice:
            self.play(policy.recording_notice)
        try:
            self.agi.exec_command("MixMonitor", evidence)
            self.agi.set_variable(channel_vars.EVIDENCE, evidence)
        except ChannelHungUp as gone:
            raise CallerGone() from gone

    def pause_agent(self, interface: str, reason: str) -> None:
        # Also when the caller has just hung up (the usual moment): the pause is on the agent's queue
        # membership, and Asterisk runs EXEC for a FastAGI session whose channel is gone.
        if not self.agi.exec_even_if_hung_up("PauseQueueMember", f",{interface},,{reason}"):
            self.ctx.log.error("flag: the AGI connection closed before %s could be paused; the booked pause "
                               "is lifted on time all the same", interface)

    def play(self, prompt_id: str) -> None:
        try:
            self.agi.stream_file(_sound(self.bundle, prompt_id, self.language))
        except ChannelHungUp as gone:
            raise CallerGone() from gone

    def hang_up(self) -> None:
        try:
            self.agi.hangup()
        except ChannelHungUp:
            pass  # gone already: what the ladder wanted

    def send_to_queue(self, queue: str) -> None:
        # An application run from a feature cannot Goto; the dialplan after Queue() sends the caller
        # on once the agent's leg is gone.
        try:
            self.agi.set_variable(channel_vars.TRANSFER, queue)
            agent_channel = self.agi.get_variable("BRIDGEPEER") or ""
            if agent_channel:
                self.agi.hangup(agent_channel)
        except ChannelHungUp as gone:
            raise CallerGone() from gone

    def announce(self, event: str, fields: Sequence[tuple[str, str]]) -> None:
        body = ",".join([event, *(f"{name}: {value}" for name, value in fields)])
        if not self.agi.exec_even_if_hung_up("UserEvent", body):
            self.ctx.log.warning("flag: %s not announced (connection gone)", event)


class NoEvidence:
    def ready(self, within: float) -> Evidence | None:
        return Evidence()

    def no_answer(self) -> Evidence:
        return Evidence()


class ShareEvidence:
    """The first flag's evidence as the recordings share answers it (``handlers.file_work``)."""

    def __init__(self, channel: AgiCallerChannel, job: FileJob[ShareAnswer], file: Path, adopt: bool) -> None:
        self.channel, self.job, self.file, self.adopt = channel, job, file, adopt
        self.log = channel.ctx.log

    def ready(self, within: float) -> Evidence | None:
        try:
            answer = self.job.result(within)
        except BlockingCallTimeout:
            return None  # the job goes on; asked again, or given up on (``no_answer``)
        except Exception as exc:  # a bug in the file work must not cost the agent the rest of the ladder
            self.log.error("flag: the evidence could not be prepared (%s); the ladder goes on without a recording", exc)
            return Evidence()
        if answer.adopted:
            if answer.problem:
                self.log.warning("flag: the call's recording is evidence, but %s", answer.problem)
            self.channel.keep_evidence(str(self.file))
            return Evidence(str(self.file))
        if answer.may_record:
            if self.adopt:
                self.log.warning("flag: no call recording to adopt (%s); recording from the flag on, with the notice",
                                 answer.problem)
            return Evidence(str(self.file), to_record=True)
        # A read-only, full or missing share must not cost the agent their protection.
        self.log.error("flag: %s; the ladder goes on without a recording", answer.problem)
        return Evidence()

    def no_answer(self) -> Evidence:
        if self.adopt:
            # The link may still be made when the share answers: the case names where it goes, and no
            # second recording is started over it (its O_TRUNC would cut the running one).
            self.log.error("flag: the recordings share did not answer in time (a hung share?); the call's recording "
                           "is adopted into %s when it does, and no second recording is started", self.file)
            self.channel.keep_evidence(str(self.file))
            return Evidence(str(self.file))
        self.log.error("flag: evidence folder %s did not answer in time (a hung share?); the ladder goes on "
                       "without a recording", self.file.parent)
        return Evidence()


class StoreCaseBook:
    """Books through the store, with the outbox written ahead: nothing is lost, nothing is booked twice."""

    def __init__(self, store: Store, outbox: Outbox, log: logging.LoggerAdapter[logging.Logger]) -> None:
        self.store, self.outbox, self.log = store, outbox, log

    def hold(self, escalation: Escalation) -> None:
        try:
            run_blocking(self.outbox.hold, escalation)
        except BlockingCallTimeout:
            # A hung spool disk must not hold up the agent's protection.
            self.outbox.keep_in_memory(escalation)
            self.log.error("flag: the outbox (paths.spool) did not answer in time; flag %s held in memory",
                           escalation.key)

    def amend(self, escalation: Escalation) -> None:
        try:
            run_blocking(self.outbox.update, escalation)
        except BlockingCallTimeout:
            self.outbox.keep_in_memory(escalation)
            self.log.error("flag: the outbox (paths.spool) did not answer in time; flag %s held in memory",
                           escalation.key)

    def book(self, escalation: Escalation) -> StoreBooking:
        # On a worker thread while the caller hears the prompt: the caller never waits for the store.
        return StoreBooking(self, escalation, start_blocking(self.book_now, escalation))

    def book_now(self, escalation: Escalation) -> EscalationBooked | None:
        """The booking itself, on a worker thread (or here, outside a FastAGI session)."""
        try:
            booked = self.store.book_escalation(escalation)
        except ValueError as exc:  # never built by the ladder; a bug must not cost the call its announcements
            self.log.error("flag: the store refused flag %s as malformed (%s); not booked", escalation.key, exc)
            self.outbox.booked(escalation)
            return None
        except StoreError as exc:
            metrics.store_failed("flag")
            self.outbox.unbooked(escalation)
            self.log.error("flag: store unavailable (%s); flag %s kept in the outbox, booked when the store "
                           "answers", exc, escalation.key)
            return None
        self.outbox.booked(escalation)
        if booked.case_id is not None and not booked.already and escalation.case is not None:
            metrics.case_opened(escalation.case.team)
        return booked


class StoreBooking:
    def __init__(self, book: StoreCaseBook, escalation: Escalation, pending: Pending[EscalationBooked | None]) -> None:
        self.book, self.escalation, self.pending = book, escalation, pending

    def outcome(self) -> EscalationBooked | None:
        try:
            return self.pending.result()
        except BlockingCallTimeout:
            # Still running: if it books after all, it crosses its file off; if not, the keeper books it.
            self.book.outbox.unbooked(self.escalation)
            self.book.log.error("flag: the store did not answer in time; flag %s kept in the outbox",
                                self.escalation.key)
            return None


class StoreCheckIns:
    """Books the check-in the rung asks for; ``policy.checkins`` (in ``respectline serve``) rings people."""

    def __init__(self, store: Store, language: str, log: logging.LoggerAdapter[logging.Logger]) -> None:
        self.store, self.language, self.log = store, language, log

    def ask(self, escalation: Escalation, booked: EscalationBooked | None, roster: str, within: float) -> None:
        if booked is None:
            # The flag waits in the outbox; its check-in would need the incident's id. Said, not hidden.
            self.log.error("flag: check-in by roster %s not booked: the store is down (flag %s)", roster,
                           escalation.key)
            return
        wanted = CheckInToBook(
            call_id=escalation.call_id, agent=escalation.agent,
            agent_endpoint=escalation.pause.agent if escalation.pause is not None else "",
            category=escalation.category, roster=roster, language=self.language, within=within,
            at=escalation.at, incident_id=booked.incident_id, case_id=booked.case_id)
        try:
            run_blocking(CheckInBook(self.store).request, wanted)  # on a worker thread, bounded
        except (StoreError, BlockingCallTimeout, TypeError) as exc:
            metrics.store_failed("flag")
            self.log.error("flag: check-in by roster %s not booked (%s)", roster, exc)


def _sound(bundle: Bundle, prompt_id: str, language: str) -> str:
    return bundle.prompts.sound_name(prompt_id, language)
