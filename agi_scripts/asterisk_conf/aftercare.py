"""The dialplan of aftercare (``aftercare:`` in ``flows/abuse_policy.yaml``).

- ``[respectline-checkin]``: AMI ``Originate`` (``policy.checkins``) rings a person on duty into it. They
  hear the summary and press 1 (connect me to the agent: ``Dial`` of the agent's phone) or 2 (someone
  already talked to them). Each step is a ``UserEvent(RespectlineCheckIn)`` the keeper follows; when the
  agent answers, ``[respectline-checkin-answered]`` says so from the agent's channel.
- the agent's own line (``agent_line.code``, ``*89``) in ``[respectline-agents]``: ``AGI(agent_line)``.

Every channel variable is filtered before use (``FILTER``): the id to hex digits, the language to letters,
the agent's phone to the characters of an endpoint, the wait to digits, the spoken summary's path to those
of a file path (played only when it starts with ``/``; otherwise the catalog's generic prompt). So a value that slipped past the
keeper's checks still cannot add a destination to the ``Dial`` or an argument to an application.
"""

from __future__ import annotations

from agi_scripts.config.bundle import Bundle

CONTEXT = "respectline-checkin"
LISTEN_CONTEXT = "respectline-listen"
NOBODY_CONTEXT = "respectline-listen-nobody"
ANSWERED_CONTEXT = "respectline-checkin-answered"
_HEX = "0123456789abcdef"
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_ENDPOINT = "-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/@._+"
"""Endpoint characters; the hyphen first, so FILTER does not read it as a range."""
_DIGITS = "0123456789"
_PATH = "-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/._"
"""The characters of a spoken summary's path (``prompts.spoken.PLAYABLE_PATH``); the hyphen first."""
SUMMARY = "${RL_CHECKIN_SUMMARY}"
_STEP = "UserEvent(RespectlineCheckIn,CheckIn: ${RL_CHECKIN},Step: "


def checkin_dialplan(bundle: Bundle) -> str:
    """The two check-in contexts, or a comment saying no roster is configured."""
    aftercare = bundle.abuse_policy.aftercare
    if not aftercare.rosters:
        return ("\n; Aftercare check-ins are off (no aftercare: rosters: in abuse_policy.yaml), so\n"
                f"; [{CONTEXT}] is not generated.\n")
    lang = "${RL_CHECKIN_LANG}"
    return f"""
; Aftercare check-in: AMI Originate rings a person on duty into this context. They hear what happened
; and press 1 to be connected to the (paused) agent, or 2 if somebody already talked to them.
[{CONTEXT}]
exten => s,1,Set(RL_CHECKIN=${{FILTER({_HEX},${{RL_CHECKIN}})}})
 same => n,Set(RL_CHECKIN_LANG=${{FILTER({_LETTERS},${{RL_CHECKIN_LANG}})}})
 same => n,Set(RL_CHECKIN_AGENT=${{FILTER({_ENDPOINT},${{RL_CHECKIN_AGENT}})}})
 same => n,Set(RL_CHECKIN_WAIT=${{FILTER({_DIGITS},${{RL_CHECKIN_WAIT}})}})
 same => n,Set(RL_CHECKIN_SUMMARY=${{FILTER({_PATH},{SUMMARY})}})
 same => n,Answer()
 same => n,{_STEP}answered)
 same => n,Playback({_summary_or("checkin_summary")})
 same => n,Read(RL_CHECKIN_KEY,respectline/{lang}/checkin_options,1,,1,${{RL_CHECKIN_WAIT}})
 same => n,GotoIf($["${{RL_CHECKIN_KEY}}" = "1"]?connect)
 same => n,GotoIf($["${{RL_CHECKIN_KEY}}" = "2"]?acknowledged)
 same => n,{_STEP}no_key)
 same => n,Hangup()
 same => n(acknowledged),{_STEP}acknowledged)
 same => n,Playback(respectline/{lang}/checkin_thanks)
 same => n,Hangup()
 same => n(connect),GotoIf($["${{RL_CHECKIN_AGENT}}" = ""]?unreached)
 same => n,{_STEP}connecting)
 same => n,Playback(respectline/{lang}/checkin_connecting)
 same => n,Dial(${{RL_CHECKIN_AGENT}},30,U({ANSWERED_CONTEXT}^${{RL_CHECKIN}}))
 same => n(unreached),{_STEP}agent_not_reached,DialStatus: ${{DIALSTATUS}})
 same => n,Hangup()

; Runs on the agent's channel when they answer, before the two are connected.
[{ANSWERED_CONTEXT}]
exten => s,1,UserEvent(RespectlineCheckIn,CheckIn: ${{FILTER({_HEX},${{ARG1}})}},Step: agent_answered)
 same => n,Return()
""" + listen_in_dialplan(bundle)


