"""``my_compliments``: the line agents call to hear the compliments callers left them.

Dialplan: ``exten => *88,1,AGI(agi://HOST/my_compliments)`` in the agents' context. The agent is
the caller ID name of their own endpoint (set by the admin in pjsip.conf, ``callerid=Agent One
<agent1>``, the same as their queue member name), or else their device (``PJSIP/agent1``). They hear
their own compliments only, newest first: the rating and the caller's recorded words.
"""

from __future__ import annotations

from pathlib import Path

from agi_scripts.handlers.callinfo import agent_name, call_language
from agi_scripts.server.routing import HandlerContext, route
from agi_scripts.storage.base import StoreError

MAX_PLAYED = 10


@route
def my_compliments(ctx: HandlerContext) -> None:
    agi, bundle, env = ctx.agi, ctx.bundle, ctx.request.env
    device = env.get("agi_channel", "").rsplit("-", 1)[0]
    agent = agent_name(env.get("agi_calleridname", ""), device)
    language = call_language(bundle, env.get("agi_language", ""))

    def sound(prompt_id: str) -> str:
        return bundle.prompts.sound_name(prompt_id, language)

    try:
        compliments = ctx.store.list_compliments(agent=agent, limit=MAX_PLAYED) if agent else []
    except StoreError:
        ctx.log.exception("my_compliments: store unavailable")
        compliments = []
    if not compliments:
        agi.stream_file(sound("agent_compliments_none"))
        ctx.outcome = "none"
        return
    agi.stream_file(sound("agent_compliments_intro"))
    for compliment in compliments:
        if compliment.rating is not None:
            agi.stream_file(sound("agent_compliment_rating"))
            agi.say_number(str(compliment.rating))
            agi.stream_file(sound("agent_compliment_stars"))
        if compliment.recording and Path(compliment.recording).is_file():
            # Paths in the store are built by post_call from validated ids; play without extension.
            agi.stream_file(str(Path(compliment.recording).with_suffix("")))
    try:
        ctx.store.mark_compliments_delivered([c.id for c in compliments])
    except StoreError:
        ctx.log.exception("my_compliments: could not mark compliments as heard")
    ctx.outcome = f"played={len(compliments)}"
