"""Admins' mistakes in YAML are refused with file, line, column and a hint: all at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agi_scripts.asterisk_conf.generate import expected_sounds
from agi_scripts.cli.main import main as respectline
from agi_scripts.config.bundle import load_bundle
from tests.support.config_tree import ConfigTree
from tests.support.config_errors import errors_of, only


def test_shipped_files_are_valid(config_tree: ConfigTree) -> None:
    bundle = load_bundle(config_tree.config)
    assert {c.id for c in bundle.campaigns.campaigns} >= {"customer-contact-day"}
    assert set(bundle.abuse_policy.categories) == {"verbal_abuse", "threat", "discrimination"}
    assert bundle.post_call.start in bundle.post_call.steps


def test_syntax_error_names_file_and_line(config_tree: ConfigTree) -> None:
    config_tree.replace("flows/campaigns.yaml", "    weight: 1\n", "    weight: [1\n")
    error = only(errors_of(config_tree), "YAML syntax error")
    assert error.file.name == "campaigns.yaml"
    assert error.line >= config_tree.line_of("flows/campaigns.yaml", "weight: [1")


def test_unknown_key_suggests_the_close_one(config_tree: ConfigTree) -> None:
    config_tree.replace("flows/campaigns.yaml", "    weight: 1\n",
                        "    wieght: 1\n")
    error = only(errors_of(config_tree), "unknown key 'wieght'")
    assert (error.line, error.column) == (config_tree.line_of("flows/campaigns.yaml", "wieght"), 5)
    assert "did you mean 'weight'?" in error.hint


def test_errors_in_several_files_are_all_reported(config_tree: ConfigTree) -> None:
    config_tree.replace("flows/post_call.yaml", "      timeout: 6s\n", "      timeout: [6s\n")
    config_tree.replace("flows/abuse_policy.yaml", "  dedupe_window: 3s", "  dedupe_windw: 3s")
    config_tree.replace("config/respectline.yaml", "timezone: Europe/Brussels", "timezone: Europe/Brusels")
    errors = errors_of(config_tree)
    files = {e.file.name for e in errors}
    assert {"post_call.yaml", "abuse_policy.yaml", "respectline.yaml"} <= files
    assert "Europe/Brussels" in only(errors, "not a known timezone").hint


def test_duplicate_campaign_id_is_refused(config_tree: ConfigTree) -> None:
    config_tree.replace("flows/campaigns.yaml", "id: thank-you-week-b", "id: thank-you-week-a")
    error = only(errors_of(config_tree), "campaign id 'thank-you-week-a' is already used")
    assert error.line == config_tree.line_of("flows/campaigns.yaml", "title: Week van de waardering (B)") - 1


@pytest.mark.parametrize("bad, fragment", [
    ("from: 2026-13-40", "is not a date"),
    ('hours: ["08:00-18:00"]', "ends before it starts"),
    ("first_after: 20s", "is not a duration for 'first_after'"),
    ("days: [mon-fri]", "is not a day or day range"),
])
def test_bad_schedule_values_are_refused(config_tree: ConfigTree, bad: str, fragment: str) -> None:
    replacement = {
        "from: 2026-13-40": ("from: 2026-10-06", "from: 2026-13-40"),
        'hours: ["08:00-18:00"]': ('hours: ["08:00-18:00"]', 'hours: ["18:00-08:00"]'),
        "first_after: 20s": ("first_after: 20s", "first_after: twenty"),
        "days: [mon-fri]": ("days: [mon-fri]", "days: [monday]"),
    }[bad]
    config_tree.replace("flows/campaigns.yaml", *replacement)
    error = only(errors_of(config_tree), fragment)
    assert error.line == config_tree.line_of("flows/campaigns.yaml", replacement[1])


def test_feature_code_that_prefixes_another_is_refused(config_tree: ConfigTree) -> None:
    config_tree.replace("flows/abuse_policy.yaml", 'code: "*2"', 'code: "*11"')
    error = only(errors_of(config_tree), "start the same way")
    assert error.line == config_tree.line_of("flows/abuse_policy.yaml", 'code: "*11"')


def test_same_feature_code_twice_is_refused(config_tree: ConfigTree) -> None:
    config_tree.replace("flows/abuse_policy.yaml", 'code: "*3"', 'code: "*1"')
    only(errors_of(config_tree), "is already used by 'verbal_abuse'")


def test_unknown_team_is_refused_with_suggestion(config_tree: ConfigTree) -> None:
    config_tree.replace("flows/abuse_policy.yaml", "team: security,", "team: securty,")
    error = only(errors_of(config_tree), "unknown team 'securty'")
    assert error.hint == "did you mean 'security'?"


def test_two_caller_outcomes_in_one_rung_are_refused(config_tree: ConfigTree) -> None:
    config_tree.replace("flows/abuse_policy.yaml", "        - [warn: abuse_warning]\n",
                        "        - [warn: abuse_warning, disconnect: abuse_closing]\n")
    only(errors_of(config_tree), "has warn and disconnect")


def test_prompt_missing_from_catalog_is_refused(config_tree: ConfigTree) -> None:
    config_tree.replace("flows/post_call.yaml", "prompt: compliment_rate", "prompt: compliment_rating")
    error = only(errors_of(config_tree), "prompt 'compliment_rating' is not in prompts.yaml")
    assert error.file.name == "post_call.yaml"
    assert error.line == config_tree.line_of("flows/post_call.yaml", "compliment_rating")


def test_prompt_missing_a_language_is_refused(config_tree: ConfigTree) -> None:
    catalog = config_tree.path("audio_prompts/prompts.yaml")
    lines = catalog.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.strip() == "abuse_warning:")
    french = next(i for i in range(start, len(lines)) if lines[i].strip().startswith("fr:"))
    # Drop the French sentence, including any continuation lines of a folded scalar.
    end = french + 1
    indent = len(lines[french]) - len(lines[french].lstrip())
    while end < len(lines) and (len(lines[end]) - len(lines[end].lstrip())) > indent and lines[end].strip():
        end += 1
    del lines[french:end]
    catalog.write_text("".join(lines))
    error = only(errors_of(config_tree), "prompt 'abuse_warning' has no text or recording in fr")
    assert error.file.name == "prompts.yaml"


def test_ask_step_leading_to_unknown_step_is_refused(config_tree: ConfigTree) -> None:
    config_tree.replace("flows/post_call.yaml", 'choices: {"1": rate}', 'choices: {"1": rat}')
    error = only(errors_of(config_tree), "leads to unknown step 'rat'")
    assert error.hint == "did you mean 'rate'?"


def test_team_on_a_regular_queue_is_refused(config_tree: ConfigTree) -> None:
    config_tree.replace("flows/abuse_policy.yaml", "queue: special-care", "queue: support")
    only(errors_of(config_tree), "uses the regular queue 'support'")


def test_duplicate_key_is_refused(config_tree: ConfigTree) -> None:
    config_tree.replace("config/respectline.yaml", "queues: [support, billing]",
                        "queues: [support, billing]\nqueues: [support]")
    only(errors_of(config_tree), "key 'queues' appears twice")


def test_validate_command_lists_every_error_and_exits_1(config_tree: ConfigTree) -> None:
    config_tree.replace("flows/campaigns.yaml", "    weight: 1\n", "    weight: [1\n")
    config_tree.replace("flows/abuse_policy.yaml", "  agent_hears: hold_music", "  agent_hear: hold_music")
    result = subprocess.run([sys.executable, "-m", "agi_scripts.cli.main", "validate", "--config",
                             str(config_tree.config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    policy_line = config_tree.line_of("flows/abuse_policy.yaml", "agent_hear:")
    assert any("campaigns.yaml:" in line and "YAML syntax error" in line for line in lines)
    assert any(f"abuse_policy.yaml:{policy_line}:3: unknown key 'agent_hear'" in line for line in lines)
    assert lines[-1] == "2 errors; nothing was changed"


def test_validate_command_prints_summary_on_success(config_tree: ConfigTree) -> None:
    result = subprocess.run([sys.executable, "-m", "agi_scripts.cli.main", "validate", "--config",
                             str(config_tree.config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "abuse codes: *1 verbal_abuse, *2 threat, *3 discrimination" in result.stdout


def test_validate_warns_when_the_sounds_folder_lacks_the_built_prompts_and_names_the_fix(
        config_tree: ConfigTree, tmp_path: Path) -> None:
    sounds = tmp_path / "sounds"
    config_tree.replace("config/respectline.yaml", "sounds: /usr/share/asterisk/sounds", f"sounds: {sounds}")
    command = [sys.executable, "-m", "agi_scripts.cli.main", "validate", "--config", str(config_tree.config)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr  # the YAML is valid; the folder is the problem
    assert f"warning: paths.sounds ({sounds}) lacks " in result.stderr
    assert f"  {sounds}/respectline/" in result.stderr and "more" in result.stderr
    assert "respectline prompts install --config" in result.stderr

    for stem in expected_sounds(load_bundle(config_tree.config)):
        stem.parent.mkdir(parents=True, exist_ok=True)
        stem.with_name(f"{stem.name}.wav").write_bytes(b"RIFF")
    installed = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert installed.returncode == 0 and "warning" not in installed.stderr
    # One file gone is one file reported.
    gone = sounds / "respectline" / "fr" / "abuse_warning_discrimination"
    gone.with_suffix(".wav").unlink()
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert "lacks 1 of the sound files" in result.stderr and str(gone) in result.stderr
    # Any format Asterisk plays will do.
    gone.with_suffix(".sln16").write_bytes(b"\0\0")
    assert "warning" not in subprocess.run(command, capture_output=True, text=True, timeout=60).stderr


def test_an_unclosed_flow_list_is_reported_on_its_own_line_not_the_next(config_tree: ConfigTree) -> None:
    config_tree.replace("flows/campaigns.yaml", "    weight: 1\n", "    weight: [1\n")
    error = only(errors_of(config_tree), "YAML syntax error")
    assert error.line == config_tree.line_of("flows/campaigns.yaml", "weight: [1")
    assert "this list is not closed" in error.message and "']'" in error.hint


def test_an_empty_allowed_peers_list_is_refused_not_taken_as_everyone(config_tree: ConfigTree) -> None:
    config_tree.replace("config/respectline.yaml", 'allowed_peers: [127.0.0.1, "::1"]', "allowed_peers: []")
    error = only(errors_of(config_tree), "allowed_peers is empty")
    assert error.line == config_tree.line_of("config/respectline.yaml", "allowed_peers:")
    assert "127.0.0.1" in error.hint


def test_anchors_and_aliases_are_refused_where_they_stand_before_anything_is_built(config_tree: ConfigTree) -> None:
    """A few KB of aliases once took 8.9 s and 560 MB to validate inside the live server."""
    path = config_tree.path("flows/abuse_policy.yaml")
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(20))
    path.write_text(bomb + path.read_text())
    error = only(errors_of(config_tree), "anchors and aliases")
    assert (error.file, error.line, error.column) == (path, 1, 4)


def test_a_control_character_and_deep_nesting_get_a_line_and_column_not_a_traceback(
        config_tree: ConfigTree) -> None:
    campaigns = config_tree.path("flows/campaigns.yaml")
    text = campaigns.read_text()
    assert "\ncampaigns:\n" in text
    campaigns.write_text(text.replace("\ncampaigns:\n", "\ncampaigns: \a\n", 1))
    bell = only(errors_of(config_tree), "cannot be in a YAML file")
    assert (bell.line, bell.column) == (config_tree.line_of("flows/campaigns.yaml", "campaigns: \a"), 12)

    config_tree.path("flows/post_call.yaml").write_text("post_call: " + "[" * 5000 + "]" * 5000 + "\n")
    deep = only(errors_of(config_tree), "nested more than 32 levels deep")
    assert deep.file.name == "post_call.yaml" and deep.line == 1


def test_a_file_that_is_not_a_regular_file_or_too_large_is_refused(config_tree: ConfigTree) -> None:
    campaigns = config_tree.path("flows/campaigns.yaml")
    campaigns.unlink()
    os.mkfifo(campaigns)  # reading it would block the server's reload for ever
    only(errors_of(config_tree), "not a regular file")
    campaigns.unlink()
    campaigns.write_text("# " + "x" * (1024 * 1024) + "\n")
    only(errors_of(config_tree), "file is larger than 1024 KB")


def test_asterisk_hosts_refuses_a_name_asterisk_cannot_have_and_a_host_listed_twice(config_tree: ConfigTree) -> None:
    config_tree.replace("config/respectline.yaml", "queues: [support, billing]",
                        "asterisk_hosts: [pbx-gent, 'pbx gent', pbx-gent]\nqueues: [support, billing]")
    errors = errors_of(config_tree)
    line = config_tree.line_of("config/respectline.yaml", "asterisk_hosts")
    assert any("systemname" in e.message and e.line == line for e in errors)
    only(errors, "listed twice")


def test_a_pair_of_ladder_actions_that_cannot_both_happen_is_refused(config_tree: ConfigTree) -> None:
    config_tree.replace("flows/abuse_policy.yaml", "          - pause_agent: 15m\n",
                        "          - pause_agent: 15m\n          - pause_agent: 5m\n")
    error = only(errors_of(config_tree), "pause_agent more than once")
    assert error.file.name == "abuse_policy.yaml" and "longest" in error.hint


def test_the_old_action_name_notify_still_works_and_validate_says_where_to_rename_it(
        config_tree: ConfigTree, capsys: pytest.CaptureFixture[str]) -> None:
    config_tree.replace("flows/abuse_policy.yaml", "          - ami_event: [supervisor, team]\n",
                        "          - notify: [supervisor, team]\n")
    bundle = load_bundle(config_tree.config)
    [warning] = bundle.warnings
    assert warning.line == config_tree.line_of("flows/abuse_policy.yaml", "- notify:")
    assert "'ami_event'" in warning.message and "keeps working" in warning.hint
    threat = bundle.abuse_policy.categories["verbal_abuse"].rung(2)
    assert "ami_event" in [a.kind for a in threat]
    assert respectline(["validate", "--config", str(config_tree.config)]) == 0
    err = capsys.readouterr().err
    assert f"warning: {warning}" in err
