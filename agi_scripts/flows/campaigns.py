"""``flows/campaigns.yaml``: hold messages scheduled by date, day, hour, queue and language.

A campaign is chosen once per call (in ``screen``); several running at once share calls by weight,
and the choice is stored with the call so results can be compared per campaign.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from yaml.nodes import Node, ScalarNode

from agi_scripts.flows.schedule import one_or_many, weekdays, within_window
from agi_scripts.ground.errors import ConfigError
from agi_scripts.ground.yamlsource import YamlFile



@dataclass(frozen=True)
class Campaign:
    id: str
    title: str
    prompt: dict[str, str] | str
    """One prompt id for every language, or language -> prompt id."""
    queues: tuple[str, ...]
    start: dt.date | None
    end: dt.date | None
    """Inclusive."""
    timezone: ZoneInfo
    days: frozenset[int]
    """``datetime.weekday()`` numbers: 0 is Monday."""
    hours: tuple[tuple[dt.time, dt.time], ...]
    first_after: float
    repeat_every: float
    weight: int
    offer_compliment: bool
    enabled: bool = True
    line: int = 0
    """Where the campaign starts in its file, for messages about it."""

    def prompt_for(self, language: str) -> str | None:
        if isinstance(self.prompt, str):
            return self.prompt
        return self.prompt.get(language)

    def prompt_ids(self) -> set[str]:
        return {self.prompt} if isinstance(self.prompt, str) else set(self.prompt.values())

    def is_active(self, at: dt.datetime, queue: str) -> bool:
        """Whether a call entering ``queue`` at the aware instant ``at`` gets this campaign."""
        if not self.enabled or (self.queues and queue not in self.queues):
            return False
        return within_window(at, self.timezone, self.start, self.end, self.days, self.hours)


@dataclass(frozen=True)
class CampaignSet:
    file: Path
    campaigns: tuple[Campaign, ...]

    def active(self, at: dt.datetime, queue: str) -> list[Campaign]:
        return [c for c in self.campaigns if c.is_active(at, queue)]

    def choose(self, at: dt.datetime, queue: str, rng: random.Random | None = None) -> Campaign | None:
        """Pick one of the campaigns running now, with probability proportional to its weight."""
        running = [c for c in self.active(at, queue) if c.weight > 0]
        if not running:
            return None
        return (rng or random).choices(running, weights=[c.weight for c in running], k=1)[0]


_KEYS = ("id", "title", "enabled", "prompt", "queues", "from", "until", "timezone", "days", "hours",
         "first_after", "repeat_every", "weight", "offer_compliment")


def load_campaigns(path: Path, errors: list[ConfigError], default_timezone: ZoneInfo) -> CampaignSet:
    source = YamlFile(path, errors)
    top = source.mapping(source.root(), required=("campaigns",), what="campaigns file")
    campaigns: list[Campaign] = []
    seen: dict[str, int] = {}
    for node in source.sequence(top.get("campaigns") if top else None, "list of campaigns"):
        campaign = _campaign(source, node, default_timezone)
        if campaign is None:
            continue
        if campaign.id in seen:
            source.error(node, f"campaign id {campaign.id!r} is already used on line {seen[campaign.id]}",
                         "every campaign needs its own id: results are reported per id")
            continue
        seen[campaign.id] = campaign.line
        campaigns.append(campaign)
    return CampaignSet(path, tuple(campaigns))


def _campaign(source: YamlFile, node: Node, default_timezone: ZoneInfo) -> Campaign | None:
    spec = source.mapping(node, required=("id", "prompt"), optional=_KEYS, what="campaign")
    if spec is None:
        return None
    before = len(source.errors)
    campaign_id = source.identifier(spec.get("id"), "a campaign id") if spec.get("id") else None
    title_node = spec.get("title")
    title = (source.string(title_node) if title_node is not None else None) or (campaign_id or "")
    prompt = _prompt(source, spec.get("prompt"))
    timezone = source.timezone(spec.get("timezone")) if spec.get("timezone") else default_timezone
    start = source.date(spec.get("from")) if spec.get("from") else None
    end = source.date(spec.get("until")) if spec.get("until") else None
    if start and end and end < start:
        source.error(spec.get("until"), f"campaign ends ({end}) before it starts ({start})")
    days = weekdays(source, spec.get("days"))
    hours = tuple(r for r in (source.time_range(n) for n in one_or_many(source, spec.get("hours"))) if r)
    queues = tuple(q for q in (source.string(n, "a queue name") for n in source.sequence(spec.get("queues"))) if q)
    first_after = spec.seconds("first_after", 15.0, 0, 3600)
    repeat_every = spec.seconds("repeat_every", 60.0, 10, 3600)
    weight_node = spec.get("weight")
    weight = source.integer(weight_node, "a weight", minimum=0, maximum=1000) if weight_node is not None else 1
    offer_node, enabled_node = spec.get("offer_compliment"), spec.get("enabled")
    offer = source.boolean(offer_node) if offer_node is not None else False
    enabled = source.boolean(enabled_node) if enabled_node is not None else True
    if len(source.errors) > before or campaign_id is None or prompt is None or timezone is None:
        return None
    return Campaign(
        id=campaign_id, title=title, prompt=prompt, queues=queues, start=start, end=end, timezone=timezone,
        days=days, hours=hours, first_after=first_after, repeat_every=repeat_every,
        weight=weight if weight is not None else 1, offer_compliment=bool(offer),
        enabled=enabled if enabled is not None else True, line=node.start_mark.line + 1,
    )


def _prompt(source: YamlFile, node: Node | None) -> dict[str, str] | str | None:
    if node is None:
        return None
    if isinstance(node, ScalarNode):
        return source.identifier(node, "a prompt id")
    per_language = source.mapping(node, what="prompt (a prompt id, or language: prompt id)")
    if per_language is None:
        return None
    result: dict[str, str] = {}
    for language, _key, value in per_language.items():
        prompt_id = source.identifier(value, "a prompt id")
        if prompt_id:
            result[language] = prompt_id
    return result



def music_class_name(campaign_id: str, language: str) -> str:
    """The music-on-hold class ``respectline asterisk-conf`` writes for a campaign in a language."""
    return f"rl-{campaign_id}-{language}"
