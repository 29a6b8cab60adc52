"""``respectline demo``: the product's main job, narrated, on a real Asterisk with SIP phones.

Alice calls support, hears the hold campaign, talks to Agent One, and after the agent hangs up
leaves five stars and a spoken compliment. Bob calls billing and abuses the agent: the agent's
``*1`` gets him a warning, the second ``*1`` ends his call, opens a case for Special Care and pauses
the agent. When Bob calls again, he is routed to the Special Care team. The store is left at
``var/demo.sqlite`` (recordings in ``var/demo-recordings/``) for ``respectline report`` and
``respectline cases``.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path

from agi_scripts.sandbox.audio import contains_prompt
from agi_scripts.sandbox.sip import PeerState, SipAgent, SipCaller, SipPhoneSystem
from agi_scripts.sandbox.stack import PROJECT_ROOT, RespectlineStack, StackOptions
from agi_scripts.reports.transcripts import transcript_heading, transcript_lines
from agi_scripts.storage import Store, open_store
from agi_scripts.storage.appreciation import AppreciationStore
from agi_scripts.storage.transcripts import TranscriptStore
from agi_scripts.transcribe.testmodel import TestModelMissing, joined_test_model
from agi_scripts.storage.screening import ScreeningStore

DEMO_CAMPAIGNS = """\
# The demo's campaign: always running, message after 4 s then every 15 s (embedded default).
campaigns:
  - id: demo-contact-day
    title: Dag van de Customer Contact medewerker (demo)
    prompt: campaign_contact_day
    queues: [support, billing]
    first_after: 4s
    repeat_every: 15s
    offer_compliment: true
"""
DEMO_APPRECIATION = """\
# The demo's thank-you round: it waits (a start in 2099) until the demo starts it after the compliment.
managers: []
ring_timeout: 20s
rounds:
  - id: demo-thank-you
    from: 2099-01-01
    title: Thank you from the board
    to: [support]
    message: {prompt: appreciation_thank_you}
    language: en
