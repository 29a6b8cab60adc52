"""The Asterisk files come from the flows, so agents' codes and campaigns always match the YAML."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from agi_scripts.asterisk_conf.generate import generate
from agi_scripts.config.bundle import load_bundle
from agi_scripts.ground import channel_vars
from tests.support.config_tree import PROJECT, ConfigTree


def test_shipped_asterisk_conf_matches_the_shipped_flows() -> None:
    result = subprocess.run([sys.executable, "-m", "agi_scripts.cli.main", "asterisk-conf", "--check",
                             "--config", "config/respectline.yaml", "--out", "asterisk_conf"],
                            cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_changed_code_in_the_policy_changes_the_feature_map(config_tree: ConfigTree) -> None:
    config_tree.replace("flows/abuse_policy.yaml", 'code: "*3"', 'code: "#9"')
    files = generate(load_bundle(config_tree.config), "127.0.0.1:4573")
    features = files["features_respectline.conf"]
    assert "rl_discrimination => #9,peer,AGI,agi://127.0.0.1:4573/flag?category=discrimination" in features
    assert "*3" not in features


def test_codes_are_given_to_the_agent_leg_only() -> None:
    files = generate(load_bundle(PROJECT / "config/respectline.yaml"), "127.0.0.1:4573")
    dialplan = files["extensions_respectline.conf"]
    assert "__DYNAMIC_FEATURES" not in dialplan
    assert "Set(DYNAMIC_FEATURES=rl_verbal_abuse#rl_threat#rl_discrimination#rl_listen_in)" in dialplan
    # The caller's own leg starts with no codes, whatever the admin's dialplan set before.
    assert " same => n,Set(DYNAMIC_FEATURES=)" in dialplan


def test_the_dialplan_and_the_handlers_name_the_same_channel_variables() -> None:
    files = generate(load_bundle(PROJECT / "config/respectline.yaml"), "127.0.0.1:4573")
    in_dialplan = set(re.findall(r"\bRL_[A-Z_]+", files["extensions_respectline.conf"]))
    assert in_dialplan and in_dialplan <= set(channel_vars.ALL)
    handlers = "\n".join(p.read_text() for p in (PROJECT / "agi_scripts" / "handlers").glob("*.py"))
    # Handlers name them through channel_vars only, never as a string of their own.
    assert not re.findall(r"[\"']RL_[A-Z_]+[\"']", handlers)


def test_check_reports_a_stale_file(tmp_path: Path, config_tree: ConfigTree) -> None:
    out = tmp_path / "conf"
    run = [sys.executable, "-m", "agi_scripts.cli.main", "asterisk-conf", "--config", str(config_tree.config),
           "--out", str(out)]
    assert subprocess.run(run, capture_output=True, timeout=60).returncode == 0
    config_tree.replace("flows/campaigns.yaml", "first_after: 20s", "first_after: 25s")
    stale = subprocess.run([*run, "--check"], capture_output=True, text=True, timeout=60)
    assert stale.returncode == 1
    assert "musiconhold_respectline.conf: out of date" in stale.stderr


def test_every_campaign_language_gets_a_hold_class_with_the_message_after_the_delay() -> None:
    bundle = load_bundle(PROJECT / "config/respectline.yaml")
    moh = generate(bundle, "127.0.0.1:4573")["musiconhold_respectline.conf"]
    section = moh.split("[rl-customer-contact-day-fr]\n", 1)[1].split("\n[", 1)[0]
    entries = [line.removeprefix("entry=") for line in section.splitlines() if line.startswith("entry=")]
    sounds = "/usr/share/asterisk/sounds/respectline"
    assert entries[:4] == [f"{sounds}/hold/gap-20s", f"{sounds}/fr/campaign_contact_day",
                           f"{sounds}/hold/gap-60s", f"{sounds}/fr/campaign_contact_day"]


def test_hagi_address_sends_every_agi_call_through_dns_srv_for_several_servers() -> None:
    files = generate(load_bundle(PROJECT / "config" / "respectline.yaml"), "hagi://agi.example.org")

    for name in ("extensions_respectline.conf", "features_respectline.conf"):
        lines = [line for line in files[name].splitlines() if "agi.example.org" in line]
        assert lines and all("hagi://agi.example.org/" in line for line in lines)
        assert "agi://127.0.0.1" not in files[name]


def test_an_agi_address_asterisk_could_not_use_is_refused() -> None:
    bundle = load_bundle(PROJECT / "config" / "respectline.yaml")
    for bad in ("hagi://agi.example.org:4573", "agi://host/with/path", "host;evil", "ftp://host"):
        with pytest.raises(ValueError, match="expected HOST:PORT"):
            generate(bundle, bad)
