"""Thank-you rounds on the real Asterisk with pjsua2 phones (issue 17).

Two agents, one busy with a customer. When the round starts the free agent is rung first and hears the
message (audio correlation); the busy agent's phone gets no INVITE while its customer call lasts, and is
rung within a few seconds after it ends. A caller entering the queue while an agent hears the message is
not routed to that agent (they are paused in their queues), and is routed to them once the message ends.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agi_scripts.sandbox.audio import contains_prompt
from agi_scripts.sandbox.sip import PeerState, SipAgent, SipCaller, SipPhoneSystem
from agi_scripts.sandbox.stack import RespectlineStack, StackOptions
from agi_scripts.storage import open_store
from agi_scripts.storage.appreciation import AppreciationStore
from tests.support.appreciation import (
    add_live_round,
    add_recorded_round,
    add_round,
    appreciation_flows,
    start_round,
)
from tests.support.e2e_stack import started

pytestmark = pytest.mark.e2e

PROMPT = "appreciation_thank_you"


@dataclass
class Stage:
    stack: RespectlineStack
    flows: Path
    phones: SipPhoneSystem
    agent1: SipAgent
    agent2: SipAgent
    caller1: SipCaller
    caller2: SipCaller
    manager: SipCaller
    boss: SipAgent
    """A manager's phone that registers, so a live round can ring it."""


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    folder = tmp_path_factory.mktemp("appreciation")
    flows = appreciation_flows(folder, tries=2, retry_after="5s", ring_timeout="8s")
    options = StackOptions(flows_dir=flows, agents={"agent1": ["support"], "agent2": ["billing"], "boss": []},
                           agent_names={"agent1": "Agent One", "agent2": "Agent Two"},
                           callers=("caller1", "caller2", "manager1"))
    stack = started(options, folder)
    try:
        with SipPhoneSystem("127.0.0.1", stack.sip_port, record_dir=folder / "heard",
                            log_path=folder / "pjsua.log") as phones:
            agent1 = phones.agent("agent1", ring_delay=0.3)
            agent2 = phones.agent("agent2", ring_delay=0.3)
            caller1 = phones.caller("caller1", caller_id_number="+32471000001")
            caller2 = phones.caller("caller2", caller_id_number="+32471000002")
            manager = phones.caller("manager1", caller_id_number="+32471000009")
            boss = phones.agent("boss", ring_delay=0.3)
            phones.wait_until(lambda: agent1.registered and agent2.registered and boss.registered, 10,
                              "agents and the manager registered")
            yield Stage(stack, flows, phones, agent1, agent2, caller1, caller2, manager, boss)
    finally:
        stack.stop()


def test_free_agent_first_busy_agent_after_the_customer_call(stage: Stage) -> None:
    phones, agent1, agent2 = stage.phones, stage.agent1, stage.agent2
    # Agent Two is busy with a customer on billing before the round starts.
    stage.caller1.call(stage.stack.number("billing"))
    phones.wait_until(lambda: agent2.state is PeerState.CONNECTED, 30, "agent2 talks to caller1")
    assert agent2.invites_received == 1

    start_round(stage.flows)
    phones.wait_until(lambda: agent1.state is PeerState.CONNECTED, 20, "agent1 rung with the thank-you message")
    assert agent1.invites_received == 1

    # A caller entering support while Agent One listens waits: Agent One is paused in their queue.
    stage.caller2.call(stage.stack.number("support"))
    phones.wait_until(lambda: stage.caller2.state is PeerState.CONNECTED, 15, "caller2 answered by the queue")
    phones.pump(6.0)
    assert agent1.invites_received == 1, "a customer was routed to the agent hearing the message"
    assert agent2.invites_received == 1, "the busy agent's phone got an INVITE during its customer call"
    assert agent1.in_call

    # The customer call ends: Agent Two is rung within a few seconds.
    stage.caller1.hangup()
    phones.wait_until(lambda: not agent2.in_call, 10, "agent2's customer call ended")
    ended = time.monotonic()
    phones.wait_until(lambda: agent2.invites_received == 2, 15, "agent2 rung after the customer call")
    assert time.monotonic() - ended < 12

    # Agent One's message ends (after "press 1 / press 2" and its wait): now caller2 reaches them.
    phones.wait_until(lambda: not agent1.in_call, 60, "agent1's thank-you call ended")
    first = agent1.calls[0].recording
    assert first is not None
    phones.pump(1.0)  # the recording's file is finished once the call is retired
    assert contains_prompt(first, stage.stack.prompt_file(PROMPT, "en")), "agent1 did not hear the message"
    phones.wait_until(lambda: agent1.invites_received == 2, 20, "caller2 routed to agent1 after the message")
    stage.caller2.hangup()

    phones.wait_until(lambda: not agent2.in_call and agent2.invites_received == 2, 60, "agent2's thank-you ended")
    phones.pump(1.0)
    second = agent2.calls[1].recording
    assert second is not None and contains_prompt(second, stage.stack.prompt_file(PROMPT, "en"))

    store = open_store(stage.stack.db_url)
    try:
        deliveries = {d.agent_name: d for d in AppreciationStore(store).deliveries("e2e-thanks")}
    finally:
        store.close()
    assert {name: d.status for name, d in deliveries.items()} == {"Agent One": "reached", "Agent Two": "reached"}
    assert deliveries["Agent One"].reached_at < deliveries["Agent Two"].reached_at  # type: ignore[operator]
    assert all(d.tries == 1 for d in deliveries.values())


