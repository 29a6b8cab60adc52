"""The sessions the fake Asterisk replays: what it sends, which commands it expects, what it answers.

Each session is a real Respectline call path, as the shipped handlers run it on the shipped flows
(checked against ``agi_scripts/handlers`` with a capture of their wire output):

- ``screen``: a call enters queue ``support``; six ``SET VARIABLE`` (route, campaign, music class...).
- ``post_call``: the agent hung up; five ``GET VARIABLE``, then the compliment flow: the caller
  presses 1 (yes), 5 (stars), 2 (no voice message), hears the thanks; an ``EXEC UserEvent`` announces it.
- ``flag``: an agent pressed the verbal-abuse code; one ``GET FULL VARIABLE``, the evidence recording
  (notice, ``EXEC MixMonitor``, ``SET VARIABLE``), the warning prompt, then the call's flag memory.

A server passes a session only if it sends exactly these commands, compared as Asterisk reads them
(:func:`parse_agi_args` is a port of ``parse_args`` in ``res/res_agi.c``): quoting may differ between
peers (pyst2 leaves some arguments bare), what Asterisk would execute may not.

The replies are what Asterisk 22 answers, instantly: the benchmark measures the server, not media.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

LANGUAGE = "nl"
CAMPAIGN = "bench"
"""The campaign id the real stack's bench config runs (``rl-bench-nl`` is its music class)."""
QUEUE = "support"
AGENT_VARIABLES = {
    "MEMBERINTERFACE": "PJSIP/agent1",
    "BRIDGEPEER": "PJSIP/agent1-00000002",
    "RL_ROUTE": QUEUE,
    "RL_LANGUAGE": LANGUAGE,
    "RL_CAMPAIGN": CAMPAIGN,
}
"""The caller's channel after ``Queue()`` with ``setinterfacevar=yes`` and ``screen``."""

SESSION_KINDS = ("screen", "post_call", "flag")


def parse_agi_args(line: str) -> list[str]:
    """The argv Asterisk's ``parse_args`` makes of one command line: words split on unquoted blanks,
    ``"`` toggles quoting, ``\\`` makes the next character literal."""
    argv: list[str] = []
    word: list[str] | None = None  # None: between words (Asterisk's "whitespace" state)
    quoted = escaped = False
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and word is None:
                word = []
            continue
        if ch in " \t" and not quoted and not escaped:
            if word is not None:
                argv.append("".join(word))
                word = None
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        if word is None:
            word = []
        word.append(ch)
        escaped = False
    if word is not None:
        argv.append("".join(word))
    return argv


class Matcher:
    """One expected argument."""

    fixed = True
    """The same text in every session (so a line once accepted can be accepted by its bytes)."""

    def matches(self, value: str, uniqueid: str) -> bool:
        raise NotImplementedError


@dataclass(frozen=True)
class Exact(Matcher):
    text: str

    def matches(self, value: str, uniqueid: str) -> bool:
        return value == self.text


@dataclass(frozen=True)
class Regex(Matcher):
    """A value the server computes (an id from its store): checked by shape."""

    pattern: str
    fixed = False

    def matches(self, value: str, uniqueid: str) -> bool:
        return re.fullmatch(self.pattern, value) is not None


@dataclass(frozen=True)
class EvidenceFile(Matcher):
    """``<recordings>/evidence/YYYY/MM/<uniqueid>.wav``; the recordings folder is each server's own."""

    fixed = False

    def matches(self, value: str, uniqueid: str) -> bool:
        head, _, name = value.rpartition("/")
        return name == f"{uniqueid}.wav" and re.search(r"/evidence/\d{4}/\d{2}$", head) is not None


@dataclass
class Step:
    """One command the server must send and the reply Asterisk gives it."""

    expected: tuple[Matcher, ...]
    reply: bytes
    accepted: set[bytes] = field(default_factory=set)
    """Raw lines already checked for a fixed step (any peer's spelling): a set lookup next time."""

    @property
    def fixed(self) -> bool:
        return all(m.fixed for m in self.expected)

    @property
    def verb(self) -> str:
        """``GET VARIABLE``, ``STREAM FILE``, ``EXEC``...: for the per-command breakdown."""
        words = [m.text if isinstance(m, Exact) else "?" for m in self.expected[:2]]
        return " ".join(words) if words[0] in ("GET", "SET", "STREAM", "WAIT", "RECORD") else words[0]

    def accepts(self, line: bytes, uniqueid: str) -> bool:
        if line in self.accepted:
            return True
        argv = parse_agi_args(line.decode("utf-8", "replace"))
        ok = len(argv) == len(self.expected) and all(
            m.matches(a, uniqueid) for m, a in zip(self.expected, argv))
        if ok and self.fixed and len(self.accepted) < 64:
            self.accepted.add(line)
        return ok


@dataclass
class SessionScript:
    kind: str
    args: tuple[str, ...]
    steps: list[Step]


def _step(words: Sequence[str | Matcher], reply: str) -> Step:
    matchers = tuple(w if isinstance(w, Matcher) else Exact(w) for w in words)
    return Step(matchers, (reply + "\n").encode())


def _get(name: str, variables: dict[str, str]) -> Step:
    value = variables.get(name)
    return _step(["GET", "VARIABLE", name], f"200 result=1 ({value})" if value is not None else "200 result=0")


