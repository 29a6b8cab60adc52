"""``respectline prompts build|install`` as a user runs them: exit codes, progress and error lines."""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from agi_scripts.asterisk_conf.generate import generate
from agi_scripts.cli.main import main as respectline
from agi_scripts.cli.prompts_cmd import register, run_build, run_install
from agi_scripts.config.bundle import load_bundle
from tests.support.config_tree import ConfigTree
from tests.support.audio_files import requires_tools

pytestmark = requires_tools

CATALOG = """\
languages: [nl, fr]
prompts:
  hello:
    text: {nl: "Goedendag.", fr: "Bonjour."}
  bye:
    text: {nl: "Tot ziens.", fr: "Au revoir."}
"""


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.yaml"
    path.write_text(CATALOG, encoding="utf-8")
    return path


@pytest.fixture
def config(catalog: Path, tmp_path: Path) -> Path:
    """A configuration whose paths are all relative to its own folder, as an admin's would be."""
    (tmp_path / "sounds").mkdir()
    path = tmp_path / "respectline.yaml"
    path.write_text("paths:\n  prompts: prompts.yaml\n  sounds: sounds\n  built_prompts: built\n", encoding="utf-8")
    return path


def main(argv: list[str]) -> int:
    return respectline(["prompts", *argv])


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever network this machine has, `auto` must see none (the product's normal case here)."""
    def no_network(*args: object, **kwargs: object) -> requests.Response:
        raise requests.exceptions.ConnectionError("Failed to resolve 'translate.google.com'")

    monkeypatch.setattr(requests, "head", no_network)


def test_the_lead_cli_mounts_the_prompts_commands_with_a_config_argument() -> None:
    parser = argparse.ArgumentParser(prog="respectline")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["prompts", "build", "--engine", "espeak", "--only", "a,b", "--lang", "nl"])
    assert args.func is run_build and args.engine == "espeak" and args.only == ["a,b"]
    args = parser.parse_args(["prompts", "install", "--config", "/etc/respectline/respectline.yaml"])
    assert args.func is run_install and args.config == Path("/etc/respectline/respectline.yaml")
    assert args.sounds_dir is None and args.from_dir is None


def test_build_and_install_take_every_folder_from_the_config_when_run_from_elsewhere(
        config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["build", "--config", str(config), "--only", "hello", "--lang", "nl", "--engine", "espeak"]) == 0
    assert (tmp_path / "built" / "nl" / "hello.wav").is_file()
    assert main(["install", "--config", str(config)]) == 0
    assert (tmp_path / "sounds" / "respectline" / "nl" / "hello.wav").is_file()
    assert list(elsewhere.iterdir()) == []  # nothing written relative to the working folder


def test_run_from_another_folder_without_config_exits_2_saying_to_pass_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RESPECTLINE_CONFIG", raising=False)
    assert main(["build", "--config", "config/respectline.yaml"]) == 2
    err = capsys.readouterr().err
    assert "config/respectline.yaml:1:1: file not found" in err
    assert "pass --config FILE" in err


