"""The agent's own line (``agent_line``, ``*89``) and the listen-in key (``listen_in``, ``*4``) over a real
FastAGI socket, on the shipped flows and a real store: what each key does in Asterisk (the commands sent)
and in the store, a hostile channel name, a double press, nothing pressed. Ringing people and the audio are
checked on the real Asterisk (``tests/e2e/test_aftercare.py``)."""

from __future__ import annotations

from datetime import timedelta

from agi_scripts.storage.base import utc_now
from agi_scripts.storage.checkins import CheckInBook
from tests.support.fake_channel import FakeChannel
from tests.support.integration import Stack

LINE = {"channel": "PJSIP/agent1-0000000a", "extra": {"agi_language": "en"}}


def call(stack: Stack, script: str, keys: list[str], **environment: object) -> FakeChannel:
    channel = FakeChannel().press(keys)
    with stack.call(script, **(environment or LINE)) as peer:
        channel.serve(peer)
    return channel


def execs(channel: FakeChannel) -> list[str]:
    return [" ".join(c[1:]) for c in channel.sent("EXEC")]


def played(channel: FakeChannel) -> list[str]:
    return [c[2] for c in channel.sent("STREAM")]


def test_key_1_pauses_in_asterisk_and_extends_the_pause_in_force(stack: Stack) -> None:
    paused = stack.store.record_pause(agent="PJSIP/agent1", queues=["support"], reason="recovery",
                                      paused_at=utc_now(), resume_at=utc_now() + timedelta(minutes=5))
    line = call(stack, "agent_line", ["1"])
    assert execs(line) == ["PauseQueueMember ,PJSIP/agent1,,Respectline: the agent asked for more time"]
    assert played(line) == ["respectline/en/agent_line_menu", "respectline/en/agent_line_extended"]
    [pause] = stack.store.active_pauses()
    assert pause.id == paused.id and pause.resume_at is not None
    assert pause.resume_at - paused.paused_at >= timedelta(minutes=14, seconds=59)


def test_key_2_unpauses_and_ends_every_pause_of_the_agent_only(stack: Stack) -> None:
    for agent in ("PJSIP/agent1", "PJSIP/agent1", "PJSIP/agent2"):
        stack.store.record_pause(agent=agent, queues=["support"], reason="recovery", paused_at=utc_now(),
                                 resume_at=utc_now() + timedelta(minutes=5))
    line = call(stack, "agent_line", ["2"])
    assert execs(line) == ["UnpauseQueueMember ,PJSIP/agent1"]
    assert [p.agent for p in stack.store.active_pauses()] == ["PJSIP/agent2"]


def test_key_3_books_a_check_in_for_the_roster(stack: Stack) -> None:
    line = call(stack, "agent_line", ["3"])
    assert played(line)[-1] == "respectline/en/agent_line_someone_calls"
    book = CheckInBook(stack.store)
    [claimed] = book.claim_due("test", now=utc_now() + timedelta(seconds=1))
    assert (claimed.reason, claimed.agent, claimed.agent_endpoint, claimed.roster) == (
        "agent_asked", "Agent One", "PJSIP/agent1", "duty")


def test_no_key_or_another_key_changes_nothing(stack: Stack) -> None:
    for keys in ([""], ["9"]):
        line = call(stack, "agent_line", keys)
        assert execs(line) == []
    assert stack.store.active_pauses() == []
    assert CheckInBook(stack.store).claim_due("test", now=utc_now() + timedelta(seconds=1)) == []


def test_a_channel_that_is_no_device_is_refused(stack: Stack) -> None:
    line = call(stack, "agent_line", ["1"], channel="Local/x@y;1,foo", extra={"agi_language": "en"})
    assert execs(line) == [] and played(line) == []


def test_listen_in_books_one_request_with_the_agents_channel_and_tells_the_agent(stack: Stack) -> None:
    first = call(stack, "listen_in", [], channel="PJSIP/agent1-0000002a", uniqueid="1700000000.7",
                 extra={"agi_language": "en"})
    again = call(stack, "listen_in", [], channel="PJSIP/agent1-0000002a", uniqueid="1700000000.7",
                 extra={"agi_language": "en"})
    assert played(first) == played(again) == ["respectline/en/listen_in_asked"]
    [request] = CheckInBook(stack.store).claim_due("test", now=utc_now() + timedelta(seconds=1))
    assert (request.reason, request.spy_channel, request.agent, request.roster) == (
        "listen_in", "PJSIP/agent1-0000002a", "Agent One", "duty")


def test_listen_in_refuses_a_channel_name_chanspy_would_read_as_more(stack: Stack) -> None:
    for channel in ("PJSIP/agent1-0000002a,qB", "PJSIP/agent1", "PJSIP/agent1-xyz"):
        line = call(stack, "listen_in", [], channel=channel, extra={"agi_language": "en"})
        assert played(line) == []
    assert CheckInBook(stack.store).claim_due("test", now=utc_now() + timedelta(seconds=1)) == []
