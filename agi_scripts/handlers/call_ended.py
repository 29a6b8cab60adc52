"""``call_ended``: the hangup handler of a call recorded from the agent's answer (``recording.start:
connect``). Removes the call's spool (``ground.call_spool``): an unflagged call leaves no recording;
a flagged call's files were linked into the evidence place at its first flag and stay there. While
this server is still making that link (a slow share), the removal waits for it.

Dialplan (generated): ``Set(CHANNEL(hangup_handler_push)=respectline-call-ended,s,1)`` when the
recording starts; that context stops MixMonitor and runs ``AGI(agi://HOST/call_ended)``. The channel
is hung up by then: the handler sends Asterisk no command, it only reads the call id. When the server
is down at that moment, or the share does not answer, the sweep in ``respectline serve`` removes the
spool later. The script trusts any peer ``server.allowed_peers`` lets in, as every script does.
"""

from __future__ import annotations

import logging
from pathlib import Path

from agi_scripts.ground import call_spool
from agi_scripts.handlers.callinfo import call_id_of
from agi_scripts.handlers.context import HandlerContext
from agi_scripts.handlers.file_work import RECORDINGS_SHARE, ShareNotAnswering
from agi_scripts.protocol.errors import BlockingCallTimeout

LOG = logging.getLogger("respectline.handler.call_ended")


def call_ended(ctx: HandlerContext) -> None:
    call_id = call_id_of(ctx)
    if not call_id:
        ctx.outcome = "unknown-call"
        return
    recordings = ctx.bundle.settings.recordings_dir
    if call_spool.ADOPTIONS.after(call_id, lambda: _remove_after_adoption(recordings, call_id)):
        ctx.outcome = "spool-kept-until-adopted"
        return
    try:
        # On the share's own threads: a hung share must not hold the server's workers.
        removed = RECORDINGS_SHARE.start(call_spool.remove_spool, recordings, call_id).result()
    except (BlockingCallTimeout, ShareNotAnswering):
        ctx.log.error("call_ended: the recordings folder did not answer in time; the sweep removes the spool later")
        ctx.outcome = "spool-kept"
        return
    except OSError as exc:
        ctx.log.error("call_ended: the call's spool could not be removed (%s); the sweep tries again", exc)
        ctx.outcome = "spool-kept"
        return
    ctx.outcome = f"spool-removed files={removed}"


def _remove_after_adoption(recordings: Path, call_id: str) -> None:
    """Run on the adoption's own thread once its link is made: the call is over, its spool goes."""
    try:
        removed = call_spool.remove_spool(recordings, call_id)
    except OSError as exc:
        LOG.error("call_ended: the spool of %s could not be removed after its adoption (%s); the sweep tries again",
                  call_id, exc)
        return
    LOG.info("call_ended: the spool of %s removed after its adoption (%d files)", call_id, removed)
