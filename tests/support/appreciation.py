"""Thank-you rounds for end-to-end tests: a flows folder whose appreciation.yaml a test switches on."""

from __future__ import annotations

from pathlib import Path

from agi_scripts.sandbox.demo import demo_flows
from tests.support.e2e_stack import ALWAYS_ON_CAMPAIGNS

WAITING_ROUND = "  - id: e2e-thanks\n    from: 2099-01-01\n"
"""A round that has not started yet: a test starts it by editing the file (the worker reloads it)."""


def appreciation_flows(folder: Path, *, max_parallel: int = 2, ring_timeout: str = "10s", tries: int = 3,
                       retry_after: str = "5s", extra: str = "") -> Path:
    flows = demo_flows(folder, ALWAYS_ON_CAMPAIGNS)
    (flows / "appreciation.yaml").write_text(
        f"manager_line: \"*87\"\nmanagers: [PJSIP/manager1, PJSIP/boss]\nmax_parallel: {max_parallel}\n"
        f"ring_timeout: {ring_timeout}\ntries: {tries}\nretry_after: {retry_after}\n"
        "rounds:\n" + WAITING_ROUND + "    title: Thank you from the board\n    to: all\n"
        "    message: {prompt: appreciation_thank_you}\n    language: en\n" + extra, encoding="utf-8")
    return flows


def start_round(flows: Path) -> None:
    """The waiting round starts now (no dates): the server's worker sees the change within a second or two."""
    file = flows / "appreciation.yaml"
    text = file.read_text(encoding="utf-8")
    assert WAITING_ROUND in text, "the round is not waiting"
    file.write_text(text.replace(WAITING_ROUND, "  - id: e2e-thanks\n"), encoding="utf-8")


def add_round(flows: Path, round_id: str, *, to: str = "all") -> None:
    """Another round, running from now, with the same message."""
    file = flows / "appreciation.yaml"
    text = file.read_text(encoding="utf-8")
    file.write_text(text + f"  - id: {round_id}\n    to: {to}\n    message: {{prompt: appreciation_thank_you}}\n"
                    "    language: en\n", encoding="utf-8")


def add_recorded_round(flows: Path, round_id: str, manager: str, *, to: str = "all") -> None:
    """A round running from now whose message the manager records on the manager's line."""
    file = flows / "appreciation.yaml"
    text = file.read_text(encoding="utf-8")
    file.write_text(text + f"  - id: {round_id}\n    to: {to}\n    message: recorded\n    manager: {manager}\n"
                    "    language: en\n", encoding="utf-8")


def add_live_round(flows: Path, round_id: str, manager: str, *, to: str = "all") -> None:
    """A live round running from now: the manager's phone is connected to each agent in turn."""
    file = flows / "appreciation.yaml"
    text = file.read_text(encoding="utf-8")
    file.write_text(text + f"  - id: {round_id}\n    to: {to}\n    message: {{prompt: appreciation_thank_you}}\n"
                    f"    mode: live\n    manager: {manager}\n    language: en\n", encoding="utf-8")
