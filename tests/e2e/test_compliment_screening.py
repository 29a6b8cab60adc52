"""Compliments that are really compliments, through the real Asterisk: what the screening holds never
reaches the agent's phone on the compliments line (``*88``); a released message is heard once, then only
among the older ones after pressing 1; a message the agent hangs up on stays new; a deleted one never
plays. Every "heard" and "not heard" is audio correlation on the agent's phone.

Transcription is off in this stack, so each spoken message is first held for want of a transcript. The
word-list case hands the message's words to ``ComplimentScreener.on_compliment_transcript`` exactly as
the transcription worker does after saving a transcript; the decision, the store and ``*88`` are the real
ones. The worker's own run, with the test model, is ``test_compliment_transcripts.py``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agi_scripts.config.bundle import load_bundle
from agi_scripts.flows.screening import NO_TRANSCRIPT_REASON
from agi_scripts.policy.screening import ComplimentScreener
from agi_scripts.sandbox.audio import contains_prompt, find_prompt_times
from agi_scripts.sandbox.demo import speak
from agi_scripts.sandbox.sip import SipAgent, SipCaller, SipPhoneSystem
from agi_scripts.sandbox.stack import RespectlineStack
from agi_scripts.storage import open_store
from agi_scripts.storage.screening import ScreeningStore
from tests.support.compliments import call_the_line, leave_compliment, review, screened, seconds_of

pytestmark = pytest.mark.e2e

LOW = "It took far too long and nobody could tell me where my parcel is."
RUDE = "Thanks for nothing, you useless idiot, I will call again tomorrow."  # 'idiot' is on the English list
KIND = "You were wonderful today, thank you for your patience with my questions."
LONG = ("Thank you for taking the time to explain every step of the new contract to me. I was worried, and "
        "you made it simple. I wish every call went like this one.")


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    folder = tmp_path_factory.mktemp("spoken")
    yield {name: speak(text, folder / f"{name}.wav") for name, text in
           (("low", LOW), ("rude", RUDE), ("kind", KIND), ("long", LONG))}


def heard(recording: Path, sound: Path) -> list[float]:
    return find_prompt_times(recording, sound)


def test_a_one_star_message_and_a_word_list_match_are_held_and_the_agent_hears_neither(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent, caller: SipCaller,
        spoken: dict[str, Path]) -> None:
    low = leave_compliment(stack, phones, agent, caller, "1", spoken["low"])
    assert (low.screening, low.reason) == ("held", "rating 1 (at or below 2)")
    rude = leave_compliment(stack, phones, agent, caller, "5", spoken["rude"])
    assert (rude.screening, rude.reason) == ("held", NO_TRANSCRIPT_REASON)
    # What the transcription worker does once it has saved the message's transcript.
    store = open_store(stack.db_url)
    try:
        ComplimentScreener(store, lambda: load_bundle(stack.config_path).post_call.screening) \
            .on_compliment_transcript(rude.id, RUDE, "en")
        follow_ups = ScreeningStore(store).follow_ups()
    finally:
        store.close()
    assert screened(stack, rude.id).reason == "word list (en): idiot"
    assert [f.compliment_id for f in follow_ups] == [low.id]  # the one star goes to the team lead

    line = call_the_line(stack, phones)
    assert contains_prompt(line, stack.prompt_file("agent_compliments_none", "en")).matched
    assert heard(line, spoken["low"]) == [] and heard(line, spoken["rude"]) == []
    assert screened(stack, low.id).compliment.delivered_at is None


def test_after_a_release_the_agent_hears_the_message_once_then_only_among_older_ones(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent, caller: SipCaller,
        spoken: dict[str, Path]) -> None:
    kind = leave_compliment(stack, phones, agent, caller, "4", spoken["kind"])
    assert kind.screening == "held"
    review(stack, "release", str(kind.id), "--by", "Team Lead")

    first = call_the_line(stack, phones)
    assert contains_prompt(first, stack.prompt_file("agent_compliments_one_new", "en")).matched
    assert len(heard(first, spoken["kind"])) == 1
    assert screened(stack, kind.id).compliment.delivered_at is not None

    second = call_the_line(stack, phones, ask_for_older=True)
    # "No new compliments", then the menu (cut short by the 1), then the older one: nothing old before.
    none = stack.prompt_file("agent_compliments_none", "en")
    [no_new] = heard(second, none)
    times = heard(second, spoken["kind"])
    assert len(times) == 1 and times[0] > no_new + seconds_of(none), (no_new, times)
    assert contains_prompt(second, stack.prompt_file("agent_compliments_intro", "en")).matched
    assert heard(second, spoken["low"]) == [] and heard(second, spoken["rude"]) == []  # held ones: not even older


def test_a_message_cut_off_by_the_agent_stays_new_and_a_deleted_message_never_plays(
        stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent, caller: SipCaller,
        spoken: dict[str, Path]) -> None:
    long = leave_compliment(stack, phones, agent, caller, "5", spoken["long"])
    review(stack, "release", str(long.id), "--by", "Team Lead")
    before_message = sum(seconds_of(stack.prompt_file(prompt, "en")) for prompt in
                         ("agent_compliments_one_new", "agent_compliment_rating", "agent_compliment_stars"))
    # The agent hangs up some 4 s into a message of 9 s (1 s for the rating's digit, 1 s of set-up).
    assert seconds_of(spoken["long"]) > 8
    cut = call_the_line(stack, phones, hang_up_after=before_message + 2.0 + 4.0)
    assert contains_prompt(cut, stack.prompt_file("agent_compliment_stars", "en")).matched
    assert heard(cut, spoken["long"]) == []  # not heard to its end
    assert screened(stack, long.id).compliment.delivered_at is None  # cut off: still new

    recording = screened(stack, long.id).compliment.recording
    assert recording is not None and Path(recording).is_file()
    review(stack, "delete", str(long.id), "--by", "Team Lead", "--reason", "the caller asked us to")
    assert not Path(recording).exists()
    after = call_the_line(stack, phones, ask_for_older=True)
    assert contains_prompt(after, stack.prompt_file("agent_compliments_none", "en")).matched
    assert heard(after, spoken["long"]) == []
    assert len(heard(after, spoken["kind"])) == 1  # the older one still plays after 1
