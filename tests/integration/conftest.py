"""A real FastAGI server with the shipped handlers, the shipped flows and a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agi_scripts.config.bundle import Bundle, load_bundle
from agi_scripts.handlers import ROUTES
from agi_scripts.handlers.context import Services
from agi_scripts.server.app import FastAgiServer, RunningServer
from agi_scripts.server.options import ServerOptions
from agi_scripts.storage import Store, open_store
from tests.support.config_tree import ConfigTree
from tests.support.integration import Stack


@pytest.fixture
def stack(config_tree: ConfigTree, tmp_path: Path) -> Iterator[Stack]:
    config_tree.replace("config/respectline.yaml", "recordings: ../var/recordings",
                        f"recordings: {tmp_path / 'recordings'}")
    # Agent One's queue member name in the tests' channels is another text: the device decides.
    config_tree.replace("config/respectline.yaml", "agents: {}", "agents:\n  Agent One: PJSIP/agent1")
    bundle = load_bundle(config_tree.config)
    store = open_store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    server = FastAgiServer(lambda: load_bundle(config_tree.config), routes=ROUTES, services=Services.offloaded(store),
                           options=ServerOptions(port=0, reload_poll=0.2)).run_in_thread()
    try:
        yield Stack(server, store, bundle, config_tree)
    finally:
        server.stop()
        store.close()
