"""The two Asterisk set-ups that ``bench/calls.py`` compares, built with the project's own harness.

Both are a :class:`~agi_scripts.sandbox.stack.RespectlineStack`: the generated Respectline
configuration (``respectline-queue`` context, queues, campaign hold-music classes, features), the
prompts and hold music installed, Asterisk started from its sandbox. What the benchmark adds, the
same in both variants:

- the queue members are Local channels (``Local/9NNNN@bench-agent/n``) instead of SIP phones:
  each agent rings for ``ring`` seconds, answers, talks for ``talk`` seconds and hangs up;
- ``bench-caller-hangup`` and ``bench-caller-survey`` play the caller's side of an originated Local
  channel (see :class:`CallScript`): one hangs up just after the agent, the other answers the
  compliment offer with its keys;
- callers and agents send audio, as phones do (a music-on-hold class of silence started in the
  background on their side of the Local channel), unless ``CallScript(audio=False)``;
- the queues get ``autofill = yes`` (every waiting caller rings a free agent at once), and AMI
  events carry Asterisk's timestamps.

``respectline`` is the stack as shipped (with ``respectline serve`` running). ``baseline`` is the
same generated dialplan with every ``AGI(...)`` line removed and no server: the routing falls through
exactly as it does when ``AGISTATUS`` is not ``SUCCESS`` (straight to the queue with the queue's own
hold music, and hang-up after the agent instead of ``post_call``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from agi_scripts.sandbox.demo import demo_flows
from agi_scripts.sandbox.stack import RespectlineStack, StackOptions

VARIANTS = ("baseline", "respectline")
BENCH_QUEUE = "support"
CALLER_CONTEXT = "bench-caller"
AGENT_CONTEXT = "bench-agent"
AGENT_EXTEN_PREFIX = "9"
BENCH_CAMPAIGN_ID = "bench-calls"
BENCH_CAMPAIGNS = f"""\
campaigns:
  - id: {BENCH_CAMPAIGN_ID}
    title: Benchmark campaign (every day, every hour)
    prompt: campaign_contact_day
    queues: [support, billing]
    first_after: 2s
    repeat_every: 15s
    offer_compliment: true
