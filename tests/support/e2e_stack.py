"""A whole Respectline for end-to-end tests: the real Asterisk, the prompts, the server, a campaign that
always runs. A missing Asterisk fails the test with the command to run, it is never skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from agi_scripts.sandbox.asterisk import AsteriskNotFound
from agi_scripts.sandbox.demo import demo_flows
from agi_scripts.sandbox.stack import RespectlineStack, StackOptions

# Campaign used by the end-to-end tests: always running, so a test never depends on the clock.
ALWAYS_ON_CAMPAIGNS = """\
campaigns:
  - id: e2e-always
    title: End-to-end campaign
    prompt: campaign_contact_day
    queues: [support]
    first_after: 4s
    repeat_every: 15s
    offer_compliment: true
"""


def start_stack(folder: Path, **options: object) -> RespectlineStack:
    stack_options = StackOptions(flows_dir=demo_flows(folder, ALWAYS_ON_CAMPAIGNS), agent_names={"agent1": "Agent One"}, **options)  # type: ignore[arg-type]
    return started(stack_options, folder)


def started(options: StackOptions, folder: Path) -> RespectlineStack:
    """A running stack in ``folder/stack``; a missing Asterisk fails the test (never a skip)."""
    try:
        return RespectlineStack(options, work_dir=folder / "stack").start()
    except AsteriskNotFound as error:
        pytest.fail(f"Asterisk is not installed: run `make asterisk` ({error})")
