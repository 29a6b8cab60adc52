"""The managers' line (``*87``, ``manager_line``) over a real FastAGI socket with a scripted channel and a
real store: only listed managers record; keep, redo, no answer, silence and hang-ups; what is kept on disk
and in the store. The audio itself is checked on the real Asterisk (tests/e2e/test_appreciation.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agi_scripts.storage.appreciation import AppreciationStore
from tests.support.fake_channel import FakeChannel
from tests.support.integration import Stack

MANAGER: dict[str, object] = {"channel": "PJSIP/manager1-0000000a", "extra": {"agi_language": "en"}}
ROUNDS = """managers: [PJSIP/manager1]
rounds:
  - id: board-thanks
    message: recorded
    manager: PJSIP/manager1
"""


@pytest.fixture
def rounds(stack: Stack) -> Path:
    """A round waiting for the manager's words; the server has reloaded it."""
    file = stack.tree.path("flows/appreciation.yaml")
    file.write_text(ROUNDS, encoding="utf-8")
    time.sleep(1.0)  # the server looks for changed files every 0.2 s
    return Path(str(stack.bundle.settings.recordings_dir)) / "appreciation" / "board-thanks"


def call_the_line(stack: Stack, keys: list[str], *, channel: dict[str, object] = MANAGER, voice: bool = True,
                  hang_up_on: str = "") -> FakeChannel:
    line = FakeChannel(voice=voice, hang_up_on=hang_up_on).press(keys)
    with stack.call("manager_line", **channel) as peer:
        line.serve(peer)
    return line


def played(line: FakeChannel) -> list[str]:
    return [c[2] for c in line.sent("STREAM")]


def kept(stack: Stack) -> list[str]:
    return [r.path for r in AppreciationStore(stack.store).recordings("board-thanks")]


def test_the_manager_records_hears_it_back_and_keeps_it(stack: Stack, rounds: Path) -> None:
    line = call_the_line(stack, ["1"])
    (take,) = line.sent("RECORD")
    assert take[3] == "wav" and take[4] == "#"
    assert played(line) == ["respectline/en/appreciation_record_intro", "respectline/en/appreciation_record_review",
                            take[2], "respectline/en/appreciation_record_keep", "respectline/en/appreciation_record_saved"]
    assert kept(stack) == [take[2]] and Path(take[2] + ".wav").is_file()
    assert take[2].startswith(str(rounds) + "/message-en-")


def test_2_records_again_and_only_the_kept_take_stays(stack: Stack, rounds: Path) -> None:
    line = call_the_line(stack, ["2", "1"])
    first, second = line.sent("RECORD")
    assert kept(stack) == [second[2]]
    assert not Path(first[2] + ".wav").exists() and Path(second[2] + ".wav").is_file()


def test_no_key_keeps_nothing(stack: Stack, rounds: Path) -> None:
    line = call_the_line(stack, [])
    (take,) = line.sent("RECORD")
    assert kept(stack) == [] and not Path(take[2] + ".wav").exists()
    assert "respectline/en/appreciation_record_saved" not in played(line)


def test_silence_is_never_played_back_nor_kept(stack: Stack, rounds: Path) -> None:
    line = call_the_line(stack, ["1", "1", "1"], voice=False)
    assert len(line.sent("RECORD")) == 3  # asked again each time, three takes at most
    assert "respectline/en/appreciation_record_review" not in played(line)
    assert kept(stack) == [] and not list(rounds.glob("*.wav"))


def test_a_hang_up_while_recording_keeps_nothing(stack: Stack, rounds: Path) -> None:
    call_the_line(stack, ["1"], hang_up_on="RECORD FILE")
    assert kept(stack) == [] and not list(rounds.glob("*.wav"))


def test_a_hang_up_during_the_last_sentence_keeps_the_message(stack: Stack, rounds: Path) -> None:
    call_the_line(stack, ["1"], hang_up_on="STREAM FILE respectline/en/appreciation_record_saved")
    (path,) = kept(stack)
    assert Path(path + ".wav").is_file()


@pytest.mark.parametrize("channel", ["PJSIP/agent1-0000000b", "PJSIP/manager10-0000000c", "Local/x@y-0000000d;1",
                                     "garbage"])
def test_other_phones_hear_the_line_is_for_managers(stack: Stack, rounds: Path, channel: str) -> None:
    line = call_the_line(stack, ["1"], channel={"channel": channel, "extra": {"agi_language": "en"}})
    assert played(line) == ["respectline/en/appreciation_not_manager"] and not line.sent("RECORD")
    assert kept(stack) == []


def test_without_a_recorded_round_the_manager_is_told(stack: Stack) -> None:
    file = stack.tree.path("flows/appreciation.yaml")
    file.write_text("managers: [PJSIP/manager1]\nrounds: []\n", encoding="utf-8")
    time.sleep(1.0)
    line = call_the_line(stack, ["1"])
    assert played(line) == ["respectline/en/appreciation_no_round"] and not line.sent("RECORD")
