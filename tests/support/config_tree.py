"""A copy of the shipped config, flows and prompt catalog that a test may edit."""

from __future__ import annotations

import shutil
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


class ConfigTree:
    """A copy of config/, flows/ and audio_prompts/prompts.yaml in a temporary folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for folder in ("config", "flows"):
            shutil.copytree(PROJECT / folder, root / folder)
        (root / "audio_prompts").mkdir()
        shutil.copy(PROJECT / "audio_prompts" / "prompts.yaml", root / "audio_prompts" / "prompts.yaml")
        self.config = root / "config" / "respectline.yaml"

    def path(self, relative: str) -> Path:
        return self.root / relative

    def replace(self, relative: str, old: str, new: str) -> None:
        file = self.path(relative)
        text = file.read_text()
        assert old in text, f"{old!r} not in {relative}: the test's edit would not change anything"
        file.write_text(text.replace(old, new, 1))

    def line_of(self, relative: str, needle: str) -> int:
        for number, line in enumerate(self.path(relative).read_text().splitlines(), start=1):
            if needle in line:
                return number
        raise AssertionError(f"{needle!r} not in {relative}")