def test_install_into_another_sounds_folder_than_the_configs_is_refused(
        config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--config", str(config), "--only", "hello", "--lang", "nl", "--engine", "espeak"]) == 0
    capsys.readouterr()
    other = tmp_path / "other-sounds"
    other.mkdir()
    assert main(["install", "--config", str(config), "--sounds-dir", str(other)]) == 2
    err = capsys.readouterr().err
    assert f"--sounds-dir {other} is not paths.sounds ({tmp_path / 'sounds'})" in err
    assert "callers would hear silence" in err
    assert list(other.iterdir()) == []
    # Naming the configured folder is accepted (a check, not an override).
    assert main(["install", "--config", str(config), "--sounds-dir", str(tmp_path / "sounds")]) == 0


def test_build_prints_the_engine_choice_a_line_per_prompt_and_a_summary(
        catalog: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["build", "--catalog", str(catalog), "--out", str(tmp_path / "out"), "--lang", "nl,fr",
                 "--only", "hello"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0].startswith("engine: espeak-ng, offline (gTTS not usable:") and "failed to resolve" in out[0]
    # Two prompts are built at once: lines come in the order they finish.
    assert [line[:6] for line in out[1:3]] == ["[1/2] ", "[2/2] "]
    assert sorted(line[6:38] for line in out[1:3]) == ["built     fr/hello  (espeak-ng, ",
                                                       "built     nl/hello  (espeak-ng, "]
    assert out[3].startswith("2 built, 0 unchanged, 0 failed in ")
    main(["build", "--catalog", str(catalog), "--out", str(tmp_path / "out"), "--only", "hello"])
    assert "0 built, 2 unchanged, 0 failed" in capsys.readouterr().out


def test_a_terminal_gets_a_progress_bar_that_ends_with_a_newline(catalog: Path, tmp_path: Path) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out, err = Terminal(), io.StringIO()
    args = argparse.Namespace(catalog=catalog, out=tmp_path / "out", engine="espeak", lang=None, only=["bye"],
                              force=False, jobs=1)
    assert run_build(args, out, err) == 0
    text = out.getvalue()
    assert "\r[############............] 1/2 nl/bye" in text
    assert "\r[########################] 2/2 fr/bye" in text
    assert text.endswith("(espeak-ng) -> " + str(tmp_path / "out") + "\n")


def test_an_unknown_prompt_id_exits_2_with_a_suggestion(catalog: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--catalog", str(catalog), "--out", str(tmp_path / "out"), "--only", "helo"]) == 2
    err = capsys.readouterr().err
    assert "error: unknown prompt id 'helo' (did you mean 'hello'?)" in err


def test_an_unknown_language_exits_2(catalog: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--catalog", str(catalog), "--out", str(tmp_path / "out"), "--lang", "en"]) == 2
    assert "error: unknown language 'en'; the catalog has: nl, fr" in capsys.readouterr().err


def test_a_broken_catalog_exits_2_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "prompts.yaml"
    broken.write_text(CATALOG.replace("  bye:\n", "  bye:\n    colour: red\n"), encoding="utf-8")
    assert main(["build", "--catalog", str(broken), "--out", str(tmp_path / "out")]) == 2
    assert f"{broken}:6:5: unknown key 'colour'" in capsys.readouterr().err


def test_missing_espeak_exits_2_naming_the_package(catalog: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    os.symlink(shutil.which("ffmpeg") or "ffmpeg", tools / "ffmpeg")
    monkeypatch.setenv("PATH", str(tools))
    assert main(["build", "--catalog", str(catalog), "--out", str(tmp_path / "out"), "--engine", "espeak"]) == 2
    assert "apt-get install -y espeak-ng" in capsys.readouterr().err


def test_a_recording_that_is_not_audio_exits_1_naming_the_file(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "recorded").mkdir()
    (tmp_path / "recorded" / "bye-nl.wav").write_text("not audio")
    catalog = tmp_path / "prompts.yaml"
    catalog.write_text(CATALOG.replace('    text: {nl: "Tot ziens."',
                                       '    recorded: {nl: recorded/bye-nl.wav}\n    text: {nl: "Tot ziens."'))
    assert main(["build", "--catalog", str(catalog), "--out", str(tmp_path / "out"), "--engine", "espeak"]) == 1
    captured = capsys.readouterr()
    assert "error: nl/bye: " in captured.err and "bye-nl.wav is not usable audio" in captured.err
    assert "3 built, 0 unchanged, 1 failed" in captured.out


def test_install_copies_the_build_and_reports(config: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    sounds = tmp_path / "sounds"
    main(["build", "--config", str(config), "--engine", "espeak", "--lang", "nl"])
    capsys.readouterr()
    assert main(["install", "--config", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"installed {sounds}/respectline/nl/hello.wav" in lines
    assert lines[-1] == f"4 installed, 0 unchanged in {sounds}/respectline"
    assert main(["install", "--config", str(config)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"0 installed, 4 unchanged in {sounds}/respectline"]


def test_install_without_a_build_exits_2(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["install", "--config", str(config)]) == 2
    assert "run `respectline prompts build` first" in capsys.readouterr().err


def test_the_command_runs_as_a_program() -> None:
    result = subprocess.run([sys.executable, "-m", "agi_scripts.cli.main", "prompts", "build", "--help"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and "--engine {auto,gtts,espeak}" in result.stdout


def test_hold_music_goes_to_the_configs_sounds_folder_where_the_generated_classes_look(
        config_tree: ConfigTree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    sounds = tmp_path / "asterisk-sounds"
    sounds.mkdir()
    config_tree.replace("config/respectline.yaml", "sounds: /usr/share/asterisk/sounds", f"sounds: {sounds}")
    monkeypatch.chdir(tmp_path)
    assert main(["hold-music", "--config", str(config_tree.config)]) == 0
    moh = generate(load_bundle(config_tree.config), "127.0.0.1:4573")["musiconhold_respectline.conf"]
    entries = {line.removeprefix("entry=") for line in moh.splitlines() if line.startswith("entry=")}
    gaps = {entry for entry in entries if "/hold/" in entry}
    assert gaps and all(Path(f"{entry}.wav").is_file() for entry in gaps)
