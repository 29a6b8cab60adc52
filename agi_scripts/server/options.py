"""The FastAGI server's knobs, with their one set of defaults.

The config file's ``server:`` section is read into this very class (``config.settings``), the CLI
overrides what its options name (``dataclasses.replace``), and the server takes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from agi_scripts.protocol.timeouts import CommandTimeouts

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4573


@dataclass(frozen=True)
class ServerOptions:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    """0 picks a free port (tests); :attr:`FastAgiServer.port` tells which."""
    allowed_peers: tuple[str, ...] = ("127.0.0.1", "::1")
    """Addresses or networks (``10.0.0.0/24``) allowed to connect; empty allows everyone.
    FastAGI has no authentication, so anything else is closed at once."""
    max_sessions: int = 2000
    """Connections served at once; one more is told ``FAILURE`` and closed, so the dialplan moves on."""
    command_timeout: float = 10.0
    media_timeout: float = 300.0
    environment_timeout: float = 3.0
    """A connection that has not sent its whole environment by then is closed."""
    drain_timeout: float = 8.0
    """On SIGTERM, how long sessions in progress may still run."""
    reload_poll: float = 1.0
    health_port: int | None = None
    """Optional plain-HTTP ``GET /health`` listener on the same host."""
    blocking_timeout: float = 10.0
    """Longest wait for one call offloaded to the worker threads (store calls)."""
    worker_threads: int = 4

    @property
    def timeouts(self) -> CommandTimeouts:
        return CommandTimeouts(self.command_timeout, self.media_timeout)


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:4573`` for IPv6; a bare ``:4573`` means the default host)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or DEFAULT_HOST, int(port)
