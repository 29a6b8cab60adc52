"""Errors an admin sees when a configuration or flow file is wrong.

Every error names the file, line and column, says what was expected and, where we can guess,
how to fix it. Loading collects all errors of all files before giving up, so an admin fixes their
files in one pass instead of one error per run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ConfigError:
    file: Path
    line: int
    """1-based, as editors show it."""
    column: int
    """1-based."""
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.column}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class ValidationFailed(Exception):
    """One or more files were refused; ``errors`` lists every problem found."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = sorted(errors, key=lambda e: (str(e.file), e.line, e.column))
        super().__init__("\n".join(str(e) for e in self.errors))
