"""The FastAGI server: start, serve, reload, drain.

For the CLI (``respectline serve``)::

    from agi_scripts.handlers import ROUTES
    from agi_scripts.handlers.context import Services
    from agi_scripts.server.app import serve

    options = replace(settings.server, host=host, port=port)
    sys.exit(serve(lambda: load_bundle(config_path), routes=ROUTES, services=Services.offloaded(store),
                   options=options))

``serve`` runs until SIGTERM or SIGINT: it stops accepting, lets sessions in progress finish for up
to ``drain_timeout`` seconds, closes the rest and returns 0. SIGHUP reloads the configuration, as
does a change of any file the bundle watches. The first ``load_bundle()`` must succeed; its exception
(``ValidationFailed``) propagates so the CLI can print it.

For tests, :meth:`FastAgiServer.run_in_thread` runs a server in the background on port 0.

Design, chosen on measurements (six-command sessions against panoramisk 1.4 on the same machine):
one event loop thread; sockets driven directly on its selector (:mod:`agi_scripts.server.sockets`);
each session's handler in a greenlet, so handlers keep pyst2's synchronous API and park only
themselves while Asterisk answers; blocking calls (the store) on a small thread pool
(:mod:`agi_scripts.server.blocking`).

Health checks: a TCP connect-and-close on the AGI port is harmless (closed quietly, never blocks
anyone). An HTTP ``GET /health`` answers a small JSON document, 200 while serving and 503 while
draining, both on the AGI port itself (a first line starting ``GET `` is taken for HTTP) and, when
``health_port`` is set, on that port.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import importlib
import logging
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

from agi_scripts.server.bundles import BundleKeeper
from agi_scripts.server.core import ServerCore
from agi_scripts.server.limits import lift_open_file_limit
from agi_scripts.server.options import ServerOptions, parse_listen
from agi_scripts.server.registry import Handler
from agi_scripts.server.session import SERVER_LOG
from agi_scripts.server.sockets import SocketListener

MAX_HTTP_REQUEST = 8192



def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name or "0.0.0.0"-like wildcard: treat as reachable from outside


class FastAgiServer:
    """One FastAGI server on one event loop. ``start``/``shutdown`` run on that loop."""

    def __init__(self, load_bundle: Callable[[], Any], *, routes: Mapping[str, Handler], services: Any = None,
                 options: ServerOptions | None = None) -> None:
        self.options = options or ServerOptions()
        self.bundles = BundleKeeper(load_bundle)
        self._routes = routes
        self._services = services
        self._core: ServerCore | None = None
        self._listener: SocketListener | None = None
        self._health: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.port = 0
        self.health_port: int | None = None

    @property
    def core(self) -> ServerCore:
        if self._core is None:
            raise RuntimeError("the server is not started")
        return self._core

    async def start(self) -> None:
        self.bundles.load_first()
        loop = asyncio.get_running_loop()
        self._core = core = ServerCore(self.options, self._routes, self.bundles, self._services)
        self._listener = SocketListener(loop, self.options.host, self.options.port, core.protocol)
        self.port = self._listener.address[1]
        if self.options.health_port is not None:
            self._health = await loop.create_server(lambda: HealthProtocol(core.http_response),
                                                    self.options.host, self.options.health_port,
                                                    reuse_address=True)
            self.health_port = self._health.sockets[0].getsockname()[1]
        self._spawn(core.sweep_deadlines())
        self._spawn(self.bundles.watch(self.options.reload_poll))
        SERVER_LOG.info("FastAGI server listening on %s:%d (max %d sessions)%s", self.options.host, self.port,
                        self.options.max_sessions,
                        f"; health on port {self.health_port}" if self.health_port else "")
        if not _is_loopback(self.options.host):
            SERVER_LOG.warning("listening beyond loopback (%s): FastAGI has no authentication; only %s may "
                               "connect (server.allowed_peers); keep the port on a private network",
                               self.options.host, ", ".join(self.options.allowed_peers) or "loopback")

    async def reload(self, reason: str = "SIGHUP") -> bool:
        return await self.bundles.reload(reason)

    async def shutdown(self) -> None:
        """Stop accepting, drain sessions up to ``drain_timeout``, close what is left."""
        core = self.core
        core.draining = True
        if self._listener is not None:
            self._listener.close()
        deadline = time.monotonic() + self.options.drain_timeout
        if core.admitted:
            SERVER_LOG.info("draining %d session(s) for up to %.1f s", core.admitted, self.options.drain_timeout)
        while core.admitted and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if core.connections:
            SERVER_LOG.warning("closing %d connection(s) still open after the drain", len(core.connections))
            for connection in list(core.connections):
                connection.abort()
            await asyncio.sleep(0.1)  # connection_lost callbacks end the parked sessions
        for task in self._tasks:
            task.cancel()
        if self._health is not None:
            self._health.close()
        core.close()
        self.bundles.close()
        SERVER_LOG.info("FastAGI server stopped")

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run_until(self, stop: asyncio.Event, ready: Callable[[FastAgiServer], None] | None = None) -> None:
        await self.start()
        if ready is not None:
            ready(self)
        try:
            await stop.wait()
        finally:
            await self.shutdown()

    def run_in_thread(self) -> RunningServer:
        """Start on a background thread with its own loop (tests); returns once listening."""
        return RunningServer(self)


class RunningServer:
    """A :class:`FastAgiServer` running on a background thread; ``stop()`` drains it like SIGTERM."""

    def __init__(self, server: FastAgiServer) -> None:
        self.server = server
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="respectline-fastagi", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error

    @property
    def port(self) -> int:
        return self.server.port

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await self.server.run_until(self._stop, ready=lambda _server: self._ready.set())

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run a coroutine function on the server's loop and wait for its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(fn(), self._loop).result(30)

    def reload(self, reason: str = "test") -> bool:
        result: bool = self.call(lambda: self.server.reload(reason))
        return result

    def stop(self, timeout: float = 30) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


class HealthProtocol(asyncio.Protocol):
    """The optional ``health_port`` listener: one HTTP request, one answer, close."""

    def __init__(self, respond: Callable[[str], bytes]) -> None:
        self._respond = respond
        self._buffer = b""
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._timer = asyncio.get_running_loop().call_later(2.0, transport.abort)

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        self._buffer += data
        if b"\r\n\r\n" in self._buffer or b"\n\n" in self._buffer:
            first = self._buffer.split(b"\n", 1)[0].decode("latin-1").strip()
            self._transport.write(self._respond(first))
            self._transport.close()
        elif len(self._buffer) > MAX_HTTP_REQUEST:
            self._transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()


def raise_open_file_limit(sessions: int) -> None:
    """Lift the open-file limit, and say so when it stays below ``max_sessions``."""
    soft, _hard = lift_open_file_limit()
    if soft != resource.RLIM_INFINITY and soft < sessions + 64:
        SERVER_LOG.warning("the open-file limit (%d) is below max_sessions (%d) plus a margin; raise "
                           "LimitNOFILE or lower max_sessions", soft, sessions)


def serve(load_bundle: Callable[[], Any], *, routes: Mapping[str, Handler], services: Any = None,
          options: ServerOptions | None = None, ready: Callable[[FastAgiServer], None] | None = None) -> int:
    """Run a FastAGI server in this (main) thread until SIGTERM/SIGINT; returns the exit status."""
    server = FastAgiServer(load_bundle, routes=routes, services=services, options=options)
    raise_open_file_limit(server.options.max_sessions)
    asyncio.run(_serve(server, ready))
    return 0


async def _serve(server: FastAgiServer, ready: Callable[[FastAgiServer], None] | None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reloads: set[asyncio.Task[bool]] = set()

    def on_sighup() -> None:
        task = loop.create_task(server.reload("SIGHUP"))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    def on_stop(name: str) -> None:
        SERVER_LOG.info("%s received: stopping", name)
        stop.set()

    loop.add_signal_handler(signal.SIGTERM, on_stop, "SIGTERM")
    loop.add_signal_handler(signal.SIGINT, on_stop, "SIGINT")
    loop.add_signal_handler(signal.SIGHUP, on_sighup)
    await server.run_until(stop, ready)


# ---------------------------------------------------------------- python -m agi_scripts.server.app

def _import_loader(spec: str) -> Callable[..., Any]:
    module_name, _, attribute = spec.partition(":")
    loader: Callable[..., Any] = getattr(importlib.import_module(module_name), attribute or "load_bundle")
    return loader


def main(argv: Sequence[str] | None = None) -> int:
    """A development entry (the product's is ``respectline serve``): prints ``listening on HOST:PORT``."""
    parser = argparse.ArgumentParser(prog="python -m agi_scripts.server.app")
    parser.add_argument("--listen", default="127.0.0.1:4573", help="HOST:PORT (port 0 picks a free one)")
    parser.add_argument("--config", help="a Respectline config file, loaded with agi_scripts.config.bundle")
    parser.add_argument("--bundle-loader", help="MODULE:FUNCTION returning the bundle (instead of --config)")
    parser.add_argument("--routes", action="append", metavar="MODULE:NAME",
                        help="route table(s) to serve (default: agi_scripts.handlers:ROUTES)")
    parser.add_argument("--max-sessions", type=int)
    parser.add_argument("--command-timeout", type=float)
    parser.add_argument("--environment-timeout", type=float)
    parser.add_argument("--drain-timeout", type=float)
    parser.add_argument("--reload-poll", type=float)
    parser.add_argument("--health-port", type=int)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    routes: dict[str, Handler] = {}
    for spec in args.routes or ["agi_scripts.handlers:ROUTES"]:
        module_name, _, table = spec.partition(":")
        routes.update(getattr(importlib.import_module(module_name), table or "ROUTES"))
    if args.bundle_loader:
        load_bundle = _import_loader(args.bundle_loader)
    elif args.config:
        from pathlib import Path

        config_loader = _import_loader("agi_scripts.config.bundle:load_bundle")
        config_path = Path(args.config)

        def load_bundle() -> Any:
            return config_loader(config_path)
    else:
        def load_bundle() -> Any:
            return None
    host, port = parse_listen(args.listen)
    overrides = {name: value for name in ("max_sessions", "command_timeout", "environment_timeout",
                                          "drain_timeout", "reload_poll", "health_port")
                 if (value := getattr(args, name)) is not None}
    options = ServerOptions(host=host, port=port, **overrides)

    def announce(server: FastAgiServer) -> None:
        print(f"listening on {host}:{server.port}", flush=True)

    try:
        return serve(load_bundle, routes=routes, options=options, ready=announce)
    except Exception as exc:
        for error in getattr(exc, "errors", None) or [exc]:
            print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
