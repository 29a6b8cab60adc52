"""screen, post_call and flag over a real FastAGI socket, on the shipped flows and a real store."""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path

import pytest

from agi_scripts.config.settings import AmiSettings
from agi_scripts.policy.pauses import PauseKeeper
from agi_scripts.storage.base import StoreError
from agi_scripts.storage.outbox import Outbox
from agi_scripts.storage.screening import ScreeningStore
from tests.support.integration import Stack
from tests.support.fake_channel import FakeChannel
from tests.support.agi_peer import HOSTILE_CALLER_NAME

AGENT = {"MEMBERNAME": "Member agent1", "MEMBERINTERFACE": "PJSIP/agent1", "BRIDGEPEER": "PJSIP/agent1-00000002",
         "RL_ROUTE": "support", "RL_LANGUAGE": "nl", "RL_CAMPAIGN": "thank-you-week-a"}


def test_screen_routes_to_the_dialled_queue_and_records_the_call(stack: Stack) -> None:
    channel = FakeChannel()
    with stack.call("screen", args=["support"], uniqueid="1700000000.11",
                    extra={"agi_language": "fr"}) as peer:
        channel.serve(peer)
    assert channel.variables["RL_ROUTE"] == "support"
    assert channel.variables["RL_LANGUAGE"] == "fr"
    assert channel.variables["RL_NOTICE"] == ""
    call = stack.store.get_call("1700000000.11")
    assert call is not None and call.queue == "support" and call.caller == "+32471234512"
    assert (call.campaign or "") == channel.variables["RL_CAMPAIGN"]


def test_screen_sends_a_caller_with_an_open_case_to_the_team(stack: Stack) -> None:
    stack.store.open_case(category="threat", team="security", priority=1, caller="+32471234512",
                          agent="PJSIP/agent1", queue="support", call_id="1699999999.1")
    channel = FakeChannel()
    with stack.call("screen", args=["billing"]) as peer:
        channel.serve(peer)
    assert channel.variables["RL_ROUTE"] == "security"
    assert channel.variables["RL_NOTICE"] == "respectline/nl/routed_security"
    assert channel.variables["RL_OFFER_COMPLIMENT"] == "0"
    assert channel.variables["RL_MUSICCLASS"] == ""


