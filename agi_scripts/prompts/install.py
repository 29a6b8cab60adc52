"""``respectline prompts install``: built prompts into Asterisk's sounds folder, atomically.

Files land in ``<sounds_dir>/respectline/<lang>/<id>.<ext>``, the folder that
``PromptCatalog.sound_name`` names. Each changed file is written to a temporary file in the same
folder and renamed over the old one, so a caller mid-playback keeps hearing the old prompt to its
end, the next playback gets the new one, and Asterisk needs no reload. Unchanged files are left
alone (same inode, same mtime).

What is installed comes from the build's manifest, not from a folder listing: only names that
pass the id and language patterns, and only files whose bytes still match the hash the build
recorded, so a half-written or hand-edited build output is refused instead of played.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agi_scripts.ground.yamlsource import ID_PATTERN
from agi_scripts.prompts.build import MANIFEST_FORMAT, MANIFEST_NAME
from agi_scripts.prompts.catalog import LANGUAGE_PATTERN, SOUND_PREFIX
from agi_scripts.prompts.engines import PromptToolError
from agi_scripts.prompts.files import same_content, sha256_bytes, write_atomic

INSTALLED_EXTENSIONS = ("wav", "sln16")

InstallStatus = Literal["installed", "unchanged"]


class PromptInstallError(PromptToolError):
    """Nothing (more) was installed; the message says why and what to do."""


@dataclass(frozen=True)
class InstalledFile:
    target: Path
    status: InstallStatus


@dataclass
class InstallReport:
    sounds_dir: Path
    files: list[InstalledFile] = field(default_factory=list)

    def count(self, status: InstallStatus) -> int:
        return sum(1 for file in self.files if file.status == status)

    def summary(self) -> str:
        return (f"{self.count('installed')} installed, {self.count('unchanged')} unchanged "
                f"in {self.sounds_dir / SOUND_PREFIX}")


def install_prompts(sounds_dir: Path, built_dir: Path, *,
                    languages: Sequence[str] | None = None,
                    progress: Callable[[InstalledFile], None] | None = None) -> InstallReport:
    """Copy every built prompt whose bytes differ from the installed one; raises ``PromptInstallError``."""
    if not sounds_dir.is_dir():
        raise PromptInstallError(f"sounds folder {sounds_dir} does not exist; pass Asterisk's sounds "
                                 "directory (astdatadir/sounds, often /usr/share/asterisk/sounds)")
    entries = _manifest_entries(built_dir)
    if languages:
        built_languages = {key.split("/", 1)[0] for key in entries}
        unknown = sorted(set(languages) - built_languages)
        if unknown:
            raise PromptInstallError(f"no prompts were built for language {unknown[0]!r}; built: "
                                     f"{', '.join(sorted(built_languages)) or 'none'}")
    # Read and verify everything first: a bad build output installs nothing rather than half.
    planned: list[tuple[Path, bytes]] = []
    for item_key, entry in sorted(entries.items()):
        language, prompt_id = _split_key(item_key, built_dir)
        if languages and language not in languages:
            continue
        for extension, data in _verified_files(built_dir, language, prompt_id, entry):
            planned.append((sounds_dir / SOUND_PREFIX / language / f"{prompt_id}.{extension}", data))
    report = InstallReport(sounds_dir)
    for target, data in planned:
        if same_content(target, data):
            installed = InstalledFile(target, "unchanged")
        else:
            write_atomic(target, data)
            installed = InstalledFile(target, "installed")
        report.files.append(installed)
        if progress is not None:
            progress(installed)
    return report


def _manifest_entries(built_dir: Path) -> dict[str, dict[str, Any]]:
    path = built_dir / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PromptInstallError(f"no {MANIFEST_NAME} in {built_dir}: run `respectline prompts build` "
                                 "first (or pass --from with the build's --out folder)") from None
    except (OSError, ValueError) as exc:
        raise PromptInstallError(f"cannot read {path}: {exc}; rebuild the prompts") from exc
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT or not isinstance(data.get("prompts"), dict):
        raise PromptInstallError(f"{path} is not a prompt build manifest of format {MANIFEST_FORMAT}; "
                                 "rebuild the prompts")
    return {str(key): value for key, value in data["prompts"].items() if isinstance(value, dict)}


def _split_key(item_key: str, built_dir: Path) -> tuple[str, str]:
    language, _, prompt_id = item_key.partition("/")
    if not LANGUAGE_PATTERN.fullmatch(language) or not ID_PATTERN.fullmatch(prompt_id):
        raise PromptInstallError(f"{built_dir / MANIFEST_NAME} lists {item_key!r}, which is not "
                                 "<language>/<prompt id>; rebuild the prompts")
    return language, prompt_id


def _verified_files(built_dir: Path, language: str, prompt_id: str,
                    entry: dict[str, Any]) -> list[tuple[str, bytes]]:
    digests = entry.get("files")
    if not isinstance(digests, dict) or "wav" not in digests:
        raise PromptInstallError(f"{built_dir / MANIFEST_NAME} has no files for {language}/{prompt_id}; "
                                 "rebuild the prompts")
    files: list[tuple[str, bytes]] = []
    for extension in INSTALLED_EXTENSIONS:
        if extension not in digests:
            continue
        source = built_dir / language / f"{prompt_id}.{extension}"
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise PromptInstallError(f"built file {source} cannot be read ({exc.strerror}); "
                                     "rebuild the prompts") from exc
        if sha256_bytes(data) != digests[extension]:
            raise PromptInstallError(f"built file {source} changed after the build; rebuild the prompts "
                                     "(`respectline prompts build`) before installing")
        files.append((extension, data))
    return files
