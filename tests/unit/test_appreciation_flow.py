"""flows/appreciation.yaml: thank-you rounds read and checked like the other flows (file:line:col, hints)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from agi_scripts.config.bundle import load_bundle
from tests.support.config_errors import errors_of, only
from tests.support.config_tree import ConfigTree

FILE = "flows/appreciation.yaml"
BRUSSELS = ZoneInfo("Europe/Brussels")


def test_shipped_round_is_read(config_tree: ConfigTree) -> None:
    appreciation = load_bundle(config_tree.config).appreciation
    (contact_day,) = appreciation.rounds
    assert contact_day.id == "contact-day-2026"
    assert contact_day.prompt == "appreciation_thank_you" and contact_day.mode == "message"
    assert contact_day.queues == () and contact_day.on_recovery_pause == "after"
    assert appreciation.manager_line == "*87" and appreciation.max_parallel == 2
    assert contact_day.is_active(dt.datetime(2026, 10, 6, 10, 0, tzinfo=BRUSSELS))
    assert not contact_day.is_active(dt.datetime(2026, 10, 6, 17, 0, tzinfo=BRUSSELS))  # end exclusive
    assert not contact_day.is_active(dt.datetime(2026, 10, 7, 10, 0, tzinfo=BRUSSELS))


def test_absent_file_means_no_rounds(config_tree: ConfigTree) -> None:
    config_tree.path(FILE).unlink()
    appreciation = load_bundle(config_tree.config).appreciation
    assert appreciation.rounds == () and not appreciation.enabled


def test_recorded_live_round_with_a_manager(config_tree: ConfigTree) -> None:
    config_tree.replace(FILE, "managers: []", "managers: [PJSIP/manager1]")
    config_tree.replace(FILE, "message: {prompt: appreciation_thank_you}", "message: recorded")
    config_tree.replace(FILE, "mode: message ", "mode: live ")
    config_tree.replace(FILE, "# manager: PJSIP/manager1", "manager: PJSIP/manager1")
    config_tree.replace(FILE, "to: all ", "to: [billing] ")
    found = load_bundle(config_tree.config).appreciation.rounds[0]
    assert found.recorded and found.mode == "live" and found.manager == "PJSIP/manager1"
    assert found.queues == ("billing",)


@pytest.mark.parametrize("old, new, fragment, hint", [
    ("mode: message ", "mode: mesage ", "'mesage' is not a valid mode", "did you mean 'message'?"),
    ("on_recovery_pause: after", "on_recovery_pause: later", "not a valid on_recovery_pause", ""),
    ("until: 2026-10-06 ", "until: 2026-10-05 ", "round ends (2026-10-05) before it starts", ""),
    ('hours: ["09:00-17:00"]', 'hours: ["17:00-09:00"]', "ends before it starts", "cannot cross midnight"),
    ("days: [mon-fri]", "days: [mon-fry]", "is not a day or day range", "mon-fri"),
    ("timezone: Europe/Brussels", "timezone: Europe/Brusels", "not a known timezone", "Europe/Brussels"),
    ("to: all ", "to: everyone ", "'to' is 'everyone'", "to: all"),
    ("to: all ", "to: [suport] ", "names queue 'suport'", "did you mean 'support'?"),
    ("{prompt: appreciation_thank_you}", "{prompt: appreciation_thank_yu}",
     "prompt 'appreciation_thank_yu' is not in prompts.yaml", "did you mean 'appreciation_thank_you'?"),
    ("message: {prompt: appreciation_thank_you}", "message: recorded", "this round needs a 'manager'",
     "name one of 'managers'"),
    ("# manager: PJSIP/manager1", "manager: PJSIP/boss", "'PJSIP/boss' is not in 'managers'", "managers:"),
    ("managers: []", "managers: ['PJSIP/m1&PJSIP/m2']", "is not an endpoint", "PJSIP/manager1"),
    ('manager_line: "*87"', 'manager_line: "*87,1,System(x)"', "is not an extension", "*87"),
    ("max_parallel: 2 ", "max_parallel: 0 ", "0 is out of range for 'max_parallel'", ""),
    ("ring_timeout: 20s", "ring_timeout: 2s", "out of range for a duration for 'ring_timeout'", ""),
    ("    enabled: true", "    enabeld: true", "unknown key 'enabeld' in round", "did you mean 'enabled'?"),
    ("# language: nl ", "language: de ", "language 'de' is not one of prompts.yaml's", ""),
])
def test_mistakes_are_refused_with_place_and_hint(config_tree: ConfigTree, old: str, new: str, fragment: str,
                                                  hint: str) -> None:
    config_tree.replace(FILE, old, new)
    error = only(errors_of(config_tree), fragment)
    assert error.file.name == "appreciation.yaml"
    # The error points at the value written wrong (a missing manager: at the round itself).
    needle = "- id: contact-day-2026" if "needs a 'manager'" in fragment else new.strip()
    assert error.line == config_tree.line_of(FILE, needle)
    assert hint in error.hint


def test_error_position_is_the_value(config_tree: ConfigTree) -> None:
    config_tree.replace(FILE, "mode: message ", "mode: mesage ")
    error = only(errors_of(config_tree), "is not a valid mode")
    line = config_tree.line_of(FILE, "mode: mesage")
    assert (error.line, error.column) == (line, config_tree.path(FILE).read_text().splitlines()[line - 1].index(
        "mesage") + 1)


def test_every_error_of_the_file_is_reported_at_once(config_tree: ConfigTree) -> None:
    config_tree.replace(FILE, "mode: message ", "mode: mesage ")
    config_tree.replace(FILE, "tries: 3 ", "tries: many ")
    config_tree.replace(FILE, "timezone: Europe/Brussels", "timezone: Mars/Olympus")
    errors = [e for e in errors_of(config_tree) if e.file.name == "appreciation.yaml"]
    assert len(errors) == 3, [str(e) for e in errors]


def test_duplicate_round_id_and_anchors_are_refused(config_tree: ConfigTree) -> None:
    text = config_tree.path(FILE).read_text()
    rounds = text[text.index("  - id: contact-day-2026"):]
    config_tree.path(FILE).write_text(text + "\n" + rounds)
    assert "is already used on line" in only(errors_of(config_tree), "round id 'contact-day-2026'").message
    config_tree.path(FILE).write_text(text.replace("rounds:\n", "x: &a [1]\nrounds:\n"))
    assert only(errors_of(config_tree), "anchors and aliases").file.name == "appreciation.yaml"


def test_reload_watches_the_file(config_tree: ConfigTree) -> None:
    bundle = load_bundle(config_tree.config)
    assert config_tree.path(FILE).resolve() in [p.resolve() for p in bundle.watched_files()]
