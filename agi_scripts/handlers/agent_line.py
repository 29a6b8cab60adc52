"""``agent_line``: the agent's own line after a hard call (``aftercare: agent_line: {code: "*89"}``).

Dialplan: ``[respectline-agents]`` (``Answer()``, then ``AGI(agi://HOST/agent_line)``). The agent is the
device their phone calls from (``PJSIP/agent1-0000001a`` is ``PJSIP/agent1``), never a caller ID name.

1. extend my pause by ``extend_by`` (a pause in force gets longer in the store, so the pause keeper lifts
   it later; without one a new pause starts); the agent is paused in Asterisk (``PauseQueueMember``) at once;
2. take calls again now (every pause of theirs ends: ``UnpauseQueueMember`` and the store);
3. talk to someone now: a check-in for the roster of ``agent_line.roster`` (rung by ``policy.checkins``).

Asterisk first, the store second: a store that fails still pauses or unpauses the agent, and says so.
"""

from __future__ import annotations

from collections.abc import Callable

from agi_scripts.config.agents import device_of, is_interface
from agi_scripts.handlers.callinfo import agent_for, call_language
from agi_scripts.handlers.context import HandlerContext
from agi_scripts.protocol.errors import BlockingCallTimeout, ChannelHungUp
from agi_scripts.server.blocking import run_blocking
from agi_scripts.storage.base import StoreError, utc_now
from agi_scripts.storage.checkins import CheckInBook, CheckInToBook

KEY_WAIT_MS = 6000
TALK_WITHIN = 600.0
"""Key 3: someone on duty should call the agent within this many seconds."""
PAUSE_REASON = "Respectline: the agent asked for more time"


def agent_line(ctx: HandlerContext) -> None:
    agi, bundle = ctx.agi, ctx.bundle
    line = bundle.abuse_policy.aftercare.agent_line
    device = device_of(ctx.request.env.get("agi_channel", ""))
    language = call_language(bundle, ctx.request.env.get("agi_language", ""))

    def sound(prompt_id: str) -> str:
        return bundle.prompts.sound_name(prompt_id, language)

    if line is None or not is_interface(device):
        ctx.log.warning("agent_line: no agent line configured or not an agent's device; nothing done")
        ctx.outcome = "refused"
        return
    book = CheckInBook(ctx.services.store)
    menu = "agent_line_menu" if line.roster else "agent_line_menu_no_talk"
    keys = "123" if line.roster else "12"
    try:
        key = agi.stream_file(sound(menu), escape_digits=keys) or agi.wait_for_digit(KEY_WAIT_MS)
        if key == "1":
            agi.exec_even_if_hung_up("PauseQueueMember", f",{device},,{PAUSE_REASON}")
            ctx.outcome = "extended" + _stored(ctx, lambda: run_blocking(book.extend_pause, device, line.extend_by,
                                                                           reason=PAUSE_REASON))
            agi.stream_file(sound("agent_line_extended"))
        elif key == "2":
            agi.exec_even_if_hung_up("UnpauseQueueMember", f",{device}")
            ctx.outcome = "resumed" + _stored(ctx, lambda: run_blocking(book.end_pauses, device))
            agi.stream_file(sound("agent_line_resumed"))
        elif key == "3" and line.roster:
            roster = line.roster
            ctx.outcome = "talk" + _stored(ctx, lambda: _ask_someone(book, device, agent_for(bundle, device),
                                                                       roster, language))
            agi.stream_file(sound("agent_line_someone_calls"))
        else:
            ctx.outcome = "no choice"
    except ChannelHungUp:
        ctx.outcome = (ctx.outcome or "") + " hung up"


def _ask_someone(book: CheckInBook, device: str, agent: str, roster: str, language: str) -> object:
    case_id, call_id = run_blocking(book.latest_case_of, device)
    return run_blocking(book.request, CheckInToBook(
        call_id=call_id or f"agent-line-{utc_now().strftime('%Y%m%dT%H%M%S')}", agent=agent or device,
        agent_endpoint=device, category="agent_asked", roster=roster, language=language, within=TALK_WITHIN,
        at=utc_now(), case_id=case_id, reason="agent_asked"))


def _stored(ctx: HandlerContext, write: Callable[[], object]) -> str:
    """Run the store's part; the agent's choice in Asterisk is done already, so a failure is only logged."""
    try:
        write()
    except (StoreError, BlockingCallTimeout) as exc:
        ctx.log.error("agent_line: the store did not take the change (%s); Asterisk has it", exc)
        return " store=down"
    return ""
