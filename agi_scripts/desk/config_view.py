"""The admins' configuration view (``/admin/config``): what is in force, read from the files on disk.

Campaigns running now per queue (with each language's prompt), the ladder per category, the teams,
the post-call flow as a table, the outcomes a case closes with; then the validation of the files on
disk (every ``file:line:col`` error with its hint, as ``respectline validate`` prints them) and the
``respectline serve`` processes that announced themselves in the store (``storage.servers``), each
compared with the files on disk by digest. Editing stays in YAML: this page changes nothing.

The files are read on each view, on a worker thread (a few kilobytes of YAML).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agi_scripts.config.bundle import Bundle, load_bundle
from agi_scripts.config.digest import files_digest
from agi_scripts.config.settings import Settings
from agi_scripts.desk import i18n
from agi_scripts.desk.app import Desk, page
from agi_scripts.flows.abuse_policy import Action, length_text
from agi_scripts.flows.campaigns import Campaign
from agi_scripts.flows.schedule import WEEKDAYS
from agi_scripts.flows.post_call import PostCallFlow, Step
from agi_scripts.ground.errors import ConfigError, ValidationFailed
from agi_scripts.policy.presence import ANNOUNCE_INTERVAL
from agi_scripts.storage import StoreError
from agi_scripts.storage.base import utc_now
from agi_scripts.storage.desk import DeskSession
from agi_scripts.storage.servers import ServerPresence, ServerRegistry

GONE_AFTER = dt.timedelta(seconds=3 * ANNOUNCE_INTERVAL + 5)
"""A server not seen for three announcements is shown as not running."""


@dataclass(frozen=True)
class ServerLine:
    presence: ServerPresence
    running: bool
    same_files: bool
    """Its digest is the one of the files on disk now."""


@dataclass(frozen=True)
class FlowRow:
    step: str
    kind: str
    prompt: str
    answers: list[tuple[str, str]]
    """(what the caller does, where the flow goes)."""


def disk_version(settings: Settings) -> tuple[str, Bundle | None, list[ConfigError]]:
    """The digest of the files on disk as a server would load them, the bundle, and the errors.

    Valid files: the digest of exactly what ``Bundle.watched_files`` names, as the servers announce.
    Files with errors cannot have been loaded by any server, so every running server holds an older
    version; the digest is then of the config and the flow folder's YAML files, only to be shown."""
    try:
        bundle = load_bundle(settings.file)
    except ValidationFailed as failed:
        fallback = [settings.file, *sorted(settings.flows_dir.glob("*.yaml")), settings.prompts_file]
        return files_digest(fallback), None, failed.errors
    return files_digest(bundle.watched_files()), bundle, []


def action_text(action: Action, team_names: dict[str, str]) -> str:
    """One ladder action for people: ``warn (prompt abuse_warning)``, ``pause agent 15 min``..."""
    _ = i18n.gettext  # the page's language (the page's load runs in i18n.rendering)
    parts = [action.kind.replace("_", " ")]  # the YAML's own word for the action, as admins write it
    if action.prompt:
        parts.append(_("prompt %(prompt)s") % {"prompt": action.prompt})
    if action.team:
        parts.append(_("team %(team)s, priority %(priority)s") % {
            "team": _(team_names.get(action.team, action.team)), "priority": action.priority})
    if action.seconds:
        parts.append(length_text(action.seconds))
    if action.targets:
        parts.append(_("to %(targets)s") % {"targets": ", ".join(action.targets)})
    return " · ".join(parts)


def flow_rows(flow: PostCallFlow) -> list[FlowRow]:
    """The post-call flow as a table: one row per step, in the file's order, the start first."""
    ordered = [flow.steps[flow.start]] if flow.start in flow.steps else []
    ordered += [step for step_id, step in flow.steps.items() if step_id != flow.start]
    return [FlowRow(step=step.id, kind=step.type, prompt=step.prompt or "", answers=_answers(step))
            for step in ordered]


