"""Classic AGI: the same handlers run by Asterisk from agi-bin over stdin/stdout (``respectline agi
SCRIPT``), one process per call.

Differences from FastAGI, all handled here: Asterisk signals a hangup with SIGHUP (unless
``AGISIGHUP=no``), whose default action would kill the process mid-flow, so it is caught and turned
into :class:`ChannelHungUp` at the next command; and store calls simply run in this process.
``FAILURE`` is written and exit status 1 returned when the script is unknown or the handler failed
(``AGISTATUS=FAILURE``).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Mapping
from typing import IO, Any
from urllib.parse import parse_qsl

from agi_scripts.protocol.environment import MAX_ENVIRONMENT_BYTES, dialplan_args, parse_environment
from agi_scripts.protocol.errors import ChannelHungUp, CommandTimeout
from agi_scripts.protocol.safe_agi import SafeAGI
from agi_scripts.protocol.transport import ByteStream, FileLineTransport
from agi_scripts.server.options import ServerOptions
from agi_scripts.server.registry import AgiRequest, Handler
from agi_scripts.server.session import FAILURE_LINE, SERVER_LOG, find_handler, log_call, run_handler


def run_classic_agi(script: str, stdin: IO[Any] | ByteStream, stdout: IO[Any] | ByteStream, *,
                    routes: Mapping[str, Handler], load_bundle: Callable[[], Any] | None = None,
                    services: Any = None, options: ServerOptions | None = None, skip_args: int = 0) -> int:
    """Serve one classic AGI session; returns the process exit status.

    ``script`` is the route, optionally with a query (``screen?category=verbal``). ``skip_args``
    drops leading ``agi_arg_N`` (for ``AGI(respectline,screen,...)`` where the route is the first).
    """
    started = time.monotonic()
    options = options or ServerOptions()
    transport = FileLineTransport(_binary(stdin), _binary(stdout))
    restore = _catch_sighup(transport)
    env: dict[str, str] = {}
    request: AgiRequest | None = None
    try:
        env = _read_environment(transport, options.environment_timeout)
        route, _, query = script.partition("?")
        request = AgiRequest(script=route.strip("/"), params=dict(parse_qsl(query, keep_blank_values=True)),
                             args=dialplan_args(env)[skip_args:], env=env)
        handler = find_handler(routes, request)
        if handler is None:
            return _fail(transport, request, env, "unknown-script", started)
        bundle = load_bundle() if load_bundle is not None else None
        agi = SafeAGI(env, transport, options.timeouts)
        end = run_handler(agi, request, handler, bundle, services)
        if end.failed:
            return _fail(transport, request, env, end.outcome, started)
        log_call(request, env, end.outcome, started)
        return 0
    except (ChannelHungUp, CommandTimeout) as exc:
        SERVER_LOG.warning("classic AGI session for %s ended early: %s", script, exc)
        log_call(request, env, "hangup" if isinstance(exc, ChannelHungUp) else "timeout", started)
        return 0 if isinstance(exc, ChannelHungUp) else 1
    except Exception:
        SERVER_LOG.exception("classic AGI session for %s failed", script)
        return _fail(transport, request, env, "error=server", started)
    finally:
        restore()


def _read_environment(transport: FileLineTransport, timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    size = 0
    while True:
        line = transport.read_line(max(0.0, deadline - time.monotonic()))
        if not line.strip():
            return parse_environment(lines)
        size += len(line)
        if size > MAX_ENVIRONMENT_BYTES:
            raise ChannelHungUp("the AGI environment is larger than Asterisk ever sends")
        lines.append(line)


def _fail(transport: FileLineTransport, request: AgiRequest | None, env: Mapping[str, str], outcome: str,
          started: float) -> int:
    try:
        transport.send(FAILURE_LINE)
    except ChannelHungUp:
        pass
    log_call(request, env, outcome, started)
    return 1


def _catch_sighup(transport: FileLineTransport) -> Callable[[], None]:
    """Turn Asterisk's SIGHUP into a flag the next command sees; returns how to undo it."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_sighup(_signum: int, _frame: Any) -> None:
        transport.got_sighup = True

    previous = signal.signal(signal.SIGHUP, on_sighup)

    def restore() -> None:
        signal.signal(signal.SIGHUP, previous)

    return restore


def _binary(stream: IO[Any] | ByteStream) -> ByteStream:
    """The byte stream under a text stream (``sys.stdin.buffer``), or the stream itself."""
    binary: ByteStream = getattr(stream, "buffer", None) or stream  # type: ignore[assignment]
    return binary
