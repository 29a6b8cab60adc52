"""The abuse ladder as an engine: protect first, book second, announce only what was booked; no sockets."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import pytest

from agi_scripts.flows.abuse_policy import AbusePolicy, load_abuse_policy
from agi_scripts.flows.ladder import (CallerGone, Evidence, FlaggedCall, FlagMemory, FlagsOfACategory, LadderTrace,
                                     run_ladder)
from agi_scripts.ground.errors import ConfigError
from agi_scripts.storage.base import Escalation, EscalationBooked

SHIPPED = Path(__file__).resolve().parents[2] / "flows" / "abuse_policy.yaml"
T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def policy() -> AbusePolicy:
    errors: list[ConfigError] = []
    loaded = load_abuse_policy(SHIPPED, errors)
    assert errors == []
    return loaded


class Journal:
    """One ordered list of everything the engine did, across the call, the book and the notifier."""

    def __init__(self) -> None:
        self.steps: list[str] = []


class ScriptedChannel:
    def __init__(self, journal: Journal, *, gone_at: str = "", evidence: str | None = "/rec/evidence/c1.wav") -> None:
        self.journal, self.gone_at, self.evidence = journal, gone_at, evidence
        self.adopted: str | None = "/rec/evidence/c1.wav"
        self.share_slow = self.share_hung = False
        self.flags = ""
        self.events: list[tuple[str, dict[str, str]]] = []

    def remember(self, flags: str) -> None:
        self.flags = flags
        self.journal.steps.append("remember")

    def no_compliment_offer(self) -> None:
        self.journal.steps.append("no_compliment_offer")

    def start_evidence(self, adopt: bool) -> ScriptedEvidence:
        self.journal.steps.append("adopt" if adopt else "prepare_evidence")
        return ScriptedEvidence(self, adopt)

    def start_recording(self, evidence: str) -> None:
        self.journal.steps.append(f"record {evidence}")

    def pause_agent(self, interface: str, reason: str) -> None:
        self.journal.steps.append(f"pause {interface}")

    def play(self, prompt_id: str) -> None:
        self.journal.steps.append(f"play {prompt_id}")
        if self.gone_at == "play":
            raise CallerGone

    def hang_up(self) -> None:
        self.journal.steps.append("hang_up")

    def send_to_queue(self, queue: str) -> None:
        self.journal.steps.append(f"send_to {queue}")

    def announce(self, event: str, fields: Sequence[tuple[str, str]]) -> None:
        self.journal.steps.append(f"announce {event}")
        self.events.append((event, dict(fields)))


class ScriptedEvidence:
    """The share's answer as the channel was scripted: at once, or (``share_slow``) only after the
    caller's prompt, or (``share_hung``) never."""

    def __init__(self, channel: ScriptedChannel, adopt: bool) -> None:
        self.channel, self.adopt = channel, adopt

    def ready(self, within: float) -> Evidence | None:
        channel = self.channel
        asked_late = "share not answered yet" in channel.journal.steps
        if channel.share_hung or (channel.share_slow and not asked_late):
            channel.journal.steps.append("share not answered yet")
            return None
        channel.journal.steps.append("share answered" if asked_late else "share answered at once")
        if self.adopt and channel.adopted:
            return Evidence(channel.adopted)
        return Evidence(channel.evidence, to_record=True) if channel.evidence else Evidence()

    def no_answer(self) -> Evidence:
        self.channel.journal.steps.append("share never answered")
        return Evidence(self.channel.adopted or "") if self.adopt else Evidence()


class ScriptedBook:
    def __init__(self, journal: Journal, *, store_down: bool = False, already: bool = False) -> None:
        self.journal, self.store_down, self.already = journal, store_down, already
        self.held: list[Escalation] = []
        self.booked: list[Escalation] = []

    def hold(self, escalation: Escalation) -> None:
        self.journal.steps.append("hold")
        self.held.append(escalation)

    def amend(self, escalation: Escalation) -> None:
        self.journal.steps.append("amend")
        self.held[-1] = escalation

    def book(self, escalation: Escalation) -> ScriptedBooking:
        self.journal.steps.append("book")
        if self.store_down:
            return ScriptedBooking(self.journal, None)
        self.booked.append(escalation)
        return ScriptedBooking(self.journal, EscalationBooked(
            incident_id=7, case_id=42 if escalation.case else None, pause_id=None, already=self.already))


class ScriptedBooking:
    def __init__(self, journal: Journal, booked: EscalationBooked | None) -> None:
        self.journal, self.booked = journal, booked

    def outcome(self) -> EscalationBooked | None:
        self.journal.steps.append("booked" if self.booked else "not booked")
        return self.booked


