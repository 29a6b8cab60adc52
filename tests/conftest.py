"""Shared fixtures: a private copy of the shipped config so a test can break it safely, and stores.

``store`` (and ``store_url``) run each test that uses them twice: on SQLite and on PostgreSQL. The
PostgreSQL cluster is started once per session (``tests/postgres_server.py``); a test that cannot
get it fails, it is never skipped. Tests about SQLite itself (its file, WAL, ...) use ``store_file``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from agi_scripts.storage import Store, open_store
from tests.support.cli_runner import Cli
from tests.support.postgres_server import PostgresServer, running_cluster
from tests.support.config_tree import PROJECT, ConfigTree

@pytest.fixture
def config_tree(tmp_path: Path) -> ConfigTree:
    return ConfigTree(tmp_path)


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    return tmp_path / "store.sqlite"


STORE_BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster of the tests' own, on a free loopback port, for the whole session."""
    with running_cluster() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A new, empty database of its own (no schema yet), dropped after the test."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(scope="session")
def _postgres_shared_url(postgres_server: PostgresServer) -> str:
    url = postgres_server.create_database("rl_shared")
    open_store(url).close()  # the schema, once
    return url


@pytest.fixture
def postgres_store_url(postgres_server: PostgresServer, _postgres_shared_url: str) -> str:
    """The session's migrated database, emptied for this test: a fresh store at the cost of a TRUNCATE."""
    postgres_server.empty_database(_postgres_shared_url)
    return _postgres_shared_url


@pytest.fixture(params=STORE_BACKENDS)
def store_url(request: pytest.FixtureRequest, store_file: Path) -> str:
    """The URL of a fresh store, once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{store_file}"
    url: str = request.getfixturevalue("postgres_store_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.close()


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], config_tree: ConfigTree, store_url: str, store: Store) -> Cli:
    """``respectline`` in-process on this test's config tree and its store (either backend)."""
    return Cli(capsys, config_tree.config, store_url)
