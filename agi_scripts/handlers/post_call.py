"""``post_call``: after the agent hangs up, the caller may rate them and leave a spoken compliment.

Dialplan: after ``Queue(...,c...)`` returns with ``QUEUESTATUS=CONTINUE`` and ``RL_OFFER_COMPLIMENT=1``,
``AGI(agi://HOST/post_call)``. The flow comes from ``flows/post_call.yaml``; each answer is stored as
soon as it is given, and an AMI ``UserEvent`` (``RespectlineCompliment``) announces a completed one.
A caller who hangs up right after speaking keeps their message: the recording Asterisk closed at the
hang-up is checked for voice and attached, and the event is still sent (Asterisk runs ``EXEC`` in a
FastAGI session whose channel is gone).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import cast

from agi_scripts.flows.engine import CallerGone, Recording, run_post_call
from agi_scripts.flows.post_call import Step
from agi_scripts.ground import channel_vars
from agi_scripts.handlers.callinfo import agent_for, call_id_of, call_language, campaign_id, queue_name
from agi_scripts.handlers.context import HandlerContext, despite_the_store
from agi_scripts.handlers.recordings import compliment_recording_base, holds_voice
from agi_scripts.policy.screening import screen_after_call, transcription_on
from agi_scripts.prompts.catalog import PromptCatalog
from agi_scripts.protocol.channel import Channel
from agi_scripts.protocol.errors import ChannelHungUp
from agi_scripts.server.blocking import Offloaded, run_blocking
from agi_scripts.storage.base import Store, StoreError, utc_now
from agi_scripts.storage.figures import OFFERED
from agi_scripts.storage.screening import ScreeningStore


def post_call(ctx: HandlerContext) -> None:
    agi, bundle = ctx.agi, ctx.bundle
    agent = agent_for(bundle, agi.get_variable("MEMBERINTERFACE") or "")
    call_id = call_id_of(ctx)
    if not bundle.post_call.enabled or not agent or not call_id:
        if bundle.post_call.enabled and not agent:
            ctx.log.warning("post_call: MEMBERINTERFACE is not a device (is setinterfacevar=yes on the "
                            "queue?); no compliment can be kept for this call")
        ctx.outcome = "skipped" if bundle.post_call.enabled else "disabled"
        return
    language = call_language(bundle, agi.get_variable(channel_vars.LANGUAGE) or ctx.request.env.get("agi_language", ""))
    # Read back from the channel, and bound for the compliment's event fields: checked like any input.
    queue = queue_name(agi.get_variable(channel_vars.ROUTE) or "")
    campaign = campaign_id(agi.get_variable(channel_vars.CAMPAIGN) or "")
    io = AgiCallerIO(agi, bundle.prompts, language,
                     compliment_recording_base(bundle.settings.recordings_dir, call_id, utc_now()))
    sink = StoreComplimentSink(ctx, call_id, agent, queue, campaign)
    ctx.outcome = "started"
    trace = run_post_call(bundle.post_call, io, sink)
    ctx.outcome = f"{trace.outcome} steps={'>'.join(trace.steps)}"
    # After the flow, so the caller never waits for it: the campaigns' A/B report counts the offer.
    despite_the_store(ctx, lambda: ctx.services.store.update_call(call_id, agent=agent, outcome=OFFERED), None,
                      "this offer is not counted in the campaign report")
    if sink.compliment_id is not None:
        _screen(ctx, sink.compliment_id)


def _screen(ctx: HandlerContext, compliment_id: int) -> None:
    """Decide whether an agent may hear the compliment (``policy/screening.py``). Until this is written it
    stays unscreened, which no agent hears: a failing store costs the agent nothing, the team lead sees it."""
    bundle = ctx.bundle
    # Each of its queries on a worker thread, like every store call of a handler.
    screening = cast(ScreeningStore, Offloaded(ScreeningStore(ctx.services.store), timeout_error=StoreError))
    decision = despite_the_store(
        ctx, lambda: screen_after_call(screening, bundle.post_call.screening, compliment_id,
                                       transcription=transcription_on(bundle.settings)),
        None, "the compliment stays unscreened: no agent hears it until the team lead releases it")
    if decision is not None:
        ctx.outcome += f" screening={decision.state}"


class AgiCallerIO:
    """The flow engine's view of the caller, over pyst2's AGI commands."""

    def __init__(self, agi: Channel, prompts: PromptCatalog, language: str, recording_base: Path) -> None:
        self.agi = agi
        self.prompts = prompts
        self.language = language
        self.recording_base = recording_base

    def play(self, prompt_id: str) -> None:
        try:
            self.agi.stream_file(self.prompts.sound_name(prompt_id, self.language))
        except ChannelHungUp as gone:
            raise CallerGone() from gone

    def ask(self, prompt_id: str, digits: str, timeout: float) -> str:
        try:
            key: str = self.agi.stream_file(self.prompts.sound_name(prompt_id, self.language), escape_digits=digits)
            if not key:
                key = self.agi.wait_for_digit(int(timeout * 1000))
        except ChannelHungUp as gone:
            raise CallerGone() from gone
        return key or ""

    def record(self, step: Step) -> Recording | None:
        run_blocking(self.recording_base.parent.mkdir, parents=True, exist_ok=True)
        hung_up = False
        try:
            self.agi.record_file(str(self.recording_base), format="wav", escape_digits=step.finish_digits,
                                 timeout=int(step.max_length * 1000), beep="beep" if step.beep else "",
                                 silence=int(step.silence))
        except ChannelHungUp:
            hung_up = True  # Asterisk closed the file before it answered: what was said is on disk
        file = self.recording_base.parent / f"{self.recording_base.name}.wav"
        kept = run_blocking(_keep_if_voice, file, step.min_length)
        return None if kept is None else Recording(file, kept=kept, caller_hung_up=hung_up)


def _keep_if_voice(file: Path, min_length: float) -> bool | None:
    """None when there is no file; False after deleting one that holds no voice."""
    if not file.is_file():
        return None
    if holds_voice(file, min_length):
        return True
    file.unlink(missing_ok=True)  # silence is not a compliment, and not ours to keep
    return False


class StoreComplimentSink:
    """Keeps each answer the moment it is given; a failing store never stops the caller's flow."""

    def __init__(self, ctx: HandlerContext, call_id: str, agent: str, queue: str, campaign: str | None) -> None:
        self.ctx = ctx
        self.store: Store = ctx.services.store
        self.call_id, self.agent, self.queue, self.campaign = call_id, agent, queue, campaign
        self.compliment_id: int | None = None
        self.rating: int | None = None
        self.recording: Path | None = None

    def accepted(self) -> None:
        if self.compliment_id is None:
            self._safely(lambda: self._start())

    def rated(self, rating: int) -> None:
        self.rating = rating
        self._safely(lambda: self.store.set_compliment_rating(self._id(), rating))

    def recorded(self, path: Path) -> None:
        self.recording = path
        self._safely(lambda: self.store.set_compliment_recording(self._id(), str(path)))

    def completed(self) -> None:
        details = [f"Agent: {self.agent}", f"Queue: {self.queue}", f"Campaign: {self.campaign or ''}",
                   f"Rating: {self.rating or ''}", f"Recording: {'yes' if self.recording else 'no'}",
                   f"ComplimentId: {self.compliment_id or ''}"]
        # Sent after a hang-up too: most callers end by hanging up, and their compliment counts.
        if not self.ctx.agi.exec_even_if_hung_up("UserEvent", ",".join(["RespectlineCompliment", *details])):
            self.ctx.log.warning("post_call: compliment %s stored but not announced (connection gone)",
                                 self.compliment_id)

    def _start(self) -> None:
        self.compliment_id = self.store.start_compliment(self.call_id, agent=self.agent, queue=self.queue,
                                                         campaign=self.campaign)

    def _id(self) -> int:
        if self.compliment_id is None:
            self._start()
        assert self.compliment_id is not None
        return self.compliment_id

    def _safely(self, write: Callable[[], object]) -> None:
        despite_the_store(self.ctx, write, None, "the compliment is not stored; the caller's flow goes on")