def test_hang_up_mid_message_then_no_answer_is_missed_and_the_agent_unpaused(stage: Stage) -> None:
    phones, agent1 = stage.phones, stage.agent1
    before = agent1.invites_received
    add_round(stage.flows, "e2e-again", to="[support]")
    phones.wait_until(lambda: agent1.state is PeerState.CONNECTED, 20, "agent1 rung for the second round")
    phones.pump(1.5)
    agent1.hangup()  # cut off mid-message: not reached, tried again
    agent1.auto_answer = False
    try:
        phones.wait_until(lambda: agent1.invites_received == before + 2, 30, "agent1 rung again")
        phones.wait_until(lambda: not agent1.in_call, 30, "the unanswered try given up")
        phones.pump(8.0)
        assert agent1.invites_received == before + 2, "rung more than the configured 2 tries"
        store = open_store(stage.stack.db_url)
        try:
            rounds = AppreciationStore(store)
            missed = rounds.get("e2e-again", "PJSIP/agent1")
            untouched = rounds.get("e2e-thanks", "PJSIP/agent1")
        finally:
            store.close()
        assert missed is not None and (missed.status, missed.tries) == ("missed", 2)
        assert untouched is not None and untouched.status == "reached"
        # The pause of the last try was lifted: a customer reaches Agent One again.
        stage.caller2.call(stage.stack.number("support"))
        phones.wait_until(lambda: agent1.invites_received == before + 3, 30, "a customer routed to agent1 again")
        stage.caller2.hangup()
    finally:
        agent1.auto_answer = True


def test_a_phone_not_listed_as_a_manager_cannot_record(stage: Stage) -> None:
    phones, caller = stage.phones, stage.caller1
    caller.call("*87")
    phones.wait_until(lambda: caller.state is PeerState.CONNECTED, 15, "the manager's line answered")
    phones.wait_until(lambda: not caller.in_call, 20, "the line hung up on a non-manager")
    phones.pump(1.0)
    heard = caller.last_recording
    assert heard is not None
    assert contains_prompt(heard, stage.stack.prompt_file("appreciation_not_manager", "en")).matched
    assert not contains_prompt(heard, stage.stack.prompt_file("appreciation_record_intro", "en")).matched


