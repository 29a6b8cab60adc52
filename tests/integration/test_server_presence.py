"""A real ``respectline serve`` announces itself in the store (host, pid, the digest of its files),
announces the new digest after a reload, keeps the old one when the changed file is broken (and the
desk's configuration view then names it as running an older version), and marks itself stopped on
SIGTERM. The announcer's own rules (a store that fails, a reload handed over) are tested in-process."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from agi_scripts.config.bundle import load_bundle
from agi_scripts.config.digest import files_digest
from agi_scripts.config.settings import load_settings
from agi_scripts.desk.config_view import GONE_AFTER, disk_version, load_view
from agi_scripts.policy.presence import PresenceAnnouncer
from agi_scripts.storage import Store, StoreError
from agi_scripts.storage.base import utc_now
from agi_scripts.storage.servers import ServerPresence, ServerRegistry
from tests.support.config_tree import PROJECT, ConfigTree


def start_server(tree: ConfigTree, store_url: str) -> subprocess.Popen[bytes]:
    log = (tree.root / "serve.log").open("wb")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "agi_scripts.cli.main", "serve", "--config", str(tree.config),
             "--listen", "127.0.0.1:0", "--db", store_url],
            stdout=subprocess.PIPE, stderr=log, cwd=PROJECT, start_new_session=True)
    finally:
        log.close()


def wait_listening(process: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline().decode()
        if line.startswith("listening on"):
            return
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"respectline serve did not start:\n{log.read_text(errors='replace')[-3000:]}")


def wait_for(check: Callable[[], ServerPresence | None], timeout: float = 15.0) -> ServerPresence:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found is not None:
            return found
        time.sleep(0.2)
    raise AssertionError("the store never showed what was expected of the server's row")


def test_a_real_server_announces_its_files_follows_reloads_and_says_when_it_stopped(
        config_tree: ConfigTree, store_url: str, store: Store) -> None:
    registry = ServerRegistry(store)
    settings = load_settings(config_tree.config, [])
    first = disk_version(settings)[0]
    process = start_server(config_tree, store_url)
    try:
        wait_listening(process, config_tree.root / "serve.log")
        row = wait_for(lambda: next((s for s in registry.servers() if s.pid == process.pid), None))
        assert row.bundle_digest == first and row.stopped_at is None
        assert row.alive(utc_now(), within=GONE_AFTER)

        config_tree.replace("flows/campaigns.yaml", "weight: 50", "weight: 70")  # a valid change: reloaded
        second = disk_version(settings)[0]
        assert second != first
        wait_for(lambda: next((s for s in registry.servers()
                               if s.pid == process.pid and s.bundle_digest == second), None))

        config_tree.replace("flows/campaigns.yaml", "weight: 70", "weight: lots")  # broken: the server keeps 70
        time.sleep(3)  # several reload polls
        kept = next(s for s in registry.servers() if s.pid == process.pid)
        assert kept.bundle_digest == second
        view = load_view(settings, registry, utc_now())
        assert view["errors"] and [line.presence.pid for line in view["stale"]] == [process.pid]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    stopped = next(s for s in registry.servers() if s.pid == process.pid)
    assert stopped.stopped_at is not None
    assert load_view(settings, registry, utc_now())["stale"] == []  # a stopped server runs nothing


class FailingRegistry(ServerRegistry):
    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.down = True

    def announce(self, instance: str, **kwargs: Any) -> None:
        if self.down:
            raise StoreError("database is locked")
        super().announce(instance, **kwargs)


def test_the_announcer_survives_a_store_outage_with_one_log_line_and_hands_a_reload_to_its_thread(
        store: Store, config_tree: ConfigTree, caplog: pytest.LogCaptureFixture) -> None:
    files = load_bundle(config_tree.config).watched_files()
    announcer = PresenceAnnouncer(store, files, interval=3600.0, host="agi-test")
    failing = FailingRegistry(store)
    announcer.registry = failing
    with caplog.at_level(logging.ERROR, logger="respectline.presence"):
        assert [announcer.announce_once() for _ in range(3)] == [False, False, False]
    assert len([r for r in caplog.records if "cannot announce" in r.getMessage()]) == 1
    failing.down = False
    assert announcer.announce_once()
    assert ServerRegistry(store).servers()[0].host == "agi-test"

    announcer.start()
    try:
        config_tree.replace("flows/campaigns.yaml", "weight: 50", "weight: 51")
        started = time.monotonic()
        announcer.loaded(files)  # returns at once; the thread writes (its interval is an hour)
        assert time.monotonic() - started < 1.0
        new = files_digest(files)
        row = wait_for(lambda: next((s for s in ServerRegistry(store).servers() if s.bundle_digest == new), None),
                       timeout=10)
        assert row.loaded_at >= row.started_at
    finally:
        announcer.stop()
    assert ServerRegistry(store).servers()[0].stopped_at is not None


def test_gone_servers_are_not_counted_as_running() -> None:
    now = utc_now()
    row = ServerPresence("h:1:1", "h", 1, now, "sha256:x", now, now - GONE_AFTER - timedelta(seconds=1), None)
    assert not row.alive(now, within=GONE_AFTER)
    assert row.alive(now - timedelta(seconds=GONE_AFTER.total_seconds() - 2), within=GONE_AFTER)
    assert not ServerPresence("h:1:1", "h", 1, now, "sha256:x", now, now, now).alive(now, within=GONE_AFTER)