class ScriptedMail:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def case_opened(self, escalation: Escalation, case_id: int, priority: str) -> None:
        self.journal.steps.append(f"mail case {case_id} {priority}")

    def agent_paused(self, escalation: Escalation, case_id: int | None) -> None:
        self.journal.steps.append(f"mail pause case={case_id}")


def call(*, seconds: float = 0.0, interface: str = "PJSIP/agent1", evidence: str = "") -> FlaggedCall:
    return FlaggedCall(call_id="c1", agent="Agent One", member_interface=interface, caller="+32471234512",
                       queue="support", evidence=evidence, at=T0 + dt.timedelta(seconds=seconds))


def flag(policy: AbusePolicy, category: str, memory: FlagMemory, *, seconds: float = 0.0, handling: float = 0.0,
         channel: ScriptedChannel | None = None, book: ScriptedBook | None = None, interface: str = "PJSIP/agent1",
         journal: Journal | None = None) -> tuple[LadderTrace, Journal, ScriptedChannel, ScriptedBook]:
    """``handling``: how long the flag's prompts took (the clock when it is done with)."""
    journal = journal or Journal()
    channel = channel or ScriptedChannel(journal)
    book = book or ScriptedBook(journal)
    done = (T0 + dt.timedelta(seconds=seconds + handling)).timestamp()
    trace = run_ladder(policy, policy.categories[category], call(seconds=seconds, interface=interface), memory,
                       channel, book, ScriptedMail(journal), clock=lambda: done)
    return trace, journal, channel, book


def test_a_first_verbal_flag_records_evidence_warns_and_books_a_warning(policy: AbusePolicy) -> None:
    trace, journal, channel, book = flag(policy, "verbal_abuse", FlagMemory())
    assert journal.steps == ["prepare_evidence", "hold", "share answered at once", "book",
                             "record /rec/evidence/c1.wav", "play abuse_warning", "remember", "no_compliment_offer",
                             "booked"]
    [booked] = book.booked
    assert (booked.number_in_call, booked.number_in_category, booked.outcome, booked.case, booked.pause) == (
        1, 1, "warn", None, None)
    assert channel.flags.startswith("verbal_abuse:1:")
    assert trace.summary("verbal_abuse") == "category=verbal_abuse flag=1 actions=recording,warn"


def test_the_second_flag_books_while_it_protects_and_announces_only_after(policy: AbusePolicy) -> None:
    memory = FlagMemory()
    flag(policy, "verbal_abuse", memory)
    trace, journal, channel, book = flag(policy, "verbal_abuse", memory, seconds=30)
    assert journal.steps == [
        "hold", "pause PJSIP/agent1", "book", "play abuse_closing", "hang_up", "remember", "no_compliment_offer",
        "booked", "announce RespectlineCase", "mail case 42 normal", "announce RespectlineFlag", "mail pause case=42"]
    [escalation] = book.booked
    assert escalation.case is not None and escalation.case.recording is None  # the channel had no RL_EVIDENCE
    assert escalation.case.team == "special_care" and escalation.pause is not None
    assert escalation.pause.resume_at == T0 + dt.timedelta(seconds=30, minutes=5)
    assert escalation.events == (("agent_paused", "Agent One for 5 min"), ("disconnect", "abuse_closing"))
    assert dict(channel.events)["RespectlineFlag"]["CaseId"] == "42"
    assert "case_opened" in trace.done


def test_a_press_asterisk_held_until_the_warning_ended_counts_once(policy: AbusePolicy) -> None:
    """Pressed again during a 6-second warning, the key reaches us when the warning is over."""
    memory = FlagMemory()
    flag(policy, "verbal_abuse", memory, handling=6.0)
    trace, journal, _channel, _book = flag(policy, "verbal_abuse", memory, seconds=6.5)
    assert trace.duplicate and journal.steps == []
    later, _journal, _channel, _book = flag(policy, "verbal_abuse", memory, seconds=7.5)
    assert later.number == 2  # pressed 1.5 s after the warning: the agent heard the caller go on


def test_a_double_press_within_the_window_does_nothing_at_all(policy: AbusePolicy) -> None:
    memory = FlagMemory()
    flag(policy, "verbal_abuse", memory)
    trace, journal, _channel, book = flag(policy, "verbal_abuse", memory, seconds=1)
    assert trace.duplicate and journal.steps == [] and book.held == []


