"""Helpers for tests of configuration errors: load a config tree and pick out one error."""

from __future__ import annotations

import pytest

from agi_scripts.config.bundle import load_bundle
from agi_scripts.ground.errors import ConfigError, ValidationFailed
from tests.support.config_tree import ConfigTree


def errors_of(tree: ConfigTree) -> list[ConfigError]:
    with pytest.raises(ValidationFailed) as failed:
        load_bundle(tree.config)
    return failed.value.errors


def only(errors: list[ConfigError], fragment: str) -> ConfigError:
    matching = [e for e in errors if fragment in e.message]
    assert len(matching) == 1, f"expected one error about {fragment!r}, got: {[str(e) for e in errors]}"
    return matching[0]
