"""Who the agent is: the device Asterisk knows, named once in the config's ``agents`` section."""

from __future__ import annotations

import pytest

from agi_scripts.config.agents import AgentDirectory, device_of
from agi_scripts.config.bundle import load_bundle
from tests.support.config_tree import ConfigTree
from tests.support.config_errors import errors_of, only


@pytest.mark.parametrize(("seen", "device"), [
    ("PJSIP/agent1", "PJSIP/agent1"),                      # MEMBERINTERFACE
    ("PJSIP/agent1-0000001a", "PJSIP/agent1"),             # the agent's own phone calling *88
    ("Local/2001@agents-00000003;1", "Local/2001@agents"),  # a Local channel, either half
    ("Local/2001@agents/n", "Local/2001@agents"),          # a Local member interface with options
    ("PJSIP/agent1,evil", ""),                             # not a device: never a name
    ('PJSIP/a"b', ""),
    ("", ""),
])
def test_a_channel_or_member_interface_is_reduced_to_its_device(seen: str, device: str) -> None:
    assert device_of(seen) == device


def test_the_device_names_the_agent_and_an_unnamed_device_is_its_own_name() -> None:
    directory = AgentDirectory({"PJSIP/agent1": "Agent One"})
    assert directory.name_for("PJSIP/agent1") == "Agent One"
    assert directory.name_for("PJSIP/agent1-00000007") == "Agent One"
    assert directory.name_for("PJSIP/agent2-00000008") == "PJSIP/agent2"
    assert directory.name_for("Phone agent1") == ""


def test_the_agents_section_maps_each_device_to_its_agent(config_tree: ConfigTree) -> None:
    config_tree.replace("config/respectline.yaml", "agents: {}",
                        "agents:\n  Agent One: PJSIP/agent1\n  Sam (Special Care): [PJSIP/care1, Local/2001@agents/n]")
    names = load_bundle(config_tree.config).settings.agents.names
    assert names == {"PJSIP/agent1": "Agent One", "PJSIP/care1": "Sam (Special Care)",
                     "Local/2001@agents": "Sam (Special Care)"}


def test_a_device_given_to_two_agents_is_refused_where_it_is_written(config_tree: ConfigTree) -> None:
    config_tree.replace("config/respectline.yaml", "agents: {}",
                        "agents:\n  Agent One: PJSIP/agent1\n  Agent Two: [PJSIP/agent2, PJSIP/agent1]")
    error = only(errors_of(config_tree), "device 'PJSIP/agent1' is already 'Agent One''s")
    assert (error.line, error.column) == (config_tree.line_of("config/respectline.yaml", "Agent Two"), 29)


def test_a_name_or_device_that_could_not_be_used_is_refused_with_a_hint(config_tree: ConfigTree) -> None:
    config_tree.replace("config/respectline.yaml", "agents: {}",
                        'agents:\n  "One, Two": PJSIP/agent1\n  Agent Three: agent3')
    errors = errors_of(config_tree)
    assert "letters, digits" in only(errors, "agent name 'One, Two' cannot be used").hint
    assert "PJSIP/agent1" in only(errors, "'agent3' is not a device").hint
