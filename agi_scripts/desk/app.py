"""The desk's web application: pages, forms, the live inbox, evidence and the police report.

Starlette routes render Jinja2 templates (autoescaping on: every value a page shows is escaped). The
store is synchronous, so each request's store work runs on Starlette's thread pool. Every page checks
the session first, then the role (``access``), then for a case the case's team; every POST checks
its CSRF token before it reads anything else of the form. Case views, evidence plays and downloads,
exports and changes are written to the audit log and shown on the case.

The live inbox: the browser keeps a server-sent events stream open (``/inbox/events``); the desk
reads the store's newest case and case event every ``poll_interval`` seconds (one small query per
open inbox) and, when they changed, tells the browser, which fetches its rows again. Polling the
store sees every case whichever ``respectline serve`` process (or host) booked it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agi_scripts.config.settings import Settings
from agi_scripts.desk import access, evidence, i18n
from agi_scripts.desk.i18n import N_, Catalog, Language
from agi_scripts.desk.timeline import action_words, case_timeline
from agi_scripts.desk.transcript_view import transcript_view
from agi_scripts.desk.callback import MESSAGES as CALLBACK_MESSAGES
from agi_scripts.desk.callback import offer as callback_offer
from agi_scripts.desk.callback import routes as callback_routes
from agi_scripts.desk.review_pages import routes as review_routes
from agi_scripts.desk.metrics import DeskMetrics, metrics_page
from agi_scripts.desk.passwords import hash_password, needs_rehash, verify_password, verify_unknown_user
from agi_scripts.desk.proxy_login import ProxyLogin, login_by_header, named_user
from agi_scripts.desk.security import CSRF_FIELD, LOGIN_COOKIE, SESSION_COOKIE, SessionRules, Sessions, same_token
from agi_scripts.flows.abuse_policy import PRIORITY_RANK, AbusePolicy
from agi_scripts.reports.incident_report import Labels, build_incident_report
from agi_scripts.reports.views import WITHHELD, caller_shown, priority_name
from agi_scripts.storage import Case, Store, StoreError, open_store
from agi_scripts.storage.base import utc_now
from agi_scripts.storage.screening import ScreeningStore
from agi_scripts.storage.desk import DeskSession, DeskStore, DeskUser, InboxCase, InboxFilter, Role

HERE = Path(__file__).resolve().parent
MAX_NOTE = 4000
AUDIT_REPLAY = dt.timedelta(seconds=60)
"""An audio player asks for a recording again when seeking: one play is logged per minute."""
LOG = logging.getLogger("respectline.desk")
ROLE_LABELS: dict[str, str] = {"special_care": N_("Special Care"), "security": N_("Security"),
                               "supervisor": N_("Supervisor"), "admin": N_("Admin"), "agent": N_("Agent")}
AUDIT_WORDS: dict[str, str] = {
    "case_viewed": N_("viewed the case"), "evidence_played": N_("played the evidence"),
    "evidence_downloaded": N_("downloaded the evidence"), "report_exported": N_("exported the police report (PDF)"),
    "assigned": N_("assigned the case"), "note_added": N_("added a note"), "closed": N_("closed the case"),
    "access_refused": N_("was refused access"), "login": N_("logged in"), "logout": N_("logged out"),
    "compliment_played": N_("played a compliment"), "language_chosen": N_("chose the interface language"),
    "callback": N_("called the caller back"), "phone_set": N_("set a phone for calling back"),
    "compliment_reviewed": N_("listened to a held compliment"), "compliment_released": N_("released a compliment"),
    "compliment_deleted": N_("deleted a compliment's message"), "follow_up_closed": N_("closed a follow-up"),
    "report_viewed": N_("viewed the reports"), "report_downloaded": N_("downloaded a report (CSV)"),
    "config_viewed": N_("viewed the configuration"),
}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


@dataclass(frozen=True)
class DeskOptions:
    store_url: str
    settings: Settings
    policy: AbusePolicy
    recordings: tuple[Path, ...]
    """Folders a recording may be served from (the config's ``paths.recordings`` and any given)."""
    rules: SessionRules = field(default_factory=SessionRules)
    poll_interval: float = 1.0
    secure_cookies: bool | None = None
    """True: always ``Secure``; False: never; None: when the request came over HTTPS."""


class Desk:
    """What every request shares: the store, the sessions, the templates."""

    def __init__(self, options: DeskOptions, store: Store) -> None:
        self.options = options
        self.store = store
        self.desk = DeskStore(store)
        self.sessions = Sessions(self.desk, options.rules)
        self.tz = options.settings.timezone
        policy = options.policy
        self.labels = Labels(categories={c.id: c.label for c in policy.categories.values()},
                             teams={t.id: t.name for t in policy.teams.values()})
        self.catalogs = i18n.read_catalogs()
        default = i18n.as_language(options.settings.language.default)
        self.default_language: Language = default or i18n.SOURCE_LANGUAGE
        """For a page before login: the browser's language if the desk has it, else the config's
        ``language.default`` (when it is nl, fr or en), else English."""
        self.templates = Environment(loader=FileSystemLoader(HERE / "templates"),
                                     autoescape=select_autoescape(default=True, default_for_string=True),
                                     undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                                     extensions=["jinja2.ext.i18n"])
        # One environment for every language: _() and {% trans %} read the language of the page being
        # rendered (i18n.rendering), so helpers that add templates or globals need not care.
        self.templates.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
        self.templates.filters["local"] = self.local
        self.templates.filters["age"] = age_text
        self.templates.globals["priority_name"] = priority_name
        self.templates.globals["priority_label"] = priority_label
        self.templates.globals["category"] = self.category
        self.templates.globals["team_name"] = self.team_name
        self.templates.globals["callback_offer"] = lambda user, number="": i18n.gettext(
            CALLBACK_MESSAGES.get(callback_offer(options.settings, user, number), ""))
        self.templates.globals["role_label"] = lambda role: i18n.gettext(ROLE_LABELS.get(role, role or ""))
        self.templates.globals["audit_words"] = lambda action: i18n.gettext(AUDIT_WORDS.get(action, action or ""))
        self.templates.globals["outcome_label"] = self.outcome_label
        self.templates.globals["status_label"] = status_label
        self.templates.globals["action_label"] = lambda action: action_words(action, i18n.gettext)
        self.templates.globals["language_names"] = i18n.LANGUAGE_NAMES

    def local(self, moment: dt.datetime | None, seconds: bool = False) -> str:
        """A moment in the configured time zone, written as the page's language writes it."""
        if moment is None:
            return ""
        return i18n.format_moment(moment, i18n.current().language, self.tz, seconds=seconds)

    # Names from flows/abuse_policy.yaml are shown as the admin wrote them; the shipped ones are in
    # the catalogs too, so the desk shows them in the user's language.
    def category(self, category_id: str) -> str:
        return i18n.gettext(self.labels.categories.get(category_id, category_id))

    def team_name(self, team_id: str | None) -> str:
        return i18n.gettext(self.labels.teams.get(team_id or "", team_id or ""))

    def outcome_label(self, outcome_id: str) -> str:
        return i18n.gettext(self.options.policy.case_outcomes.get(outcome_id, outcome_id))

    def language_of(self, request: Request, user: DeskUser | None) -> Language:
        """The user's chosen language; before login, or until they choose, the browser's (if the desk
        has it), else the config's ``language.default``."""
        chosen = i18n.as_language(user.language) if user is not None and user.language_chosen_at else None
        return chosen or i18n.from_accept_language(request.headers.get("accept-language"), self.default_language)

    def catalog_for(self, request: Request, session: DeskSession | None) -> Catalog:
        return self.catalogs[self.language_of(request, session.user if session else None)]

    def render(self, request: Request, template: str, context: Mapping[str, Any], *, status: int = 200,
               session: DeskSession | None = None) -> HTMLResponse:
        user = session.user if session else None
        catalog = self.catalog_for(request, session)
        with i18n.rendering(catalog):
            page = self.templates.get_template(template).render(
                user=user, csrf=session.csrf_token if session else "", nav=_nav(user, request.url.path),
                lang=catalog.language, **context)
        return HTMLResponse(page, status_code=status)

    def audit(self, session: DeskSession, action: str, *, case_id: int | None = None, detail: str = "",
              once_per: dt.timedelta | None = None) -> None:
        self.desk.audit(session.user.name, session.user.role, action, case_id=case_id, detail=detail,
                        unless_within=once_per)


def _nav(user: DeskUser | None, path: str) -> list[dict[str, Any]]:
    if user is None:
        return []
    links: list[tuple[str, str]] = []
    if user.role in access.CASE_ROLES:
        links.append(("/inbox", N_("Inbox")))
    if user.role == "supervisor":
        links.append(("/live", N_("Live")))
        links.append(("/review/compliments", N_("Compliments to review")))
        links.append(("/reports", N_("Reports")))
    if user.role == "agent":
        links += [("/my/compliments", N_("My compliments")), ("/my/incidents", N_("My incidents"))]
    if user.role == "admin":
        links.append(("/admin/users", N_("Users")))
        links += [("/reports", N_("Reports")), ("/admin/config", N_("Configuration"))]
    links.append(("/my/settings", N_("My settings")))
    return [{"href": href, "label": i18n.gettext(label), "current": path == href} for href, label in links]


WITHHELD_WORD = N_("withheld")
"""A caller without a number (``reports.views.WITHHELD``)."""
PRIORITY_LABELS: dict[str, str] = {"urgent": N_("urgent"), "high": N_("high"), "normal": N_("normal"),
                                   "low": N_("low")}
STATUS_LABELS: dict[str, str] = {"open": N_("open"), "assigned": N_("assigned"), "closed": N_("closed")}


def priority_label(priority: int) -> str:
    """A priority's name in the page's language (``priority_name`` keeps the English id for CSS)."""
    name = priority_name(priority)
    return i18n.gettext(PRIORITY_LABELS[name]) if name in PRIORITY_LABELS else name


def status_label(status: str) -> str:
    return i18n.gettext(STATUS_LABELS.get(status, status))


def age_text(moment: dt.datetime, now: dt.datetime | None = None) -> str:
    """How long ago, for people: ``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h`` (``2 j 4 h`` in French)."""
    return duration_text(max(0, int(((now or utc_now()) - moment).total_seconds())))


def duration_text(seconds: int) -> str:
    days, rest = divmod(abs(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return (i18n.gettext("%(days)d d %(hours)d h") % {"days": days, "hours": hours} if hours
                else i18n.gettext("%(days)d d") % {"days": days})
    if hours:
        return (i18n.gettext("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": minutes} if minutes
                else i18n.gettext("%(hours)d h") % {"hours": hours})
    if minutes:
        return i18n.gettext("%(minutes)d min") % {"minutes": minutes}
    return i18n.gettext("%(seconds)d s") % {"seconds": secs}


# ---------------------------------------------------------------- request plumbing

Handler = Callable[[Request, Desk, DeskSession], Awaitable[Response]]


def _desk(request: Request) -> Desk:
    desk: Desk = request.app.state.desk
    return desk


def _now() -> dt.datetime:
    return utc_now()


def _wants_page(request: Request) -> bool:
    return request.method == "GET" and "text/event-stream" not in request.headers.get("accept", "") \
        and not request.url.path.endswith(("/rows", "/body", "/events", "/recording", "/evidence"))


def _login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def page(*roles: Role) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """A route for logged-in users of ``roles``; for POST, the CSRF token is checked first."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            desk = _desk(request)
            session, proxied = await _session_of(request, desk)
            if session is None:
                if _wants_page(request):
                    return _login_redirect(request)
                return PlainTextResponse("not logged in (or the session ended)", status_code=401)
            if request.method == "POST":
                form = await request.form(max_files=0, max_fields=20)
                if not same_token(form.get(CSRF_FIELD), session.csrf_token):
                    return _forbidden(request, desk, session, N_("This form has expired or did not come from the "
                                                                 "desk. Reload the page and try again."))
                request.state.form = form
            if session.user.role not in roles:
                return _forbidden(request, desk, session, N_("Your role does not give access to this page."))
            response = await handler(request, desk, session)
            if proxied is not None:
                proxied.set_cookie(response, _secure(request, desk))
            return response

        return endpoint

    return wrap


async def _session_of(request: Request, desk: Desk) -> tuple[DeskSession | None, ProxyLogin | None]:
    """The request's session: its cookie's, or the one a trusted proxy's header names (``proxy_login``)."""
    session = await run_in_threadpool(desk.sessions.current, request.cookies.get(SESSION_COOKIE), _now())
    name = named_user(request, desk.options.settings.desk.trusted_proxy)
    if name is None:
        return session, None
    found = await run_in_threadpool(login_by_header, name, session, desk.sessions, desk.desk, _now())
    if isinstance(found, ProxyLogin):
        return found.session, found
    return found, None


def _forbidden(request: Request, desk: Desk, session: DeskSession | None, message: str) -> Response:
    """``message``: an English message id (marked with ``N_``), shown in the user's language."""
    _ = desk.catalog_for(request, session).gettext
    if not _wants_page(request) and request.method == "GET":
        return PlainTextResponse(_(message), status_code=403)
    return desk.render(request, "message.html", {"title": _("Not allowed"), "message": _(message)}, status=403,
                       session=session)


def _not_found(request: Request, desk: Desk, session: DeskSession, what: str) -> Response:
    """``what``: the thing asked for, already in the user's language."""
    _ = desk.catalog_for(request, session).gettext
    if not _wants_page(request):
        return PlainTextResponse(_("%(what)s not found") % {"what": what}, status_code=404)
    return desk.render(request, "message.html", {"title": _("Not found"),
                                                 "message": _("%(what)s does not exist.") % {"what": what}},
                       status=404, session=session)


def _form(request: Request) -> FormData:
    form: FormData = request.state.form
    return form


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _secure(request: Request, desk: Desk) -> bool:
    wanted = desk.options.secure_cookies
    return request.url.scheme == "https" if wanted is None else wanted


# ---------------------------------------------------------------- login


async def login_form(request: Request) -> Response:
    desk = _desk(request)
    session, proxied = await _session_of(request, desk)
    if session is not None:
        response = RedirectResponse(access.home(session.user), status_code=303)
        if proxied is not None:
            proxied.set_cookie(response, _secure(request, desk))
        return response
    return _login_page(request, desk, "", status=200)


def _login_page(request: Request, desk: Desk, error: str, *, status: int, name: str = "") -> Response:
    token = secrets.token_urlsafe(24)
    _ = desk.catalog_for(request, None).gettext
    response = desk.render(request, "login.html", {"title": _("Log in"), "error": error, "login_token": token,
                                                   "name": name, "next": _safe_next(request.query_params.get("next"))},
                           status=status)
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request, desk),
                        path="/login")
    return response


def _safe_next(target: str | None) -> str:
    """Only a path of this desk (no scheme, no host, no ``//``), so a link cannot send a user elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return ""
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else ""


async def login(request: Request) -> Response:
    desk = _desk(request)
    form = await request.form(max_files=0, max_fields=10)
    _ = desk.catalog_for(request, None).gettext
    if not same_token(form.get(CSRF_FIELD), request.cookies.get(LOGIN_COOKIE, "")):
        return _login_page(request, desk, _("The login form expired. Please try again."), status=403)
    name = " ".join(_field(form, "name").split())[:80]
    password = _field(form, "password")
    address = request.client.host if request.client else "unknown"
    now = _now()

    def check() -> tuple[str, DeskUser | None, float]:
        keys = desk.sessions.login_keys(name, address)
        wait = desk.sessions.wait_before_login(keys, now)
        if wait > 0:
            return "throttled", None, wait
        user = desk.desk.user_named(name) if name else None
        if user is None or user.disabled_at is not None:
            verify_unknown_user(password)
            desk.sessions.failed_login(keys, now)
            return "refused", None, 0.0
        if not verify_password(user.password_hash, password):
            desk.sessions.failed_login(keys, now)
            return "refused", None, 0.0
        desk.sessions.good_login(keys)
        if needs_rehash(user.password_hash):
            desk.desk.set_password(user.name, hash_password(password))
        return "ok", user, 0.0

    outcome, user, wait = await run_in_threadpool(check)
    if outcome == "throttled":
        seconds = int(wait) + 1
        response = _login_page(request, desk, desk.catalog_for(request, None).ngettext(
            "Too many failed logins. Try again in %(seconds)d second.",
            "Too many failed logins. Try again in %(seconds)d seconds.", seconds) % {"seconds": seconds},
            status=429, name=name)
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    if user is None:
        return _login_page(request, desk, _("Wrong name or password."), status=401, name=name)
    cookie, _csrf = await run_in_threadpool(desk.sessions.start, user.id, now)
    await run_in_threadpool(desk.desk.audit, user.name, user.role, "login")
    target = _safe_next(_field(form, "next")) or access.home(user)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="strict", secure=_secure(request, desk),
                        path="/")
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@page("special_care", "security", "supervisor", "admin", "agent")
async def logout(request: Request, desk: Desk, session: DeskSession) -> Response:
    await run_in_threadpool(desk.sessions.end, request.cookies.get(SESSION_COOKIE))
    await run_in_threadpool(desk.audit, session, "logout")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def home(request: Request) -> Response:
    desk = _desk(request)
    session, proxied = await _session_of(request, desk)
    response = RedirectResponse(access.home(session.user) if session else "/login", status_code=303)
    if proxied is not None:
        proxied.set_cookie(response, _secure(request, desk))
    return response


async def health(request: Request) -> Response:
    desk = _desk(request)
    try:
        await run_in_threadpool(desk.desk.inbox_state)
    except StoreError:
        return PlainTextResponse("store unreachable\n", status_code=503)
    return PlainTextResponse("ok\n")


# ---------------------------------------------------------------- inbox


ASSIGNMENT_CHOICES = ("all", "mine", "unassigned")


@dataclass(frozen=True)
class InboxChoice:
    """The inbox filters of a request, each checked against what exists (anything else means "all")."""

    team: str | None
    priority: str
    category: str
    assignment: str
    overdue: bool

    @property
    def filtered(self) -> bool:
        """Whether a filter other than the team is set."""
        return bool(self.priority or self.category or self.assignment != "all" or self.overdue)

    def query(self, supervisor: bool) -> str:
        """The filters as a query string for the live rows and events URLs (empty when none is set)."""
        pairs = [("team", self.team or "")] if supervisor else []
        pairs += [("priority", self.priority), ("category", self.category),
                  ("assignment", "" if self.assignment == "all" else self.assignment),
                  ("overdue", "1" if self.overdue else "")]
        return "?" + urlencode([(k, v) for k, v in pairs if v]) if any(v for _, v in pairs) else ""


def _inbox_choice(request: Request, desk: Desk, session: DeskSession) -> InboxChoice:
    params = request.query_params
    asked = params.get("team") or None
    if asked is not None and asked not in desk.options.policy.teams:
        asked = None
    priority = params.get("priority", "")
    category = params.get("category", "")
    assignment = params.get("assignment", "all")
    return InboxChoice(team=access.inbox_team(session.user, asked),
                       priority=priority if priority in PRIORITY_RANK else "",
                       category=category if category in desk.options.policy.categories else "",
                       assignment=assignment if assignment in ASSIGNMENT_CHOICES else "all",
                       overdue=params.get("overdue") == "1")


def _inbox_context(request: Request, desk: Desk, session: DeskSession) -> dict[str, Any]:
    choice = _inbox_choice(request, desk, session)
    now = _now()
    due = desk.options.settings.desk.due
    filters = InboxFilter(priority=PRIORITY_RANK.get(choice.priority), category=choice.category or None,
                          assignee=session.user.name if choice.assignment == "mine" else None,
                          unassigned=choice.assignment == "unassigned",
                          due_before=due.overdue_cutoffs(now) if choice.overdue else (),
                          overdue_else=now - due.of_rank(0) if choice.overdue else None)
    cases: list[InboxCase] = desk.desk.inbox(choice.team, filters=filters)
    supervisor = session.user.role == "supervisor"
    return {"cases": cases, "team": choice.team, "all_teams": supervisor, "choice": choice,
            "teams": desk.options.policy.teams, "categories": desk.options.policy.categories,
            "priorities": PRIORITY_RANK, "now": now, "due": due, "query": choice.query(supervisor)}


@page("special_care", "security", "supervisor")
async def inbox(request: Request, desk: Desk, session: DeskSession) -> Response:
    context = await run_in_threadpool(_inbox_context, request, desk, session)
    _ = desk.catalog_for(request, session).gettext
    with i18n.rendering(desk.catalog_for(request, session)):
        team = desk.team_name(context["team"])
    title = _("Inbox: %(team)s") % {"team": team} if context["team"] else _("Inbox: all teams")
    return desk.render(request, "inbox.html", {"title": title, **context}, session=session)


@page("special_care", "security", "supervisor")
async def inbox_rows(request: Request, desk: Desk, session: DeskSession) -> Response:
    context = await run_in_threadpool(_inbox_context, request, desk, session)
    return desk.render(request, "_inbox_rows.html", context, session=session)


@page("special_care", "security", "supervisor")
async def inbox_events(request: Request, desk: Desk, session: DeskSession) -> Response:
    return _live_stream(request, desk, desk.desk.inbox_state)


def _live_stream(request: Request, desk: Desk, state_of: Callable[[], object]) -> Response:
    """Server-sent events: ``changed`` at once and whenever ``state_of()`` (read every ``poll_interval``)
    changes; ``signed-out`` when the session has ended (checked every 15 s), then the stream ends."""
    cookie = request.cookies.get(SESSION_COOKIE)
    interval = desk.options.poll_interval

    async def events() -> AsyncIterator[str]:
        yield "retry: 2000\n\n"
        last: object = None
        quiet = 0.0
        checked = 0.0
        while True:
            state: object
            try:
                state = await run_in_threadpool(state_of)
            except StoreError:
                state = last  # the store is down: say nothing new, try again
            if state != last:
                # The first one too: the browser fetches its part at once, so nothing between the page
                # and this stream is missed.
                yield "event: changed\ndata: 1\n\n"
                last, quiet = state, 0.0
            elif quiet >= 15.0:
                yield ": still here\n\n"
                quiet = 0.0
            if checked >= 15.0:  # the session may have ended (logout, idle, password changed)
                alive = await run_in_threadpool(desk.sessions.current, cookie, _now(), touch=False)
                if alive is None:
                    yield "event: signed-out\ndata: 1\n\n"
                    return
                checked = 0.0
            await asyncio.sleep(interval)
            quiet += interval
            checked += interval

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# ---------------------------------------------------------------- the supervisors' live view


def _live_context(desk: Desk) -> dict[str, Any]:
    now = _now()
    local = now.astimezone(desk.tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return {"live": desk.desk.live_view(midnight), "compliments": desk.store.list_compliments(limit=10),
            "now": now, "teams": desk.options.policy.teams}


@page("supervisor")
async def live(request: Request, desk: Desk, session: DeskSession) -> Response:
    context = await run_in_threadpool(_live_context, desk)
    return desk.render(request, "live.html", {"title": desk.catalog_for(request, session).gettext("Live"), **context},
                       session=session)


@page("supervisor")
async def live_body(request: Request, desk: Desk, session: DeskSession) -> Response:
    context = await run_in_threadpool(_live_context, desk)
    return desk.render(request, "_live_body.html", context, session=session)


@page("supervisor")
async def live_events(request: Request, desk: Desk, session: DeskSession) -> Response:
    return _live_stream(request, desk, desk.desk.live_state)


# ---------------------------------------------------------------- a case


async def _case_for(request: Request, desk: Desk, session: DeskSession, verb: str
                    ) -> tuple[int, Response | None]:
    """The case id of the path, or the response refusing it (not a number, no such case, not theirs)."""
    raw = request.path_params["case_id"]
    case_id = int(raw) if raw.isdigit() and len(raw) < 19 else 0
    team = await run_in_threadpool(desk.desk.case_team, case_id) if case_id else None
    if team is None:
        return case_id, _not_found(request, desk, session,
                                   desk.catalog_for(request, session).gettext("Case %(id)s") % {"id": raw[:20]})
    if not access.may_work_case(session.user, team):
        await run_in_threadpool(desk.audit, session, "access_refused", case_id=case_id, detail=verb)
        return case_id, _forbidden(request, desk, session, N_("This case belongs to another team."))
    return case_id, None


@page("special_care", "security", "supervisor")
async def case_page(request: Request, desk: Desk, session: DeskSession) -> Response:
    case_id, refused = await _case_for(request, desk, session, "view")
    if refused is not None:
        return refused

    catalog = desk.catalog_for(request, session)

    def load() -> dict[str, Any]:
        desk.audit(session, "case_viewed", case_id=case_id)
        case = desk.store.get_case(case_id)
        assert case is not None
        call = desk.store.get_call(case.call_id)
        incidents = desk.store.list_incidents(call_id=case.call_id)
        colleagues = [user for user in desk.desk.users() if access.may_work_case(user, case.team)
                      and user.disabled_at is None]
        has_recording = _servable(case, desk) is not None
        with i18n.rendering(catalog):
            entries = case_timeline(case, call, incidents, catalog, desk.category, desk.outcome_label,
                                    desk.team_name)
            transcript = transcript_view(desk.store, case.recording, catalog) if has_recording else None
        return {"case": case, "caller": _caller_words(case.caller, catalog), "timeline": entries,
                "transcript": transcript,
                "audit": desk.desk.audit_of_case(case_id), "outcomes": desk.options.policy.case_outcomes,
                "colleagues": colleagues, "has_recording": has_recording, "now": _now(),
                "error": _case_message(request.query_params.get("error", ""), catalog)}

    context = await run_in_threadpool(load)
    return desk.render(request, "case.html", {"title": catalog.gettext("Case %(id)s") % {"id": case_id}, **context},
                       session=session)


def _caller_words(caller: str, catalog: Catalog) -> str:
    shown = caller_shown(caller)
    return catalog.gettext(WITHHELD_WORD) if shown == WITHHELD else shown


def _servable(case: Case, desk: Desk) -> Path | None:
    try:
        path = evidence.checked_path(case.recording, desk.options.recordings)
    except evidence.NotServable:
        return None
    return path if path.is_file() else None


@page("special_care", "security", "supervisor")
async def case_evidence(request: Request, desk: Desk, session: DeskSession) -> Response:
    case_id, refused = await _case_for(request, desk, session, "evidence")
    if refused is not None:
        return refused
    download = request.query_params.get("download") == "1"

    def open_it() -> tuple[int, evidence.Slice, Path] | str:
        case = desk.store.get_case(case_id)
        assert case is not None
        try:
            path = evidence.checked_path(case.recording, desk.options.recordings)
            fd, size = evidence.open_recording(path)
        except evidence.NotServable as error:
            return str(error)
        try:
            part = evidence.parse_range(request.headers.get("range"), size)
        except evidence.Unsatisfiable:
            os.close(fd)
            return f"unsatisfiable:{size}"
        if download:
            desk.audit(session, "evidence_downloaded", case_id=case_id)
        elif part.start == 0:  # a player starting from the beginning; seeking is not another play
            desk.audit(session, "evidence_played", case_id=case_id, once_per=AUDIT_REPLAY)
        return fd, part, path

    opened = await run_in_threadpool(open_it)
    if isinstance(opened, str):
        if opened.startswith("unsatisfiable:"):
            return Response(status_code=416, headers={"Content-Range": f"bytes */{opened.split(':')[1]}"})
        return PlainTextResponse(opened, status_code=404)
    fd, part, path = opened
    name = f"case-{case_id}-evidence{path.suffix}"
    return _file_slice(fd, part, evidence.content_type(path), name if download else None)


def _file_slice(fd: int, part: evidence.Slice, media_type: str, attachment: str | None) -> Response:
    headers = {"Accept-Ranges": "bytes", "Content-Length": str(part.length), "Cache-Control": "no-store"}
    if part.partial:
        headers["Content-Range"] = f"bytes {part.start}-{part.end}/{part.size}"
    if attachment:
        headers["Content-Disposition"] = f'attachment; filename="{attachment}"'
    return StreamingResponse(evidence.read_slice(fd, part), status_code=206 if part.partial else 200,
                             media_type=media_type, headers=headers)


@page("special_care", "security", "supervisor")
async def case_report(request: Request, desk: Desk, session: DeskSession) -> Response:
    case_id, refused = await _case_for(request, desk, session, "export")
    if refused is not None:
        return refused

    def export() -> bytes:
        from agi_scripts.reports.pdf import pdf_bytes

        case = desk.store.get_case(case_id)
        assert case is not None
        report = build_incident_report(desk.store, case, desk.options.settings, desk.labels, _now())
        content = pdf_bytes(report)
        desk.audit(session, "report_exported", case_id=case_id, detail="pdf")
        return content

    content = await run_in_threadpool(export)
    return Response(content, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="case-{case_id}-incident-report.pdf"',
                             "Cache-Control": "no-store"})


CASE_MESSAGES: dict[str, str] = {
    "cannot_work": N_("That colleague cannot work this case."),
    "store_refused": N_("That could not be done: the case changed meanwhile (closed or erased). Reload the page."),
    "note_empty": N_("The note is empty."),
    "note_long": N_("A note has at most %(count)d characters."),
    "outcome": N_("Choose an outcome from the list."),
    **CALLBACK_MESSAGES,
}
"""What a redirect back to the case page may say, by key: ``?error=`` carries the key only, so a link
someone sends cannot put their own words in the page's alert."""


def _case_message(key: str, catalog: Catalog) -> str:
    message = CASE_MESSAGES.get(key)
    if message is None:
        return ""
    return catalog.gettext(message) % {"count": MAX_NOTE} if "%(count)d" in message else catalog.gettext(message)


def _back_to_case(case_id: int, error: str = "") -> Response:
    """Back to the case page; ``error`` is a key of ``CASE_MESSAGES`` (or "")."""
    assert not error or error in CASE_MESSAGES, error
    return RedirectResponse(f"/cases/{case_id}" + (f"?error={error}" if error else ""), status_code=303)


def _store_refused(case_id: int, error: StoreError) -> str:
    """The store's words go to the log; the page says ``store_refused``."""
    LOG.info("case %d: the store refused a change: %s", case_id, error)
    return "store_refused"


@page("special_care", "security", "supervisor")
async def case_assign(request: Request, desk: Desk, session: DeskSession) -> Response:
    case_id, refused = await _case_for(request, desk, session, "assign")
    if refused is not None:
        return refused
    form = _form(request)
    assignee = _field(form, "assignee").strip()[:80] or session.user.name

    def assign() -> str:
        case_team = desk.desk.case_team(case_id) or ""
        colleague = desk.desk.user_named(assignee)
        if colleague is None or colleague.disabled_at is not None or not access.may_work_case(colleague, case_team):
            return "cannot_work"
        try:
            desk.store.assign_case(case_id, assignee, author=session.user.name)
        except StoreError as error:
            return _store_refused(case_id, error)
        desk.audit(session, "assigned", case_id=case_id, detail=assignee)
        return ""

    return _back_to_case(case_id, await run_in_threadpool(assign))


@page("special_care", "security", "supervisor")
async def case_note(request: Request, desk: Desk, session: DeskSession) -> Response:
    case_id, refused = await _case_for(request, desk, session, "note")
    if refused is not None:
        return refused
    text = _field(_form(request), "text").strip()
    if not text:
        return _back_to_case(case_id, "note_empty")
    if len(text) > MAX_NOTE:
        return _back_to_case(case_id, "note_long")

    def note() -> str:
        try:
            event = desk.store.add_case_note(case_id, session.user.name, text)
        except StoreError as error:
            return _store_refused(case_id, error)
        desk.audit(session, "note_added", case_id=case_id, detail=f"event {event.id}")
        return ""

    return _back_to_case(case_id, await run_in_threadpool(note))


@page("special_care", "security", "supervisor")
async def case_close(request: Request, desk: Desk, session: DeskSession) -> Response:
    case_id, refused = await _case_for(request, desk, session, "close")
    if refused is not None:
        return refused
    form = _form(request)
    outcome = _field(form, "outcome")
    note = _field(form, "note").strip()
    if outcome not in desk.options.policy.case_outcomes:
        return _back_to_case(case_id, "outcome")
    if len(note) > MAX_NOTE:
        return _back_to_case(case_id, "note_long")

    def close() -> str:
        try:
            if note:
                desk.store.add_case_note(case_id, session.user.name, note)
            desk.store.close_case(case_id, outcome, author=session.user.name)
        except StoreError as error:
            return _store_refused(case_id, error)
        desk.audit(session, "closed", case_id=case_id, detail=outcome)
        return ""

    return _back_to_case(case_id, await run_in_threadpool(close))


# ---------------------------------------------------------------- every user's own settings


@page("special_care", "security", "supervisor", "admin", "agent")
async def my_settings(request: Request, desk: Desk, session: DeskSession) -> Response:
    return _settings_page(request, desk, session, saved=request.query_params.get("saved") == "1")


def _settings_page(request: Request, desk: Desk, session: DeskSession, *, saved: bool = False, error: str = "",
                   status: int = 200) -> Response:
    return desk.render(request, "settings.html", {
        "title": desk.catalog_for(request, session).gettext("My settings"), "saved": saved, "error": error,
        "languages": i18n.LANGUAGE_NAMES, "chosen": session.user.language if session.user.language_chosen_at else "",
        "browser": i18n.from_accept_language(request.headers.get("accept-language"), desk.default_language)},
        session=session, status=status)


@page("special_care", "security", "supervisor", "admin", "agent")
async def my_settings_save(request: Request, desk: Desk, session: DeskSession) -> Response:
    language = i18n.as_language(_field(_form(request), "language"))
    if language is None or _field(_form(request), "language") != language:
        return _settings_page(request, desk, session, status=400, error=desk.catalog_for(request, session).gettext(
            "Choose one of the languages in the list."))
    await run_in_threadpool(desk.desk.set_language, session.user.name, language)
    await run_in_threadpool(desk.audit, session, "language_chosen", detail=language)
    return RedirectResponse("/my/settings?saved=1", status_code=303)


# ---------------------------------------------------------------- agents


@page("agent")
async def my_compliments(request: Request, desk: Desk, session: DeskSession) -> Response:
    agent = session.user.agent or session.user.name

    def load() -> dict[str, Any]:
        # Only what the screening released: a held message or a low rating never shows here.
        compliments = [found.compliment for found in ScreeningStore(desk.store).released_for_agent(agent, limit=200)]
        # Read here counts as heard, like the agents' line: a rating without a recording is delivered
        # once shown; one with a recording when it is played.
        desk.store.mark_compliments_delivered([c.id for c in compliments if not c.recording])
        return {"compliments": compliments}

    context = await run_in_threadpool(load)
    return desk.render(request, "compliments.html",
                       {"title": desk.catalog_for(request, session).gettext("My compliments"), **context}, session=session)


@page("agent")
async def my_compliment_recording(request: Request, desk: Desk, session: DeskSession) -> Response:
    raw = request.path_params["compliment_id"]
    compliment_id = int(raw) if raw.isdigit() and len(raw) < 19 else 0
    agent = session.user.agent or session.user.name

    def open_it() -> tuple[int, evidence.Slice, Path] | str:
        found = ScreeningStore(desk.store).get(compliment_id) if compliment_id else None
        if found is None or found.compliment.agent != agent or found.screening != "released":
            return "no such compliment of yours"
        compliment = found.compliment
        try:
            path = evidence.checked_path(compliment.recording, desk.options.recordings)
            fd, size = evidence.open_recording(path)
        except evidence.NotServable as error:
            return str(error)
        try:
            part = evidence.parse_range(request.headers.get("range"), size)
        except evidence.Unsatisfiable:
            os.close(fd)
            return "unsatisfiable"
        if part.start == 0:
            desk.store.mark_compliments_delivered([compliment.id])
            desk.audit(session, "compliment_played", detail=f"compliment {compliment.id}", once_per=AUDIT_REPLAY)
        return fd, part, path

    opened = await run_in_threadpool(open_it)
    if isinstance(opened, str):
        return PlainTextResponse(opened, status_code=416 if opened == "unsatisfiable" else 404)
    fd, part, path = opened
    return _file_slice(fd, part, evidence.content_type(path), None)


@page("agent")
async def my_incidents(request: Request, desk: Desk, session: DeskSession) -> Response:
    agent = session.user.agent or session.user.name
    incidents = await run_in_threadpool(desk.desk.incidents_of_agent, agent)
    return desk.render(request, "incidents.html", {"title": desk.catalog_for(request, session).gettext("My incidents"),
                                                   "incidents": incidents}, session=session)


# ---------------------------------------------------------------- admins


@page("admin")
async def admin_users(request: Request, desk: Desk, session: DeskSession) -> Response:
    def load() -> dict[str, Any]:
        return {"users": desk.desk.users(), "audit": desk.desk.audit_entries(limit=100)}

    context = await run_in_threadpool(load)
    return desk.render(request, "users.html", {"title": desk.catalog_for(request, session).gettext("Users"), **context},
                       session=session)


# ---------------------------------------------------------------- the application


class SecurityHeaders:
    """Headers on every response: no framing, no sniffing, no referrer, our own scripts only, and
    nothing personal kept in caches (static files excepted)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = {b"content-security-policy": CSP.encode(), b"x-content-type-options": b"nosniff",
                         b"referrer-policy": b"no-referrer", b"x-frame-options": b"DENY",
                         b"cross-origin-opener-policy": b"same-origin"}
                if not static:
                    extra[b"cache-control"] = b"no-store"
                headers += [(name, value) for name, value in extra.items() if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(options: DeskOptions, store: Store | None = None) -> Starlette:
    """The desk. It opens ``options.store_url`` at start-up unless given an opened ``store`` (kept open)."""
    from agi_scripts.desk import config_view, reports_pages  # they import this module

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        opened = store if store is not None else await run_in_threadpool(open_store, options.store_url)
        try:
            app.state.desk = await run_in_threadpool(Desk, options, opened)
            yield
        finally:
            if store is None:
                opened.close()

    routes = [
        Route("/", home),
        Route("/health", health),
        Route("/metrics", metrics_page),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/inbox", inbox),
        Route("/inbox/rows", inbox_rows),
        Route("/inbox/events", inbox_events),
        Route("/live", live),
        Route("/live/body", live_body),
        Route("/live/events", live_events),
        Route("/cases/{case_id}", case_page),
        Route("/cases/{case_id}/evidence", case_evidence),
        Route("/cases/{case_id}/report.pdf", case_report),
        Route("/cases/{case_id}/assign", case_assign, methods=["POST"]),
        Route("/cases/{case_id}/note", case_note, methods=["POST"]),
        Route("/cases/{case_id}/close", case_close, methods=["POST"]),
        *callback_routes(page, _case_for),
        *review_routes(page),
        Route("/my/compliments", my_compliments),
        Route("/my/compliments/{compliment_id}/recording", my_compliment_recording),
        Route("/my/incidents", my_incidents),
        Route("/my/settings", my_settings, methods=["GET"]),
        Route("/my/settings", my_settings_save, methods=["POST"]),
        Route("/admin/users", admin_users),
        *reports_pages.routes(),
        *config_view.routes(),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(DeskMetrics)
    return app
