"""PostgreSQL backend of ``Store``, for several Respectline servers sharing one database: the dialect
under ``sql.SqlStore``, which holds the queries.

Concurrency and durability choices:
- A connection pool (psycopg_pool) shared by the FastAGI server's worker threads, the pause keeper
  and the retention sweeper: each store call borrows one connection for one transaction. A
  connection is checked before it is lent, so a database restart costs no failed call.
- Writes run in READ COMMITTED transactions that lock what they read before writing it:
  ``book_escalation`` takes a transaction-level advisory lock on the call's id, so two servers
  booking flags of the same call take turns, exactly as SQLite's ``BEGIN IMMEDIATE`` makes them;
  flags of other calls do not wait. Case changes lock the case's row (``FOR UPDATE``). The UNIQUE
  constraints on the flag numbers are a second guard: a lost race could never be stored.
- Multi-statement reads (a case and its events) run in a REPEATABLE READ, READ ONLY transaction: one
  snapshot, as SQLite's read transaction gives.
- ``busy_timeout`` bounds how long a call waits for a lock another server holds (``lock_timeout``);
  past it, ``StoreError``. A connection is waited for at most ``CONNECTION_WAIT`` seconds (the pool
  is larger than the server's worker threads, so only an unreachable database makes anyone wait).
- With the database unreachable, calls fail fast: after a call found no connection, the others get
  ``StoreError`` at once for ``OUTAGE_RETRY`` seconds unless the pool has reconnected meanwhile; then
  one call waits again. Callers are never held in silence for a database that is down.
- Migrations run on open in one transaction under an advisory lock, so servers starting together
  migrate once; DDL is transactional in PostgreSQL, so a failed migration leaves nothing behind. The
  version lives in the table ``respectline_schema_version``.
- Times are ``TIMESTAMPTZ`` and come back as UTC ``datetime`` objects. Text is ordered by code point
  (``COLLATE "C"``), as SQLite orders it, whatever the database's collation.
- PostgreSQL text cannot hold the NUL character: such a value is refused with ``StoreError``
  (Asterisk never sends one: its strings are C strings).
- Error messages never show the URL's password.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from agi_scripts.storage import rules
from agi_scripts.storage.base import UTC, StoreError, UnsupportedStoreUrl, as_utc
from agi_scripts.storage.migrations import MIGRATIONS, Migration
from agi_scripts.storage.sql import Dialect, SqlStore, Tx

Connection = psycopg.Connection[DictRow]

# Advisory lock keys: (namespace, key). The namespace keeps ours apart from other users of the database.
_LOCK_NAMESPACE = 0x52_4C_00  # "RL"
_MIGRATION_LOCK = (_LOCK_NAMESPACE, 0)
_FLAG_LOCK_NAMESPACE = _LOCK_NAMESPACE + 1
VERSION_TABLE = "respectline_schema_version"
POOL_MAX_SIZE = 10
"""Worker threads (4 by default), the pause keeper and the sweeper borrow at most this many at once."""
CONNECTION_WAIT = 2.0
"""Longest wait, in seconds, for a connection (also libpq's connect_timeout unless the URL sets one)."""
OUTAGE_RETRY = 10.0
"""After no connection could be had, calls fail at once for this many seconds (unless one comes back)."""
STATEMENT_MARGIN = 3.0
"""Seconds a statement may run beyond the lock wait before PostgreSQL cancels it."""
MIGRATION_WAIT = 120.0
"""How long a server opening the store waits for another one's migration."""


class PostgresStore(SqlStore):
    def __init__(self, url: str, *, busy_timeout: float = 5.0, pool_max_size: int = POOL_MAX_SIZE,
                 migrations: Sequence[Migration] = MIGRATIONS) -> None:
        super().__init__(PostgresDialect(url, busy_timeout, pool_max_size, migrations))


class PostgresDialect(Dialect):
    for_update = " FOR UPDATE"
    by_code_point = ' COLLATE "C"'
    no_limit = None

    def __init__(self, url: str, busy_timeout: float, pool_max_size: int, migrations: Sequence[Migration]) -> None:
        self._secret = _secrets_of(url)
        self._busy_timeout = busy_timeout
        self._outage_lock = threading.Lock()
        self._unreachable_since: float | None = None
        with _store_errors(self._secret):
            conninfo = _conninfo(url)
            with psycopg.connect(conninfo, autocommit=True, row_factory=dict_row) as db:
                # Another server may be running a long migration: wait for it longer than for a write.
                _set_session(db, max(busy_timeout, MIGRATION_WAIT))
                self.version = _migrate(db, migrations)
            self._pool: ConnectionPool[Connection] = ConnectionPool(
                conninfo, connection_class=psycopg.Connection[DictRow],
                kwargs={"autocommit": True, "row_factory": dict_row}, min_size=1, max_size=pool_max_size,
                open=True, configure=self._configure, check=ConnectionPool.check_connection,
                timeout=CONNECTION_WAIT, name="respectline-store",
                # psycopg_pool's default (300 s, backing off 1, 2, 4, ... s) left the store down for up
                # to 100 s after the database came back; a new try every OUTAGE_RETRY seconds instead.
                reconnect_timeout=OUTAGE_RETRY)

    def _configure(self, db: Connection) -> None:
        _set_session(db, self._busy_timeout)

    def close(self) -> None:
        self._pool.close()

    @contextmanager
    def write(self) -> Iterator[Tx]:
        """One READ COMMITTED write transaction; rolled back if anything raises."""
        with _store_errors(self._secret), self._connection() as db, db.transaction():
            yield Tx(self, db)

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A connection for one read statement (autocommit)."""
        with _store_errors(self._secret), self._connection() as db:
            yield Tx(self, db)

    @contextmanager
    def snapshot(self) -> Iterator[Tx]:
        """Several reads that see one snapshot."""
        with _store_errors(self._secret), self._connection() as db, db.transaction():
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield Tx(self, db)

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A connection of the pool, or at once ``StoreError`` while the database is known unreachable."""
        self._refuse_during_outage()
        try:
            with self._pool.connection() as db:
                with self._outage_lock:
                    self._unreachable_since = None
                yield db
        except PoolTimeout:
            with self._outage_lock:
                self._unreachable_since = time.monotonic()
            raise

    def _refuse_during_outage(self) -> None:
        with self._outage_lock:
            since = self._unreachable_since
            if since is None or self._pool.get_stats().get("pool_available", 0) > 0:
                return
            waited = time.monotonic() - since
            if waited >= OUTAGE_RETRY:
                self._unreachable_since = time.monotonic()  # this call tries; the others still fail fast
                return
        raise StoreError(f"database unreachable (no connection for {waited:.0f} s); not waiting")

    def sql(self, text: str) -> str:
        return text.replace("?", "%s")  # the store's SQL has no other '?' and no '%'

    def encode_time(self, moment: datetime) -> datetime:
        return as_utc(moment)

    def decode_time(self, value: Any) -> datetime:
        moment: datetime = value
        return moment.astimezone(UTC)

    def insert(self, db: Any, sql: str, params: Sequence[object]) -> int:
        return int(db.execute(f"{sql} RETURNING id", params).fetchone()["id"])

    def any_of(self, values: Sequence[object]) -> tuple[str, tuple[object, ...]]:
        return "= ANY(?)", (list(values),)

    def none_of(self, values: Sequence[object]) -> tuple[str, tuple[object, ...]]:
        return "<> ALL(?)", (list(values),)

    def lock_call(self, tx: Tx, call_id: str) -> None:
        # Flags of one call take turns, whichever server they reach; other calls do not wait.
        tx.run("SELECT pg_advisory_xact_lock(?, ?)", (_FLAG_LOCK_NAMESPACE, _lock_key(call_id)))


# ---------------------------------------------------------------- URL, connection and schema


def _conninfo(url: str) -> str:
    """libpq's connection string for a ``postgresql://`` URL, with our defaults where it says nothing."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.Error:
        # libpq's own message quotes the part it could not read, which may be the password.
        raise UnsupportedStoreUrl(
            "not a valid PostgreSQL URL; expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE, with any"
            " '@', ':', '/', '%' or space in the password percent-encoded (e.g. %40 for '@')") from None
    params.setdefault("connect_timeout", round(CONNECTION_WAIT))  # libpq's smallest useful value is 2
    params.setdefault("application_name", "respectline")
    # A half-open connection (failover, a firewall dropping state) is noticed in seconds, not hours.
    for key, value in (("keepalives", 1), ("keepalives_idle", 10), ("keepalives_interval", 5),
                       ("keepalives_count", 3), ("tcp_user_timeout", 15000)):
        params.setdefault(key, value)
    return psycopg.conninfo.make_conninfo(**{key: str(value) for key, value in params.items()})


def _set_session(db: Connection, lock_timeout: float) -> None:
    """Per connection: UTC session times, how long to wait for another server's locks, and a bound
    on any statement, so a stalled database costs a call seconds, not the rest of its life."""
    db.execute("SELECT set_config('TimeZone', 'UTC', false), set_config('lock_timeout', %s, false),"
               " set_config('statement_timeout', %s, false)",
               (f"{int(lock_timeout * 1000)}ms", f"{int((lock_timeout + STATEMENT_MARGIN) * 1000)}ms"))


def _secrets_of(url: str) -> tuple[str, ...]:
    """Everything in the URL's user part that could be (part of) the password, longest first: the
    raw and decoded password, and its pieces around '@' or ':' (a mistyped URL splits it there)."""
    userinfo = url.partition("://")[2].rpartition("@")[0]
    password = userinfo.partition(":")[2]
    pieces = {password, unquote(password), *re.split(r"[@:]", password), *re.split(r"[@:]", unquote(password))}
    return tuple(sorted((p for p in pieces if len(p) >= 3), key=len, reverse=True))


def _migrate(db: Connection, migrations: Sequence[Migration]) -> int:
    """Bring the schema to the newest version in one transaction; refuse a newer database."""
    latest = migrations[-1].version
    missing = [m.version for m in migrations if m.postgresql is None]
    if missing:
        raise StoreError(f"migrations {missing} have no PostgreSQL statements")
    with db.transaction():
        # Servers starting together: one migrates, the others wait here and then find it done.
        db.execute("SELECT pg_advisory_xact_lock(%s, %s)", _MIGRATION_LOCK)
        db.execute(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} ("
                   " singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton), version INTEGER NOT NULL)")
        row = db.execute(f"SELECT version FROM {VERSION_TABLE}").fetchone()
        current = int(row["version"]) if row else 0
        rules.check_schema_version(current, latest)
        for migration in migrations:
            if migration.version > current:
                for statement in migration.postgresql or ():
                    db.execute(statement)
        if latest > current:
            db.execute(f"INSERT INTO {VERSION_TABLE} (version) VALUES (%s)"
                       " ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version", (latest,))
    return max(current, latest)


@contextmanager
def _store_errors(secrets: Sequence[str]) -> Iterator[None]:
    try:
        yield
    except psycopg.Error as error:
        message = str(error).strip()
        for secret in secrets:
            message = message.replace(secret, "***")
        # "from None": the original exception, password and all, must not reach a logged traceback.
        raise StoreError(f"database error: {message}") from None


def _lock_key(call_id: str) -> int:
    """A call id as a signed 32-bit advisory lock key (a collision only makes two calls take turns)."""
    digest = hashlib.blake2b(call_id.encode("utf-8", "surrogatepass"), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)