def test_the_message_recorded_on_the_managers_line_is_the_one_the_agent_hears(stage: Stage) -> None:
    phones, manager, agent1 = stage.phones, stage.manager, stage.agent1
    said = stage.stack.prompt_file("campaign_thank_you_week", "en")  # what the manager says into the phone
    before = agent1.invites_received
    add_recorded_round(stage.flows, "e2e-recorded", "PJSIP/manager1", to="[support]")
    phones.pump(4.0)
    assert agent1.invites_received == before, "the agent was rung before the manager recorded anything"

    manager.call("*87")
    phones.wait_until(lambda: manager.state is PeerState.CONNECTED, 15, "the manager's line answered")
    phones.pump(8.0)  # "record your message after the tone ..." and the beep
    seconds = manager.play(said)
    phones.pump(seconds + 1.0)
    manager.press("#")
    phones.pump(2.0 + seconds + 3.0)  # "this is your message", the message, then "press 1 to keep it"
    manager.press("1")
    phones.wait_until(lambda: not manager.in_call, 30, "the manager's line ended after keeping")
    phones.pump(1.0)
    back = manager.last_recording
    assert back is not None and contains_prompt(back, said).matched, "the manager did not hear the message back"
    assert contains_prompt(back, stage.stack.prompt_file("appreciation_record_saved", "en")).matched

    phones.wait_until(lambda: agent1.invites_received == before + 1, 20, "agent1 rung with the recorded message")
    phones.wait_until(lambda: not agent1.in_call, 90, "agent1's thank-you call ended")
    phones.pump(1.0)
    heard = agent1.last_recording
    assert heard is not None and contains_prompt(heard, said).matched, "the agent did not hear the manager's words"
    assert not contains_prompt(heard, stage.stack.prompt_file(PROMPT, "en")).matched  # not the round's prompt

    store = open_store(stage.stack.db_url)
    try:
        rounds = AppreciationStore(store)
        (recording,) = rounds.recordings("e2e-recorded")
        delivery = rounds.get("e2e-recorded", "PJSIP/agent1")
    finally:
        store.close()
    assert (recording.language, recording.manager) == ("en", "PJSIP/manager1")
    assert Path(recording.path + ".wav").is_file()
    assert delivery is not None and delivery.status == "reached"


def _seconds(wav: Path) -> float:
    with wave.open(str(wav)) as audio:
        return float(audio.getnframes() / audio.getframerate())


def test_press_2_records_a_reply_for_the_manager_screened_and_reported(stage: Stage) -> None:
    phones, agent2, stack = stage.phones, stage.agent2, stage.stack
    before = agent2.invites_received
    add_round(stage.flows, "e2e-reply", to="[billing]")
    phones.wait_until(lambda: agent2.state is PeerState.CONNECTED, 20, "agent2 rung for the reply round")
    spoken = _seconds(stack.prompt_file("appreciation_intro", "en")) + _seconds(stack.prompt_file(PROMPT, "en"))
    phones.pump(spoken + 1.5)  # during "press 1 to hear it again, press 2 to send a short reply"
    agent2.press("2")
    phones.pump(_seconds(stack.prompt_file("appreciation_reply_record", "en")) + 1.5)  # and the beep
    said = stack.prompt_file("agent_compliments_none", "en")  # the agent's reply, as audio
    phones.pump(agent2.play(said) + 0.5)
    agent2.press("#")
    phones.wait_until(lambda: not agent2.in_call, 30, "the thank-you call ended after the reply")
    assert agent2.invites_received == before + 1
    phones.pump(1.0)
    heard = agent2.last_recording
    assert heard is not None
    assert contains_prompt(heard, stack.prompt_file("appreciation_reply_thanks", "en")).matched

    store = open_store(stack.db_url)
    try:
        delivery = AppreciationStore(store).get("e2e-reply", "PJSIP/agent2")
    finally:
        store.close()
    assert delivery is not None and delivery.status == "reached" and delivery.reply_path is not None
    # Screened like a compliment: the shipped screening holds a spoken message nobody could transcribe.
    assert delivery.reply_screening == "held" and "transcript" in delivery.reply_reason
    assert contains_prompt(Path(delivery.reply_path), said).matched, "the reply file does not hold what was said"

    report = subprocess.run([sys.executable, "-m", "agi_scripts.cli.main", "report", "appreciation", "--config",
                             str(stack.config_path), "--db", stack.db_url, "--round", "e2e-reply", "--format", "json"],
                            capture_output=True, text=True, timeout=60, check=True)
    (found,) = json.loads(report.stdout)["rounds"]
    assert (found["reached"], found["replies"]) == (1, 1)


