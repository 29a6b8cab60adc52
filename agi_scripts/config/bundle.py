"""Config, flows and prompt catalog loaded together and checked against each other.

A ``Bundle`` is immutable: the server swaps in a new one on reload, and a call keeps the one it
started with. ``load_bundle`` either returns a bundle in which every reference resolves, or raises
``ValidationFailed`` listing every problem in every file.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from agi_scripts.config.settings import Settings, load_settings
from agi_scripts.flows.abuse_policy import AbusePolicy, load_abuse_policy
from agi_scripts.flows.appreciation import Appreciation, load_appreciation
from agi_scripts.flows.campaigns import CampaignSet, load_campaigns
from agi_scripts.flows.post_call import PostCallFlow, load_post_call
from agi_scripts.ground.errors import ConfigError, ValidationFailed
from agi_scripts.ground.yamlsource import did_you_mean
from agi_scripts.prompts.catalog import PromptCatalog, load_prompt_catalog


@dataclass(frozen=True)
class Bundle:
    settings: Settings
    campaigns: CampaignSet
    post_call: PostCallFlow
    abuse_policy: AbusePolicy
    prompts: PromptCatalog
    appreciation: Appreciation = field(default_factory=lambda: Appreciation(Path("appreciation.yaml")))
    """``flows/appreciation.yaml``: thank-you rounds and the manager's line (optional file)."""

    def watched_files(self) -> list[Path]:
        return [self.settings.file, *self.settings.flow_files.values(), self.settings.prompts_file,
                self.appreciation.file]

    @property
    def warnings(self) -> tuple[ConfigError, ...]:
        """What still works but should change in the files, as ``file:line:col`` (``validate`` shows them)."""
        return self.abuse_policy.warnings + self.post_call.warnings

    def languages(self) -> tuple[str, ...]:
        return self.prompts.languages

    def summary(self, now: dt.datetime) -> list[str]:
        """What is in force at ``now``, in a few lines for an admin."""
        lines = [f"queues: {', '.join(self.settings.queues)}; languages: {', '.join(self.languages())}"]
        for queue in self.settings.queues:
            active = self.campaigns.active(now, queue)
            names = ", ".join(f"{c.id} (weight {c.weight})" for c in active) or "none (plain hold music)"
            lines.append(f"campaigns on {queue} now: {names}")
        lines.append(f"campaigns defined: {len(self.campaigns.campaigns)}")
        flow = self.post_call
        lines.append(f"post-call compliment: {'on' if flow.enabled else 'off'}, {len(flow.steps)} steps from {flow.start!r}")
        codes = ", ".join(f"{c.code} {c.id}" for c in self.abuse_policy.categories.values())
        lines.append(f"abuse codes: {codes}")
        teams = ", ".join(f"{t.name} -> queue {t.queue}" for t in self.abuse_policy.teams.values())
        lines.append(f"teams: {teams}")
        running = ", ".join(f"{r.id} ({r.mode})" for r in self.appreciation.active(now)) or "none"
        lines.append(f"thank-you rounds: {len(self.appreciation.rounds)} defined, running now: {running}")
        return lines


def load_bundle(config_file: Path) -> Bundle:
    errors: list[ConfigError] = []
    config_file = config_file.resolve()
    settings = load_settings(config_file, errors)
    files = settings.flow_files
    prompts = load_prompt_catalog(settings.prompts_file, errors)
    campaigns = load_campaigns(files["campaigns"], errors, settings.timezone)
    post_call = load_post_call(files["post_call"], errors)
    policy = load_abuse_policy(files["abuse_policy"], errors)
    appreciation = load_appreciation(settings.flows_dir / "appreciation.yaml", errors, settings.timezone)
    if prompts is not None:
        _check_prompts(errors, prompts, campaigns, post_call, policy)
        _check_appreciation(errors, prompts, settings, appreciation)
    _check_queues(errors, settings, campaigns, policy)
    _check_notified_teams(errors, settings, policy)
    if errors or prompts is None:
        raise ValidationFailed(errors)
    return Bundle(settings, campaigns, post_call, policy, prompts, appreciation)