def test_with_the_store_down_the_caller_is_still_disconnected_and_nothing_is_reported_as_booked(
        policy: AbusePolicy) -> None:
    memory = FlagMemory()
    journal = Journal()
    down = ScriptedBook(journal, store_down=True)
    flag(policy, "verbal_abuse", memory, book=down, journal=journal)
    trace, journal, channel, book = flag(policy, "verbal_abuse", memory, seconds=30, book=down, journal=journal)
    assert "hang_up" in journal.steps and "pause PJSIP/agent1" in journal.steps
    assert len(book.held) == 2 and book.booked == []
    assert not [e for e, _ in channel.events if e == "RespectlineCase"]
    assert "case_held" in trace.done and "case_opened" not in trace.done
    assert trace.summary("verbal_abuse").endswith("store=down")
    assert journal.steps[-1] == "mail pause case=None"  # the supervisors still hear of the pause


def test_a_caller_who_hangs_up_during_the_warning_is_still_booked(policy: AbusePolicy) -> None:
    journal = Journal()
    trace, journal, _channel, book = flag(policy, "verbal_abuse", FlagMemory(),
                                          channel=ScriptedChannel(journal, gone_at="play"), journal=journal)
    assert trace.caller_gone and len(book.booked) == 1


def test_a_first_threat_pauses_the_agent_before_the_recording_notice_and_books_the_recording(
        policy: AbusePolicy) -> None:
    _trace, journal, _channel, book = flag(policy, "threat", FlagMemory())
    # Held first without the recording (the pause's record), the agent paused at once, then the
    # recording the share made room for, amended into the held copy before the booking.
    assert journal.steps[:7] == ["prepare_evidence", "hold", "pause PJSIP/agent1", "share answered at once",
                                 "amend", "book", "record /rec/evidence/c1.wav"]
    [escalation] = book.booked
    assert escalation.case is not None and escalation.case.recording == "/rec/evidence/c1.wav"


def test_a_share_that_cannot_take_the_recording_leaves_the_case_without_one_and_the_caller_unwarned_of_it(
        policy: AbusePolicy) -> None:
    journal = Journal()
    trace, journal, _channel, book = flag(policy, "threat", FlagMemory(),
                                          channel=ScriptedChannel(journal, evidence=None), journal=journal)
    assert not [s for s in journal.steps if s.startswith("record")] and "recording" not in trace.done
    assert book.booked[0].case is not None and book.booked[0].case.recording is None


def test_a_disconnect_whose_prompt_fails_still_hangs_up(policy: AbusePolicy) -> None:
    journal = Journal()
    flag(policy, "threat", FlagMemory(), channel=ScriptedChannel(journal, gone_at="play"), journal=journal)
    assert journal.steps.index("hang_up") == journal.steps.index("play abuse_closing_threat") + 1


def test_an_escalation_booked_first_by_the_keeper_is_not_announced_twice(policy: AbusePolicy) -> None:
    journal = Journal()
    _trace, journal, channel, _book = flag(policy, "threat", FlagMemory(), book=ScriptedBook(journal, already=True),
                                           journal=journal)
    assert not [e for e, _ in channel.events if e == "RespectlineCase"]
    assert not [s for s in journal.steps if s.startswith("mail")]


def test_without_a_member_interface_nobody_is_paused_and_the_caller_is_still_disconnected(
        policy: AbusePolicy) -> None:
    _trace, journal, _channel, book = flag(policy, "threat", FlagMemory(), interface="")
    assert not [s for s in journal.steps if s.startswith("pause")] and "hang_up" in journal.steps
    assert book.booked[0].pause is None


def test_flags_of_two_categories_climb_their_own_ladders_and_number_the_call_together(policy: AbusePolicy) -> None:
    memory = FlagMemory()
    flag(policy, "verbal_abuse", memory)
    _trace, journal, _channel, book = flag(policy, "discrimination", memory, seconds=10)
    [escalation] = book.booked
    assert (escalation.number_in_call, escalation.number_in_category, escalation.outcome) == (2, 1, "warn")
    assert "prepare_evidence" not in journal.steps  # the call is recorded from its first flag on


def test_the_flag_memory_read_back_from_the_channel_ignores_what_it_did_not_write() -> None:
    memory = FlagMemory.read("verbal_abuse:2:1700000000.5:1700000006.25,Evil:9:1,threat:x:1,"
                             "discrimination:1:1700000001")
    assert memory.flags == {"verbal_abuse": FlagsOfACategory(2, 1700000000.5, 1700000006.25),
                            "discrimination": FlagsOfACategory(1, 1700000001.0, 1700000001.0)}
    assert FlagMemory.read(memory.text()).flags == memory.flags


