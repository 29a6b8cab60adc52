"""The measured calls of ``bench/protection.py``: pjsua2 callers and agents on a sandboxed Asterisk,
the agent's abuse codes, and when the caller heard the answer.

A **pair** is one pjsua2 caller and the queue: the caller dials the bench's number for queue
``billing`` (a fresh caller number each call, so no call meets the case an earlier one opened), a
pjsua2 agent answers, and the agent presses codes as RFC 4733 DTMF. Two kinds of call alternate:

- *long*: ``first`` (the call's first flag, ``*1``: the recording notice starts, then the warning),
  then, once that flag's AGI session has ended, ``warning`` (``*3``, a first discrimination flag: the
  warning at once) or ``closing`` (``*1`` again, the ladder's second rung: case, pause, notification
  booked, then the closing prompt and the hang-up), in turn;
- *short*: ``first`` only; the caller hangs up once the answer has been heard.

For every press the times come from clocks that do not depend on this process's timeliness: the
kernel's receive time of RTP packets on the loopback (``bench/rtp_capture.py``: the agent's DTMF
packets, the audio Asterisk sends to the caller), Asterisk's own timestamps on AMI events
(``bench/protection_ami.py``) and the server's log line of each AGI session (its end and duration).
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agi_scripts.sandbox.audio import alaw_decode, load_audio, to_telephony_band, ulaw_decode
from agi_scripts.sandbox.sip import PeerState, SipAgent, SipPhoneSystem
from bench.calls_ami import AmiLoadGenerator, CallTimes
from bench.calls_stack import BENCH_QUEUE, BenchCallStack
from bench.calls_wave import caller_number
from bench.protection_ami import AmiEventLog
from bench.protection_callers import CallerProcess, RemoteCaller
from bench.rtp_capture import RtpCapture, RtpPacket, telephone_events

MEASURED_QUEUE = "billing"
DIAL_PREFIX = "7"
DIALPLAN = f"""\
; bench: a pjsua2 caller dials 7 and seven digits; the digits make its caller number, so every
; measured call is a new caller (a second call from a flagged number would go to the team's queue).
exten => _{DIAL_PREFIX}XXXXXXX,1,Set(CALLERID(num)=+3247${{EXTEN:1}})
 same => n,Goto(respectline-queue,{MEASURED_QUEUE},1)
"""
MAX_CALLS = 4
"""pjsua's calls per process in the pjsua2 wheel (``PJSUA_MAX_CALLS``; it has 8 accounts): the
agents' calls are in the bench's process, the callers' in their own (``bench/protection_callers.py``),
so at most 4 pairs."""
KINDS = ("first", "warning", "closing")
LOUD = 0.01
"""A packet whose loudest sample passes 1% of full scale (-40 dBFS) carries a prompt's first sound;
the agent sends digital silence, so before the answer the caller receives nothing louder."""
MATCH_SECONDS = 0.5
MATCH_THRESHOLD = 0.5
PRESS_TIMEOUT = 30.0
CONNECT_TIMEOUT = 40.0
HEAR_FOR = 1.0
"""After the answer started, the caller listens this long before hanging up (the last press)."""


class BenchPhones(SipPhoneSystem):
    """The sandbox's phone system, its media clock always running, without pjsua's start-up lines
    on the bench's output."""

    def start(self) -> None:
        with _quiet_stdout():
            super().start()


@contextmanager
def _quiet_stdout() -> Iterator[None]:
    """pjlib writes a few lines to file descriptor 1 before its log settings apply."""
    import sys
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


# ---------------------------------------------------------------- the server's log


_CALL_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) INFO respectline\.calls: call script=(\S+) channel=(\S+) "
    r"uniqueid=(\S+) caller=\S* outcome=(.*) duration_ms=(\d+)\s*$")


@dataclass(frozen=True)
class Session:
    script: str
    channel: str
    uniqueid: str
    outcome: str
    started: float
    """When the server accepted Asterisk's connection (the log line's time less its duration)."""
    ended: float


