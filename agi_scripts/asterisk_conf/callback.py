"""The dialplan of a call back from the desk (``callback:`` in respectline.yaml; ``policy.callback`` starts it).

AMI ``Originate`` rings the staff member's phone into ``[respectline-callback]`` with the call back's
variables. When they answer they hear a short intro, then the caller is dialled through ``callback.dial``.
Before the caller is connected, ``[respectline-callback-answered]`` runs on the caller's channel: it
tells the desk the caller answered, plays them the recording notice in their call's language, and starts
the recording. The ``h`` extension reports how the call ended (``DIALSTATUS``).

Every variable is filtered before use (``FILTER``): the number to digits and ``+``, the id to hex digits,
the languages to letters; so even a value that slipped past the desk's checks cannot add a second
destination to the Dial or an argument to an application.
"""

from __future__ import annotations

from agi_scripts.config.bundle import Bundle

CONTEXT = "respectline-callback"
ANSWERED_CONTEXT = "respectline-callback-answered"
_DIGITS = "0123456789+"
_HEX = "0123456789abcdef"
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def callback_dialplan(bundle: Bundle) -> str:
    """The two contexts, or a comment saying call back is off."""
    settings = bundle.settings.callback
    if not settings.enabled:
        return ("\n; Call back from the desk is off (callback.dial is empty in respectline.yaml), so\n"
                f"; [{CONTEXT}] is not generated.\n")
    caller_id = f" same => n,Set(CALLERID(all)={settings.caller_id} <{settings.caller_id}>)\n" \
        if settings.caller_id else ""
    dial = settings.dialplan_dial("RL_CALLBACK_TO")
    gosub_args = "${RL_CALLBACK}^${RL_CALLBACK_CALLER_LANG}"
    return f"""
; Call back from the desk: AMI Originate rings the staff member's phone into this context. They hear a
; short intro; then the caller is dialled through callback.dial ({settings.dial}).
[{CONTEXT}]
exten => s,1,Set(RL_CALLBACK=${{FILTER({_HEX},${{RL_CALLBACK}})}})
 same => n,Set(RL_CALLBACK_TO=${{FILTER({_DIGITS},${{RL_CALLBACK_TO}})}})
 same => n,Set(RL_CALLBACK_LANG=${{FILTER({_LETTERS},${{RL_CALLBACK_LANG}})}})
 same => n,Set(RL_CALLBACK_CALLER_LANG=${{FILTER({_LETTERS},${{RL_CALLBACK_CALLER_LANG}})}})
 same => n,GotoIf($["${{RL_CALLBACK_TO}}" = ""]?done)
 same => n,Answer()
 same => n,Playback(respectline/${{RL_CALLBACK_LANG}}/callback_intro)
{caller_id} same => n,Dial({dial},{round(settings.ring_caller)},U({ANSWERED_CONTEXT}^{gosub_args}))
 same => n(done),Hangup()
exten => h,1,UserEvent(RespectlineCallback,Callback: ${{RL_CALLBACK}},Step: hung_up,DialStatus: ${{DIALSTATUS}})

; Runs on the caller's channel once they answer, before they hear the staff member: the desk is told,
; the caller hears that the call is recorded and why, and the recording starts.
[{ANSWERED_CONTEXT}]
exten => s,1,UserEvent(RespectlineCallback,Callback: ${{FILTER({_HEX},${{ARG1}})}},Step: caller_answered)
 same => n,Playback(respectline/${{FILTER({_LETTERS},${{ARG2}})}}/recording_notice)
 same => n,ExecIf($["${{RL_CALLBACK_RECORDING}}" != ""]?MixMonitor(${{RL_CALLBACK_RECORDING}}))
 same => n,Return()
"""
