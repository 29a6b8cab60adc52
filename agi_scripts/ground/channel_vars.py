"""The variables Respectline keeps on a caller's channel: one list for the handlers that set and read
them and for the generated dialplan that acts on them (``asterisk_conf``), so the two cannot drift.
A test checks that the generated dialplan names no other ``RL_`` variable.
"""

from __future__ import annotations

ROUTE = "RL_ROUTE"
"""The queue the caller enters: the one dialled, or a team's queue (set by ``screen``)."""
NOTICE = "RL_NOTICE"
"""A sound played before queueing, such as 'you are connected to Special Care'; may be empty."""
MUSICCLASS = "RL_MUSICCLASS"
"""The music-on-hold class with the campaign; empty for the queue's own."""
CAMPAIGN = "RL_CAMPAIGN"
LANGUAGE = "RL_LANGUAGE"
"""The prompts' language chosen for the call."""
OFFER_COMPLIMENT = "RL_OFFER_COMPLIMENT"
"""``1`` when the caller is offered the compliment flow after the agent hangs up."""
TRANSFER = "RL_TRANSFER"
"""Set by the ladder: the team's queue the caller goes to once the agent's leg is gone."""
EVIDENCE = "RL_EVIDENCE"
"""The evidence recording running on the call (started at its first flag)."""
FLAGS = "RL_FLAGS"
"""The call's flags (``category:count:epoch``), so the ladder climbs without the store."""
RECORDING = "RL_RECORDING"
"""``recording.start: connect``: the call's spool stem (``ground.call_spool``); the dialplan plays
``RL_RECORDING_NOTICE`` and starts MixMonitor into it before the queue. Empty: no recording."""
RECORDING_NOTICE = "RL_RECORDING_NOTICE"
"""The recording notice's sound, played at queue entry when ``RL_RECORDING`` is set."""

WHISPER = "RL_WHISPER"
"""The sound Queue plays to the agent who answers, before the caller is connected (its announcement
argument): the caller's history, told to the agent only. Empty: none."""
CHECK_IN_CALL = ("RL_CHECKIN", "RL_CHECKIN_LANG", "RL_CHECKIN_AGENT", "RL_CHECKIN_WAIT", "RL_CHECKIN_KEY",
                 "RL_LISTEN_SPY", "RL_CHECKIN_SUMMARY")
"""On a person on duty's channel during an aftercare check-in (``policy.checkins``, ``asterisk_conf.aftercare``):
the check-in's token, the summary's language, the agent's phone, the seconds to wait for a key, the key;
for a listen-in, the agent's channel in the call (``ChanSpy``); the spoken summary's file (empty: the
generic prompt plays)."""

APPRECIATION_CALL = ("RL_APPRECIATION", "RL_APPRECIATION_SOUND", "RL_APPRECIATION_LANG", "RL_APPRECIATION_REPLY",
                     "RL_APPRECIATION_REPLAYS", "RL_APPRECIATION_CHOICE", "RL_APPRECIATION_AGENT",
                     "RL_APPRECIATION_INTRO")
"""On an agent's (or, live, the manager's) channel during a thank-you call (``policy.appreciation``,
``asterisk_conf.appreciation``): the delivery's token, the sound, the language, where a reply goes, the
replays and the key pressed, the agent's phone and the intro the manager hears."""

CALLBACK_CALL = ("RL_CALLBACK", "RL_CALLBACK_TO", "RL_CALLBACK_LANG", "RL_CALLBACK_CALLER_LANG",
                 "RL_CALLBACK_RECORDING")
"""On a staff member's channel during a call back from the desk (``policy.callback``,
``asterisk_conf.callback``): its id, the caller's number (digits and +), the staff member's and the
caller's language, where the conversation is recorded (inherited by the caller's channel)."""

ALL = (ROUTE, NOTICE, MUSICCLASS, CAMPAIGN, LANGUAGE, OFFER_COMPLIMENT, TRANSFER, EVIDENCE, FLAGS,
       RECORDING, RECORDING_NOTICE, *CALLBACK_CALL, WHISPER, *CHECK_IN_CALL, *APPRECIATION_CALL)