def test_screen_lets_the_call_through_when_the_store_fails(stack: Stack, caplog: pytest.LogCaptureFixture,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise StoreError("disk full")

    monkeypatch.setattr(type(stack.store), "open_case_for_caller", broken)
    monkeypatch.setattr(type(stack.store), "record_call_start", broken)
    channel = FakeChannel()
    with caplog.at_level(logging.ERROR), stack.call("screen", args=["support"]) as peer:
        channel.serve(peer)
    assert channel.variables["RL_ROUTE"] == "support"
    assert "store unavailable" in caplog.text


def test_screen_leaves_an_unknown_queue_alone(stack: Stack) -> None:
    channel = FakeChannel()
    with stack.call("screen", args=["sales"]) as peer:
        channel.serve(peer)
    assert channel.sent("SET") == []


def test_hostile_caller_id_is_neither_stored_nor_sent_back(stack: Stack) -> None:
    channel = FakeChannel()
    with stack.call("screen", args=["support"], callerid='0471"\nEXEC System "id', uniqueid="1700000000.12",
                    calleridname=HOSTILE_CALLER_NAME) as peer:
        channel.serve(peer)
    assert all(c[0].upper() in ("SET", "GET") for c in channel.commands)
    call = stack.store.get_call("1700000000.12")
    assert call is not None and call.caller == ""


def test_caller_leaves_a_five_star_compliment_with_a_message(stack: Stack) -> None:
    channel = FakeChannel(dict(AGENT)).press(["1", "5", "1"])
    with stack.call("post_call", uniqueid="1700000000.21") as peer:
        channel.serve(peer)
    [compliment] = stack.store.list_compliments(agent="Agent One")
    assert compliment.rating == 5 and compliment.queue == "support"
    assert compliment.campaign == "thank-you-week-a"
    assert compliment.recording is not None and Path(compliment.recording).is_file()
    played = [c[2] for c in channel.sent("STREAM")]
    assert played[-1] == "respectline/nl/compliment_thanks"
    events = [c for c in channel.sent("EXEC") if c[1] == "UserEvent"]
    assert events and events[0][2].startswith("RespectlineCompliment,Agent: Agent One")
    assert "Rating: 5" in events[0][2]


def test_silent_recording_is_discarded_and_the_rating_kept(stack: Stack) -> None:
    channel = FakeChannel(dict(AGENT), voice=False).press(["1", "4", "1"])
    with stack.call("post_call", uniqueid="1700000000.22") as peer:
        channel.serve(peer)
    [compliment] = stack.store.list_compliments()
    assert compliment.rating == 4 and compliment.recording is None
    [record] = channel.sent("RECORD")
    assert not Path(record[2] + ".wav").exists()


def test_caller_hanging_up_right_after_speaking_keeps_the_message_and_it_is_announced(stack: Stack) -> None:
    channel = FakeChannel(dict(AGENT), hang_up_on="RECORD FILE").press(["1", "3", "1"])
    with stack.call("post_call", uniqueid="1700000000.23") as peer:
        channel.serve(peer)
    [compliment] = stack.store.list_compliments()
    assert compliment.rating == 3
    assert compliment.recording is not None and Path(compliment.recording).is_file()
    [event] = [c for c in channel.sent("EXEC") if c[1] == "UserEvent"]
    assert event[2].startswith("RespectlineCompliment,Agent: Agent One") and "Recording: yes" in event[2]
    assert not [c for c in channel.commands[channel.commands.index(event):] if c[0] == "STREAM"]


def test_silence_then_hang_up_keeps_no_recording_and_announces_the_rating(stack: Stack) -> None:
    channel = FakeChannel(dict(AGENT), voice=False, hang_up_on="RECORD FILE").press(["1", "2", "1"])
    with stack.call("post_call", uniqueid="1700000000.25") as peer:
        channel.serve(peer)
    [compliment] = stack.store.list_compliments()
    assert compliment.rating == 2 and compliment.recording is None
    [record] = channel.sent("RECORD")
    assert not Path(record[2] + ".wav").exists()
    [event] = [c for c in channel.sent("EXEC") if c[1] == "UserEvent"]
    assert "Rating: 2" in event[2] and "Recording: no" in event[2]


def test_hang_up_during_the_rating_prompt_stores_no_rating_and_announces_nothing(stack: Stack) -> None:
    channel = FakeChannel(dict(AGENT), hang_up_on="STREAM FILE respectline/nl/compliment_rate").press(["1"])
    with stack.call("post_call", uniqueid="1700000000.26") as peer:
        channel.serve(peer)
    assert [c.rating for c in stack.store.list_compliments()] == [None]
    assert not [c for c in channel.sent("EXEC") if c[1] == "UserEvent"]


def test_caller_who_does_not_answer_hears_goodbye_and_nothing_is_stored(stack: Stack) -> None:
    channel = FakeChannel(dict(AGENT))
    with stack.call("post_call", uniqueid="1700000000.24") as peer:
        channel.serve(peer)
    assert stack.store.list_compliments() == []
    assert [c[2] for c in channel.sent("STREAM")][-1] == "respectline/nl/compliment_goodbye"


def test_first_verbal_flag_warns_the_caller_and_starts_the_evidence_recording(stack: Stack) -> None:
    channel = FakeChannel(dict(AGENT))
    with stack.call("flag?category=verbal_abuse", uniqueid="1700000000.31") as peer:
        channel.serve(peer)
    played = [c[2] for c in channel.sent("STREAM")]
    assert played == ["respectline/nl/recording_notice", "respectline/nl/abuse_warning"]
    [mixmonitor] = [c for c in channel.sent("EXEC") if c[1] == "MixMonitor"]
    assert mixmonitor[2].endswith("1700000000.31.wav")
    assert channel.sent("HANGUP") == []
    assert stack.store.list_cases() == []
    assert channel.variables["RL_OFFER_COMPLIMENT"] == "0"  # no compliment asked of a flagged caller


def test_second_verbal_flag_disconnects_opens_a_case_and_pauses_the_agent(stack: Stack) -> None:
    stack.tree.replace("flows/abuse_policy.yaml", "dedupe_window: 3s", "dedupe_window: 0s")
    assert stack.server.reload()
    variables = dict(AGENT)
    for _flag in range(2):
        channel = FakeChannel(variables)
        with stack.call("flag?category=verbal_abuse", uniqueid="1700000000.32") as peer:
            channel.serve(peer)
        # What the first flag set (RL_EVIDENCE) stays on the caller's channel for the second.
        variables = channel.variables
    assert [c[2] for c in channel.sent("STREAM")] == ["respectline/nl/abuse_closing"]
    assert channel.sent("HANGUP") == [["HANGUP"]]
    [case] = stack.store.list_cases()
    assert (case.team, case.category, case.caller, case.agent) == (
        "special_care", "verbal_abuse", "+32471234512", "Agent One")
    assert case.recording and case.recording.endswith("1700000000.32.wav")
    actions = [e.action for e in case.events]
    assert actions[:2] == ["warn", "case_opened"]  # the first flag's warning leads the case's timeline
    assert "agent_paused" in actions and "disconnect" in actions
    pause = [c for c in channel.sent("EXEC") if c[1] == "PauseQueueMember"]
    assert pause and pause[0][2].startswith(",PJSIP/agent1,,")
    due = stack.store.due_pauses(dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=6))
    assert [p.agent for p in due] == ["PJSIP/agent1"]