def _answers(step: Step) -> list[tuple[str, str]]:
    _ = i18n.gettext
    if step.type == "hangup":
        return [(_("(the call ends)"), "")]
    answers = [(_("presses %(key)s") % {"key": key}, target) for key, target in step.choices.items()]
    if step.type == "rate":
        answers.append((_("rates %(low)s to %(high)s") % {"low": step.min_rating, "high": step.max_rating},
                        step.next))
    elif step.type == "record":
        answers.append((_("speaks (%(low)s to %(high)s s, ends with %(digits)s)") % {
            "low": f"{step.min_length:g}", "high": f"{step.max_length:g}", "digits": step.finish_digits}, step.next))
    elif not step.choices:
        answers.append((_("(then)"), step.next))
    if step.type in ("ask", "rate"):
        answers.append((_("nothing within %(seconds)s s after %(retries)s retry") % {
            "seconds": f"{step.timeout:g}", "retries": step.retries}, step.on_timeout))
    return answers


def load_view(settings: Settings, registry: ServerRegistry, now: dt.datetime) -> dict[str, Any]:
    """Everything the page shows (blocking: files and the store)."""
    digest, bundle, errors = disk_version(settings)
    try:
        presences = registry.servers()
        store_error = ""
    except StoreError as error:
        presences, store_error = [], str(error)
    servers = [ServerLine(p, p.alive(now, within=GONE_AFTER), not errors and p.bundle_digest == digest)
               for p in presences]
    context: dict[str, Any] = {
        "digest": digest, "errors": errors, "warnings": list(bundle.warnings) if bundle else [],
        "servers": servers, "store_error": store_error, "bundle": bundle, "now": now,
        "stale": [line for line in servers if line.running and not line.same_files],
    }
    if bundle is not None:
        context.update(_in_force(bundle, now))
    return context


def _in_force(bundle: Bundle, now: dt.datetime) -> dict[str, Any]:
    policy, languages = bundle.abuse_policy, bundle.languages()
    campaigns = []
    for queue in bundle.settings.queues:
        running = bundle.campaigns.active(now, queue)
        total = sum(c.weight for c in running) or 1
        campaigns.append({"queue": queue, "running": [
            {"campaign": c, "share": round(100 * c.weight / total),
             "prompts": [(language, c.prompt_for(language) or "(none)",
                          bool(c.prompt_for(language)) and bundle.prompts.has(c.prompt_for(language) or "", language))
                         for language in languages]}
            for c in running]})
    team_names = {team.id: team.name for team in policy.teams.values()}
    ladders = [{"category": category, "rungs": [[action_text(a, team_names) for a in rung] for rung in category.ladder]}
               for category in policy.categories.values()]
    return {"campaigns": campaigns, "languages": languages, "ladders": ladders, "teams": list(policy.teams.values()),
            "flow": bundle.post_call, "flow_rows": flow_rows(bundle.post_call), "outcomes": policy.case_outcomes,
            "all_campaigns": [campaign_schedule(c) for c in bundle.campaigns.campaigns]}


def campaign_schedule(campaign: Campaign) -> dict[str, str]:
    """When a campaign runs, in words for the table of every campaign defined."""
    _ = i18n.gettext
    days = ", ".join(WEEKDAYS[d] for d in sorted(campaign.days)) if len(campaign.days) < 7 else _("every day")
    hours = ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in campaign.hours) or _("all day")
    dates = (_("%(start)s to %(end)s") % {"start": campaign.start or "...", "end": campaign.end or "..."}
             if campaign.start or campaign.end else _("always"))
    return {"id": campaign.id, "title": campaign.title, "queues": ", ".join(campaign.queues) or _("every queue"),
            "when": f"{dates}; {days}; {hours} ({campaign.timezone.key})", "weight": str(campaign.weight),
            "offer": _("yes") if campaign.offer_compliment else _("no"),
            "enabled": _("yes") if campaign.enabled else _("no")}


@page("admin")
async def config_page(request: Request, desk: Desk, session: DeskSession) -> Response:
    registry = ServerRegistry(desk.store)

    catalog = desk.catalog_for(request, session)

    def load() -> dict[str, Any]:
        with i18n.rendering(catalog):  # the ladder's actions and the flow's answers in the user's language
            context = load_view(desk.options.settings, registry, utc_now())
        desk.audit(session, "config_viewed", detail=f"files {context['digest']}")
        return context

    context = await run_in_threadpool(load)
    return desk.render(request, "admin_config.html", {"title": catalog.gettext("Configuration in force"), **context},
                       session=session)


def routes() -> list[Route]:
    return [Route("/admin/config", config_page)]
