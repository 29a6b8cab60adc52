"""``screen``: run when a call enters, before the queue. Decides the route and the hold campaign.

Dialplan: ``AGI(agi://HOST/screen,QUEUE)``. Sets on the channel, for the dialplan to act on:
``RL_ROUTE`` (queue to enter), ``RL_NOTICE`` (sound to play first, may be empty),
``RL_MUSICCLASS`` (music-on-hold class with the campaign, may be empty), ``RL_CAMPAIGN``,
``RL_OFFER_COMPLIMENT`` (1 or 0), ``RL_LANGUAGE``; with ``recording.start: connect``,
``RL_RECORDING`` and ``RL_RECORDING_NOTICE`` (the call is recorded from the agent's answer). When anything fails the variables stay unset and
the dialplan sends the caller to the queue they dialled: a caller always reaches an agent.
"""

from __future__ import annotations

import datetime as dt
from typing import cast

from agi_scripts.config.bundle import Bundle
from agi_scripts.ground import call_spool, channel_vars
from agi_scripts.handlers.callinfo import call_id_of, call_language, caller_number
from agi_scripts.handlers.context import HandlerContext, despite_the_store
from agi_scripts.handlers.file_work import RECORDINGS_SHARE, ShareNotAnswering
from agi_scripts.handlers.recordings import call_spool_problem
from agi_scripts.policy.queue_choice import decide_route
from agi_scripts.protocol.errors import BlockingCallTimeout
from agi_scripts.server.blocking import Offloaded, run_blocking
from agi_scripts.storage.base import StoreError, utc_now
from agi_scripts.storage.checkins import CheckInBook


def screen(ctx: HandlerContext) -> None:
    bundle, env = ctx.bundle, ctx.request.env
    queue = ctx.request.arg(1) or ctx.request.params.get("queue", "")
    if queue not in bundle.settings.queues:
        ctx.log.warning("screen: queue %r is not in the config's 'queues'; leaving the call as it is", queue)
        ctx.outcome = "unknown-queue"
        return
    now = utc_now()
    caller = caller_number(env.get("agi_callerid", ""))
    language = call_language(bundle, env.get("agi_language", ""))
    case_team = None
    if caller:
        windows = {team: bundle.abuse_policy.repeat_caller_window / 86400 for team in bundle.abuse_policy.teams}
        case = despite_the_store(ctx, lambda: ctx.services.store.open_case_for_caller(caller, now, windows), None,
                                 "routed without the caller's case history")
        case_team = case.team if case else None
    decision = decide_route(bundle, queue, language, now, case_team)
    agi = ctx.agi
    agi.set_variable(channel_vars.LANGUAGE, language)
    agi.set_variable(channel_vars.ROUTE, decision.queue)
    agi.set_variable(channel_vars.NOTICE, _notices(bundle, queue, language, now, decision.notice_prompt))
    whisper = _whisper(ctx, caller, language, now, decision.team)
    # Queue's announcement to the member who answers, before the caller is connected (empty: none).
    agi.set_variable(channel_vars.WHISPER, whisper)
    agi.set_variable(channel_vars.MUSICCLASS, decision.music_class)
    agi.set_variable(channel_vars.CAMPAIGN, decision.campaign.id if decision.campaign else "")
    agi.set_variable(channel_vars.OFFER_COMPLIMENT, "1" if decision.offer_compliment else "0")
    if bundle.abuse_policy.recording_start == "connect":
        _record_from_connect(ctx, language)
    _remember_call(ctx, queue, caller, language, decision.queue,
                   decision.campaign.id if decision.campaign else None)
    ctx.outcome = f"route={decision.queue} campaign={decision.campaign.id if decision.campaign else '-'}" \
                  + (f" team={decision.team}" if decision.team else "")


def _notices(bundle: Bundle, queue: str, language: str, now: dt.datetime, team_notice: str | None) -> str:
    """What the caller hears before queueing: the entry notice (the boundary made known, if one applies
    to this queue, time and language), then the team's notice; ``&``-joined for one ``Playback``."""
    boundary = bundle.abuse_policy.aftercare.entry_notice(queue, language, now.astimezone(bundle.settings.timezone))
    return "&".join(bundle.prompts.sound_name(prompt, language) for prompt in (boundary, team_notice) if prompt)


def _whisper(ctx: HandlerContext, caller: str, language: str, now: dt.datetime, team: str | None) -> str:
    """The caller's history for the agent's ear (``aftercare: whisper``): the sound of the weightiest fact
    (an open case, then an earlier flag, then the calls of the day), or ""."""
    bundle = ctx.bundle
    whisper = bundle.abuse_policy.aftercare.whisper
    prompts: list[str] = []
    if team is not None and whisper.case_open:
        prompts.append(whisper.case_open)
    if caller and (whisper.warned_before or whisper.calls_today):
        local = now.astimezone(bundle.settings.timezone)
        day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        since = now - dt.timedelta(seconds=bundle.abuse_policy.repeat_caller_window)
        history = cast(CheckInBook, Offloaded(CheckInBook(ctx.services.store), timeout_error=StoreError))
        flags, calls = despite_the_store(ctx, lambda: history.caller_history(
            caller, flagged_since=since, day_start=day_start), (0, 0), "the agent hears no whisper of the caller's history")
        if flags and whisper.warned_before and team is None:
            prompts.append(whisper.warned_before)
        if whisper.calls_today and calls + 1 >= whisper.calls_today_from:
            prompts.append(whisper.calls_today)
    return bundle.prompts.sound_name(prompts[0], language) if prompts else ""


def _record_from_connect(ctx: HandlerContext, language: str) -> None:
    """``recording.start: connect``: the dialplan records the call into its spool once an agent
    answers, after the notice. Only when the spool can take it: otherwise no recording and no notice
    (the flag records from then on if the share is back)."""
    bundle, call_id = ctx.bundle, call_id_of(ctx)
    notice = bundle.abuse_policy.recording_notice
    recordings = bundle.settings.recordings_dir
    try:
        # On the share's own threads, briefly: the caller hears ringing meanwhile, and a share that
        # already keeps earlier calls waiting is not asked again (``handlers.file_work``).
        problem = RECORDINGS_SHARE.start(call_spool_problem, recordings, call_id).result(SHARE_WAIT)
    except ShareNotAnswering as busy:
        problem = str(busy)
    except BlockingCallTimeout:
        problem = f"recordings folder {recordings} did not answer within {SHARE_WAIT:.0f} s (a hung share?)"
    if problem or not notice:
        ctx.log.error("screen: %s; this call is not recorded", problem or "no recording.announce_prompt")
        ctx.agi.set_variable(channel_vars.RECORDING, "")
        return
    ctx.agi.set_variable(channel_vars.RECORDING_NOTICE, bundle.prompts.sound_name(notice, language))
    ctx.agi.set_variable(channel_vars.RECORDING, str(call_spool.spool_base(recordings, call_id)))


SHARE_WAIT = 2.0
"""Seconds ``screen`` waits for the recordings share before the call goes on unrecorded (a healthy
share answers in milliseconds)."""


def _remember_call(ctx: HandlerContext, queue: str, caller: str, language: str, route_queue: str,
                   campaign: str | None) -> None:
    call_id = call_id_of(ctx)
    if not call_id:
        return
    despite_the_store(ctx, lambda: ctx.services.store.record_call_start(
        call_id, caller=caller, queue=queue, language=language, route=route_queue, campaign=campaign), None,
        "the call is not stored; the caller is routed all the same")
