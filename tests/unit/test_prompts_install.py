"""``install_prompts``: atomic replacement, unchanged files left alone, damaged builds refused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agi_scripts.prompts import files as prompt_files
from agi_scripts.prompts.build import build_prompts
from agi_scripts.prompts.catalog import PromptCatalog, load_prompt_catalog
from agi_scripts.prompts.engines import EspeakEngine
from agi_scripts.prompts.install import PromptInstallError, install_prompts
from tests.support.audio_files import read_wav, requires_tools

pytestmark = requires_tools

CATALOG = """\
languages: [nl, en]
prompts:
  hello:
    text: {nl: "Goedendag.", en: "Hello."}
  bye:
    text: {nl: "Tot ziens.", en: "Goodbye."}
"""


class Setup:
    def __init__(self, root: Path) -> None:
        self.catalog_file = root / "prompts.yaml"
        self.catalog_file.write_text(CATALOG, encoding="utf-8")
        self.built = root / "built"
        self.sounds = root / "sounds"
        self.sounds.mkdir()
        self.build()

    def catalog(self) -> PromptCatalog:
        catalog = load_prompt_catalog(self.catalog_file, [])
        assert catalog is not None
        return catalog

    def build(self) -> None:
        assert build_prompts(self.catalog(), EspeakEngine(), self.built).ok

    def installed(self, language: str, prompt_id: str, extension: str = "wav") -> Path:
        return self.sounds / "respectline" / language / f"{prompt_id}.{extension}"

    def states(self) -> dict[str, tuple[int, int]]:
        return {str(path.relative_to(self.sounds)): (path.stat().st_ino, path.stat().st_mtime_ns)
                for path in sorted(self.sounds.rglob("*")) if path.is_file()}


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


def test_install_puts_each_prompt_where_sound_name_points(setup: Setup) -> None:
    report = install_prompts(setup.sounds, setup.built)
    assert report.count("installed") == 8  # 2 prompts x 2 languages x (wav, sln16)
    sound_name = setup.catalog().sound_name("hello", "nl")
    assert (setup.sounds / f"{sound_name}.wav").read_bytes() == (setup.built / "nl" / "hello.wav").read_bytes()
    assert read_wav(setup.installed("en", "bye")).rate == 8000
    assert setup.installed("en", "bye", "sln16").is_file()


def test_installed_files_and_folders_are_readable_by_asterisk(setup: Setup) -> None:
    install_prompts(setup.sounds, setup.built)
    assert setup.installed("nl", "hello").stat().st_mode & 0o777 == 0o644
    assert (setup.sounds / "respectline" / "nl").stat().st_mode & 0o777 == 0o755


def test_a_second_install_touches_nothing(setup: Setup) -> None:
    install_prompts(setup.sounds, setup.built)
    before = setup.states()
    report = install_prompts(setup.sounds, setup.built)
    assert report.count("installed") == 0 and report.count("unchanged") == 8
    assert setup.states() == before


def test_a_changed_prompt_replaces_only_its_files_and_a_playing_caller_keeps_the_old_audio(setup: Setup) -> None:
    install_prompts(setup.sounds, setup.built)
    before = setup.states()
    old_bytes = setup.installed("nl", "hello").read_bytes()
    with setup.installed("nl", "hello").open("rb") as playing:  # Asterisk mid-playback
        playing.read(1000)
        setup.catalog_file.write_text(CATALOG.replace("Goedendag.", "Goedemiddag en welkom."), encoding="utf-8")
        setup.build()
        report = install_prompts(setup.sounds, setup.built)
        rest = playing.read()
    assert old_bytes[:1000] + rest == old_bytes  # the caller heard the whole old file, never a mix
    assert sorted(str(f.target.relative_to(setup.sounds)) for f in report.files if f.status == "installed") == [
        "respectline/nl/hello.sln16", "respectline/nl/hello.wav"]
    after = setup.states()
    assert {name for name in before if before[name] != after[name]} == {
        "respectline/nl/hello.wav", "respectline/nl/hello.sln16"}
    assert setup.installed("nl", "hello").read_bytes() == (setup.built / "nl" / "hello.wav").read_bytes()


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(setup: Setup,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    install_prompts(setup.sounds, setup.built)
    old_bytes = setup.installed("nl", "hello").read_bytes()
    setup.catalog_file.write_text(CATALOG.replace("Goedendag.", "Goedenavond."), encoding="utf-8")
    setup.build()

    def disk_full(source: str, target: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(OSError, match="No space left"):
        install_prompts(setup.sounds, setup.built)
    assert setup.installed("nl", "hello").read_bytes() == old_bytes
    assert [p.name for p in setup.sounds.rglob("*") if p.name.endswith(".tmp")] == []


def test_a_built_file_changed_after_the_build_is_refused_and_nothing_installed(setup: Setup) -> None:
    with (setup.built / "en" / "hello.wav").open("r+b") as stream:
        stream.seek(100)
        stream.write(b"\x7f\x7f")
    with pytest.raises(PromptInstallError, match=r"en/hello.wav changed after the build; rebuild"):
        install_prompts(setup.sounds, setup.built)
    assert not (setup.sounds / "respectline").exists()


def test_install_without_a_build_says_to_build_first(tmp_path: Path) -> None:
    (tmp_path / "sounds").mkdir()
    with pytest.raises(PromptInstallError, match=r"no manifest.json in .*respectline prompts build"):
        install_prompts(tmp_path / "sounds", tmp_path / "never-built")


def test_a_missing_sounds_folder_is_refused(setup: Setup, tmp_path: Path) -> None:
    with pytest.raises(PromptInstallError, match="does not exist"):
        install_prompts(tmp_path / "no-such-sounds", setup.built)


def test_a_manifest_naming_a_path_outside_the_prompt_folders_is_refused(setup: Setup) -> None:
    manifest_path = setup.built / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["prompts"]["../../../etc/evil"] = manifest["prompts"]["nl/hello"]
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(PromptInstallError, match="not <language>/<prompt id>"):
        install_prompts(setup.sounds, setup.built)
    assert not (setup.sounds / "respectline").exists()


def test_install_of_one_language(setup: Setup) -> None:
    report = install_prompts(setup.sounds, setup.built, languages=["en"])
    assert {f.target.parent.name for f in report.files} == {"en"}
    with pytest.raises(PromptInstallError, match="no prompts were built for language 'fr'"):
        install_prompts(setup.sounds, setup.built, languages=["fr"])


def test_write_atomic_never_shows_a_partial_file_under_the_final_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "prompt.wav"
    target.write_bytes(b"old" * 1000)
    seen: list[tuple[bytes, bytes]] = []
    real_replace = os.replace

    def observe(source: str, destination: str) -> None:
        # Right before the rename: the final name holds the complete old content, the temporary
        # file in the same folder the complete new content.
        assert Path(source).parent == Path(destination).parent
        seen.append((Path(destination).read_bytes(), Path(source).read_bytes()))
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", observe)
    prompt_files.write_atomic(target, b"new" * 2000)
    assert seen == [(b"old" * 1000, b"new" * 2000)]
    assert target.read_bytes() == b"new" * 2000