FLAG_READS = ("MEMBERINTERFACE", "RL_EVIDENCE", "RL_ROUTE", "QUEUENAME", "RL_FLAGS", "RL_LANGUAGE")
"""What ``flag`` reads of the channel, in one ``GET FULL VARIABLE`` (``handlers/callinfo.read_variables``)."""
SEPARATOR = "|~|"


def _get_full(names: Sequence[str], variables: dict[str, str]) -> Step:
    expression = SEPARATOR.join("${%s}" % name for name in names)
    value = SEPARATOR.join(variables.get(name, "") for name in names)
    return _step(["GET", "FULL", "VARIABLE", expression], f"200 result=1 ({value})")


def _set(name: str, value: str | Matcher) -> Step:
    return _step(["SET", "VARIABLE", name, value], "200 result=1")


def _stream(prompt: str, escape: str, key: str = "", endpos: int = 24000) -> Step:
    """``endpos``: samples played at 8 kHz (a 3-second prompt, or where the key interrupted it)."""
    result = ord(key) if key else 0
    return _step(["STREAM", "FILE", f"respectline/{LANGUAGE}/{prompt}", escape, "0"],
                 f"200 result={result} endpos={endpos}")


def _exec(application: str, data: str | Matcher) -> Step:
    return _step(["EXEC", application, data], "200 result=0")


def screen_script() -> SessionScript:
    return SessionScript("screen", (QUEUE,), [
        _set("RL_LANGUAGE", LANGUAGE),
        _set("RL_ROUTE", QUEUE),
        _set("RL_NOTICE", ""),
        _set("RL_MUSICCLASS", f"rl-{CAMPAIGN}-{LANGUAGE}"),
        _set("RL_CAMPAIGN", CAMPAIGN),
        _set("RL_OFFER_COMPLIMENT", "1"),
    ])


def post_call_script() -> SessionScript:
    v = AGENT_VARIABLES
    event = (f"RespectlineCompliment,Agent: {v['MEMBERINTERFACE']},Queue: {QUEUE},Campaign: {CAMPAIGN},"
             "Rating: 5,Recording: no,ComplimentId: ")
    return SessionScript("post_call", (), [
        _get("MEMBERINTERFACE", v),
        _get("RL_LANGUAGE", v),
        _get("RL_ROUTE", v),
        _get("RL_CAMPAIGN", v),
        _stream("compliment_offer", "1", key="1", endpos=11200),
        _stream("compliment_rate", "12345", key="5", endpos=15040),
        _stream("compliment_record_offer", "12", key="2", endpos=9600),
        _exec("UserEvent", Regex(re.escape(event) + r"[0-9]+")),
        _stream("compliment_thanks", ""),
    ])


def flag_script() -> SessionScript:
    v = AGENT_VARIABLES
    return SessionScript("flag", ("verbal_abuse",), [
        _get_full(FLAG_READS, v),
        _stream("recording_notice", ""),
        _exec("MixMonitor", EvidenceFile()),
        _set("RL_EVIDENCE", EvidenceFile()),
        _stream("abuse_warning", "", endpos=40000),
        _set("RL_FLAGS", Regex(r"verbal_abuse:1:[0-9]+\.[0-9]{3}:[0-9]+\.[0-9]{3}")),
        _set("RL_OFFER_COMPLIMENT", "0"),
    ])


def all_scripts() -> dict[str, SessionScript]:
    return {"screen": screen_script(), "post_call": post_call_script(), "flag": flag_script()}


# ---------------------------------------------------------------- the environment

_ENVIRONMENT = (
    "agi_network: yes\n"
    "agi_network_script: {script}\n"
    "agi_request: agi://127.0.0.1:{port}/{script}\n"
    "agi_channel: PJSIP/caller-{serial:08x}\n"
    "agi_language: " + LANGUAGE + "\n"
    "agi_type: PJSIP\n"
    "agi_uniqueid: {uniqueid}\n"
    "agi_version: 22.10.1\n"
    "agi_callerid: +3247{serial7:07d}\n"
    "agi_calleridname: Caller {serial}\n"
    "agi_callingpres: 0\n"
    "agi_callingani2: 0\n"
    "agi_callington: 0\n"
    "agi_callingtns: 0\n"
    "agi_dnid: 100\n"
    "agi_rdnis: unknown\n"
    "agi_context: incoming\n"
    "agi_extension: 100\n"
    "agi_priority: 2\n"
    "agi_enhanced: 0.0\n"
    "agi_accountcode: \n"
    "agi_threadid: 1400000{serial7:07d}\n"
    "{args}\n"
)


def environment(script: SessionScript, port: int, serial: int, uniqueid: str) -> bytes:
    """What Asterisk 22's ``launch_netscript`` sends for ``AGI(agi://127.0.0.1:PORT/SCRIPT,ARGS)``:
    the ``agi_*`` lines, the dialplan arguments, a blank line."""
    args = "".join(f"agi_arg_{i}: {a}\n" for i, a in enumerate(script.args, start=1))
    return _ENVIRONMENT.format(script=script.kind, port=port, serial=serial, serial7=serial % 10_000_000,
                               uniqueid=uniqueid, args=args).encode()
