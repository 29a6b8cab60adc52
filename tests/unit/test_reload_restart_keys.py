"""A reload never reports success while a key the running server read at start keeps its old value."""

from __future__ import annotations

import pytest

from agi_scripts.cli.serve_cmd import reload_bundle
from agi_scripts.config.bundle import load_bundle
from agi_scripts.ground.errors import ValidationFailed
from tests.support.config_tree import ConfigTree

CONFIG = "config/respectline.yaml"


def test_a_changed_peer_list_or_recordings_folder_is_refused_naming_the_restart(config_tree: ConfigTree) -> None:
    running = load_bundle(config_tree.config).settings
    config_tree.replace(CONFIG, 'allowed_peers: [127.0.0.1, "::1"]', "allowed_peers: [10.0.0.5]")
    config_tree.replace(CONFIG, "recordings: ../var/recordings", "recordings: ../elsewhere")
    with pytest.raises(ValidationFailed) as refused:
        reload_bundle(config_tree.config, running)
    errors = {error.message.split(" ", 1)[0]: error for error in refused.value.errors}
    assert set(errors) == {"server", "paths.recordings"}
    assert errors["paths.recordings"].line == config_tree.line_of(CONFIG, "recordings: ../elsewhere")
    assert "restart" in errors["server"].hint


def test_flows_and_other_keys_reload_as_before(config_tree: ConfigTree) -> None:
    running = load_bundle(config_tree.config).settings
    config_tree.replace("flows/campaigns.yaml", "first_after: 20s", "first_after: 25s")
    config_tree.replace(CONFIG, 'agent_line: "*88"', 'agent_line: "*77"')
    fresh = reload_bundle(config_tree.config, running)
    assert fresh.settings.compliments.agent_line == "*77"
