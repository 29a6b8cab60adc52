"""Opening a store: URLs, folders, pragmas, migrations and the refusal of a newer schema, on SQLite
and on PostgreSQL."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import stat
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from agi_scripts.storage import SchemaTooNew, StoreError, UnsupportedStoreUrl, open_store
from agi_scripts.storage.migrations import LATEST_VERSION, MIGRATIONS, Migration
from agi_scripts.storage.postgres import VERSION_TABLE, PostgresStore
from agi_scripts.storage.sqlite import SqliteStore
from tests.support.postgres_server import PostgresServer

TABLES = {"calls", "compliments", "cases", "case_events", "incidents", "agent_pauses", "pending_erasures",
          "desk_users", "desk_sessions", "desk_login_failures", "desk_secrets", "audit_log", "callbacks",
          "transcripts", "compliment_follow_ups", "appreciation_deliveries", "appreciation_recordings",
          "check_ins", "check_in_tries", "server_presence"}


def tables_of(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def user_version_of(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def test_absolute_url_creates_missing_parent_folders_and_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "store.sqlite"
    store = open_store(f"sqlite:///{path}")  # an absolute path gives four slashes
    store.close()
    assert path.is_file()
    assert TABLES <= tables_of(path)
    assert user_version_of(path) == LATEST_VERSION


def test_relative_url_is_relative_to_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    open_store("sqlite:///var/rel.sqlite").close()
    assert (tmp_path / "var" / "rel.sqlite").is_file()


def test_memory_url_gives_a_working_store_without_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///:memory:")
    store.record_call_start("c1", caller="100", queue="support", language="nl", route="support")
    assert store.get_call("c1") is not None
    store.close()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("url", ["postgresql+psycopg://u:secret@h/x", "postgres+psycopg2://u:secret@h/x"])
def test_a_postgresql_url_naming_a_driver_is_refused_without_echoing_the_password(url: str) -> None:
    with pytest.raises(UnsupportedStoreUrl, match="names a driver") as raised:
        open_store(url)
    assert "secret" not in str(raised.value)


@pytest.mark.parametrize("url", ["mysql://h/db", "sqlite://relative.sqlite", "sqlite:///", "just/a/path.sqlite",
                                 "sqlite:///x.sqlite?mode=ro"])
def test_other_urls_are_refused_with_the_accepted_forms(url: str) -> None:
    with pytest.raises(UnsupportedStoreUrl) as raised:
        open_store(url)
    assert "sqlite" in str(raised.value)


def test_new_database_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "private.sqlite"
    open_store(f"sqlite:///{path}").close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_connection_uses_wal_full_sync_and_foreign_keys(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "s.sqlite"))
    db = store.dialect.db  # type: ignore[attr-defined]  # the pragmas are per connection: read them on the store's own one
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    store.close()


def test_reopening_keeps_data_and_schema_version(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    first = open_store(url)
    first.record_call_start("c1", caller="100", queue="support", language="nl", route="support")
    first.close()
    for _ in range(2):
        again = open_store(url)
        assert again.schema_version == LATEST_VERSION
        assert again.get_call("c1") is not None
        again.close()
    assert user_version_of(tmp_path / "s.sqlite") == LATEST_VERSION


def test_database_from_a_newer_respectline_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    open_store(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    with pytest.raises(SchemaTooNew, match=f"schema version {LATEST_VERSION + 1}.*newer Respectline"):
        open_store(f"sqlite:///{path}")
    assert user_version_of(path) == LATEST_VERSION + 1


def test_only_pending_migrations_run_on_an_older_database(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sqlite")
    SqliteStore(path).close()
    extra = Migration(LATEST_VERSION + 1, "test column", ("ALTER TABLE calls ADD COLUMN test_note TEXT",))
    upgraded = SqliteStore(path, migrations=(*MIGRATIONS, extra))
    assert upgraded.schema_version == LATEST_VERSION + 1
    upgraded.close()
    SqliteStore(path, migrations=(*MIGRATIONS, extra)).close()  # re-open: the ALTER must not run twice
    with sqlite3.connect(path) as db:
        assert "test_note" in [row[1] for row in db.execute("PRAGMA table_info(calls)")]


def test_a_failing_migration_leaves_no_partial_schema(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    broken = (*MIGRATIONS, Migration(LATEST_VERSION + 1, "half", (
        "CREATE TABLE half_done (x INTEGER)", "THIS IS NOT SQL")))
    with pytest.raises(StoreError, match="database error"):
        SqliteStore(str(path), migrations=broken)
    assert tables_of(path) == set()  # migration 1 ran in the same transaction and was rolled back too
    assert user_version_of(path) == 0
    SqliteStore(str(path)).close()  # and the file is still usable
    assert user_version_of(path) == LATEST_VERSION


# ------------------------------------------------------------------ both dialects' migrations


def test_every_migration_has_statements_for_both_dialects() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, LATEST_VERSION + 1))
    for migration in MIGRATIONS:
        assert migration.sqlite and migration.postgresql, f"migration {migration.version}"


def test_both_dialects_make_the_same_tables_columns_and_indexes(tmp_path: Path, postgres_url: str) -> None:
    path = tmp_path / "s.sqlite"
    open_store(f"sqlite:///{path}").close()
    open_store(postgres_url).close()
    with sqlite3.connect(path) as db:
        sqlite_columns = {(table, row[1], bool(row[3] or row[5])) for table in TABLES
                          for row in db.execute(f"PRAGMA table_info({table})")}
        sqlite_indexes = {row[0] for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")}
    with psycopg.connect(postgres_url) as db:
        postgres_columns = {(table, column, nullable == "NO") for table, column, nullable in db.execute(
            "SELECT table_name, column_name, is_nullable FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name <> %s", (VERSION_TABLE,))}
        postgres_indexes = {row[0] for row in db.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            " AND indexname NOT LIKE '%%_pkey' AND indexname NOT LIKE '%%_key'")}
    assert postgres_columns == sqlite_columns
    assert postgres_indexes == sqlite_indexes


# ------------------------------------------------------------------ version 2: pending erasures


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_erasure_refused_before_version_2_is_queued_by_the_upgrade(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Version 1 kept a refused erasure only as ``erasure_refused`` events: the upgrade queues the caller
    of each such case (asked at the first refusal), so the sweep finishes what was left."""
    url = f"sqlite:///{tmp_path / 's.sqlite'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")

    def at_version(migrations: tuple[Migration, ...]) -> SqliteStore | PostgresStore:
        if backend == "sqlite":
            return SqliteStore(str(tmp_path / "s.sqlite"), migrations=migrations)
        return PostgresStore(url, migrations=migrations)

    asked = datetime(2025, 3, 14, 9, 0, tzinfo=timezone.utc)
    old = at_version(MIGRATIONS[:1])
    assert old.schema_version == 1
    for number, caller in enumerate(("+32470123456", "+32470123456", "+32470999999")):
        old.open_case(category="verbal", team="care", priority=2, caller=caller, agent="a", queue="q",
                      call_id=f"c{number}", at=asked - timedelta(days=10))
    old.erase_caller("+32470123456", evidence_closed_before=asked - timedelta(days=365), at=asked)
    old.erase_caller("+32470123456", evidence_closed_before=asked, at=asked + timedelta(days=1))  # asked again
    old.close()

    upgraded = at_version(MIGRATIONS)
    try:
        assert upgraded.schema_version == LATEST_VERSION
        [pending] = upgraded.pending_erasures()
        assert (pending.caller, pending.requested_at) == ("+32470123456", asked)
    finally:
        upgraded.close()


