"""The ``respectline`` command run in-process against a test's config tree and store (fixture
``cli`` in ``tests/conftest.py``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from agi_scripts.cli.main import main


@dataclass
class Cli:
    capsys: pytest.CaptureFixture[str]
    config: Path
    db: str

    def run(self, *argv: str, db: bool = True) -> tuple[int, str, str]:
        """Exit code, stdout and stderr; ``db=False`` leaves ``--db`` out (the config's store is used)."""
        code = main([*argv, "--config", str(self.config)] + (["--db", self.db] if db else []))
        out, err = self.capsys.readouterr()
        return code, out, err

    def ok(self, *argv: str) -> str:
        code, out, err = self.run(*argv)
        assert code == 0, err
        return out

    def json(self, *argv: str) -> object:
        return json.loads(self.ok(*argv, "--format", "json"))
