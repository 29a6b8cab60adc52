"""Logging in by a trusted reverse proxy's header (``desk.trusted_proxy``; off by default).

A centre that puts its SSO in front of the desk lets the proxy say who the user is, in one header
(``X-Remote-User: sam``). The desk believes it only when the TCP peer of the request is one of the
configured proxy addresses — the address the connection really came from, recorded before uvicorn
rewrites the client from ``X-Forwarded-For`` (``PEER_KEY``) — and only for a desk user that exists
and is not disabled: the header never creates a user, and a name it does not know logs no one in.
From any other peer the header is ignored, whatever it says.

The header's user gets an ordinary desk session (cookie, CSRF token, idle timeout, audit ``login``),
started when the request carries no session of that same user.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from agi_scripts.config.desk_settings import TrustedProxy
from agi_scripts.desk.security import SESSION_COOKIE, Sessions
from agi_scripts.storage.desk import DeskSession, DeskStore

PEER_KEY = "respectline.peer"
"""Where ``RecordPeer`` keeps the connection's own peer address in the ASGI scope."""
MAX_NAME = 80


class RecordPeer:
    """Outermost ASGI wrapper: keeps the TCP peer before a proxy-headers middleware rewrites ``client``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            scope[PEER_KEY] = client[0] if client else None
        await self.app(scope, receive, send)


def peer_of(request: Request) -> str | None:
    """The connection's peer: recorded by ``RecordPeer`` when served, else the scope's client (tests)."""
    if PEER_KEY in request.scope:
        peer: str | None = request.scope[PEER_KEY]
        return peer
    return request.client.host if request.client else None


def named_user(request: Request, proxy: TrustedProxy | None) -> str | None:
    """The user the proxy's header names, or None: no rule, an untrusted peer, no or a bad header."""
    if proxy is None or not proxy.trusts(peer_of(request)):
        return None
    values = request.headers.getlist(proxy.header)
    if len(values) != 1:  # absent, or repeated (which one would be the proxy's?)
        return None
    name = values[0].strip()
    if not name or len(name) > MAX_NAME or any(ch < " " or ch == "\x7f" for ch in name):
        return None
    return name


@dataclass(frozen=True)
class ProxyLogin:
    session: DeskSession
    cookie: str
    """The new session's cookie, set on the response."""

    def set_cookie(self, response: Response, secure: bool) -> None:
        response.set_cookie(SESSION_COOKIE, self.cookie, httponly=True, samesite="strict", secure=secure, path="/")


def login_by_header(name: str, current: DeskSession | None, sessions: Sessions, desk: DeskStore,
                    now: datetime) -> ProxyLogin | DeskSession | None:
    """The session to use for a request whose trusted header names ``name`` (run on a worker thread).

    The current session when it is that user's; a new one (audited) for an existing, enabled user;
    None for a name the desk does not know — the request then counts as not logged in."""
    if current is not None and current.user.name == name:
        return current
    user = desk.user_named(name)
    if user is None or user.disabled_at is not None:
        return None
    cookie, _csrf = sessions.start(user.id, now)
    session = sessions.current(cookie, now, touch=False)
    if session is None:
        return None
    desk.audit(user.name, user.role, "login", detail="trusted proxy header")
    return ProxyLogin(session, cookie)
