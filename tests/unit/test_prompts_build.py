"""``build_prompts`` with the real espeak-ng and ffmpeg: outputs, manifest, incremental rebuilds, errors."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from agi_scripts.ground.errors import ConfigError
from agi_scripts.prompts.build import BuildReport, PromptBuildError, build_prompts
from agi_scripts.prompts.catalog import PromptCatalog, load_prompt_catalog
from agi_scripts.prompts.engines import EspeakEngine, ToolMissing
from tests.support.audio_files import read_sln16, read_wav, requires_tools, studio_recording, to_mp3

pytestmark = requires_tools

CATALOG = """\
languages: [nl, fr, en]
prompts:
  hello:
    text: {nl: "Goedendag en welkom.", fr: "Bonjour et bienvenue.", en: "Hello and welcome."}
  bye:
    text: {nl: "Tot ziens.", fr: "Au revoir.", en: "Goodbye."}
    recorded: {en: recorded/en/bye.mp3}
"""


class Project:
    """A catalog folder with one real recording, and the build output folder next to it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.catalog_file = root / "audio_prompts" / "prompts.yaml"
        self.recording = root / "audio_prompts" / "recorded" / "en" / "bye.mp3"
        self.out = root / "var" / "sounds" / "respectline"
        self.recording.parent.mkdir(parents=True)
        to_mp3(studio_recording(root, "bye", lead_s=0.5, tail_s=0.8, gain_db=-14,
                                text="Thank you for calling us today. Goodbye."), self.recording)
        self.catalog_file.write_text(CATALOG, encoding="utf-8")

    def catalog(self) -> PromptCatalog:
        errors: list[ConfigError] = []
        catalog = load_prompt_catalog(self.catalog_file, errors)
        assert not errors and catalog is not None, errors
        return catalog

    def build(self, engine: EspeakEngine | None = None, **options: object) -> BuildReport:
        return build_prompts(self.catalog(), engine or EspeakEngine(), self.out, **options)  # type: ignore[arg-type]

    def edit(self, old: str, new: str) -> None:
        text = self.catalog_file.read_text(encoding="utf-8")
        assert old in text
        self.catalog_file.write_text(text.replace(old, new), encoding="utf-8")

    def file_states(self) -> dict[str, tuple[int, int]]:
        return {str(path.relative_to(self.out)): (path.stat().st_ino, path.stat().st_mtime_ns)
                for path in sorted(self.out.rglob("*")) if path.is_file()}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


def statuses(report: BuildReport) -> dict[str, str]:
    return {result.item.key: result.status for result in report.results}


def test_espeak_build_writes_8khz_wav_and_sln16_per_language(project: Project) -> None:
    report = project.build(only=["hello"])
    assert statuses(report) == {"nl/hello": "built", "fr/hello": "built", "en/hello": "built"}
    for language in ("nl", "fr", "en"):
        info = read_wav(project.out / language / "hello.wav")
        assert (info.rate, info.channels, info.sample_width) == (8000, 1, 2)
        assert 0.6 < info.seconds < 4.0
        assert info.rms_dbfs() == pytest.approx(-20.0, abs=0.5)
        assert info.leading_silence_s() < 0.06
        wide = read_sln16(project.out / language / "hello.sln16")
        assert len(wide) / 16000 == pytest.approx(info.seconds, abs=0.02)


def test_manifest_records_engine_voice_text_and_file_hashes(project: Project) -> None:
    project.build(only=["hello"], languages=["fr"])
    manifest = json.loads((project.out / "manifest.json").read_text())
    entry = manifest["prompts"]["fr/hello"]
    assert entry["source"] == "espeak-ng" and entry["voice"] == "fr-be"
    assert entry["text"] == "Bonjour et bienvenue."
    assert set(entry["files"]) == {"wav", "sln16"}
    assert list(manifest["prompts"]) == ["fr/hello"]


def test_second_build_rewrites_nothing(project: Project) -> None:
    first = project.build()
    assert first.ok and first.count("built") == 6
    before = project.file_states()
    second = project.build()
    assert second.count("unchanged") == 6 and second.count("built") == 0
    assert project.file_states() == before  # same inodes and mtimes, manifest included


def test_a_changed_text_rebuilds_only_that_prompt_in_that_language(project: Project) -> None:
    project.build()
    before = project.file_states()
    project.edit("Goedendag en welkom.", "Goeiedag en welkom bij ons.")
    report = project.build()
    assert [key for key, status in statuses(report).items() if status == "built"] == ["nl/hello"]
    after = project.file_states()
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"nl/hello.wav", "nl/hello.sln16", "manifest.json"}


