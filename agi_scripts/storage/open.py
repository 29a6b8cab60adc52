"""``open_store``: the store a URL names, on the backend it names.

It sits apart from ``base`` (the contract, which the backends import) so that no module of the
store imports one that imports it back.
"""

from __future__ import annotations

from agi_scripts.storage.base import Store, is_postgresql_url, sqlite_path
from agi_scripts.storage.sqlite import SqliteStore


def open_store(url: str, *, busy_timeout: float = 5.0) -> Store:
    """Open (creating folders, file and schema as needed) the store a URL names.

    ``sqlite:///relative/path.sqlite`` (relative to the working directory),
    ``sqlite:////absolute/path.sqlite`` or ``sqlite:///:memory:``; or a PostgreSQL database,
    ``postgresql://user:password@host:5432/database`` (``postgres://`` too, with libpq's query
    parameters such as ``?sslmode=require``), whose schema is created or migrated on open.
    ``busy_timeout`` bounds, in seconds, how long a write waits for another process's write.
    """
    if is_postgresql_url(url):
        from agi_scripts.storage.postgres import PostgresStore  # here: psycopg only when needed

        return PostgresStore(url, busy_timeout=busy_timeout)
    return SqliteStore(sqlite_path(url), busy_timeout=busy_timeout)