class ServerLog:
    """Follows ``respectline serve``'s log file: one line per AGI session."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = path.stat().st_size if path.exists() else 0
        self._partial = ""
        self._polled = 0.0
        self.sessions: list[Session] = []

    def poll(self, *, every: float = 0.0) -> None:
        """Read the lines written since the last call (not again within ``every`` seconds)."""
        now = time.monotonic()
        if now - self._polled < every:
            return
        self._polled = now
        try:
            with self.path.open("r", errors="replace") as log:
                log.seek(self._offset)
                text = log.read()
                self._offset = log.tell()
        except OSError:
            return
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        for line in lines:
            match = _CALL_LINE.match(line)
            if match:
                ended = time.mktime(time.strptime(match[1], "%Y-%m-%d %H:%M:%S")) + int(match[2]) / 1000
                self.sessions.append(Session(match[3], match[4], match[5], match[6],
                                             ended - int(match[7]) / 1000, ended))

    def flag_session(self, uniqueid: str, since: float) -> Session | None:
        """The ``flag`` session of this channel that started after ``since`` (1 ms log resolution)."""
        return next((s for s in self.sessions if s.script == "flag" and s.uniqueid == uniqueid
                     and s.started >= since - 0.002), None)


# ---------------------------------------------------------------- the background calls


class BackgroundCalls:
    """Keeps ``target`` Local-channel calls in progress through ``respectline-queue`` (queue
    ``support``, Local agents): each is screened, waits, talks and ends with ``post_call`` as in
    ``make bench-calls``' waves, and a new call replaces it, so the server also serves new calls'
    sessions all along. Originates at most ``rate`` calls a second."""

    def __init__(self, stack: BenchCallStack, *, rate: float = 40.0) -> None:
        asterisk = stack.asterisk
        self.stack = stack
        self.load = AmiLoadGenerator(asterisk.ami_port, asterisk.ami_username, asterisk.ami_secret)
        self.rate = rate
        self.target = 0
        self.calls: list[CallTimes] = []
        self._live: list[CallTimes] = []
        self._count = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="background-calls", daemon=True)
        self._thread.start()

    def in_progress(self) -> int:
        with self._lock:
            return sum(not call.done for call in self._live)

    def failed(self) -> list[str]:
        with self._lock:
            return [f"{c.call_id}: {c.failure}" for c in self.calls if c.failure]

    def reached(self) -> bool:
        """``target`` calls are up and (nearly) all of them connected to an agent."""
        with self._lock:
            live = [c for c in self._live if not c.done]
            connected = sum(c.agent_connected is not None for c in live)
        return len(live) >= self.target and connected >= self.target - max(2, self.target // 20)

    def _run(self) -> None:
        next_at = time.monotonic()
        context = self.stack.script.caller_context("hangup")
        while not self._stop.wait(0.02):
            with self._lock:
                self._live = [c for c in self._live if not c.done]
                missing = self.target - len(self._live)
            now = time.monotonic()
            while missing > 0 and now >= next_at:
                index = self._count
                self._count += 1
                call = self.load.originate(f"bg{index:05d}", channel=f"Local/{BENCH_QUEUE}@respectline-queue/n",
                                           context=context, caller_number=caller_number(index % 100000))
                with self._lock:
                    self.calls.append(call)
                    self._live.append(call)
                missing -= 1
                next_at = max(next_at + 1.0 / self.rate, now - 1.0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.load.close()


# ---------------------------------------------------------------- presses


@dataclass
class Press:
    """One code pressed by an agent, and what followed; times are epoch seconds."""

    kind: str
    code: str
    pair: int
    call: str
    agent: str
    caller_channel_prefix: str
    agent_channel_prefix: str
    caller_port: int
    agent_port: int
    event_pt: int
    sent: float
    """When the bench asked pjsua2 to send the code (this process's clock)."""
    key_down: float | None = None
    """First RTP event packet of the code's last digit, as Asterisk received it."""
    key_up: float | None = None
    """First end packet of the last digit: from here Asterisk knows the code. ``t0``."""
    first_digit_down: float | None = None
    digit_ms: float | None = None
    asterisk_dtmf_end: float | None = None
    """Asterisk's DTMFEnd event of the last digit on the agent's channel."""
    session_start: float | None = None
    """The server accepted Asterisk's FastAGI connection (server log)."""
    session_end: float | None = None
    outcome: str = ""
    uniqueid: str = ""
    first_command: float | None = None
    """Asterisk received the server's first AGI command (AGIExecStart)."""
    stream_start: float | None = None
    """Asterisk started the first STREAM FILE (AGIExecStart; its stamp can lag on a busy Asterisk)."""
    wire_connect: float | None = None
    """Asterisk's SYN to the FastAGI server (on the wire, like every ``wire_`` time)."""
    wire_env_end: float | None = None
    """The end of the environment Asterisk sends."""
    wire_first_command: float | None = None
    """The server's first AGI command."""
    wire_stream: float | None = None
    """The server's first STREAM FILE."""
    commands: int = 0
    """AGI commands the server sent before that STREAM FILE."""
    server_think: float | None = None
    """Seconds the server took between Asterisk's replies and its next commands, up to the STREAM FILE
    (from the end of the environment to the first command included)."""
    exchanges: list[tuple[str, float, float | None]] = field(default_factory=list)
    """Per command up to the STREAM FILE: its first 40 characters, the server's time before it and
    Asterisk's time to reply to it (milliseconds)."""
    sound: str = ""
    audio_onset: float | None = None
    """First packet to the caller louder than -40 dBFS after the STREAM FILE."""
    prompt_start: float | None = None
    """The packet holding the prompt's first sample, found by correlation with the prompt's audio."""
    match_score: float | None = None
    failure: str = ""

    @property
    def heard(self) -> float | None:
        """When the caller got the first audio of the answer: the prompt's first packet, or the
        first loud one if the correlation did not confirm the prompt."""
        return self.prompt_start if self.prompt_start is not None else self.audio_onset

    @property
    def server_part(self) -> float | None:
        """Of the latency, the time the FastAGI server held the call: from the environment to its
        first command, and between each reply and its next command, up to the STREAM FILE."""
        return self.server_think if self.latency is not None else None

    @property
    def asterisk_part(self) -> float | None:
        """Everything else: Asterisk (the digit, the feature, the connection, each command, the file
        and the first frame), and whatever else the machine made it wait for."""
        if self.latency is None or self.server_think is None:
            return None
        return self.latency - self.server_think

    @property
    def latency(self) -> float | None:
        """Key released (t0) -> first audio at the caller (t1), seconds."""
        if self.key_up is None or self.heard is None or self.failure:
            return None
        return self.heard - self.key_up

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["latency_ms"] = None if self.latency is None else self.latency * 1000
        data["server_part_ms"] = None if self.server_part is None else self.server_part * 1000
        return data


@dataclass
class Plan:
    """What one pair does, call after call."""

    long_every: int = 2
    """Every ``long_every``-th call is long (two presses); the others are short. 1: all long;
    0: all short."""
    seconds: tuple[str, ...] = ("warning", "closing")
    """The second press of long calls, in turn."""
    settle: float = 1.5
    """Seconds between the agent's answer (or the end of the previous flag) and the press."""
    codes: dict[str, str] = field(default_factory=lambda: {"first": "*1", "warning": "*3", "closing": "*1"})


class Pair:
    """A caller and whichever agent answers; a small state machine run from the pump loop."""

    def __init__(self, index: int, caller: RemoteCaller, run: PressRun) -> None:
        self.index = index
        self.run = run
        self.caller = caller
        self.caller_name = caller.username
        self.state = "idle"
        self.next_at = time.monotonic() + 0.7 * index
        self.ports: tuple[int, ...] = ()
        self.deadline = 0.0
        self.calls = 0
        self.long_calls = 0
        self.agent: SipAgent | None = None
        self.number = ""
        self.kinds: list[str] = []
        self.press: Press | None = None
        self.heard_by = 0.0
        self.presses: list[Press] = []
        self.done = False

    # --------------------------------------------------------------- steps

    def step(self, now: float) -> None:
        if self.done:
            return
        handler: Callable[[float], None] = getattr(self, f"_on_{self.state}")
        handler(now)

    def _on_idle(self, now: float) -> None:
        if now < self.next_at:
            return
        if not self.run.wants_more():
            self.done = True
            return
        plan = self.run.plan
        long = plan.long_every > 0 and self.calls % plan.long_every == 0
        self.calls += 1
        if long:
            second = plan.seconds[self.long_calls % len(plan.seconds)]
            self.long_calls += 1
            self.kinds = ["first", second]
        else:
            self.kinds = ["first"]
        self.run.reserve(len(self.kinds))
        digits = self.run.next_number()
        self.number = f"+3247{digits}"
        self.caller.call(f"{DIAL_PREFIX}{digits}")
        self.state, self.deadline = "connecting", now + CONNECT_TIMEOUT

    def _on_connecting(self, now: float) -> None:
        if self.caller.state is PeerState.DISCONNECTED:
            return self._fail(now, f"call refused or dropped ({self.caller.disconnect_reason})")
        if self.caller.state is PeerState.CONNECTED and self.caller.rtp_port:
            agent = self.run.agent_for(self.number)
            if agent is not None:
                self.agent = agent
                self.state, self.next_at = "ready", now + self.run.plan.settle + random.uniform(0, 0.3)
                return
        if now > self.deadline:
            self._fail(now, "no agent answered in time")

    def _on_ready(self, now: float) -> None:
        if self._dropped():
            return self._fail(now, "call ended before the press")
        if now < self.next_at:
            return
        assert self.agent is not None
        kind = self.kinds.pop(0)
        caller_port = self.caller.rtp_port
        agent_port, event_pt = _rtp_ports(self.agent)
        self.run.capture.watch(caller_port, agent_port)
        self.ports = (caller_port, agent_port)
        code = self.run.plan.codes[kind]
        self.press = Press(kind=kind, code=code, pair=self.index, call=self.number, agent=self.agent.username,
                           caller_channel_prefix=f"PJSIP/{self.caller_name}-",
                           agent_channel_prefix=f"PJSIP/{self.agent.username}-", caller_port=caller_port,
                           agent_port=agent_port, event_pt=event_pt, sent=time.time())
        self.agent.press(code)
        self.state, self.deadline = "pressed", now + PRESS_TIMEOUT

    def _on_pressed(self, now: float) -> None:
        press = self.press
        assert press is not None
        if press.stream_start is None:
            stream = self.run.ami.find(press.caller_channel_prefix, press.sent, "AGIExecStart",
                                       lambda e: e.fields.get("Command", "").startswith("STREAM FILE"))
            if stream is not None:
                press.stream_start = stream.at
                press.uniqueid = stream.uniqueid
                self.heard_by = now + HEAR_FOR
        if press.stream_start is not None and not self.kinds and now >= self.heard_by:
            return self._finish(now)  # the last press: hear the start of the answer, then hang up
        if press.stream_start is not None and self.kinds:
            self.run.server_log.poll(every=0.05)
            if self.run.server_log.flag_session(press.uniqueid, press.sent) is not None:
                # The flag's AGI session is over: the next code would otherwise wait for it.
                self._record()
                self.state, self.next_at = "ready", now + self.run.plan.settle
                return
        if self._dropped() and press.stream_start is None:
            return self._fail(now, "call ended before the answer")
        if now > self.deadline:
            self._fail(now, "no answer to the code in time")

    def _on_hanging(self, now: float) -> None:
        agent_free = self.agent is None or not self.agent.in_call
        if (not self.caller.in_call and agent_free) or now > self.deadline:
            self.agent = None
            self.run.capture.forget(*self.ports)
            self.ports = ()
            self.state, self.next_at = "idle", now + 0.2

    # --------------------------------------------------------------- endings

    def _dropped(self) -> bool:
        return self.caller.state is not PeerState.CONNECTED

    def _finish(self, now: float) -> None:
        self._record()
        self._hang_up(now)

    def _record(self) -> None:
        press, self.press = self.press, None
        if press is not None:
            self.run.settle(press)
            self.presses.append(press)

    def _fail(self, now: float, reason: str) -> None:
        if self.press is not None:
            self.press.failure = reason
        else:
            self.run.failures.append(f"pair {self.index + 1}, call {self.number or '-'}: {reason}")
        self._record()
        self.run.release(len(self.kinds))
        self.kinds = []
        self._hang_up(now)

    def _hang_up(self, now: float) -> None:
        self.caller.hangup()
        self.state, self.deadline = "hanging", now + 10.0


def _rtp_ports(peer: SipAgent) -> tuple[int, int]:
    """The peer's local RTP port and the payload type of its telephone events."""
    call = peer._call  # noqa: SLF001 - the sandbox's peer keeps its pjsua2 call private
    if call is None:
        raise RuntimeError(f"{peer.username} has no call")
    local = str(call.getMedTransportInfo(0).localRtpName)
    return int(local.rsplit(":", 1)[1]), int(call.getStreamInfo(0).audTxEventPt)


# ---------------------------------------------------------------- one measurement


class PressRun:
    """Pairs pressing codes until ``presses`` presses were made; what each press cost."""

    def __init__(self, stack: BenchCallStack, phones: BenchPhones, callers: CallerProcess,
                 agents: Sequence[SipAgent], capture: RtpCapture, ami: AmiEventLog, server_log: ServerLog, *,
                 presses: int, plan: Plan, numbers: Iterator[str]) -> None:
        self.stack, self.phones, self.agents, self.link = stack, phones, list(agents), callers
        self.capture, self.ami, self.server_log = capture, ami, server_log
        self.plan = plan
        self.target = presses
        self.reserved = 0
        self._numbers = numbers
        self.failures: list[str] = []
        self._prompts: dict[str, np.ndarray] = {}
        self.pairs = [Pair(i, caller, self) for i, caller in enumerate(callers.callers.values())]
        self.started = time.time()
        self.ended = 0.0

    def wants_more(self) -> bool:
        return self.reserved < self.target

    def reserve(self, count: int) -> None:
        self.reserved += count

    def release(self, count: int) -> None:
        self.reserved -= count

    def next_number(self) -> str:
        return next(self._numbers)

    def agent_for(self, number: str) -> SipAgent | None:
        for agent in self.agents:
            record = agent.last_call
            if agent.state is PeerState.CONNECTED and record is not None and number in record.remote_uri:
                return agent
        return None

    def run(self, timeout: float) -> list[Press]:
        deadline = time.monotonic() + timeout
        while not all(pair.done for pair in self.pairs):
            self.phones.pump(0.01)
            self.link.poll()
            now = time.monotonic()
            for pair in self.pairs:
                pair.step(now)
            if now > deadline:
                self.failures.append(f"the run did not finish within {timeout:.0f} s")
                for pair in self.pairs:
                    pair.caller.hangup()
                break
        self.ended = time.time()
        presses = [press for pair in self.pairs for press in pair.presses]
        self._late_sessions(presses)
        return presses

    def _late_sessions(self, presses: list[Press]) -> None:
        """A press whose caller hung up while its flag session ran was analysed before the session
        ended: its session is read from the log now."""
        missing = [p for p in presses if p.uniqueid and p.session_start is None]
        deadline = time.monotonic() + 3.0
        while missing and time.monotonic() < deadline:
            self.phones.pump(0.1)
            self.link.poll()
            self.server_log.poll()
            for press in list(missing):
                session = self.server_log.flag_session(press.uniqueid, press.sent)
                if session is not None:
                    press.session_start, press.session_end = session.started, session.ended
                    press.outcome = session.outcome
                    missing.remove(press)

    # --------------------------------------------------------------- analysis

    def settle(self, press: Press) -> None:
        """Everything about ``press`` that the capture, AMI and the log hold (called when the press
        is over, before its ports are forgotten)."""
        try:
            self._analyse(press)
        except Exception as error:  # noqa: BLE001 - one bad press must not end the run
            press.failure = press.failure or f"analysis failed: {error!r}"

    def _analyse(self, press: Press) -> None:
        last = press.code[-1]
        events = telephone_events(self.capture.packets_from(press.agent_port, press.sent - 0.05), press.event_pt)
        digits = [e for e in events if e.ended is not None][:len(press.code)]
        if "".join(e.digit for e in digits) == press.code:
            press.first_digit_down = digits[0].began
            press.key_down, press.key_up, press.digit_ms = digits[-1].began, digits[-1].ended, digits[-1].duration_ms
        dtmf = self.ami.find(press.agent_channel_prefix, press.sent - 0.05, "DTMFEnd",
                             lambda e: e.fields.get("Digit") == last and e.fields.get("Direction") == "Received")
        press.asterisk_dtmf_end = dtmf.at if dtmf else None
        if press.key_up is None and dtmf is not None:
            press.key_up = dtmf.at  # no capture of the digit: Asterisk's own time of it
        first = self.ami.find(press.caller_channel_prefix, press.key_up or press.sent, "AGIExecStart")
        if first is not None:
            press.first_command = first.at
            press.uniqueid = press.uniqueid or first.uniqueid
        stream = self.ami.find(press.caller_channel_prefix, press.key_up or press.sent, "AGIExecStart",
                               lambda e: e.fields.get("Command", "").startswith("STREAM FILE"))
        if stream is not None:
            press.stream_start = stream.at
            press.sound = _first_argument(stream.fields.get("Command", ""))
        if press.uniqueid:
            self._wire_split(press)
        self.server_log.poll()
        session = self.server_log.flag_session(press.uniqueid, press.sent) if press.uniqueid else None
        if session is not None:
            press.session_start, press.session_end, press.outcome = session.started, session.ended, session.outcome
        if press.stream_start is not None:
            self._find_audio(press)
        if not press.failure:
            if press.key_up is not None and press.stream_start is not None and press.stream_start < press.key_up:
                press.failure = "the answer began before the code's last digit (a shorter code matched first)"
            elif press.key_up is None:
                press.failure = "the code's digits were not seen"
            elif press.stream_start is None:
                press.failure = "no STREAM FILE followed the code"
            elif press.heard is None:
                press.failure = "no audio reached the caller"

    def _wire_split(self, press: Press) -> None:
        """The FastAGI session on the wire: connect, environment, each command and reply."""
        session = self.capture.agi_session(press.uniqueid, press.sent - 0.05)
        if session is None:
            return
        press.wire_connect = session.connect
        press.wire_env_end = env_end = session.environment_end()
        exchanges = session.exchanges()
        if env_end is None or not exchanges:
            return
        press.wire_first_command = exchanges[0][0]
        think, last_reply = 0.0, env_end
        for sent, line, replied in exchanges:
            think += sent - last_reply
            press.exchanges.append((line[:40], (sent - last_reply) * 1000,
                                    None if replied is None else (replied - sent) * 1000))
            if line.startswith("STREAM FILE"):
                press.wire_stream = sent
                break
            press.commands += 1
            if replied is None:
                return
            last_reply = replied
        if press.wire_stream is not None:
            press.server_think = think

    def _find_audio(self, press: Press) -> None:
        assert press.stream_start is not None
        packets = self.capture.packets_to(press.caller_port, press.stream_start - 0.02, press.stream_start + 3.0)
        packets.sort(key=lambda p: p.at)
        audio = [(p, _decode(p)) for p in packets if p.payload_type in (0, 8)]
        onset = next((i for i, (_, samples) in enumerate(audio) if np.abs(samples).max() > LOUD), None)
        if onset is None:
            return
        press.audio_onset = audio[onset][0].at
        prompt = self._prompt(press.sound)
        if prompt is None:
            return
        # The prompt starts at most a few packets before its first loud one (its lead-in silence).
        start = max(0, onset - 4)
        received = np.concatenate([samples for _, samples in audio[start:]])
        index, score = _locate(to_telephony_band(received, 8000), prompt, search=(onset - start + 1) * 160)
        press.match_score = score
        if score >= MATCH_THRESHOLD:
            packet = start + index // 160
            press.prompt_start = audio[min(packet, len(audio) - 1)][0].at

    def _prompt(self, sound: str) -> np.ndarray | None:
        if sound not in self._prompts:
            path = self.stack.asterisk.sounds_dir / f"{sound}.wav"
            if not path.is_file():
                return None
            samples, rate = load_audio(path)
            self._prompts[sound] = to_telephony_band(samples, rate)[: int(MATCH_SECONDS * 8000)]
        return self._prompts[sound]


def _decode(packet: RtpPacket) -> np.ndarray:
    codes = np.frombuffer(packet.payload, dtype=np.uint8)
    return ulaw_decode(codes) if packet.payload_type == 0 else alaw_decode(codes)


def _locate(received: np.ndarray, prompt: np.ndarray, *, search: int) -> tuple[int, float]:
    """Where in ``received`` (first ``search`` samples) ``prompt`` starts, and the normalised
    correlation there (about 0.9 through G.711, near 0 for other audio)."""
    size = min(len(prompt), len(received) - search)
    if size < 800:  # under 100 ms of audio to compare: no verdict
        return 0, 0.0
    prompt = prompt[:size]
    norm = float(np.sqrt(np.sum(prompt ** 2)))
    best, best_score = 0, -1.0
    for offset in range(0, search + 1):
        window = received[offset:offset + size]
        energy = float(np.sqrt(np.sum(window ** 2)))
        if energy == 0.0 or norm == 0.0:
            continue
        score = float(np.dot(window, prompt)) / (energy * norm)
        if score > best_score:
            best, best_score = offset, score
    return best, best_score


def _first_argument(command: str) -> str:
    """``STREAM FILE "respectline/en/x" "" "0"`` -> ``respectline/en/x``."""
    match = re.match(r'STREAM FILE\s+"?([^"\s]+)', command)
    return match[1] if match else ""


def numbers(seed: int = 0) -> Iterator[str]:
    """Seven-digit caller numbers, never twice in a run."""
    counter = seed
    while True:
        counter += 1
        yield f"{counter:07d}"