def test_a_double_press_counts_once(stack: Stack) -> None:
    variables = dict(AGENT)
    for _ in range(2):
        channel = FakeChannel(variables)
        with stack.call("flag?category=verbal_abuse", uniqueid="1700000000.33") as peer:
            channel.serve(peer)
        variables = channel.variables  # one caller's channel, pressed twice within the dedupe window
    assert channel.sent("STREAM") == []
    assert len(stack.store.list_incidents(call_id="1700000000.33")) == 1


def test_threat_goes_straight_to_disconnect_and_security(stack: Stack) -> None:
    channel = FakeChannel(dict(AGENT))
    with stack.call("flag", args=["threat"], uniqueid="1700000000.34") as peer:
        channel.serve(peer)
    assert [c[2] for c in channel.sent("STREAM")][-1] == "respectline/nl/abuse_closing_threat"
    assert channel.sent("HANGUP") == [["HANGUP"]]
    [case] = stack.store.list_cases()
    assert case.team == "security" and case.priority == 1


def test_the_agents_line_knows_the_agent_by_the_device_not_by_the_caller_id_name(stack: Stack) -> None:
    first = stack.store.start_compliment("1700000000.31", agent="Agent One", queue="support", campaign=None)
    stack.store.set_compliment_rating(first, 5)
    # Screened as the end of the caller's flow screens a good rating without a message: released.
    assert ScreeningStore(stack.store).screen(first, "released", "rating only", only_from=["unscreened"])
    # Another agent's phone calling itself "Agent One" hears nothing of Agent One's and marks nothing.
    forged = FakeChannel()
    with stack.call("my_compliments", channel="PJSIP/agent2-00000009", calleridname="Agent One") as peer:
        forged.serve(peer)
    assert [c[2] for c in forged.sent("STREAM")] == ["respectline/nl/agent_compliments_none",
                                                     "respectline/nl/agent_compliments_older_offer"]
    assert stack.store.get_compliment(first).delivered_at is None  # type: ignore[union-attr]
    # Agent One's own phone, whatever name it shows, hears it.
    own = FakeChannel()
    with stack.call("my_compliments", channel="PJSIP/agent1-0000000a", calleridname="Desk 7") as peer:
        own.serve(peer)
    assert "respectline/nl/agent_compliments_one_new" in [c[2] for c in own.sent("STREAM")]
    assert stack.store.get_compliment(first).delivered_at is not None  # type: ignore[union-attr]