def test_live_mode_the_manager_hears_who_is_next_then_talks_with_the_agent(stage: Stage) -> None:
    phones, boss, agent1, stack = stage.phones, stage.boss, stage.agent1, stage.stack
    before = agent1.invites_received
    add_live_round(stage.flows, "e2e-live", "PJSIP/boss", to="[support]")
    phones.wait_until(lambda: boss.state is PeerState.CONNECTED, 20, "the manager's phone rung for the live round")
    phones.wait_until(lambda: agent1.state is PeerState.CONNECTED, 25, "agent1 connected to the manager")
    assert agent1.invites_received == before + 1
    phones.pump(1.0)
    agent_says = stack.prompt_file("agent_compliments_none", "en")
    phones.pump(agent1.play(agent_says) + 0.5)
    boss_says = stack.prompt_file("compliment_thanks", "en")
    phones.pump(boss.play(boss_says) + 0.5)
    boss.hangup()
    phones.wait_until(lambda: not agent1.in_call and not boss.in_call, 15, "the live call ended")
    phones.pump(1.0)

    (intro,) = (stack.recordings_dir / "appreciation" / "e2e-live").glob("intro-*.wav")
    manager_heard = boss.last_recording
    assert manager_heard is not None
    said_intro, said_agent = contains_prompt(manager_heard, intro), contains_prompt(manager_heard, agent_says)
    assert said_intro.matched, "the manager did not hear who was next"
    assert said_agent.matched, "the manager did not hear the agent"
    assert said_intro.offset_seconds < said_agent.offset_seconds
    agent_heard = agent1.last_recording
    assert agent_heard is not None and contains_prompt(agent_heard, boss_says).matched, "the agent did not hear the manager"
    assert not contains_prompt(agent_heard, intro).matched  # the intro is for the manager only

    store = open_store(stack.db_url)
    try:
        delivery = AppreciationStore(store).get("e2e-live", "PJSIP/agent1")
    finally:
        store.close()
    assert delivery is not None and (delivery.status, delivery.tries) == ("reached", 1)
    # Unpaused after the live call: a customer reaches Agent One again.
    stage.caller2.call(stack.number("support"))
    phones.wait_until(lambda: agent1.invites_received == before + 2, 30, "a customer routed to agent1 again")
    stage.caller2.hangup()


MINIMAL_AMI_USER = """
[rl-rounds-only]
secret = rounds-only-secret-42
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.1/255.255.255.255
read = call,agent,user
write = agent,originate
"""


def test_the_documented_ami_permissions_are_enough(stage: Stage) -> None:
    """The server restarted with an AMI account holding only what the README asks for rounds."""
    stack, phones, agent2 = stage.stack, stage.phones, stage.agent2
    manager_conf = stack.asterisk.etc_dir / "manager.conf"
    manager_conf.write_text(manager_conf.read_text(encoding="utf-8") + MINIMAL_AMI_USER, encoding="utf-8")
    stack.asterisk.rx("manager reload")
    config = stack.config_path.read_text(encoding="utf-8")
    for old, new in ((f"  username: {stack.asterisk.ami_username}", "  username: rl-rounds-only"),
                     (f'  secret: "{stack.asterisk.ami_secret}"', '  secret: "rounds-only-secret-42"')):
        assert old in config
        config = config.replace(old, new, 1)
    stack.config_path.write_text(config, encoding="utf-8")
    stack.stop_server()
    stack.start_server()
    before = agent2.invites_received
    add_round(stage.flows, "e2e-minimal-ami", to="[billing]")
    phones.wait_until(lambda: agent2.invites_received == before + 1, 30, "agent2 rung through the minimal account")
    phones.wait_until(lambda: not agent2.in_call, 60, "the thank-you call ended")
    phones.pump(1.0)
    heard = agent2.last_recording
    assert heard is not None and contains_prompt(heard, stack.prompt_file(PROMPT, "en")).matched
    store = open_store(stack.db_url)
    try:
        delivery = AppreciationStore(store).get("e2e-minimal-ami", "PJSIP/agent2")
    finally:
        store.close()
    assert delivery is not None and (delivery.status, delivery.tries) == ("reached", 1), delivery
    assert "failed" not in stack.server_log_tail(200).split("e2e-minimal-ami", 1)[-1].lower()
    # Unpaused through the same account: a customer reaches Agent Two again.
    stage.caller1.call(stack.number("billing"))
    phones.wait_until(lambda: agent2.invites_received == before + 2, 30, "a customer routed to agent2 again")
    stage.caller1.hangup()