def _check_appreciation(errors: list[ConfigError], prompts: PromptCatalog, settings: Settings,
                        appreciation: Appreciation) -> None:
    """A round's prompt exists in every language, its language is one of the catalog's, its queues are known."""
    file = appreciation.file
    for found in appreciation.rounds:
        if found.prompt and found.prompt not in prompts.prompts:
            errors.append(ConfigError(file, _line_of(file, found.prompt, found.line), 1,
                                      f"prompt {found.prompt!r} is not in {prompts.path.name}",
                                      did_you_mean(found.prompt, list(prompts.prompts))
                                      or "add it there with a text per language, or fix the id"))
        elif found.prompt:
            missing = [lang for lang in prompts.languages if not prompts.has(found.prompt, lang)]
            if missing:
                errors.append(ConfigError(prompts.path, _line_of(prompts.path, f"{found.prompt}:", 1), 1,
                                          f"prompt {found.prompt!r} has no text or recording in {', '.join(missing)}",
                                          "every language is needed: a round may be heard in any of them"))
        if found.language and found.language not in prompts.languages:
            errors.append(ConfigError(file, _line_of(file, "language:", found.line), 1,
                                      f"round {found.id!r}: language {found.language!r} is not one of "
                                      f"{prompts.path.name}'s ({', '.join(prompts.languages)})",
                                      did_you_mean(found.language, list(prompts.languages))))
        for queue in found.queues:
            if queue not in settings.queues:
                errors.append(ConfigError(file, _line_of(file, queue, found.line), 1,
                                          f"round {found.id!r} names queue {queue!r}, which is not in the "
                                          f"config's 'queues' ({', '.join(settings.queues)})",
                                          did_you_mean(queue, list(settings.queues))
                                          or f"add it to {settings.file.name} or fix the name"))


def _check_prompts(errors: list[ConfigError], prompts: PromptCatalog, campaigns: CampaignSet,
                   post_call: PostCallFlow, policy: AbusePolicy) -> None:
    """Every prompt a flow names must exist in the catalog, in every language callers may have."""
    uses: list[tuple[Path, int, str, tuple[str, ...]]] = []
    for campaign in campaigns.campaigns:
        if isinstance(campaign.prompt, str):
            uses.append((campaigns.file, campaign.line, campaign.prompt, prompts.languages))
        else:
            uses.extend((campaigns.file, campaign.line, p, (lang,)) for lang, p in campaign.prompt.items())
    uses.extend((post_call.file, 1, p, prompts.languages) for p in sorted(post_call.prompt_ids()))
    uses.extend((policy.file, 1, p, prompts.languages) for p in sorted(policy.prompt_ids()))
    for file, line, prompt_id, languages in uses:
        if prompt_id not in prompts.prompts:
            errors.append(ConfigError(file, _line_of(file, prompt_id, line), 1,
                                      f"prompt {prompt_id!r} is not in {prompts.path.name}",
                                      "add it there with a text per language, or fix the id"))
            continue
        missing = [lang for lang in languages if not prompts.has(prompt_id, lang)]
        if missing:
            errors.append(ConfigError(prompts.path, _line_of(prompts.path, f"{prompt_id}:", 1), 1,
                                      f"prompt {prompt_id!r} has no text or recording in {', '.join(missing)}",
                                      "callers with that language would hear nothing"))


def _check_queues(errors: list[ConfigError], settings: Settings, campaigns: CampaignSet,
                  policy: AbusePolicy) -> None:
    for campaign in campaigns.campaigns:
        for queue in campaign.queues:
            if queue not in settings.queues:
                errors.append(ConfigError(campaigns.file, _line_of(campaigns.file, queue, campaign.line), 1,
                                          f"campaign {campaign.id!r} names queue {queue!r}, which is not in the "
                                          f"config's 'queues' ({', '.join(settings.queues)})",
                                          f"add it to {settings.file.name} or fix the name"))
    for team in policy.teams.values():
        if team.queue in settings.queues:
            errors.append(ConfigError(policy.file, _line_of(policy.file, f"queue: {team.queue}", 1), 1,
                                      f"team {team.id!r} uses the regular queue {team.queue!r}",
                                      "a team needs its own queue so flagged callers never reach a regular agent"))


def _check_notified_teams(errors: list[ConfigError], settings: Settings, policy: AbusePolicy) -> None:
    """Each team given e-mail addresses must be a team of the abuse policy, or its mail would never go."""
    email = settings.notifications.email
    if email is None or not policy.teams:  # no teams read: the policy file's own errors say why
        return
    for team, (line, column) in email.team_positions.items():
        if team not in policy.teams:
            errors.append(ConfigError(settings.file, line, column,
                                      f"team {team!r} in notifications.email.teams is not a team of "
                                      f"{policy.file.name}",
                                      did_you_mean(team, list(policy.teams))
                                      or f"its teams are: {', '.join(policy.teams)}"))


def _line_of(file: Path, needle: str, start_line: int) -> int:
    """Line of the first occurrence of ``needle`` from ``start_line`` on, for cross-file messages."""
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except OSError:
        return start_line
    for number in range(max(start_line, 1), len(lines) + 1):
        if needle in lines[number - 1]:
            return number
    return start_line