# ------------------------------------------------------------------ PostgreSQL


def postgres_version_of(url: str) -> int:
    with psycopg.connect(url) as db:
        row = db.execute(f"SELECT version FROM {VERSION_TABLE}").fetchone()
        assert row is not None
        return int(row[0])


def postgres_tables_of(url: str) -> set[str]:
    with psycopg.connect(url) as db:
        return {row[0] for row in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}


def test_postgresql_url_creates_the_schema_in_an_empty_database(postgres_url: str) -> None:
    store = open_store(postgres_url)
    assert isinstance(store, PostgresStore) and store.schema_version == LATEST_VERSION
    store.close()
    assert TABLES | {VERSION_TABLE} == postgres_tables_of(postgres_url)
    assert postgres_version_of(postgres_url) == LATEST_VERSION


def test_postgres_spelling_of_the_scheme_is_accepted(postgres_url: str) -> None:
    open_store("postgres://" + postgres_url.split("://", 1)[1]).close()
    assert postgres_version_of(postgres_url) == LATEST_VERSION


def test_reopening_a_postgresql_store_keeps_data_and_schema_version(postgres_url: str) -> None:
    first = open_store(postgres_url)
    first.record_call_start("c1", caller="100", queue="support", language="nl", route="support")
    first.close()
    for _ in range(2):
        again = open_store(postgres_url)
        assert again.schema_version == LATEST_VERSION
        assert again.get_call("c1") is not None
        again.close()
    assert postgres_version_of(postgres_url) == LATEST_VERSION


def test_servers_opening_an_empty_database_at_once_migrate_it_once(postgres_url: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_and_close() -> None:
        try:
            start.wait(timeout=10)
            open_store(postgres_url).close()
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=open_and_close) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert postgres_version_of(postgres_url) == LATEST_VERSION


def test_postgresql_database_from_a_newer_respectline_is_refused_and_left_untouched(postgres_url: str) -> None:
    open_store(postgres_url).close()
    with psycopg.connect(postgres_url) as db:
        db.execute(f"UPDATE {VERSION_TABLE} SET version = %s", (LATEST_VERSION + 1,))
    with pytest.raises(SchemaTooNew, match=f"schema version {LATEST_VERSION + 1}.*newer Respectline"):
        open_store(postgres_url)
    assert postgres_version_of(postgres_url) == LATEST_VERSION + 1


