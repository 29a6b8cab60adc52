"""A throw-away PostgreSQL cluster for the tests: initdb in a temporary folder, started with pg_ctl on
a free loopback port, one fresh database per test, stopped and removed at the end.

The server programs come from Debian's packages (``scripts/install-postgresql``, run by ``make
test``). PostgreSQL refuses to run as root: when the tests run as root, initdb and pg_ctl run as the
``postgres`` system user Debian's package creates, and the cluster's folder is given to that user.
Clients connect over TCP with a password (SCRAM), as a production server would.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

from agi_scripts.storage.postgres import VERSION_TABLE

PROJECT = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = PROJECT / "scripts" / "install-postgresql"
SUPERUSER = "respectline_test"
SYSTEM_USER = "postgres"
"""Who runs the server when the tests run as root (created by Debian's postgresql package)."""


class PostgresUnavailable(RuntimeError):
    """The cluster could not be made or started; the message says why and what to run."""


def server_bin_dir() -> Path:
    """The folder with initdb, pg_ctl and postgres, as ``scripts/install-postgresql`` finds it."""
    done = subprocess.run([str(INSTALL_SCRIPT), "--print-bin"], capture_output=True, text=True, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise PostgresUnavailable("PostgreSQL's server programs are not installed: run `make postgresql`"
                                  " (scripts/install-postgresql)")
    return Path(done.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PostgresServer:
    """One running cluster. ``start()`` makes and starts it; ``stop()`` stops it and removes its folder."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        self.bin_dir = bin_dir or server_bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="rl-pg-"))
        self.data_dir = self.root / "data"
        self.log_file = self.root / "server.log"
        self.password = secrets.token_hex(16)
        self.port = 0
        self._run_as = self._system_user() if os.geteuid() == 0 else None
        self._databases = 0
        self._cleaners: dict[str, psycopg.Connection[Any]] = {}
        self._started = False

    # -------------------------------------------------------------- life cycle

    def start(self, attempts: int = 3) -> PostgresServer:
        began = time.monotonic()
        try:
            self._initdb()
            for attempt in range(attempts):
                self.port = free_port()
                self._write_settings()
                # Another process may take the free port before the server binds it: try another one.
                if self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.log_file), check=attempt == attempts - 1):
                    self._started = True
                    break
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        for db in self._cleaners.values():
            db.close()
        self._cleaners.clear()
        if self._started:
            self._started = False
            self._pg_ctl("stop", "-m", "fast", "-w", "-t", "60", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    def halt(self) -> None:
        """Stop the server, keeping its data and port (a database outage, for tests)."""
        self._pg_ctl("stop", "-m", "fast", "-w", "-t", "60", check=True)
        self._started = False

    def resume(self) -> None:
        """Start a halted server again on the same port."""
        self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.log_file), check=True)
        self._started = True

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------- databases

    def url(self, database: str = "postgres", *, password: str | None = None) -> str:
        secret = quote(self.password if password is None else password, safe="")
        return f"postgresql://{SUPERUSER}:{secret}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "rl_test") -> str:
        """A new empty database; returns its URL."""
        self._databases += 1
        name = f"{prefix}_{os.getpid()}_{self._databases}"
        with self.admin() as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by ``create_database``, closing whatever still connects to it."""
        name = url.rsplit("/", 1)[1]
        cleaner = self._cleaners.pop(url, None)
        if cleaner is not None:
            cleaner.close()
        with self.admin() as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def empty_database(self, url: str) -> None:
        """Empty every table of a database but the schema version, and restart its ids.

        Cheaper than a new database or a TRUNCATE (a few milliseconds): rows are deleted with the
        foreign keys' triggers off, and the commit does not wait for the disk. Connections left by an
        earlier test are closed first: one left inside a transaction would hold its locks.
        """
        db = self._cleaners.get(url)
        if db is None or db.closed:
            db = self._cleaners[url] = psycopg.connect(url, autocommit=True, connect_timeout=10)
            db.execute("SET synchronous_commit = off")
            db.execute("SET session_replication_role = replica")  # no foreign key checks: any order
        db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                   " WHERE datname = current_database() AND pid <> pg_backend_pid()")
        tables = [row[0] for row in db.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> %s",
            (VERSION_TABLE,))]
        with db.transaction():
            for table in tables:
                db.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
            db.execute("SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, 1, false)"
                       " FROM pg_sequences WHERE schemaname = current_schema()")

    def admin(self) -> psycopg.Connection[Any]:
        """An autocommit connection to the ``postgres`` database as the cluster's superuser."""
        return psycopg.connect(self.url(), autocommit=True, connect_timeout=10)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -------------------------------------------------------------- making the cluster

    def _system_user(self) -> pwd.struct_passwd:
        try:
            return pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            raise PostgresUnavailable(
                f"the tests run as root, and PostgreSQL refuses root; the '{SYSTEM_USER}' system user that"
                " Debian's postgresql package creates is missing: run `make postgresql`") from None

    def _initdb(self) -> None:
        password_file = self.root / "password"
        password_file.write_text(self.password + "\n")
        if self._run_as is not None:
            os.chown(self.root, self._run_as.pw_uid, self._run_as.pw_gid)
            os.chown(password_file, self._run_as.pw_uid, self._run_as.pw_gid)
        try:
            self._run([str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
                       f"--pwfile={password_file}", "--auth-host=scram-sha-256", "--auth-local=peer",
                       "-E", "UTF8", "--locale=C.UTF-8", "--locale-provider=icu", "--icu-locale=en",
                       "--no-instructions"])
        finally:
            password_file.unlink(missing_ok=True)

    def _write_settings(self) -> None:
        settings = self.data_dir / "postgresql.auto.conf"
        # Small and private: loopback only, the socket in our own folder, little shared memory.
        settings.write_text(
            f"port = {self.port}\n"
            "listen_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{self.root}'\n"
            "max_connections = 200\n"
            "shared_buffers = 16MB\n"
            "log_min_messages = warning\n")
        if self._run_as is not None:
            os.chown(settings, self._run_as.pw_uid, self._run_as.pw_gid)

    def _pg_ctl(self, *arguments: str, check: bool) -> bool:
        return self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), *arguments], check=check)

    def _run(self, command: Sequence[str], *, check: bool = True) -> bool:
        if self._run_as is not None:
            command = ["runuser", "-u", self._run_as.pw_name, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.root, timeout=120, check=False)
        if done.returncode != 0 and check:
            raise PostgresUnavailable(
                f"{' '.join(command[:6])} ... failed (exit {done.returncode}):\n{done.stdout}{done.stderr}"
                f"\nserver log:\n{self.log_tail()}")
        return done.returncode == 0


@contextlib.contextmanager
def running_cluster() -> Iterator[PostgresServer]:
    """A started cluster, stopped and removed afterwards; the test fails (never skips) when PostgreSQL
    cannot be started, since `make test` installs it."""
    try:
        server = PostgresServer().start()
    except PostgresUnavailable as error:
        pytest.fail(f"PostgreSQL could not be started for the tests: {error}")
    try:
        yield server
    finally:
        server.stop()
