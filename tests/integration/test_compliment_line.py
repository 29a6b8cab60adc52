"""The compliments line over a real FastAGI socket, on the shipped flows and a real store: what
``post_call`` screens, what ``my_compliments`` (``*88``) plays, what it marks delivered, and the older ones
after "press 1". The audio itself is checked on the real Asterisk (``tests/e2e``)."""

from __future__ import annotations

from pathlib import Path

from agi_scripts.policy.screening import ComplimentScreener
from agi_scripts.storage.screening import ScreeningStore
from tests.support.fake_channel import FakeChannel
from tests.support.integration import Stack

AGENT = {"MEMBERNAME": "Member agent1", "MEMBERINTERFACE": "PJSIP/agent1", "BRIDGEPEER": "PJSIP/agent1-00000002",
         "RL_ROUTE": "support", "RL_LANGUAGE": "en", "RL_CAMPAIGN": "thank-you-week-a"}
LINE = {"channel": "PJSIP/agent1-0000000a", "extra": {"agi_language": "en"}}


def leave_compliment(stack: Stack, keys: list[str], uniqueid: str, **channel: object) -> int:
    caller = FakeChannel(dict(AGENT), **channel).press(keys)  # type: ignore[arg-type]
    with stack.call("post_call", uniqueid=uniqueid) as peer:
        caller.serve(peer)
    newest = stack.store.list_compliments(limit=1)[0]
    return newest.id


def call_the_line(stack: Stack, keys: list[str] = (), hang_up_on: str = "") -> FakeChannel:  # type: ignore[assignment]
    line = FakeChannel(hang_up_on=hang_up_on).press(keys)
    with stack.call("my_compliments", **LINE) as peer:
        line.serve(peer)
    return line


def played(line: FakeChannel) -> list[str]:
    return [c[2] for c in line.sent("STREAM")]


def message_of(stack: Stack, compliment_id: int) -> str:
    recording = stack.store.get_compliment(compliment_id).recording  # type: ignore[union-attr]
    assert recording is not None
    return str(Path(recording).with_suffix(""))


def test_a_low_rating_and_an_untranscribed_message_are_held_and_the_line_plays_neither(stack: Stack) -> None:
    low = leave_compliment(stack, ["1", "1", "1"], "1700000000.51")
    kind = leave_compliment(stack, ["1", "5", "1"], "1700000000.52")
    screening = ScreeningStore(stack.store)
    assert screening.get(low).screening == "held"  # type: ignore[union-attr]
    assert screening.get(kind).screening == "held"  # type: ignore[union-attr]  # transcription is off
    assert [f.compliment_id for f in screening.follow_ups()] == [low]
    line = call_the_line(stack)
    assert played(line)[:2] == ["respectline/en/agent_compliments_none", "respectline/en/agent_compliments_older_offer"]
    assert not any("compliments/" in sound for sound in played(line))
    assert stack.store.get_compliment(kind).delivered_at is None  # type: ignore[union-attr]


def test_after_a_release_the_line_plays_the_message_once_then_offers_it_among_older_ones(stack: Stack) -> None:
    kind = leave_compliment(stack, ["1", "4", "1"], "1700000000.53")
    ScreeningStore(stack.store).release(kind, by="Lead", role="cli")
    first = call_the_line(stack)
    assert played(first)[0] == "respectline/en/agent_compliments_one_new"
    assert played(first).count(message_of(stack, kind)) == 1
    assert [c[2] for c in first.sent("SAY")] == ["4"]  # the rating
    assert stack.store.get_compliment(kind).delivered_at is not None  # type: ignore[union-attr]
    second = call_the_line(stack)  # no key: nothing old before or after the menu
    assert played(second) == ["respectline/en/agent_compliments_none", "respectline/en/agent_compliments_older_offer"]
    older = call_the_line(stack, keys=["1"])
    assert played(older)[2:] == ["respectline/en/agent_compliments_intro", "respectline/en/agent_compliment_rating",
                                 "respectline/en/agent_compliment_stars", message_of(stack, kind)]


