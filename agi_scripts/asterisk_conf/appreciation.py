"""The dialplan of thank-you rounds (``flows/appreciation.yaml``; ``policy.appreciation`` rings the agents).

- ``[respectline-appreciation]``: AMI ``Originate`` rings a free agent's phone into it. The agent hears
  that this is not a customer, then the message; "press 1 to hear it again, press 2 to send a short
  reply" (the reply is recorded where the server said). ``UserEvent(RespectlineAppreciation)`` tells the
  server each step: answered, heard (with ``PLAYBACKSTATUS``), replied, ended.
- ``[respectline-appreciation-live]``: live mode; the manager's phone is rung into it, hears who comes
  next ("Agent One, billing, 3 of 12"), then is connected to the agent.
- ``[respectline-managers]``: the manager's line (``manager_line``, ``*87``): ``Answer()`` then the
  ``manager_line`` AGI, which lets only the listed managers record.

Every variable the server sets is filtered (``FILTER``) before use: ids to hex digits, languages to
letters, sounds and paths to letters, digits and ``_ . / -``; so no value can add an argument to an
application or a second destination to a Dial.
"""

from __future__ import annotations

from agi_scripts.config.bundle import Bundle

CONTEXT = "respectline-appreciation"
LIVE_CONTEXT = "respectline-appreciation-live"
MANAGERS_CONTEXT = "respectline-managers"
EVENT = "RespectlineAppreciation"
MAX_REPLAYS = 3
REPLY_SECONDS = 30
AFTER_WAIT_SECONDS = 6
_HEX = "0123456789abcdef"
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_PATH = "-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./"
_NAME = "-ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_/@.+"
"""FILTER reads ``x-y`` as a range: the hyphen goes first, where it is only itself."""


def appreciation_dialplan(bundle: Bundle, agi_url: str) -> str:
    """The three contexts, or a comment when the file defines no round and no manager."""
    appreciation = bundle.appreciation
    if not appreciation.enabled:
        return ("\n; Thank-you rounds are off (flows/appreciation.yaml has no round and no manager), so\n"
                f"; [{CONTEXT}] and the manager's line are not generated.\n")
    event = f"UserEvent({EVENT},Delivery: ${{RL_APPRECIATION}}"
    return f"""
; Thank-you rounds: respectline serve rings a free agent into this context (AMI Originate) and pauses
; them in their queues until it ends. The agent hears the message, then may hear it again or reply.
[{CONTEXT}]
exten => s,1,Set(RL_APPRECIATION=${{FILTER({_HEX},${{RL_APPRECIATION}})}})
 same => n,Set(RL_APPRECIATION_SOUND=${{FILTER({_PATH},${{RL_APPRECIATION_SOUND}})}})
 same => n,Set(RL_APPRECIATION_REPLY=${{FILTER({_PATH},${{RL_APPRECIATION_REPLY}})}})
 same => n,Set(RL_APPRECIATION_LANG=${{FILTER({_LETTERS},${{RL_APPRECIATION_LANG}})}})
 same => n,Set(RL_APPRECIATION_REPLAYS=0)
 same => n,GotoIf($["${{RL_APPRECIATION_SOUND}}" = ""]?done)
 same => n,Answer()
 same => n,{event},Step: answered)
 same => n,Playback(respectline/${{RL_APPRECIATION_LANG}}/appreciation_intro)
 same => n(message),Playback(${{RL_APPRECIATION_SOUND}})
 same => n,{event},Step: heard,Status: ${{PLAYBACKSTATUS}})
 same => n,Read(RL_APPRECIATION_CHOICE,respectline/${{RL_APPRECIATION_LANG}}/appreciation_after,1,,1,{AFTER_WAIT_SECONDS})
 same => n,GotoIf($["${{RL_APPRECIATION_CHOICE}}" = "2"]?reply)
 same => n,GotoIf($["${{RL_APPRECIATION_CHOICE}}" != "1"]?done)
 same => n,Set(RL_APPRECIATION_REPLAYS=$[${{RL_APPRECIATION_REPLAYS}} + 1])
 same => n,GotoIf($[${{RL_APPRECIATION_REPLAYS}} <= {MAX_REPLAYS}]?message:done)
 same => n(reply),GotoIf($["${{RL_APPRECIATION_REPLY}}" = ""]?done)
 same => n,Playback(respectline/${{RL_APPRECIATION_LANG}}/appreciation_reply_record)
 same => n,Record(${{RL_APPRECIATION_REPLY}}.wav,3,{REPLY_SECONDS})
 same => n,{event},Step: replied)
 same => n,Playback(respectline/${{RL_APPRECIATION_LANG}}/appreciation_reply_thanks)
 same => n(done),Hangup()
exten => h,1,{event},Step: ended)

; Live mode: the manager's own phone is rung into this context for each agent in turn. The manager hears
; who comes next, then the agent's phone is dialled (paused in their queues meanwhile by the server).
[{LIVE_CONTEXT}]
exten => s,1,Set(RL_APPRECIATION=${{FILTER({_HEX},${{RL_APPRECIATION}})}})
 same => n,Set(RL_APPRECIATION_AGENT=${{FILTER({_NAME},${{RL_APPRECIATION_AGENT}})}})
 same => n,Set(RL_APPRECIATION_INTRO=${{FILTER({_PATH},${{RL_APPRECIATION_INTRO}})}})
 same => n,GotoIf($["${{RL_APPRECIATION_AGENT}}" = ""]?done)
 same => n,Answer()
 same => n,{event},Step: manager_answered)
 same => n,ExecIf($["${{RL_APPRECIATION_INTRO}}" != ""]?Playback(${{RL_APPRECIATION_INTRO}}))
 same => n,Dial({_dial_of("RL_APPRECIATION_AGENT")},{round(appreciation.ring_timeout)},U({CONTEXT}-answered^${{RL_APPRECIATION}}))
 same => n(done),Hangup()
exten => h,1,{event},Step: ended,DialStatus: ${{DIALSTATUS}})

[{CONTEXT}-answered]
exten => s,1,UserEvent({EVENT},Delivery: ${{FILTER({_HEX},${{ARG1}})}},Step: heard,Status: SUCCESS)
 same => n,Return()

; The managers' line ({appreciation.manager_line}): a manager records the message of a round, hears it back, and
; keeps it or records it again. The manager_line script lets only the endpoints listed as managers in.
; (Half a second after the answer, so a phone's audio path is open before the first word.)
[{MANAGERS_CONTEXT}]
exten => {appreciation.manager_line},1,Answer()
 same => n,Wait(0.5)
 same => n,AGI({agi_url}/manager_line)
 same => n,Hangup()
"""


def _dial_of(variable: str) -> str:
    """The agent's endpoint as Dial takes it: the device itself (``PJSIP/agent1``)."""
    return "${" + variable + "}"
