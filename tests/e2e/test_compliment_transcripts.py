"""Compliment screening with the real transcription worker, through the real Asterisk: ``respectline
serve`` transcribes each spoken compliment with the pinned test model (Whisper base) and hands the
words to the screening. A message with a word of the English list ("stupid", "idiot") is held and never
reaches the agent's phone on ``*88``; a kind one is released once transcribed and is heard there (audio
correlation on the agent's phone). Speech is espeak-ng's, at 8 kHz, played by the pjsua2 caller."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agi_scripts.sandbox.audio import find_prompt_times
from agi_scripts.sandbox.demo import demo_flows
from agi_scripts.sandbox.sip import SipAgent, SipCaller, SipPhoneSystem
from agi_scripts.sandbox.stack import PROJECT_ROOT, RespectlineStack, StackOptions
from tests.support.compliments import call_the_line, leave_compliment, screened
from tests.support.e2e_stack import ALWAYS_ON_CAMPAIGNS, started
from tests.support.speech import speech_model, spoken

pytestmark = pytest.mark.e2e
RUDE = "You are a stupid idiot and I will find you."
KIND = "Thank you very much, you were very helpful today."


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RespectlineStack]:
    folder = tmp_path_factory.mktemp("screened")
    config = folder / "respectline.yaml"
    # The shipped config with the test model; a short settle time: the sandbox's messages are short.
    config.write_text((PROJECT_ROOT / "config" / "respectline.yaml").read_text(encoding="utf-8")
                      + f"\ntranscription:\n  model: {speech_model()}\n  cpu_threads: 1\n  settle_time: 2s\n",
                      encoding="utf-8")
    options = StackOptions(config_file=config, flows_dir=demo_flows(folder, ALWAYS_ON_CAMPAIGNS),
                           agent_names={"agent1": "Agent One"})
    running = started(options, folder)
    try:
        yield running
    finally:
        running.stop()


def test_the_workers_transcript_holds_a_message_with_a_listed_word_and_releases_a_kind_one(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent, caller: SipCaller,
        tmp_path: Path) -> None:
    rude_words = spoken(RUDE, "en", tmp_path / "rude.wav")
    kind_words = spoken(KIND, "en", tmp_path / "kind.wav")
    rude = leave_compliment(stack, phones, agent, caller, "5", rude_words)
    assert rude.screening in ("pending_transcript", "held")  # never released before its words are known
    kind = leave_compliment(stack, phones, agent, caller, "5", kind_words)
    assert kind.screening in ("pending_transcript", "released")
    phones.wait_until(lambda: screened(stack, rude.id).screening == "held"
                      and screened(stack, kind.id).screening == "released", 240,
                      "the worker transcribed both messages and the screening decided", interval=1.0)
    assert screened(stack, rude.id).reason in ("word list (en): idiot", "word list (en): stupid")

    line = call_the_line(stack, phones)
    assert len(find_prompt_times(line, kind_words)) == 1
    assert find_prompt_times(line, rude_words) == []