"""
"""Always running, so ``screen`` gives every call the campaign's hold playlist whatever the date;
the message starts 2 s into the wait so that even a short benchmark wait hears it."""

_AGI_LINE = re.compile(r"^\s*same\s*=>\s*n,AGI\(.*\)\s*$")


ANSWER_MEDIA_WAIT = 0.5
"""``Answer()`` waits up to 500 ms for the other side's first audio frame: with silent legs, the
caller's answer and the agent's each take this long."""
VOICE_CLASS = "bench-voice"
SOUND = f"StartMusicOnHold({VOICE_CLASS})"
"""A stream of audio frames (50 a second, from a silent sound file) sent in the background while the
dialplan goes on: what a phone sends, as Asterisk reads it from a real caller or agent."""
VOICE_MOH = f"""
; bench: what callers and agents "say" (a phone sends audio all through a call)
[{VOICE_CLASS}]
mode=playlist
entry=${{sounds_dir}}/en/silence/10
"""
BEHAVIOURS = ("hangup", "survey")


@dataclass(frozen=True)
class CallScript:
    """What every agent and caller does, in seconds.

    The agent rings for ``ring`` s, answers, talks for ``talk`` s and hangs up first. The caller's
    side is timed from the moment its call is answered (after ``screen``), so it knows when the agent
    hangs up: ``ANSWER_MEDIA_WAIT + ring + talk`` later. Then, by behaviour:

    - ``hangup``: the caller hangs up ``hangup_after`` s after the agent, as most callers do;
      ``post_call`` has started by then (and meets the hang-up).
    - ``survey``: the caller takes the compliment offer: ``first_key`` s after the agent hung up it
      presses 1 (yes), then 5 (stars) and 2 (no voice message) ``key_gap`` s apart, each key
      interrupting the prompt that asks for it; it stays ``linger`` s for the thanks (4.5 s), then
      hangs up if the dialplan has not already.

    With ``audio`` (the default) callers send audio from their answer on and agents from theirs,
    as phones do; without it both legs are silent, Asterisk only carries the hold music and prompts,
    and the caller's and the agent's ``Answer()`` each wait ``ANSWER_MEDIA_WAIT`` for a first frame.
    """

    ring: float = 3.0
    talk: float = 2.0
    hangup_after: float = 0.5
    first_key: float = 1.0
    key_gap: float = 1.0
    keys: str = "152"
    linger: float = 6.0
    audio: bool = True

    @property
    def agent_hangs_up(self) -> float:
        return (0.0 if self.audio else 2 * ANSWER_MEDIA_WAIT) + self.ring + self.talk

    def _sound(self) -> list[str]:
        return [f" same => n,{SOUND}"] if self.audio else []

    def caller_context(self, behaviour: str) -> str:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"behaviour must be one of {BEHAVIOURS}, not {behaviour!r}")
        return f"{CALLER_CONTEXT}-{behaviour}"

    def caller_dialplan(self) -> str:
        survey = ["exten => s,1,NoOp(caller)", *self._sound(),
                  f" same => n,Wait({self.agent_hangs_up + self.first_key:.2f})"]
        for index, key in enumerate(self.keys):
            if index:
                survey.append(f" same => n,Wait({self.key_gap:.2f})")
            survey.append(f" same => n,SendDTMF({key},150)")
        survey += [f" same => n,Wait({self.linger:.2f})", " same => n,Hangup()"]
        hangup = ["exten => s,1,NoOp(caller)", *self._sound(),
                  f" same => n,Wait({self.agent_hangs_up + self.hangup_after:.2f})", " same => n,Hangup()"]
        return (f"; The caller's side of an originated Local channel; runs once the call is answered.\n"
                f"[{self.caller_context('hangup')}]\n" + "\n".join(hangup) + "\n\n"
                f"[{self.caller_context('survey')}]\n" + "\n".join(survey) + "\n")

    def agent_dialplan(self) -> str:
        lines = [f"[{AGENT_CONTEXT}]", "; A queue member: rings, answers, talks, hangs up first.",
                 f"exten => _{AGENT_EXTEN_PREFIX}XXXX,1,Wait({self.ring:.2f})", " same => n,Answer()",
                 *self._sound(), f" same => n,Wait({self.talk:.2f})", " same => n,Hangup()"]
        return "\n".join(lines) + "\n"

    def caller_seconds(self, behaviour: str) -> float:
        """The longest a caller stays on the line after its call is answered."""
        if behaviour == "hangup":
            return self.agent_hangs_up + self.hangup_after
        return self.agent_hangs_up + self.first_key + self.key_gap * (len(self.keys) - 1) + self.linger


def strip_agi_lines(extensions_conf: str) -> tuple[str, int]:
    """The dialplan without its ``same => n,AGI(...)`` lines, and how many were removed. Only
    ``n``-priority lines are removed, so no extension loses its first priority or a label."""
    kept, removed = [], 0
    for line in extensions_conf.splitlines(keepends=True):
        if _AGI_LINE.match(line):
            removed += 1
            continue
        kept.append(line)
    text = "".join(kept)
    if "AGI(" in text:
        raise RuntimeError("an AGI() call is left in the baseline dialplan; bench/calls_stack.py needs updating")
    return text, removed


def agent_members(count: int) -> list[tuple[str, str]]:
    """(extension, member name) of each Local-channel agent. Numbers, because letters such as n, x
    and z are wildcards in an Asterisk extension pattern."""
    return [(f"{AGENT_EXTEN_PREFIX}{index:04d}", f"agent{index:04d}") for index in range(1, count + 1)]


class BenchCallStack(RespectlineStack):
    """A Respectline stack with Local-channel agents and callers; ``variant`` is ``respectline`` or
    ``baseline`` (the AGI lines removed and no server)."""

    def __init__(self, variant: str, work_dir: Path, *, agents: int, script: CallScript,
                 sip_agents: Mapping[str, Sequence[str]] | None = None, sip_callers: Sequence[str] = (),
                 db_url: str | None = None, edit_flows: Callable[[Path], None] | None = None,
                 edit_features: Callable[[str], str] | None = None, extra_dialplan: str = "") -> None:
        """``sip_agents`` (username -> queues) and ``sip_callers`` are pjsua2 phones' endpoints, as in
        the e2e tests, and ``extra_dialplan`` goes into the context their calls start in;
        ``edit_flows`` may change the flows' copy before the stack is generated from
        it; ``edit_features`` rewrites the sandbox's ``features.conf`` (experiments only: the
        product's generated part is what every figure is about)."""
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, not {variant!r}")
        self.variant = variant
        self.script = script
        self.agent_count = agents
        self.removed_agi_lines = 0
        self._edit_features = edit_features
        flows = demo_flows(work_dir, BENCH_CAMPAIGNS)
        if edit_flows is not None:
            edit_flows(flows)
        options = StackOptions(agents=dict(sip_agents or {}), callers=tuple(sip_callers), flows_dir=flows,
                               db_url=db_url, extra_dialplan=extra_dialplan, server=variant == "respectline")
        super().__init__(options, work_dir=work_dir / "stack")

    @property
    def server_pid(self) -> int | None:
        """The ``respectline serve`` process (None in the baseline)."""
        return self._server.pid if self._server is not None else None

    @property
    def asterisk_pid(self) -> int:
        pid = self.asterisk.pid
        if pid is None:
            raise RuntimeError("Asterisk is not running")
        return pid

    def _asterisk_files(self) -> dict[str, str]:
        files = super()._asterisk_files()
        extensions = files["extensions.conf"]
        if self.variant == "baseline":
            extensions, self.removed_agi_lines = strip_agi_lines(extensions)
        files["extensions.conf"] = (extensions + "\n" + self.script.caller_dialplan() + "\n"
                                    + self.script.agent_dialplan())
        members = "".join(f"member => Local/{exten}@{AGENT_CONTEXT}/n,0,{name}\n"
                          for exten, name in agent_members(self.agent_count))
        # "(+)" adds to the generated queue's section: its settings stay exactly as generated.
        files["queues.conf"] += f"\n[{BENCH_QUEUE}](+)\n{members}"
        # Every waiting caller rings a free agent at once, as contact centres configure it (the
        # sample queues.conf sets it); without it only the caller at the head of the queue rings.
        files["queues.conf"] += "\n[general](+)\nautofill = yes\n"
        # Asterisk's own timestamps on events, so set-up times do not include our reading delay.
        files["manager.conf"] = "[general](+)\ntimestampevents = yes\n"
        files["musiconhold.conf"] += VOICE_MOH
        if self._edit_features is not None:
            files["features.conf"] = self._edit_features(files["features.conf"])
        return files
