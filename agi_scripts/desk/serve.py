"""``respectline desk``: the desk under uvicorn, on a socket bound before it starts.

``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed from the reverse proxy only: the addresses of
``desk.trusted_proxy.from`` when that section is configured, else the loopback (``127.0.0.1``, ``::1``).
The client address then is the browser's (login throttling counts per browser, not one address for
everyone behind the proxy) and ``https`` from the proxy makes the cookies ``Secure``. Ctrl-C or SIGTERM
stops it; open live inboxes get ``SHUTDOWN_GRACE`` seconds to end.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any, cast

import uvicorn
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from agi_scripts.config.desk_settings import TrustedProxy
from agi_scripts.desk.app import DeskOptions, create_app
from agi_scripts.desk.proxy_login import RecordPeer
from agi_scripts.storage import Store

SHUTDOWN_GRACE = 2
LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._ready()


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def forwarding_peers(proxy: TrustedProxy | None) -> list[str]:
    """Who may tell the desk the browser's address and scheme: ``desk.trusted_proxy.from``, else the
    loopback. An IPv4 proxy reaching a socket bound to ``::`` shows as ``::ffff:a.b.c.d``: listed too."""
    if proxy is None:
        return list(LOOPBACK)
    peers: list[str] = []
    for network in proxy.peers:
        peers.append(str(network))
        if isinstance(network, ipaddress.IPv4Network):
            peers.append(f"::ffff:{network.network_address}/{96 + network.prefixlen}")
    return peers


def behind_proxy(app: ASGIApp, proxy: TrustedProxy | None) -> ASGIApp:
    """``app`` as served: forwarded headers from ``forwarding_peers`` only, inside ``RecordPeer``."""
    # The peer is recorded before X-Forwarded-For rewrites it: a trusted proxy's user header
    # (``desk.trusted_proxy``) is honoured for the connection's own address only.
    proxied = ProxyHeadersMiddleware(cast(Any, app), trusted_hosts=forwarding_peers(proxy))
    return RecordPeer(cast(ASGIApp, proxied))


def serve_desk(options: DeskOptions, store: Store, sock: socket.socket, announce: Callable[[str], None]) -> None:
    """Serve until stopped; ``announce`` is told the address once the desk answers."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    app = behind_proxy(cast(ASGIApp, create_app(options, store)), options.settings.desk.trusted_proxy)
    config = uvicorn.Config(app, log_level="warning", access_log=False, proxy_headers=False, server_header=False,
                            timeout_graceful_shutdown=SHUTDOWN_GRACE, lifespan="on")
    _Server(config, lambda: announce(f"listening on http://{shown}:{port}")).run(sockets=[sock])