def test_recording_from_connect_adopts_the_running_recording_and_starts_no_second_one(
        policy: AbusePolicy) -> None:
    connect = dataclasses.replace(policy, recording_start="connect")
    trace, journal, _channel, book = flag(connect, "threat", FlagMemory())
    assert journal.steps[:6] == ["adopt", "hold", "pause PJSIP/agent1", "share answered at once", "amend", "book"]
    assert "prepare_evidence" not in journal.steps and not [s for s in journal.steps if s.startswith("record")]
    assert "recording" not in trace.done  # no notice at the flag: the caller heard it at entry
    [escalation] = book.booked
    assert escalation.case is not None and escalation.case.recording == "/rec/evidence/c1.wav"


def test_recording_from_connect_without_a_recording_to_adopt_records_from_the_flag_as_before(
        policy: AbusePolicy) -> None:
    connect = dataclasses.replace(policy, recording_start="connect")
    journal = Journal()
    channel = ScriptedChannel(journal)
    channel.adopted = None  # the share failed at entry: nothing was recorded, the caller was not told
    trace, journal, _channel, book = flag(connect, "threat", FlagMemory(), channel=channel, journal=journal)
    assert journal.steps[:2] == ["adopt", "hold"] and "recording" in trace.done
    assert "record /rec/evidence/c1.wav" in journal.steps


def test_recording_from_connect_and_a_share_that_fails_still_protects_the_agent(policy: AbusePolicy) -> None:
    connect = dataclasses.replace(policy, recording_start="connect")
    journal = Journal()
    channel = ScriptedChannel(journal, evidence=None)
    channel.adopted = None
    trace, journal, _channel, book = flag(connect, "threat", FlagMemory(), channel=channel, journal=journal)
    assert "pause PJSIP/agent1" in journal.steps and "hang_up" in journal.steps
    assert book.booked[0].case is not None and book.booked[0].case.recording is None


def test_the_old_start_on_first_flag_false_still_means_no_recording(policy: AbusePolicy) -> None:
    off = dataclasses.replace(policy, recording_start="off")
    _trace, journal, _channel, book = flag(off, "threat", FlagMemory())
    assert "adopt" not in journal.steps and "prepare_evidence" not in journal.steps
    assert book.booked[0].case is not None and book.booked[0].case.recording is None


def test_a_slow_share_never_holds_up_the_pause_nor_the_warning_and_the_recording_starts_after_it(
        policy: AbusePolicy) -> None:
    journal = Journal()
    channel = ScriptedChannel(journal)
    channel.share_slow = True
    trace, journal, _channel, book = flag(policy, "verbal_abuse", FlagMemory(), channel=channel, journal=journal)
    assert journal.steps == ["prepare_evidence", "hold", "share not answered yet", "play abuse_warning", "remember",
                             "no_compliment_offer", "share answered", "record /rec/evidence/c1.wav", "book", "booked"]
    assert trace.done == ["warn", "recording"]


def test_a_slow_share_on_a_threat_pauses_and_disconnects_first_and_records_nothing_after(
        policy: AbusePolicy) -> None:
    journal = Journal()
    channel = ScriptedChannel(journal)
    channel.share_slow = True
    trace, journal, _channel, book = flag(policy, "threat", FlagMemory(), channel=channel, journal=journal)
    assert journal.steps[:5] == ["prepare_evidence", "hold", "pause PJSIP/agent1", "share not answered yet",
                                 "play abuse_closing_threat"]
    assert not [s for s in journal.steps if s.startswith("record")]  # the call is over: nothing to record
    [escalation] = book.booked
    assert escalation.case is not None and escalation.case.recording is None


def test_a_hung_share_while_adopting_starts_no_second_recording_and_the_case_names_the_adoption(
        policy: AbusePolicy) -> None:
    connect = dataclasses.replace(policy, recording_start="connect")
    journal = Journal()
    channel = ScriptedChannel(journal)
    channel.share_hung = True
    trace, journal, _channel, book = flag(connect, "threat", FlagMemory(), channel=channel, journal=journal)
    assert journal.steps.index("pause PJSIP/agent1") < journal.steps.index("play abuse_closing_threat") \
        < journal.steps.index("share never answered")
    # A second MixMonitor on the evidence path would cut the file the late link may still make.
    assert not [s for s in journal.steps if s.startswith("record")] and "recording" not in trace.done
    [escalation] = book.booked
    assert escalation.case is not None and escalation.case.recording == "/rec/evidence/c1.wav"
