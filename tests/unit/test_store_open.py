"""Opening a store: URLs, folders, pragmas, migrations and the refusal of a newer schema."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from agi_scripts.storage import SchemaTooNew, StoreError, UnsupportedStoreUrl, open_store
from agi_scripts.storage.migrations import LATEST_VERSION, MIGRATIONS, Migration
from agi_scripts.storage.sqlite import SqliteStore

TABLES = {"calls", "compliments", "cases", "case_events", "incidents", "agent_pauses"}


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


@pytest.mark.parametrize("url", ["postgresql://user:secret@db/respectline", "postgres://u:secret@h/x",
                                 "postgresql+psycopg://u:secret@h/x"])
def test_postgresql_is_refused_as_not_supported_yet_without_echoing_the_password(url: str) -> None:
    with pytest.raises(UnsupportedStoreUrl, match="not supported yet") as raised:
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
    db = store._db  # the pragmas are per connection: read them on the store's own one
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
