"""``screen``, ``post_call`` and ``flag`` as the benchmark runs them on every peer: the decisions of
the real handlers (``agi_scripts/handlers``) without store, config or file system, sending exactly
their commands, over pyst2's API.

Used by our server (``ctx.agi`` is pyst2's API made safe) and, unchanged, by the classic one-process-
per-call pyst2 script; panoramisk's async handlers (``bench/panoramisk_peer.py``) follow the same
lines with ``await request.send_command``. Standard library only: a classic AGI process imports
this at every call.

``EXEC`` goes through ``agi.execute('EXEC', app, agi._quote(data))`` rather than pyst2's
``exec_command``: pyst2 leaves the data unquoted, so Asterisk would split ``Agent: Agent One`` into
several arguments and run ``UserEvent`` with the first word only. Our safe AGI quotes every argument
itself (its ``_quote`` passes the value through), pyst2's ``_quote`` adds the quotes: either way
Asterisk reads one argument.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

CAMPAIGN = "bench"
LANGUAGES = ("nl", "fr", "en")
DEFAULT_LANGUAGE = "nl"
QUEUES = ("support", "billing")
RECORDINGS = "/var/spool/asterisk/monitor/respectline"
WARNINGS = {"verbal_abuse": "abuse_warning", "discrimination": "abuse_warning_discrimination"}
FLAG_READS = ("MEMBERINTERFACE", "RL_EVIDENCE", "RL_ROUTE", "QUEUENAME", "RL_FLAGS", "RL_LANGUAGE")
_compliment_ids = itertools.count(1)

Pyst2 = Any
"""pyst2's ``asterisk.agi.AGI`` or our ``SafeAGI`` (pyst2 ships no type hints)."""
BenchHandler = Callable[[Pyst2, Mapping[str, str], Sequence[str]], None]


def sound(language: str, prompt: str) -> str:
    return f"respectline/{language}/{prompt}"


def language_of(value: str) -> str:
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


def screen(agi: Pyst2, env: Mapping[str, str], args: Sequence[str]) -> None:
    queue = args[0] if args else ""
    if queue not in QUEUES:
        return
    language = language_of(env.get("agi_language", ""))
    agi.set_variable("RL_LANGUAGE", language)
    agi.set_variable("RL_ROUTE", queue)
    agi.set_variable("RL_NOTICE", "")
    agi.set_variable("RL_MUSICCLASS", f"rl-{CAMPAIGN}-{language}")
    agi.set_variable("RL_CAMPAIGN", CAMPAIGN)
    agi.set_variable("RL_OFFER_COMPLIMENT", "1")


def post_call(agi: Pyst2, env: Mapping[str, str], args: Sequence[str]) -> None:
    agent = agi.get_variable("MEMBERINTERFACE")  # unnamed in the bench's config: the device is the name
    if not agent:
        return
    language = language_of(agi.get_variable("RL_LANGUAGE") or env.get("agi_language", ""))
    queue = agi.get_variable("RL_ROUTE")
    campaign = agi.get_variable("RL_CAMPAIGN")
    if agi.stream_file(sound(language, "compliment_offer"), "1") != "1":
        agi.stream_file(sound(language, "compliment_goodbye"))
        return
    rating = agi.stream_file(sound(language, "compliment_rate"), "12345")
    if rating:
        agi.stream_file(sound(language, "compliment_record_offer"), "12")
    details = [f"Agent: {agent}", f"Queue: {queue}", f"Campaign: {campaign}", f"Rating: {rating}",
               "Recording: no", f"ComplimentId: {next(_compliment_ids)}"]
    agi.execute("EXEC", "UserEvent", agi._quote(",".join(["RespectlineCompliment", *details])))
    agi.stream_file(sound(language, "compliment_thanks"))


def flag(agi: Pyst2, env: Mapping[str, str], args: Sequence[str]) -> None:
    category = args[0] if args else ""
    uniqueid = env.get("agi_uniqueid", "")
    if category not in WARNINGS or not uniqueid:
        return
    started = time.time()
    values = agi.get_full_variable("|~|".join("${%s}" % name for name in FLAG_READS)).split("|~|")
    read = dict(zip(FLAG_READS, values))
    evidence = read.get("RL_EVIDENCE", "")
    language = language_of(read.get("RL_LANGUAGE", "") or env.get("agi_language", ""))
    if not evidence:
        now = time.gmtime()
        evidence = f"{RECORDINGS}/evidence/{now.tm_year:04d}/{now.tm_mon:02d}/{uniqueid}.wav"
        agi.stream_file(sound(language, "recording_notice"))
        agi.execute("EXEC", "MixMonitor", agi._quote(evidence))
        agi.set_variable("RL_EVIDENCE", evidence)
    agi.stream_file(sound(language, WARNINGS[category]))
    agi.set_variable("RL_FLAGS", f"{category}:1:{started:.3f}:{time.time():.3f}")
    agi.set_variable("RL_OFFER_COMPLIMENT", "0")


HANDLERS: dict[str, BenchHandler] = {"screen": screen, "post_call": post_call, "flag": flag}


def dialplan_args(env: Mapping[str, str]) -> list[str]:
    args: list[str] = []
    while (value := env.get(f"agi_arg_{len(args) + 1}")) is not None:
        args.append(value)
    return args
