"""The integration tests' stack: a real FastAGI server with the shipped handlers and a real store."""

from __future__ import annotations

from dataclasses import dataclass

from agi_scripts.config.bundle import Bundle
from agi_scripts.server.app import RunningServer
from agi_scripts.storage import Store
from tests.support.agi_peer import AgiPeer
from tests.support.config_tree import ConfigTree


@dataclass
class Stack:
    server: RunningServer
    store: Store
    bundle: Bundle
    tree: ConfigTree

    def call(self, script: str, **environment: object) -> AgiPeer:
        return AgiPeer(self.server.port, timeout=10).start(script, **environment)
