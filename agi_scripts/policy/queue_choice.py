"""Where a call goes and what it hears while waiting: decided once, when it enters (``screen``)."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from agi_scripts.config.bundle import Bundle
from agi_scripts.flows.campaigns import Campaign, music_class_name



@dataclass(frozen=True)
class RouteDecision:
    queue: str
    """The queue to enter: the one dialled, or a team's queue for a caller with a case."""
    team: str | None
    campaign: Campaign | None
    notice_prompt: str | None
    """Played before queueing (for example 'you are connected to Special Care')."""
    music_class: str
    """Music-on-hold class for this call; empty for the queue's own."""
    offer_compliment: bool


def decide_route(bundle: Bundle, queue: str, language: str, now: dt.datetime, case_team: str | None,
                 rng: random.Random | None = None) -> RouteDecision:
    """``case_team``: the team of the caller's open (or recent) case, if any."""
    team = bundle.abuse_policy.teams.get(case_team) if case_team else None
    if team is not None:
        # A flagged caller reaches the trained team, never a campaign asking for compliments.
        return RouteDecision(team.queue, team.id, None, team.notice_prompt, "", False)
    campaign = bundle.campaigns.choose(now, queue, rng)
    music = ""
    if campaign is not None and campaign.prompt_for(language):
        music = music_class_name(campaign.id, language)
    offer = bundle.post_call.enabled and (
        (campaign is not None and campaign.offer_compliment) or bundle.post_call.offer_without_campaign)
    return RouteDecision(queue, None, campaign, None, music, offer)