def test_a_changed_speed_or_voice_rebuilds(project: Project) -> None:
    project.build(only=["hello"], languages=["en"])
    project.edit('    text: {nl: "Goedendag', '    speed: 1.2\n    text: {nl: "Goedendag')
    assert statuses(project.build(only=["hello"], languages=["en"])) == {"en/hello": "built"}
    other_voice = EspeakEngine(voices={"en": "en-us"})
    assert statuses(project.build(other_voice, only=["hello"], languages=["en"])) == {"en/hello": "built"}
    assert statuses(project.build(other_voice, only=["hello"], languages=["en"])) == {"en/hello": "unchanged"}


def test_a_deleted_or_edited_output_is_rebuilt(project: Project) -> None:
    project.build(only=["hello"])
    (project.out / "fr" / "hello.wav").unlink()
    with (project.out / "en" / "hello.sln16").open("ab") as stream:
        stream.write(b"\0\0")
    report = project.build(only=["hello"])
    assert statuses(report) == {"nl/hello": "unchanged", "fr/hello": "built", "en/hello": "built"}


def test_a_recording_wins_over_synthesis(project: Project) -> None:
    report = project.build(only=["bye"])
    sources = {result.item.key: result.source for result in report.results}
    assert sources == {"nl/bye": "espeak-ng", "fr/bye": "espeak-ng", "en/bye": "recorded"}
    # The recording says a whole sentence; espeak-ng's "Goodbye." would last about half a second.
    recorded = read_wav(project.out / "en" / "bye.wav")
    assert recorded.seconds > 2.0
    assert recorded.leading_silence_s() < 0.06
    assert recorded.rms_dbfs() == pytest.approx(-20.0, abs=0.5)


def test_a_new_recording_rebuilds_it_and_a_new_engine_rebuilds_only_synthesis(project: Project) -> None:
    project.build()
    to_mp3(studio_recording(project.root, "bye2", lead_s=0.1, tail_s=0.1, gain_db=-3, text="Bye."),
           project.recording)
    assert statuses(project.build())["en/bye"] == "built"
    other_engine = EspeakEngine(name="espeak-ng-other")
    report = project.build(other_engine)
    assert statuses(report)["en/bye"] == "unchanged"
    assert report.count("built") == 5


def test_a_recording_that_is_not_audio_fails_that_prompt_naming_the_file(project: Project) -> None:
    project.recording.write_text("ID3 but not really\n")
    report = project.build()
    failed = [result for result in report.results if result.status == "failed"]
    assert [result.item.key for result in failed] == ["en/bye"]
    assert "bye.mp3" in failed[0].message and "not usable audio" in failed[0].message
    assert report.count("built") == 5 and not report.ok


def test_unknown_language_is_refused_with_the_catalog_languages(project: Project) -> None:
    with pytest.raises(PromptBuildError, match=r"unknown language 'de'.*nl, fr, en"):
        project.build(languages=["de"])


def test_unknown_prompt_id_is_refused_with_a_suggestion(project: Project) -> None:
    with pytest.raises(PromptBuildError, match=r"unknown prompt id 'helo' \(did you mean 'hello'\?\)"):
        project.build(only=["helo"])
    assert not project.out.exists()


def test_missing_espeak_names_the_debian_package(project: Project, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    os.symlink(shutil.which("ffmpeg") or "ffmpeg", tools / "ffmpeg")
    monkeypatch.setenv("PATH", str(tools))
    with pytest.raises(ToolMissing, match=r"espeak-ng is not installed.*apt-get install -y espeak-ng"):
        project.build(only=["hello"])


def test_missing_ffmpeg_names_the_debian_package(project: Project, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ToolMissing, match=r"ffmpeg is not installed.*apt-get install -y ffmpeg"):
        project.build(only=["hello"])


def test_a_recording_only_build_does_not_need_espeak(project: Project, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    os.symlink(shutil.which("ffmpeg") or "ffmpeg", tools / "ffmpeg")
    monkeypatch.setenv("PATH", str(tools))
    assert statuses(project.build(only=["bye"], languages=["en"])) == {"en/bye": "built"}


def test_a_damaged_manifest_costs_a_rebuild_not_a_crash(project: Project) -> None:
    project.build(only=["hello"], languages=["nl"])
    (project.out / "manifest.json").write_text("{not json")
    assert statuses(project.build(only=["hello"], languages=["nl"])) == {"nl/hello": "built"}
    assert json.loads((project.out / "manifest.json").read_text())["format"] == 1


def test_no_temporary_files_are_left_behind(project: Project) -> None:
    project.build()
    leftovers = [path.name for path in project.out.rglob("*") if path.name.endswith(".tmp")]
    assert leftovers == []


def test_output_files_are_readable_by_asterisk(project: Project) -> None:
    project.build(only=["hello"], languages=["nl"])
    for path in (project.out / "nl" / "hello.wav", project.out / "nl" / "hello.sln16"):
        assert path.stat().st_mode & 0o777 == 0o644
