"""``listen_in``: the agent pressed the listen-in key (``aftercare: listen_in: {code: "*4"}``) during a call.

features.conf: ``rl_listen_in => *4,self,AGI,agi://HOST/listen_in``, given to the agent's leg only; it runs on
the agent's own channel. This handler only books the request (the agent's channel, for ``ChanSpy``) and
tells the agent help is being called; ``policy.checkins`` in ``respectline serve`` rings the people on duty
in the background, so the call is held for two seconds, not for the ringing. A second press while a request
is open books nothing more.
"""

from __future__ import annotations

import re

from agi_scripts.config.agents import device_of, is_interface
from agi_scripts.handlers.callinfo import agent_for, call_language
from agi_scripts.handlers.context import HandlerContext
from agi_scripts.protocol.errors import BlockingCallTimeout, ChannelHungUp
from agi_scripts.server.blocking import run_blocking
from agi_scripts.storage.base import StoreError, utc_now
from agi_scripts.storage.checkins import CheckInBook, CheckInToBook

SPY_CHANNEL = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,15}/[A-Za-z0-9@._+-]{1,80}-[0-9a-f]{1,16}$")
"""A channel Asterisk names (``PJSIP/agent1-0000002a``): one argument of ``ChanSpy``, nothing more."""


def listen_in(ctx: HandlerContext) -> None:
    bundle, env = ctx.bundle, ctx.request.env
    listen = bundle.abuse_policy.aftercare.listen_in
    channel = env.get("agi_channel", "")
    device = device_of(channel)
    if listen is None or not is_interface(device) or not SPY_CHANNEL.fullmatch(channel):
        ctx.log.warning("listen_in: not configured, or not an agent's channel; nothing done")
        ctx.outcome = "refused"
        return
    language = call_language(bundle, env.get("agi_language", ""))
    wanted = CheckInToBook(
        call_id=env.get("agi_uniqueid", "")[:64], agent=agent_for(bundle, device) or device, agent_endpoint=device,
        category="listen_in", roster=listen.roster, language=language, within=listen.within, at=utc_now(),
        reason="listen_in", spy_channel=channel)
    try:
        booked = run_blocking(CheckInBook(ctx.services.store).request, wanted)
        ctx.outcome = "asked" if booked is not None else "already asked"
    except (StoreError, BlockingCallTimeout) as exc:
        ctx.log.error("listen_in: the request could not be booked (%s); nobody will be rung", exc)
        ctx.outcome = "store=down"
        return
    try:
        ctx.agi.stream_file(bundle.prompts.sound_name("listen_in_asked", language))
    except ChannelHungUp:
        ctx.outcome += " hung up"
