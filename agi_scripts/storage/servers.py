"""Which ``respectline serve`` processes run on this store, and which version of the files each loaded.

Each server writes one row (``server_presence``, migration 8) when it starts and refreshes it every
half minute from a background thread (``policy.presence``); the desk's configuration view compares
each row's bundle digest with the files on disk and says which server runs an older version. A row
is the server's own: its host name, process id and start time; nothing of a call or a caller.

A server that stopped cleanly marks its row stopped; one that died is recognised by its old
``seen_at``. Rows of servers gone for a week are deleted by the next announcement, so the table
stays the size of the cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from agi_scripts.storage.base import UTC, Store, as_utc, utc_now
from agi_scripts.storage.sql import Row, SqlStore, Tx

FORGET_AFTER = timedelta(days=7)
"""Rows of servers not seen for this long are deleted."""
MAX_TEXT = 200
"""Host names and digests are bounded before they reach the store."""


@dataclass(frozen=True)
class ServerPresence:
    instance: str
    """``host:pid:started`` — one per server process start."""
    host: str
    pid: int
    started_at: datetime
    bundle_digest: str
    """SHA-256 over the config, flow and prompt files as the server loaded them (``config.digest``)."""
    loaded_at: datetime
    """When the server last loaded its files (start or reload)."""
    seen_at: datetime
    stopped_at: datetime | None

    def alive(self, now: datetime, *, within: timedelta) -> bool:
        """Running as far as the store knows: not stopped and seen within ``within``."""
        return self.stopped_at is None and now - self.seen_at <= within


class ServerRegistry:
    """The ``server_presence`` rows, on an opened store's dialect. Safe from several threads."""

    def __init__(self, store: Store) -> None:
        if not isinstance(store, SqlStore):
            raise TypeError("server presence needs a SQL store (SQLite or PostgreSQL)")
        self.dialect = store.dialect

    def announce(self, instance: str, *, host: str, pid: int, started_at: datetime, bundle_digest: str,
                 loaded_at: datetime, at: datetime | None = None) -> None:
        """Write or refresh this server's row (one small upsert), and forget servers long gone."""
        now = as_utc(at or utc_now())
        with self.dialect.write() as tx:
            tx.run("INSERT INTO server_presence (instance, host, pid, started_at, bundle_digest, loaded_at, seen_at)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (instance) DO UPDATE SET"
                   " bundle_digest = excluded.bundle_digest, loaded_at = excluded.loaded_at,"
                   " seen_at = excluded.seen_at, stopped_at = NULL",
                   (instance[:MAX_TEXT], host[:MAX_TEXT], pid, as_utc(started_at), bundle_digest[:MAX_TEXT],
                    as_utc(loaded_at), now))
            tx.run("DELETE FROM server_presence WHERE seen_at < ?", (now - FORGET_AFTER,))

    def stopped(self, instance: str, *, at: datetime | None = None) -> None:
        with self.dialect.write() as tx:
            tx.run("UPDATE server_presence SET stopped_at = ? WHERE instance = ?",
                   (as_utc(at or utc_now()), instance[:MAX_TEXT]))

    def servers(self, *, limit: int = 200) -> list[ServerPresence]:
        """Most recently seen first."""
        with self.dialect.read() as tx:
            rows = tx.rows("SELECT * FROM server_presence ORDER BY seen_at DESC, instance LIMIT ?", (limit,))
            return [_presence(tx, row) for row in rows]


def _time(tx: Tx, value: object) -> datetime:
    moment = value if isinstance(value, datetime) else tx.dialect.decode_time(value)
    return moment.astimezone(UTC)


def _presence(tx: Tx, row: Row) -> ServerPresence:
    return ServerPresence(instance=row["instance"], host=row["host"], pid=int(row["pid"]),
                          started_at=_time(tx, row["started_at"]), bundle_digest=row["bundle_digest"],
                          loaded_at=_time(tx, row["loaded_at"]), seen_at=_time(tx, row["seen_at"]),
                          stopped_at=_time(tx, row["stopped_at"]) if row["stopped_at"] is not None else None)