def _summary_or(prompt: str) -> str:
    """The spoken summary the keeper made for this try, or the catalog's generic ``prompt``."""
    return f'${{IF($["${{RL_CHECKIN_SUMMARY:0:1}}" = "/"]?{SUMMARY}:respectline/${{RL_CHECKIN_LANG}}/{prompt})}}'


LISTEN_FEATURE = "rl_listen_in"


def listen_in_features(bundle: Bundle) -> list[str]:
    """The listen-in feature's name for the agent leg's ``DYNAMIC_FEATURES`` (none when not configured)."""
    return [LISTEN_FEATURE] if bundle.abuse_policy.aftercare.listen_in else []


def listen_in_feature_lines(bundle: Bundle, agi_url: str) -> list[str]:
    """``[applicationmap]``: the agent's listen-in key runs ``listen_in`` on the agent's own channel ('self');
    the caller hears hold music for the second the agent is told help is being called."""
    listen_in = bundle.abuse_policy.aftercare.listen_in
    if listen_in is None:
        return []
    return [f"{LISTEN_FEATURE} => {listen_in.code},self,AGI,{agi_url}/listen_in,default"]


def listen_in_dialplan(bundle: Bundle) -> str:
    if bundle.abuse_policy.aftercare.listen_in is None:
        return ""
    lang = "${RL_CHECKIN_LANG}"
    return f"""
; Listen in: AMI Originate rings a person on duty into this context; on 1 they listen to the agent's call
; with ChanSpy in whisper mode (they hear both sides, only the agent hears them); then 4 listens only,
; 5 whispers to the agent again, 6 barges in (the caller hears them too).
[{LISTEN_CONTEXT}]
exten => s,1,Set(RL_CHECKIN=${{FILTER({_HEX},${{RL_CHECKIN}})}})
 same => n,Set(RL_CHECKIN_LANG=${{FILTER({_LETTERS},${{RL_CHECKIN_LANG}})}})
 same => n,Set(RL_LISTEN_SPY=${{FILTER({_ENDPOINT},${{RL_LISTEN_SPY}})}})
 same => n,Set(RL_CHECKIN_WAIT=${{FILTER({_DIGITS},${{RL_CHECKIN_WAIT}})}})
 same => n,Set(RL_CHECKIN_SUMMARY=${{FILTER({_PATH},{SUMMARY})}})
 same => n,Answer()
 same => n,{_STEP}answered)
 same => n,Read(RL_CHECKIN_KEY,{_summary_or("listen_in_request")},1,,1,${{RL_CHECKIN_WAIT}})
 same => n,GotoIf($["${{RL_CHECKIN_KEY}}" != "1"]?nokey)
 same => n,GotoIf($["${{RL_LISTEN_SPY}}" = ""]?nokey)
 same => n,{_STEP}listening)
 same => n,ChanSpy(${{RL_LISTEN_SPY}},qwdES)
 same => n,Hangup()
 same => n(nokey),{_STEP}no_key)
 same => n,Hangup()

; Nobody could listen in: a Local channel whispers a tone and "no one is free" to the agent (ChanSpy on
; the agent's channel runs on the other half); the extension is the language.
[{NOBODY_CONTEXT}]
exten => _[a-z][a-z],1,Answer()
 same => n,Playback(beep&respectline/${{EXTEN}}/listen_in_nobody)
 same => n,Hangup()
"""


def agent_line_extension(bundle: Bundle, agi_url: str) -> str:
    """The agent's own line for ``[respectline-agents]`` (empty when ``agent_line`` is not configured)."""
    line = bundle.abuse_policy.aftercare.agent_line
    if line is None:
        return ""
    return (f"; The agent's own line (aftercare agent_line): extend the pause, take calls again, talk to someone.\n"
            f"exten => {line.code},1,Answer()\n"
            f" same => n,AGI({agi_url}/agent_line)\n"
            " same => n,Hangup()\n")
