"""What the end-to-end tests do with phones, shared by every test module (none imports another)."""

from __future__ import annotations

from pathlib import Path

from agi_scripts.sandbox.asterisk import AsteriskSandbox
from agi_scripts.sandbox.sip import PeerState, SipAgent, SipCaller, SipPhoneSystem


def connect(phones: SipPhoneSystem, caller: SipCaller, agent: SipAgent, number: str) -> None:
    """The caller dials ``number`` and the agent answers the queue call."""
    answered = agent.calls_answered
    caller.call(number)
    phones.wait_until(lambda: agent.calls_answered > answered and agent.state is PeerState.CONNECTED,
                      30, "agent answered the queue call")
    phones.wait_until(lambda: caller.state is PeerState.CONNECTED, 5, "caller connected")


def hang_up(phones: SipPhoneSystem, peer: SipAgent | SipCaller, *others: SipAgent | SipCaller,
            settle: float = 0.3) -> None:
    """``peer`` hangs up; waits until it and ``others`` are disconnected, then ``settle`` seconds
    (recordings are finalised; a post-call flow finishes its book-keeping)."""
    peer.hangup()
    phones.wait_until(lambda: all(p.state is PeerState.DISCONNECTED for p in (peer, *others)),
                      15, "everyone disconnected")
    phones.pump(settle)


def running_applications(asterisk: AsteriskSandbox) -> set[str]:
    rows = [line.split("!") for line in asterisk.rx("core show channels concise").splitlines()]
    return {row[5] for row in rows if len(row) > 5}


def shorten_pauses(flows: Path, seconds: int) -> None:
    """Every ``pause_agent`` of the shipped ladder (5, 10 and 15 minutes) lasts ``seconds`` instead."""
    policy = flows / "abuse_policy.yaml"
    text = policy.read_text()
    for shipped in ("5m", "10m", "15m"):
        assert f"pause_agent: {shipped}" in text, f"the shipped ladder has no pause_agent: {shipped}"
        text = text.replace(f"pause_agent: {shipped}", f"pause_agent: {seconds}s")
    policy.write_text(text)


def agent_paused(asterisk: AsteriskSandbox, queue: str = "support", agent: str = "agent1") -> bool:
    """Whether ``agent`` is paused in ``queue``, as ``queue show`` says."""
    lines = [line for line in asterisk.rx(f"queue show {queue}").splitlines() if f"PJSIP/{agent})" in line]
    assert lines, f"{agent} is not a member of {queue}"
    return "paused" in lines[0].lower()