def test_the_line_says_how_many_and_marks_each_one_heard_to_its_end(stack: Stack) -> None:
    screening = ScreeningStore(stack.store)
    ids = [leave_compliment(stack, ["1", "5", "1"], f"1700000000.6{n}") for n in range(3)]
    for compliment_id in ids:
        screening.release(compliment_id, by="Lead", role="cli")
    # The agent hangs up during the second message: the first is heard, the second and third stay new.
    line = call_the_line(stack, hang_up_on=f"STREAM FILE {message_of(stack, ids[1])}")
    assert played(line)[0] == "respectline/en/agent_compliments_you_have"
    assert [c[2] for c in line.sent("SAY")][0] == "3"
    delivered = [stack.store.get_compliment(i).delivered_at is not None for i in ids]  # type: ignore[union-attr]
    assert delivered == [True, False, False]
    again = call_the_line(stack)
    assert [c[2] for c in again.sent("SAY")][0] == "2"
    assert all(stack.store.get_compliment(i).delivered_at is not None for i in ids)  # type: ignore[union-attr]


def test_a_deleted_message_never_plays_and_its_file_is_gone(stack: Stack) -> None:
    rude = leave_compliment(stack, ["1", "5", "1"], "1700000000.71")
    sound = message_of(stack, rude)
    screening = ScreeningStore(stack.store)
    _, recording = screening.delete(rude, by="Lead", role="cli", reason="insults")
    assert recording is not None
    Path(recording).unlink()
    line = call_the_line(stack, keys=["1"])
    assert sound not in played(line)
    assert "respectline/en/agent_compliments_no_older" in played(line)


def test_a_transcript_with_a_listed_word_keeps_a_message_away_from_the_agent(stack: Stack) -> None:
    """With transcription on, a message waits for its transcript; the worker's callback decides."""
    config = stack.tree.config
    config.write_text(config.read_text() + "\ntranscription:\n  model: base\n")  # a name: nothing is loaded here
    assert stack.server.reload()
    kind = leave_compliment(stack, ["1", "5", "1"], "1700000000.81")
    rude = leave_compliment(stack, ["1", "5", "1"], "1700000000.82")
    screening = ScreeningStore(stack.store)
    assert [c.screening for c in screening.review_list()] == ["pending_transcript", "pending_transcript"]
    assert "agent_compliments_none" in played(call_the_line(stack))[0]  # nothing before its transcript
    # What the transcription worker does after saving each transcript (its real run is tested with it).
    screener = ComplimentScreener(stack.store, lambda: stack.server.server.bundles.current.post_call.screening)
    screener.on_compliment_transcript(kind, "Thank you, you were great", "en")
    screener.on_compliment_transcript(rude, "Thanks for nothing, you idiot", "en")
    line = call_the_line(stack)
    assert message_of(stack, kind) in played(line) and message_of(stack, rude) not in played(line)
    assert screening.get(rude).reason == "word list (en): idiot"  # type: ignore[union-attr]


def test_a_message_asterisk_cannot_play_stays_new_and_does_not_hold_back_the_next(stack: Stack) -> None:
    screening = ScreeningStore(stack.store)
    broken, fine = (leave_compliment(stack, ["1", "5", "1"], f"1700000000.9{n}") for n in range(2))
    for compliment_id in (broken, fine):
        screening.release(compliment_id, by="Lead", role="cli")
    # As Asterisk answers STREAM FILE for a file it cannot open: result -1 on a live channel.
    line = FakeChannel(unplayable=message_of(stack, broken))
    with stack.call("my_compliments", **LINE) as peer:
        line.serve(peer)
    assert message_of(stack, fine) in played(line)
    assert stack.store.get_compliment(broken).delivered_at is None  # type: ignore[union-attr]
    assert stack.store.get_compliment(fine).delivered_at is not None  # type: ignore[union-attr]
