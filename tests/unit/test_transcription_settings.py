"""The ``transcription:`` section of ``config/respectline.yaml``: off by default, a folder or a model
name, limits within bounds, every mistake at its file:line:col with a hint, and a restart key."""

from __future__ import annotations

from pathlib import Path

from agi_scripts.cli.serve_cmd import reload_bundle
from agi_scripts.config.bundle import load_bundle
from agi_scripts.ground.errors import ValidationFailed
from tests.support.config_errors import errors_of, only
from tests.support.config_tree import ConfigTree


def with_section(tree: ConfigTree, text: str) -> None:
    config = tree.config
    config.write_text(config.read_text() + "\ntranscription:\n" + text)


def test_transcription_is_off_unless_a_model_is_named(config_tree: ConfigTree) -> None:
    settings = load_bundle(config_tree.config).settings.transcription
    assert settings.model is None and not settings.enabled


def test_a_relative_folder_is_made_absolute_and_the_limits_are_read(config_tree: ConfigTree) -> None:
    with_section(config_tree, "  model: ../var/models/whisper-base\n  cpu_threads: 2\n  max_duration: 5m\n"
                              "  max_file_size_mb: 10\n  queue_size: 3\n  settle_time: 2s\n")
    settings = load_bundle(config_tree.config).settings.transcription
    assert settings.model == str((config_tree.root / "var" / "models" / "whisper-base").resolve())
    assert (settings.cpu_threads, settings.max_seconds, settings.max_megabytes, settings.queue_size,
            settings.settle_seconds) == (2, 300.0, 10, 3, 2.0)


def test_a_model_name_stays_a_name(config_tree: ConfigTree) -> None:
    with_section(config_tree, "  model: Systran/faster-whisper-small\n")
    assert load_bundle(config_tree.config).settings.transcription.model == "Systran/faster-whisper-small"


def test_every_mistake_is_reported_at_its_place(config_tree: ConfigTree) -> None:
    with_section(config_tree, "  model: \"not a model; rm -rf /\"\n  cpu_threads: 0\n  max_duration: forever\n"
                              "  queue_size: 5000\n  modle: base\n")
    errors = errors_of(config_tree)
    model = only(errors, "neither a model folder nor a model name")
    assert model.line == config_tree.line_of("config/respectline.yaml", "not a model") and model.hint
    assert any(e.line == config_tree.line_of("config/respectline.yaml", "cpu_threads: 0") for e in errors)
    assert any(e.line == config_tree.line_of("config/respectline.yaml", "max_duration: forever") for e in errors)
    assert any(e.line == config_tree.line_of("config/respectline.yaml", "queue_size: 5000") for e in errors)
    assert "did you mean 'model'?" in only(errors, "unknown key 'modle'").hint


def test_a_reload_that_changes_the_model_is_refused_until_a_restart(config_tree: ConfigTree) -> None:
    running = load_bundle(config_tree.config).settings
    with_section(config_tree, "  model: base\n")
    try:
        reload_bundle(config_tree.config, running)
    except ValidationFailed as failed:
        [error] = failed.errors
        assert "transcription changed" in error.message
        lines = config_tree.config.read_text().splitlines()
        assert error.line == lines.index("transcription:") + 1  # the section's own line, not the comment
    else:
        raise AssertionError("the reload was accepted")


def test_the_shipped_file_shows_the_section_commented_out() -> None:
    shipped = (Path(__file__).resolve().parents[2] / "config" / "respectline.yaml").read_text()
    assert "# transcription:\n#   model:" in shipped
