"""What every connection of one server shares: options, routes, services, the event loop and its
greenlet hub, admission (peer allowlist, session cap) and the deadline sweeper."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from greenlet import greenlet

from agi_scripts.ground import metrics
from agi_scripts.server.bundles import BundleKeeper
from agi_scripts.server.connection import AgiConnection
from agi_scripts.server.options import ServerOptions
from agi_scripts.server.registry import Handler
from agi_scripts.server.session import SERVER_LOG

SWEEP_INTERVAL = 0.1
"""How often deadlines are checked: the precision of every timeout."""

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

LOOPBACK = ("127.0.0.0/8", "::1")
MAX_WAITING_PER_PEER = 256
"""The least number of connections one peer may hold open before sending an environment (the cap is
this or ``max_sessions``, whichever is larger): a burst of new calls from one Asterisk is accepted
before their environments are read, and past the cap the oldest idle one goes, never a new call."""



class RateLimitedWarning:
    """At most one log line per ``every`` seconds for a repeated event, with the count in between
    (a flood of refused connections must not flood the log too)."""

    def __init__(self, message: str, every: float = 5.0) -> None:
        self._message = message
        self._every = every
        self._last = -every
        self._suppressed = 0

    def __call__(self, *args: object) -> None:
        now = time.monotonic()
        if now - self._last < self._every:
            self._suppressed += 1
            return
        suppressed, self._suppressed, self._last = self._suppressed, 0, now
        SERVER_LOG.warning(self._message + (f" (and {suppressed} more since the last report)"
                                            if suppressed else ""), *args)


class ServerCore:
    def __init__(self, options: ServerOptions, routes: Mapping[str, Handler], bundles: BundleKeeper,
                 services: Any) -> None:
        self.options = options
        self.timeouts = options.timeouts
        self.routes = routes
        self.bundles = bundles
        self.services = services
        self.executor = ThreadPoolExecutor(options.worker_threads, thread_name_prefix="respectline-worker")
        self.loop = asyncio.get_running_loop()
        self.hub = greenlet.getcurrent()
        self.connections: set[AgiConnection] = set()
        self.admitted = 0
        self.draining = False
        # No list is never "everyone": FastAGI has no authentication, so an empty one means loopback.
        self._networks = [ipaddress.ip_network(p, strict=False) for p in options.allowed_peers or LOOPBACK]
        self._peer_verdicts: dict[str, bool] = {}
        self._warn_refused_peer = RateLimitedWarning("refused a FastAGI connection from %s: not in allowed_peers")
        self._warn_over_cap = RateLimitedWarning(
            "refused a FastAGI connection: %d sessions already (max_sessions); answered FAILURE")
        self._waiting_cap = max(MAX_WAITING_PER_PEER, options.max_sessions)
        self.waiting: dict[str, dict[AgiConnection, None]] = {}
        """Per peer, the connections that have not sent their environment yet, oldest first."""
        self._warn_too_many_waiting = RateLimitedWarning(
            "closed the oldest idle FastAGI connection from %s: %d connections waiting without an AGI environment")
        self.warn_no_environment = RateLimitedWarning(
            "closed a connection that sent no complete AGI environment within %.1f s")

    def protocol(self) -> AgiConnection:
        return AgiConnection(self)

    def current_bundle(self) -> Any:
        return self.bundles.current

    # ------------------------------------------------------------ admission

    def admit(self, connection: AgiConnection) -> None:
        """A new connection, before its environment: allowed peers only, and at most
        ``max(MAX_WAITING_PER_PEER, max_sessions)`` waiting per peer (the oldest goes), apart from the calls in
        progress, so idle sockets can never take a real call's place."""
        self.connections.add(connection)
        assert connection.transport is not None
        peer = connection.transport.get_extra_info("peername")
        host = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        if not self._peer_allowed(host):
            self._warn_refused_peer(host or "an unknown address")
            connection.reject(failure=False)
            return
        waiting = self.waiting.setdefault(host, {})
        if len(waiting) >= self._waiting_cap:
            # The oldest idle one goes, not the newcomer: Asterisk sends its environment at once,
            # so a real call never stays long enough to be the oldest.
            self._warn_too_many_waiting(host, self._waiting_cap)
            oldest = next(iter(waiting))
            self._stop_waiting(oldest)
            oldest.abort()
            waiting = self.waiting.setdefault(host, {})
        waiting[connection] = None
        connection.waiting_host = host

    def start_session(self, connection: AgiConnection) -> bool:
        """Its environment arrived: a call now, counted against ``max_sessions`` (over it, Asterisk
        is told FAILURE and goes on in its dialplan)."""
        self._stop_waiting(connection)
        if self.admitted >= self.options.max_sessions:
            self._warn_over_cap(self.admitted)
            connection.reject(failure=True)
            return False
        connection.admitted = True
        self.admitted += 1
        metrics.session_started()
        return True

    def forget(self, connection: AgiConnection) -> None:
        self.connections.discard(connection)
        self._stop_waiting(connection)
        if connection.admitted:
            connection.admitted = False
            self.admitted -= 1
            metrics.session_ended()

    def _stop_waiting(self, connection: AgiConnection) -> None:
        host, connection.waiting_host = connection.waiting_host, None
        if host is None:
            return
        waiting = self.waiting.get(host, {})
        waiting.pop(connection, None)
        if not waiting:
            self.waiting.pop(host, None)

    def _peer_allowed(self, host: str) -> bool:
        verdict = self._peer_verdicts.get(host)
        if verdict is None:
            try:
                address = ipaddress.ip_address(host.split("%", 1)[0])
            except ValueError:
                verdict = False
            else:
                mapped = getattr(address, "ipv4_mapped", None)
                verdict = any(a in n for a in (address, mapped) if a is not None for n in self._networks
                              if a.version == n.version)
            if len(self._peer_verdicts) < 4096:
                self._peer_verdicts[host] = verdict
        return verdict

    # ------------------------------------------------------------ deadlines

    async def sweep_deadlines(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            now = time.monotonic()
            for connection in [c for c in self.connections if c.deadline <= now]:
                connection.on_deadline()

    # ------------------------------------------------------------ health

    def status(self) -> dict[str, Any]:
        return {
            "status": "draining" if self.draining else "ok",
            "sessions": self.admitted,
            "max_sessions": self.options.max_sessions,
            "config_generation": self.bundles.generation,
        }

    def http_response(self, request_line: str) -> bytes:
        """Answer a ``GET /health`` (200 while serving, 503 while draining), ``GET /metrics`` (Prometheus
        text) and nothing else (404)."""
        parts = request_line.split()
        path = parts[1] if len(parts) > 1 else ""
        if path.split("?", 1)[0] == "/metrics":
            return _http_bytes(200, metrics.exposition(), metrics.CONTENT_TYPE, head=parts[0] == "HEAD")
        if path.split("?", 1)[0] != "/health":
            return _http(404, {"status": "not found"}, head=parts[0] == "HEAD" if parts else False)
        status = self.status()
        return _http(503 if self.draining else 200, status, head=parts[0] == "HEAD")

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def _http(code: int, body: Mapping[str, Any], head: bool) -> bytes:
    return _http_bytes(code, (json.dumps(body) + "\n").encode(), "application/json", head)


def _http_bytes(code: int, payload: bytes, content_type: str, head: bool) -> bytes:
    reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[code]
    header = (f"HTTP/1.0 {code} {reason}\r\nContent-Type: {content_type}\r\n"
              f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n").encode()
    return header if head else header + payload


HealthResponder = Callable[[str], bytes]
