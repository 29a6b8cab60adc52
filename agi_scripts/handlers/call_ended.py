"""``call_ended``: the hangup handler of a call recorded from the agent's answer (``recording.start:
connect``). Removes the call's spool (``ground.call_spool``): an unflagged call leaves no recording;
a flagged call's files were linked into the evidence place at its first flag and stay there.

Dialplan (generated): ``Set(CHANNEL(hangup_handler_push)=respectline-call-ended,s,1)`` when the
recording starts; that context stops MixMonitor and runs ``AGI(agi://HOST/call_ended)``. The channel
is hung up by then: the handler sends Asterisk no command, it only reads the call id. When the server
is down at that moment, the sweep in ``respectline serve`` removes the spool later.
"""

from __future__ import annotations

from agi_scripts.ground import call_spool
from agi_scripts.handlers.callinfo import call_id_of
from agi_scripts.handlers.context import HandlerContext
from agi_scripts.protocol.errors import BlockingCallTimeout
from agi_scripts.server.blocking import run_blocking


def call_ended(ctx: HandlerContext) -> None:
    call_id = call_id_of(ctx)
    if not call_id:
        ctx.outcome = "unknown-call"
        return
    try:
        removed = run_blocking(call_spool.remove_spool, ctx.bundle.settings.recordings_dir, call_id)
    except BlockingCallTimeout:
        ctx.log.error("call_ended: the recordings folder did not answer in time; the sweep removes the spool later")
        ctx.outcome = "spool-kept"
        return
    except OSError as exc:
        ctx.log.error("call_ended: the call's spool could not be removed (%s); the sweep tries again", exc)
        ctx.outcome = "spool-kept"
        return
    ctx.outcome = f"spool-removed files={removed}"