"""
THANK_YOU_WAITS = "    from: 2099-01-01\n"
ALICE_SAYS = "Thank you so much, you solved my problem in five minutes. Have a lovely day."
BOB_SAYS = "This is ridiculous. You are a useless idiot and I know where your office is."
TRANSCRIPT_WAIT = 120.0
"""Seconds the demo waits, after the calls, for the transcripts of Bob's evidence and Alice's message."""


def demo_flows(folder: Path, campaigns: str = DEMO_CAMPAIGNS) -> Path:
    """The shipped flows with an always-running campaign, so the demo works on any date."""
    flows = folder / "flows"
    shutil.copytree(PROJECT_ROOT / "flows", flows)
    (flows / "campaigns.yaml").write_text(campaigns, encoding="utf-8")
    return flows


SHIPPED_RECORDING_START = "    start: first_flag "


def record_from_connect(flows: Path, spool_grace: str = "60s") -> Path:
    """The abuse policy in ``flows`` records every answered call from the agent's answer
    (``recording.start: connect``), the spool of a call a crash left swept after ``spool_grace``."""
    policy = flows / "abuse_policy.yaml"
    text = policy.read_text(encoding="utf-8")
    if SHIPPED_RECORDING_START not in text:
        raise ValueError(f"{policy} has no 'start: first_flag' line to switch")
    text = text.replace(SHIPPED_RECORDING_START, f"    spool_grace: {spool_grace}\n    start: connect ", 1)
    policy.write_text(text, encoding="utf-8")
    return flows


class Narrator:
    def __init__(self, say: Callable[[str], None] = print) -> None:
        self.say = say
        self.started = time.monotonic()

    def __call__(self, text: str) -> None:
        self.say(f"[{time.monotonic() - self.started:6.1f}s] {text}")


def run_demo(db_file: Path, say: Callable[[str], None] = print) -> int:
    narrate = Narrator(say)
    db_file = db_file.resolve()
    db_file.parent.mkdir(parents=True, exist_ok=True)
    for stale in (db_file, db_file.with_name(db_file.name + "-wal"), db_file.with_name(db_file.name + "-shm")):
        stale.unlink(missing_ok=True)
    recordings = db_file.parent / "demo-recordings"
    shutil.rmtree(recordings, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix="rl-demo-"))
    options = StackOptions(
        agents={"agent1": ["support", "billing"], "care1": ["special-care"], "lead1": []},
        agent_names={"agent1": "Agent One", "care1": "Sam (Special Care)"},
        callers=("alice", "bob"), flows_dir=_with_a_thank_you_round(record_from_connect(demo_flows(work))),
        db_url=f"sqlite:///{db_file}",
        recordings_dir=recordings, transcription_model=_test_model(narrate))
    narrate("Building prompts, generating the Asterisk configuration, starting Asterisk and respectline serve ...")
    with RespectlineStack(options, work_dir=work / "stack") as stack, \
            SipPhoneSystem("127.0.0.1", stack.sip_port, record_dir=work / "phones",
                           log_path=work / "pjsua.log") as phones:
        narrate(f"Asterisk is up (SIP on 127.0.0.1:{stack.sip_port}); Respectline serves FastAGI on "
                f"127.0.0.1:{stack.agi_port}.")
        agent = phones.agent("agent1", ring_delay=9.0)
        care = phones.agent("care1", ring_delay=2.0)
        lead = phones.agent("lead1", ring_delay=2.0)  # the team lead on duty (aftercare roster 'duty')
        phones.wait_until(lambda: agent.registered and care.registered and lead.registered, 15, "agents registered")
        alice = phones.caller("alice", caller_id_name="Alice", caller_id_number="+32470111111")
        bob = phones.caller("bob", caller_id_name="Bob", caller_id_number="+32470999999")
        _alice_compliments_her_agent(stack, phones, agent, alice, work, narrate)
        _a_thank_you_round_for_agent_one(stack, phones, agent, narrate)
        _bob_is_warned_then_disconnected(stack, phones, agent, bob, narrate)
        _the_team_lead_checks_in_on_agent_one(stack, phones, agent, lead, narrate)
        _bob_calls_again(stack, phones, care, bob, narrate)
        stack.asterisk.wait_no_channels(15)
        narrate("All calls ended; no channel left in Asterisk.")
        if options.transcription_model is not None:
            _wait_for_transcripts(db_file, narrate)
    _summary(db_file, narrate)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _alice_compliments_her_agent(stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent,
                                 alice: SipCaller, work: Path, narrate: Narrator) -> None:
    narrate("Scene 1. Alice calls support (100). Agent One is busy for a few seconds ...")
    alice.call(stack.number("support"))
    phones.wait_until(lambda: agent.state is PeerState.CONNECTED, 40, "Agent One answered Alice")
    phones.wait_until(lambda: alice.state is PeerState.CONNECTED, 5, "Alice connected")
    narrate("Agent One answers. They talk; the problem is solved. Agent One hangs up first.")
    phones.pump(2.0)
    agent.hangup()
    phones.wait_until(lambda: agent.state is PeerState.DISCONNECTED, 10, "Agent One hung up")
    narrate("Alice stays on the line: post_call offers her to leave a compliment. She presses 1, then 5 stars,")
    narrate("then 1 to record a message, and says: " + repr(ALICE_SAYS))
    phones.pump(3.0)
    alice.press("1")
    phones.pump(3.0)
    alice.press("5")
    phones.pump(3.0)
    voice = speak(ALICE_SAYS, work / "alice.wav")
    alice.press("1")
    # Asterisk creates the file when recording starts, after the instructions and the beep.
    # (Only the compliments' folder: the call's own recording, from the agent's answer, is under calls/.)
    phones.wait_until(lambda: any((stack.recordings_dir / "compliments").rglob("*.wav")), 30, "recording started",
                      interval=0.1)
    seconds = alice.play(voice)
    phones.pump(seconds + 0.5)
    alice.press("#")
    phones.wait_until(lambda: alice.state is PeerState.DISCONNECTED, 40, "post_call thanked Alice")
    phones.pump(0.3)
    heard = alice.last_recording
    campaign = stack.prompt_file("campaign_contact_day", "en")
    if heard is not None and contains_prompt(heard, campaign).matched:
        narrate("While she waited, Alice heard the hold campaign inviting her to compliment her agent.")
    else:
        narrate("Alice was connected before the hold campaign's message played.")
    narrate("Alice's compliment is stored for Agent One and announced with an AMI RespectlineCompliment event.")


def _with_a_thank_you_round(flows: Path) -> Path:
    (flows / "appreciation.yaml").write_text(DEMO_APPRECIATION, encoding="utf-8")
    return flows


def _a_thank_you_round_for_agent_one(stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent,
                                     narrate: Narrator) -> None:
    narrate("Scene 1b. The board starts a thank-you round for the support agents (flows/appreciation.yaml).")
    rounds = stack.options.flows_dir / "appreciation.yaml" if stack.options.flows_dir else None
    if rounds is None or THANK_YOU_WAITS not in rounds.read_text(encoding="utf-8"):
        raise RuntimeError("the demo's thank-you round is missing")
    rounds.write_text(rounds.read_text(encoding="utf-8").replace(THANK_YOU_WAITS, ""), encoding="utf-8")
    narrate("Agent One is free (not ringing, not in a call): respectline serve pauses them in their queues, so no")
    narrate("customer reaches them meanwhile, and rings their phone with AMI Originate ...")
    phones.wait_until(lambda: agent.state is PeerState.CONNECTED, 60, "Agent One answered the thank-you call")
    narrate("Agent One hears: 'This is not a customer. A message from your manager.', then the thank-you message,")
    narrate("then 'press 1 to hear it again, press 2 to send a short reply'. They just listen.")
    phones.wait_until(lambda: not agent.in_call, 90, "the thank-you call ended")
    phones.pump(0.5)
    heard = agent.last_recording
    if heard is not None and contains_prompt(heard, stack.prompt_file("appreciation_thank_you", "en")).matched:
        narrate("Agent One heard the thank-you message; they are unpaused and take calls again.")
    else:
        narrate("Agent One's phone did not record the thank-you message (see the server's log).")


def _bob_is_warned_then_disconnected(stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent,
                                     bob: SipCaller, narrate: Narrator) -> None:
    narrate("Scene 2. Bob calls billing (200) and starts swearing at Agent One.")
    bob.call(stack.number("billing"))
    phones.wait_until(lambda: agent.state is PeerState.CONNECTED, 40, "Agent One answered Bob")
    phones.wait_until(lambda: bob.state is PeerState.CONNECTED, 5, "Bob connected")
    phones.pump(1.0)
    narrate(f"Bob: {BOB_SAYS!r}")
    phones.pump(bob.play(speak(BOB_SAYS, stack.work_dir / "bob.wav")) + 0.5)
    narrate("Agent One presses *1 (verbal abuse): the recording running since Agent One answered (Bob heard "
            "the recording notice when he called) becomes evidence; Bob alone hears the warning.")
    agent.press("*1")
    phones.pump(16.0)
    narrate("Bob goes on. Agent One presses *1 again: Bob hears the closing message and the call ends.")
    agent.press("*1")
    phones.wait_until(lambda: bob.state is PeerState.DISCONNECTED, 40, "Bob disconnected")
    phones.wait_until(lambda: agent.state is PeerState.DISCONNECTED, 10, "Agent One's leg ended")
    narrate("A case is opened for Special Care, and Agent One is paused for 5 minutes to recover.")


def _the_team_lead_checks_in_on_agent_one(stack: RespectlineStack, phones: SipPhoneSystem, agent: SipAgent,
                                          lead: SipAgent, narrate: Narrator) -> None:
    narrate("Scene 2b. Nobody alone with a bad call: the disconnect rung asks for a check-in (check_in: within 10m,")
    narrate("roster duty). respectline serve rings the team lead on duty with AMI Originate ...")
    answered = lead.calls_answered
    phones.wait_until(lambda: lead.calls_answered > answered and lead.state is PeerState.CONNECTED, 60,
                      "the team lead answered the check-in call")
    narrate("The team lead hears who, what and how long, spoken for this call: 'Agent One had a difficult call,")
    narrate("Verbal abuse, just now, and is paused for 5 minutes. Press 1 to be connected to your colleague now,")
    narrate("2 if someone already talked to them.' 1.")
    # The summary made for this try (deleted after it); the generic prompt when espeak-ng could not make it.
    made = sorted((stack.recordings_dir / "checkins").glob("summary-*.wav"))
    phones.pump(_wav_seconds(made[0] if made else stack.prompt_file("checkin_summary", "en")) + 1.0)
    lead.press("1")
    phones.wait_until(lambda: agent.state is PeerState.CONNECTED, 40, "Agent One answered the team lead's call")
    narrate("Agent One's phone rings (they are paused, so free for this): the team lead asks how they are doing.")
    phones.pump(3.0)
    lead.hangup()
    phones.wait_until(lambda: not lead.in_call and not agent.in_call, 15, "the check-in call ended")
    phones.pump(0.5)
    store = open_store(stack.db_url)
    try:
        case = max(store.list_cases(), key=lambda c: c.id)
        steps = [f"{e.action} ({e.author})" if e.author else e.action for e in case.events
                 if e.action.startswith("check_in")]
    finally:
        store.close()
    narrate(f"Case #{case.id}'s timeline holds the check-in: {', '.join(steps)}.")


def _wav_seconds(wav: Path) -> float:
    with wave.open(str(wav)) as audio:
        return float(audio.getnframes()) / float(audio.getframerate())


def _bob_calls_again(stack: RespectlineStack, phones: SipPhoneSystem, care: SipAgent, bob: SipCaller,
                     narrate: Narrator) -> None:
    narrate("Scene 3. Bob calls billing again.")
    bob.call(stack.number("billing"))
    phones.wait_until(lambda: care.state is PeerState.CONNECTED, 40, "Special Care answered Bob")
    narrate("He has an open case: screen routes him to the Special Care queue, where Sam answers.")
    phones.pump(2.0)
    care.hangup()
    phones.wait_until(lambda: bob.state is PeerState.DISCONNECTED, 15, "Bob's second call ended")


def _summary(db_file: Path, narrate: Narrator) -> None:
    store = open_store(f"sqlite:///{db_file}")
    try:
        narrate("What the store holds now:")
        screening = ScreeningStore(store)
        for compliment in store.list_compliments():
            found = screening.get(compliment.id)
            # Whether Agent One may hear it on *88 yet, and why not (respectline compliments review).
            state = f"{found.screening}{f' ({found.reason})' if found.reason else ''}" if found else "unknown"
            narrate(f"  compliment #{compliment.id} for {compliment.agent}: rating {compliment.rating}, "
                    f"campaign {compliment.campaign}, recording {'yes' if compliment.recording else 'no'}, "
                    f"screening: {state}")
        for case in store.list_cases():
            narrate(f"  case #{case.id} {case.category} for team {case.team} ({case.status}), "
                    f"events: {', '.join(e.action for e in case.events)}")
        _print_transcripts(store, narrate)
        for delivery in AppreciationStore(store).deliveries():
            narrate(f"  thank-you round {delivery.round_id}: {delivery.agent_name} {delivery.status} "
                    f"after {delivery.tries} tr{'y' if delivery.tries == 1 else 'ies'}")
    finally:
        store.close()
    narrate(f"The store stays at {db_file}, the recordings in {db_file.parent / 'demo-recordings'}.")
    narrate(f"Try: respectline report compliments --db sqlite:///{db_file} --format json")
    narrate(f"     respectline compliments review --db sqlite:///{db_file}   (what waits for the team lead)")


def _test_model(narrate: Narrator) -> Path | None:
    """The pinned test model (``make install`` joins it), for the demo only: the product's model is
    ``transcription.model`` in the config."""
    if importlib.util.find_spec("faster_whisper") is None:
        narrate("Transcripts are off in this demo: pip install 'respectline[transcribe]' to have them")
        return None
    try:
        return joined_test_model()
    except TestModelMissing as exc:
        narrate(f"Transcripts are off in this demo: {exc}")
        return None


def _wait_for_transcripts(db_file: Path, narrate: Narrator) -> None:
    """Until respectline serve's worker has transcribed every recording, or ``TRANSCRIPT_WAIT`` passed."""
    narrate("respectline serve transcribes the recordings in the background (the test model, on the CPU) ...")
    deadline = time.monotonic() + TRANSCRIPT_WAIT
    store = open_store(f"sqlite:///{db_file}")
    try:
        transcripts = TranscriptStore(store)
        while transcripts.pending(5) and time.monotonic() < deadline:
            time.sleep(1.0)
        left = len(transcripts.pending(50))
    finally:
        store.close()
    narrate("Every recording is transcribed." if not left else
            f"{left} recording(s) not transcribed after {TRANSCRIPT_WAIT:.0f} s (see the server log).")


def _print_transcripts(store: Store, narrate: Narrator) -> None:
    recordings = [case.recording for case in store.list_cases()] + [c.recording for c in store.list_compliments()]
    for recording, transcript in sorted(TranscriptStore(store).of_recordings(recordings).items()):
        what = "evidence" if transcript.kind == "evidence" else "spoken compliment"
        narrate(f"  transcript of the {what} of call {transcript.call_id} ({transcript_heading(transcript)}):")
        for line in transcript_lines(transcript):
            narrate(f"    {line}")


def speak(text: str, target: Path) -> Path:
    raw = target.with_name(target.stem + "-raw.wav")
    subprocess.run(["espeak-ng", "-v", "en-gb", "-w", str(raw), text], check=True, capture_output=True)
    subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(target), "norm", "-3"],
                   check=True, capture_output=True)
    return target