def test_only_pending_postgresql_migrations_run_on_an_older_database(postgres_url: str) -> None:
    PostgresStore(postgres_url).close()
    extra = Migration(LATEST_VERSION + 1, "test column", ("ALTER TABLE calls ADD COLUMN test_note TEXT",),
                      ("ALTER TABLE calls ADD COLUMN test_note TEXT",))
    upgraded = PostgresStore(postgres_url, migrations=(*MIGRATIONS, extra))
    assert upgraded.schema_version == LATEST_VERSION + 1
    upgraded.close()
    PostgresStore(postgres_url, migrations=(*MIGRATIONS, extra)).close()  # the ALTER must not run twice
    with psycopg.connect(postgres_url) as db:
        columns = [row[0] for row in db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'calls'")]
    assert "test_note" in columns


def test_a_failing_postgresql_migration_leaves_no_partial_schema(postgres_url: str) -> None:
    broken = (*MIGRATIONS, Migration(LATEST_VERSION + 1, "half", (), (
        "CREATE TABLE half_done (x INTEGER)", "THIS IS NOT SQL")))
    with pytest.raises(StoreError, match="database error"):
        PostgresStore(postgres_url, migrations=broken)
    assert postgres_tables_of(postgres_url) == set()  # migration 1 and the version table rolled back too
    PostgresStore(postgres_url).close()  # and the database is still usable
    assert postgres_version_of(postgres_url) == LATEST_VERSION


def test_a_migration_without_postgresql_statements_is_refused(postgres_url: str) -> None:
    sqlite_only = (*MIGRATIONS, Migration(LATEST_VERSION + 1, "sqlite only", ("SELECT 1",)))
    with pytest.raises(StoreError, match=f"migrations \\[{LATEST_VERSION + 1}\\] have no PostgreSQL"):
        PostgresStore(postgres_url, migrations=sqlite_only)
    assert postgres_tables_of(postgres_url) == set()


def test_wrong_password_is_a_store_error_that_does_not_echo_it(postgres_server: PostgresServer) -> None:
    url = postgres_server.url(password="Wr0ng-s3cret")
    with pytest.raises(StoreError, match="password authentication failed") as raised:
        open_store(url)
    assert "Wr0ng-s3cret" not in str(raised.value)


def test_unreachable_server_is_a_prompt_store_error_that_does_not_echo_the_password() -> None:
    from tests.support.postgres_server import free_port

    began = time.monotonic()
    with pytest.raises(StoreError, match="connection") as raised:
        open_store(f"postgresql://respectline:t0p-s3cret@127.0.0.1:{free_port()}/respectline")
    assert time.monotonic() - began < 5
    assert "t0p-s3cret" not in str(raised.value)


@pytest.mark.parametrize("url, secret", [
    ("postgresql://u:t0p-s3cret@127.0.0.1:notaport/x", "t0p-s3cret"),
    ("postgresql://u:s3cr%zzet@127.0.0.1/x", "s3cr%zzet"),  # a bad percent-escape libpq quotes back
    ("postgresql://u:pa ss-w0rd@127.0.0.1/x", "ss-w0rd"),
    ("postgresql://u:p@ss-w0rd@127.0.0.1:1/x", "ss-w0rd"),  # an unescaped '@' splits the password
])
def test_a_bad_postgresql_url_is_refused_without_echoing_the_password(url: str, secret: str) -> None:
    with pytest.raises(StoreError) as raised:
        open_store(url)
    assert secret not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__, \
        "the original error, password and all, must not reach a logged traceback"


def test_opening_waits_for_another_servers_migration_longer_than_for_a_write(postgres_url: str) -> None:
    from agi_scripts.storage.postgres import _MIGRATION_LOCK

    migrating = psycopg.connect(postgres_url, autocommit=True)
    migrating.execute("SELECT pg_advisory_lock(%s, %s)", _MIGRATION_LOCK)  # a long migration elsewhere
    release = threading.Timer(1.0, migrating.close)
    release.start()
    try:
        began = time.monotonic()
        store = open_store(postgres_url, busy_timeout=0.2)
        assert time.monotonic() - began >= 0.9  # it waited for the other server instead of failing
        assert store.schema_version == LATEST_VERSION
        store.close()
    finally:
        release.join()


def _open_and_close(path: str, results: multiprocessing.Queue[str]) -> None:
    try:
        open_store(f"sqlite:///{path}").close()
        results.put("ok")
    except Exception as error:  # reported to the test, which names it
        results.put(repr(error))


def test_two_servers_opening_a_new_sqlite_file_at_the_same_moment_both_open_it(tmp_path: Path) -> None:
    """Switching a new file to WAL takes its lock without SQLite's busy handler: the second process
    was told "database is locked" at once (4 times in 40 here) before the switch was retried."""
    context = multiprocessing.get_context("fork")
    for attempt in range(60):
        path = str(tmp_path / f"store-{attempt}.sqlite")
        results: multiprocessing.Queue[str] = context.Queue()
        processes = [context.Process(target=_open_and_close, args=(path, results)) for _ in range(2)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(30)
        assert sorted(results.get(timeout=5) for _ in processes) == ["ok", "ok"]
