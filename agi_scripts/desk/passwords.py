"""Passwords, hashed with argon2id (memory-hard; argon2-cffi's defaults: 64 MiB, 3 passes, 4 lanes,
RFC 9106's second recommended set). A hash carries its parameters, so raising them later keeps old
hashes verifiable; ``needs_rehash`` says when a login should store a new one."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
MAX_LENGTH = 1024
"""Long enough for any passphrase; short enough that hashing it is no denial of service."""

_HASHER = PasswordHasher()


def check_new_password(password: str) -> None:
    """ValueError when a new password is too short or too long."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password has at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise ValueError(f"a password has at most {MAX_LENGTH} characters")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _HASHER.hash("respectline: no such user")


def verify_unknown_user(password: str) -> bool:
    """Spend the time a real check costs, so a login for a name that does not exist takes as long."""
    verify_password(_dummy_hash(), password)
    return False