def test_an_evidence_folder_that_cannot_be_created_still_warns_then_disconnects_and_pauses(
        stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    """A read-only, full or unmounted recordings share: the agent is protected all the same."""
    stack.tree.replace("flows/abuse_policy.yaml", "dedupe_window: 3s", "dedupe_window: 0s")
    assert stack.server.reload()
    recordings = stack.bundle.settings.recordings_dir
    recordings.parent.mkdir(parents=True, exist_ok=True)
    recordings.write_text("a file where the evidence folder should be")  # mkdir fails like on a broken share
    variables = dict(AGENT)
    with caplog.at_level(logging.ERROR):
        first = FakeChannel(variables)
        with stack.call("flag?category=verbal_abuse", uniqueid="1700000000.41") as peer:
            first.serve(peer)
        second = FakeChannel(first.variables)
        with stack.call("flag?category=verbal_abuse", uniqueid="1700000000.41") as peer:
            second.serve(peer)
    assert [c[2] for c in first.sent("STREAM")] == ["respectline/nl/abuse_warning"]
    assert not [c for c in first.sent("EXEC") if c[1] == "MixMonitor"]
    assert [c[2] for c in second.sent("STREAM")] == ["respectline/nl/abuse_closing"]
    assert second.sent("HANGUP") == [["HANGUP"]]
    assert [c for c in second.sent("EXEC") if c[1] == "PauseQueueMember"]
    [case] = stack.store.list_cases()
    assert case.recording is None
    assert "evidence folder" in caplog.text


def test_a_member_interface_with_a_line_break_is_neither_paused_nor_stored(stack: Stack) -> None:
    stack.tree.replace("flows/abuse_policy.yaml", "dedupe_window: 3s", "dedupe_window: 0s")
    assert stack.server.reload()
    variables = {**AGENT, "MEMBERINTERFACE": "PJSIP/agent1\rForged: yes"}
    for _flag in range(2):
        channel = FakeChannel(variables)
        with stack.call("flag?category=verbal_abuse", uniqueid="1700000000.42") as peer:
            channel.serve(peer)
        variables = channel.variables
    assert channel.sent("HANGUP") == [["HANGUP"]]  # the caller is still disconnected
    assert not [c for c in channel.sent("EXEC") if c[1] == "PauseQueueMember"]
    assert stack.store.active_pauses() == []


def test_a_forged_route_or_campaign_cannot_add_fields_to_the_compliment_event(stack: Stack) -> None:
    variables = {**AGENT, "RL_ROUTE": "support,Agent: Someone Else", "RL_CAMPAIGN": "x,Rating: 1"}
    channel = FakeChannel(variables).press(["1", "5", "2"])
    with stack.call("post_call", uniqueid="1700000000.27") as peer:
        channel.serve(peer)
    [event] = [c for c in channel.sent("EXEC") if c[1] == "UserEvent"]
    assert event[2].count("Agent:") == 1 and event[2].count("Rating:") == 1
    [compliment] = stack.store.list_compliments()
    assert compliment.queue == "" and compliment.campaign is None and compliment.rating == 5


def test_with_the_store_down_the_ladder_still_climbs_and_the_flags_are_booked_once_when_it_is_back(
        stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    stack.tree.replace("flows/abuse_policy.yaml", "dedupe_window: 3s", "dedupe_window: 0s")
    assert stack.server.reload()

    def down(*_args: object, **_kwargs: object) -> None:
        raise StoreError("database is locked")

    variables = dict(AGENT)
    heard = []
    with caplog.at_level(logging.INFO), monkeypatch.context() as outage:
        outage.setattr(type(stack.store), "book_escalation", down)
        for _flag in range(2):
            channel = FakeChannel(variables)
            with stack.call("flag?category=verbal_abuse", uniqueid="1700000000.51") as peer:
                channel.serve(peer)
            heard.append([c[2] for c in channel.sent("STREAM") if "recording_notice" not in c[2]])
            variables = channel.variables  # the channel keeps RL_FLAGS between the two presses
    assert heard == [["respectline/nl/abuse_warning"], ["respectline/nl/abuse_closing"]]
    assert channel.sent("HANGUP") == [["HANGUP"]]
    assert [c for c in channel.sent("EXEC") if c[1] == "PauseQueueMember"]
    assert "kept in the outbox" in caplog.text and "store=down" in caplog.text
    assert "case_opened" not in caplog.text  # nothing is reported done that was not
    assert not [c for c in channel.sent("EXEC") if c[1] == "UserEvent" and "RespectlineCase" in c[2]]
    assert stack.store.list_incidents() == [] and stack.store.list_cases() == []

    # The store answers again: the server's keeper books both flags from the outbox, once.
    outbox = Outbox(stack.bundle.settings.spool_dir)
    keeper = PauseKeeper(stack.store, AmiSettings(), outbox=outbox,
                         clock=lambda: dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=2))
    keeper.lift_due()
    keeper.lift_due()
    assert [(i.number_in_call, i.action) for i in stack.store.list_incidents()] == [(1, "warn"), (2, "disconnect")]
    [case] = stack.store.list_cases()
    assert [e.action for e in case.events][:2] == ["warn", "case_opened"]
    assert "agent_paused" in [e.action for e in case.events]
    assert [p.agent for p in stack.store.active_pauses()] == ["PJSIP/agent1"]
    assert len(outbox) == 0


def test_with_the_store_down_a_double_press_still_counts_once(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*_args: object, **_kwargs: object) -> None:
        raise StoreError("database is locked")

    monkeypatch.setattr(type(stack.store), "book_escalation", down)
    variables = dict(AGENT)
    streams = []
    for _press in range(2):  # within the 3 s dedupe window
        channel = FakeChannel(variables)
        with stack.call("flag?category=verbal_abuse", uniqueid="1700000000.52") as peer:
            channel.serve(peer)
        streams.append([c[2] for c in channel.sent("STREAM")])
        variables = channel.variables
    assert "respectline/nl/abuse_warning" in streams[0] and streams[1] == []


@pytest.mark.parametrize("forged", ["/etc/passwd", "{recordings}/evidence/2026/01/1699999999.9.wav",
                                    "{recordings}/evidence/2026/01/../../../secret.wav"])
def test_a_forged_evidence_path_on_the_channel_never_becomes_a_cases_recording(stack: Stack, forged: str) -> None:
    stack.tree.replace("flows/abuse_policy.yaml", "dedupe_window: 3s", "dedupe_window: 0s")
    assert stack.server.reload()
    variables = {**AGENT, "RL_EVIDENCE": forged.format(recordings=stack.bundle.settings.recordings_dir)}
    for _flag in range(2):
        channel = FakeChannel(variables)
        with stack.call("flag?category=verbal_abuse", uniqueid="1700000000.61") as peer:
            channel.serve(peer)
        variables = channel.variables
    [case] = stack.store.list_cases()
    # The forged value is ignored: the first flag starts this call's own evidence recording.
    expected = stack.bundle.settings.recordings_dir / "evidence"
    assert case.recording is not None and case.recording.startswith(f"{expected}/")
    assert case.recording.endswith("/1700000000.61.wav") and "/../" not in case.recording


def test_with_several_asterisk_hosts_a_call_id_without_a_system_name_is_logged_and_the_agent_still_protected(
        stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    stack.tree.replace("config/respectline.yaml", "queues: [support, billing]",
                       "asterisk_hosts: [pbx-gent, pbx-gent-2]\nqueues: [support, billing]")
    assert stack.server.reload()
    with caplog.at_level(logging.ERROR):
        named = FakeChannel(dict(AGENT))
        with stack.call("flag?category=threat", uniqueid="pbx-gent-2-1700000000.71") as peer:
            named.serve(peer)
        assert "asterisk_hosts" not in caplog.text
        unnamed = FakeChannel(dict(AGENT))
        with stack.call("flag?category=threat", uniqueid="1700000000.72") as peer:
            unnamed.serve(peer)
    assert "call id 1700000000.72 carries none of the system names in asterisk_hosts" in caplog.text
    assert unnamed.sent("HANGUP") == [["HANGUP"]]  # the agent's protection comes first
    assert {c.call_id for c in stack.store.list_cases()} == {"pbx-gent-2-1700000000.71", "1700000000.72"}


def test_the_case_is_in_the_store_while_the_caller_still_hears_the_closing(stack: Stack) -> None:
    """The booking runs beside the prompt, so Special Care's inbox has the case before the call ends."""
    seen_during_prompt: list[int] = []

    class SlowPrompt(FakeChannel):
        def answer(self, argv: list[str]) -> str:
            if argv[:3] == ["STREAM", "FILE", "respectline/nl/abuse_closing_threat"]:
                deadline = time.monotonic() + 3.0
                while time.monotonic() < deadline and not stack.store.list_cases():
                    time.sleep(0.02)  # the prompt "plays": Asterisk has not answered yet
                seen_during_prompt.append(len(stack.store.list_cases()))
            return super().answer(argv)

    channel = SlowPrompt(dict(AGENT))
    with stack.call("flag", args=["threat"], uniqueid="1700000000.81") as peer:
        channel.serve(peer)
    assert seen_during_prompt == [1]
    assert channel.sent("HANGUP") == [["HANGUP"]]


def test_a_flag_reads_the_channel_in_one_command_before_the_caller_hears_anything(stack: Stack) -> None:
    """Each command before the warning is a round trip the caller waits for on a busy Asterisk."""
    channel = FakeChannel(dict(AGENT))
    with stack.call("flag", args=["threat"], uniqueid="1700000000.91") as peer:
        channel.serve(peer)
    first_stream = next(i for i, c in enumerate(channel.commands) if c[:2] == ["STREAM", "FILE"])
    before = [" ".join(c[:2]) for c in channel.commands[:first_stream]]
    assert before == ["GET FULL", "EXEC PauseQueueMember"], before  # the variables, then the pause
    assert channel.variables["RL_FLAGS"].startswith("threat:1:")  # remembered after the prompt all the same


def test_a_channel_value_holding_the_separator_is_read_one_variable_at_a_time(stack: Stack) -> None:
    channel = FakeChannel({**AGENT, "RL_ROUTE": "support|~|billing"})
    with stack.call("flag?category=verbal_abuse", uniqueid="1700000000.92") as peer:
        channel.serve(peer)
    assert [c[2] for c in channel.sent("GET") if c[1] == "VARIABLE"][:2] == ["MEMBERINTERFACE", "RL_EVIDENCE"]
    assert "respectline/nl/abuse_warning" in [c[2] for c in channel.sent("STREAM")]


def test_a_caller_who_hangs_up_as_the_agent_flags_a_threat_still_leaves_the_agent_paused_and_a_case(
        stack: Stack) -> None:
    channel = FakeChannel(dict(AGENT), hang_up_on="GET FULL VARIABLE")
    with stack.call("flag", args=["threat"], uniqueid="1700000000.95") as peer:
        channel.serve(peer)
    assert [c for c in channel.sent("EXEC") if c[1] == "PauseQueueMember"]  # sent on the dead channel
    [case] = stack.store.list_cases()
    assert case.team == "security" and "agent_paused" in [e.action for e in case.events]
    assert [p.agent for p in stack.store.active_pauses()] == ["PJSIP/agent1"]
