"""``respectline prompts build|install``: defined beside the prompts, mounted here."""

from __future__ import annotations

from typing import Any

from agi_scripts.prompts.cli import add_prompts_commands


def register(commands: Any) -> None:
    add_prompts_commands(commands)
