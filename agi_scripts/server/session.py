"""One AGI session from environment to call log line, the same for FastAGI and classic AGI.

How a session ends, and what Asterisk's ``AGISTATUS`` becomes:

- the handler returns: the connection is closed, ``AGISTATUS=SUCCESS``;
- the caller hangs up (``HANGUP`` line, ``511``, connection closed): a normal end, logged with
  outcome ``hangup``; Asterisk sets ``AGISTATUS=HANGUP`` itself;
- the script name is unknown, the handler raised, or Asterisk did not answer in time: we send the
  line ``FAILURE``, which ``run_agi`` reads as "the script could not run" and turns into
  ``AGISTATUS=FAILURE``, then close. The dialplan goes on with its next priority (the queue).
  (FastAGI has no ``NOTFOUND``: Asterisk only sets it for a missing agi-bin file.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from greenlet import GreenletExit

from agi_scripts.ground.redact import mask_number, printable
from agi_scripts.protocol.environment import dialplan_args, request_target
from agi_scripts.protocol.errors import ChannelHungUp, CommandTimeout
from agi_scripts.protocol.safe_agi import SafeAGI
from agi_scripts.server.registry import AgiRequest, Handler, Session

CALL_LOG = logging.getLogger("respectline.calls")
SERVER_LOG = logging.getLogger("respectline.server")
HANDLER_LOG = logging.getLogger("respectline.handler")

FAILURE_LINE = b"FAILURE\n"
"""Makes Asterisk end the AGI with ``AGISTATUS=FAILURE`` (``run_agi``: a line starting "failure")."""


def build_request(env: Mapping[str, str]) -> AgiRequest:
    script, params = request_target(env)
    return AgiRequest(script=script, params=params, args=dialplan_args(env), env=env)


class SessionLog(logging.LoggerAdapter[logging.Logger]):
    """The handler's logger: every message carries the call's uniqueid, never its caller number."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"[{self.extra['uniqueid'] if self.extra else '-'}] {msg}", kwargs


@dataclass
class SessionEnd:
    outcome: str
    failed: bool
    """The dialplan should see ``AGISTATUS=FAILURE``."""


def run_handler(agi: SafeAGI, request: AgiRequest, handler: Handler, bundle: Any, services: Any) -> SessionEnd:
    """Run ``handler`` to its end and say how it ended; never raises (except ``GreenletExit``)."""
    uniqueid = printable(request.env.get("agi_uniqueid", "-"), 40)
    log = SessionLog(_handler_logger(request.script), {"uniqueid": uniqueid})
    ctx: Session[Any, Any] = Session(agi=agi, request=request, bundle=bundle, services=services, log=log)
    try:
        handler(ctx)
    except ChannelHungUp:
        return SessionEnd(_with_hangup(ctx.outcome), failed=False)
    except CommandTimeout as exc:
        SERVER_LOG.warning("[%s] script %s ended: %s", uniqueid, request.script, exc)
        return SessionEnd(f"{ctx.outcome} timeout" if ctx.outcome != "ok" else "timeout", failed=True)
    except GreenletExit:
        raise
    except Exception as exc:
        if agi.notice_pending_hangup():
            # e.g. STREAM FILE answered result=-1 and the HANGUP line followed: a hangup, not a bug.
            return SessionEnd(_with_hangup(ctx.outcome), failed=False)
        SERVER_LOG.exception("[%s] script %s failed", uniqueid, request.script)
        return SessionEnd(f"error={type(exc).__name__}", failed=True)
    return SessionEnd(ctx.outcome, failed=False)


def session_result(end: SessionEnd) -> str:
    """One word for the metrics: ``ok``, ``hangup`` (the caller left) or ``failed`` (AGISTATUS=FAILURE)."""
    if end.failed:
        return "failed"
    return "hangup" if end.outcome == "hangup" or end.outcome.endswith(" hangup") else "ok"


_HANDLER_LOGGERS: dict[str, logging.Logger] = {}


def _handler_logger(script: str) -> logging.Logger:
    """``respectline.handler.<script>``, looked up once (``getLogger`` takes a global lock)."""
    logger = _HANDLER_LOGGERS.get(script)
    if logger is None:
        logger = HANDLER_LOG.getChild(script)
        _HANDLER_LOGGERS[script] = logger
    return logger


def _with_hangup(outcome: str) -> str:
    return "hangup" if outcome == "ok" else f"{outcome} hangup"


def log_call(request: AgiRequest | None, env: Mapping[str, str], outcome: str, started: float) -> None:
    """The one line per call: script, channel, masked caller number, outcome, duration."""
    CALL_LOG.info(
        "call script=%s channel=%s uniqueid=%s caller=%s outcome=%s duration_ms=%d",
        printable(request.script if request else "-", 60),
        printable(env.get("agi_channel", "-"), 80),
        printable(env.get("agi_uniqueid", "-"), 40),
        mask_number(env.get("agi_callerid", "")),
        printable(outcome, 120),
        (time.monotonic() - started) * 1000,
    )


def find_handler(routes: Mapping[str, Handler], request: AgiRequest) -> Handler | None:
    handler = routes.get(request.script)
    if handler is None:
        SERVER_LOG.warning("no AGI script named %r (channel %s); answering FAILURE",
                           printable(request.script, 60),
                           printable(request.env.get("agi_channel", "-"), 80))
    return handler
