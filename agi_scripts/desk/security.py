"""Sessions, CSRF tokens and login throttling for the desk.

- The session cookie holds a random token (256 bits), signed with a key kept in the store (so every
  desk process on the store accepts it) and sent ``HttpOnly``, ``SameSite=Strict``, and ``Secure``
  when the desk is reached over HTTPS (directly, or through a proxy on the loopback that says so in
  ``X-Forwarded-Proto``). The store keeps only the token's SHA-256: a stolen database opens no session.
- A session ends after ``idle_timeout`` without a request, after ``lifetime`` in any case, at logout,
  and when the user's password changes.
- Every POST form carries the session's CSRF token (the login form a token of its own, in a cookie
  and in the form); a POST without it is refused with 403 before anything else is read.
- Logins are throttled per user name and per client address: after ``throttle_after`` failures in
  ``throttle_window`` (four times as many for an address, which may be a whole office behind a proxy),
  each further attempt waits ``throttle_base`` seconds, doubled at each failure (at most
  ``throttle_window``). Counts live in the store, so several desk processes share them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, Signer

from agi_scripts.storage.desk import DeskSession, DeskStore

SESSION_COOKIE = "rl_session"
LOGIN_COOKIE = "rl_login"
CSRF_FIELD = "csrf"
_SIGNING_KEY = "desk-session-signing-key"
ADDRESS_FACTOR = 4
"""A client address is throttled after this many times the failures of one user name."""


@dataclass(frozen=True)
class SessionRules:
    idle_timeout: float = 15 * 60.0
    lifetime: float = 12 * 3600.0
    touch_every: float = 20.0
    """``seen_at`` is written at most this often per session (not at every request)."""
    throttle_after: int = 5
    throttle_window: float = 15 * 60.0
    throttle_base: float = 30.0


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same_token(given: object, expected: str) -> bool:
    return isinstance(given, str) and bool(given) and hmac.compare_digest(given.encode(), expected.encode())


class Sessions:
    def __init__(self, desk: DeskStore, rules: SessionRules) -> None:
        self.desk = desk
        self.rules = rules
        self._signer = Signer(desk.secret(_SIGNING_KEY), salt="respectline-desk-session")

    def start(self, user_id: int, now: datetime) -> tuple[str, str]:
        """(cookie value, CSRF token) of a new session."""
        token = secrets.token_urlsafe(32)
        forget = now - timedelta(seconds=max(self.rules.lifetime, self.rules.idle_timeout))
        csrf = self.desk.open_session(user_id, token_hash(token), at=now, forget_before=forget)
        return self._signer.sign(token).decode("ascii"), csrf

    def token_of(self, cookie: str | None) -> str | None:
        if not cookie or len(cookie) > 200:
            return None
        try:
            return self._signer.unsign(cookie).decode("ascii")
        except (BadSignature, UnicodeDecodeError):
            return None

    def current(self, cookie: str | None, now: datetime, *, touch: bool = True) -> DeskSession | None:
        """The live session a cookie names; an idle or too old one is ended and gives None."""
        token = self.token_of(cookie)
        if token is None:
            return None
        hashed = token_hash(token)
        session = self.desk.session(hashed)
        if session is None:
            return None
        if (now - session.seen_at).total_seconds() > self.rules.idle_timeout or \
                (now - session.created_at).total_seconds() > self.rules.lifetime:
            self.desk.close_session(hashed)
            return None
        if touch and (now - session.seen_at).total_seconds() >= self.rules.touch_every:
            self.desk.touch_session(hashed, at=now)
        return session

    def end(self, cookie: str | None) -> None:
        token = self.token_of(cookie)
        if token is not None:
            self.desk.close_session(token_hash(token))

    # ------------------------------------------------------------ throttling

    def login_keys(self, name: str, address: str) -> list[str]:
        return [f"user:{name.strip().casefold()[:200]}", f"address:{address}"]

    def wait_before_login(self, keys: list[str], now: datetime) -> float:
        """Seconds to wait before another attempt is even checked (0: go ahead)."""
        rules = self.rules
        since = now - timedelta(seconds=rules.throttle_window)
        wait = 0.0
        for key, failures, last in self.desk.login_failures(keys, since=since):
            # An address may be an office behind one proxy: it gets more tries than one user name.
            after = rules.throttle_after * (ADDRESS_FACTOR if key.startswith("address:") else 1)
            if failures >= after:
                delay = min(rules.throttle_base * 2 ** min(failures - after, 30), rules.throttle_window)
                wait = max(wait, (last + timedelta(seconds=delay) - now).total_seconds())
        return max(wait, 0.0)

    def failed_login(self, keys: list[str], now: datetime) -> None:
        self.desk.count_login_failure(keys, since=now - timedelta(seconds=self.rules.throttle_window), at=now)

    def good_login(self, keys: list[str]) -> None:
        self.desk.clear_login_failures(keys)
