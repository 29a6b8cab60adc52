"""The case page's "Call back" button: ``POST /cases/{case_id}/callback``.

Who may press it: whoever may work the case (Special Care and Security for their team's cases,
supervisors for all); never an agent or an admin. The form carries its CSRF token like every other. The
desk rings the staff member's own phone (``phone`` in their desk profile) through AMI and follows the
call on a thread of its own (``policy.callback``); each step is a case event on the timeline with who
and when, and the press itself is in the audit log. Admins set each staff member's phone on the users page
(``POST /admin/users/phone``) or with ``respectline desk set-phone``.

Only numbers ``callback.allowed`` lets through are called (the caller ID is the caller's to choose); the
section shows the staff member the exact number their call back dials, and the audit line records it.
Every message after a press is one of ``MESSAGES``, named by its key in the redirect (``?error=ami_down``):
nothing a URL carries is ever shown as text.

One call back at a time per staff member, across every desk process on the store (a ``callbacks`` row
without an end, migration 7): a second press while their phone rings or they talk is refused with a
message, not a second call. A row a stopped desk left running counts as lost after ``MAX_CALL_SECONDS``
and the ring times. When AMI is not configured or does not
answer, the page says so and the timeline keeps the failed try.
"""

from __future__ import annotations

import logging
import secrets
import threading
from datetime import timedelta
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agi_scripts.config.settings import Settings
from agi_scripts.desk.i18n import N_
from agi_scripts.policy.callback import (MAX_CALL_SECONDS, CallbackInProgress, CallbackRefused, CallbackRequest,
                                        start_callback)
from agi_scripts.storage.base import NotFound, StoreError, utc_now
from agi_scripts.storage.desk import DeskSession, DeskUser

if TYPE_CHECKING:
    from agi_scripts.desk.app import Desk

Handler = Callable[[Request, Any, DeskSession], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]
PageDecorator = Callable[..., Callable[[Handler], Endpoint]]
CaseFor = Callable[[Request, Any, DeskSession, str], Awaitable[tuple[int, Response | None]]]
CASE_ROLES = ("special_care", "security", "supervisor")
LOG = logging.getLogger("respectline.callback")


class StillRunning(Exception):
    """The staff member's previous call back has not ended (on this desk or another on the store)."""


RECORDINGS_SUBFOLDER = "callbacks"
MESSAGES: dict[str, str] = {
    "off": N_("Calling back is off: the configuration has no callback.dial."),
    "ami_missing": N_("Calling back needs Asterisk's AMI, which is not configured (the ami section)."),
    "no_phone": N_("Your profile has no phone to ring; ask an admin to set one."),
    "none_allowed": N_("Calling back allows no number yet: callback.allowed in the configuration is empty."),
    "not_allowed_here": N_("This caller's number is not one the configuration lets the desk call "
                           "(callback.allowed): it is not called back."),
    "still_running": N_("Your call back is still going; wait until it has ended."),
    "store": N_("The call back did not start: the store did not answer. Try again."),
    "case_gone": N_("The call back did not start: this case was erased meanwhile."),
    "no_number": N_("The call back did not start: this case holds no phone number that can be called back. "
                    "The try is on the timeline."),
    "not_allowed": N_("The call back did not start: the caller's number is not one callback.allowed lets the "
                      "desk call. The try is on the timeline."),
    "endpoint": N_("The call back did not start: your phone is not an endpoint such as PJSIP/care1. "
                   "The try is on the timeline."),
    "language": N_("The call back did not start: a language is not a two-letter code. The try is on the timeline."),
    "recording_path": N_("The call back did not start: the recordings folder has characters Asterisk cannot take "
                         "in a path. The try is on the timeline."),
    "ami_off": N_("The call back did not start: AMI is not configured. The try is on the timeline."),
    "ami_down": N_("The call back did not start: Asterisk's AMI is unavailable. The try is on the timeline."),
    "ami_refused": N_("The call back did not start: Asterisk refused to ring your phone. The try is on the timeline."),
    "refused": N_("The call back did not start. The timeline says why."),
}
"""What the case page may say about a call back, by key (English: the message id of the catalogs)."""


def offer(settings: Settings, user: DeskUser | None, number: str = "") -> str:
    """Why the button cannot be used for a caller with ``number``: a key of ``MESSAGES`` ("" when it can)."""
    if not settings.callback.enabled:
        return "off"
    if not settings.ami.enabled:
        return "ami_missing"
    if user is None or not user.phone:
        return "no_phone"
    if not settings.callback.allowed:
        return "none_allowed"
    if number and not settings.callback.allows(number):
        return "not_allowed_here"
    return ""


def routes(page: PageDecorator, case_for: CaseFor) -> list[Route]:
    """The call back route, guarded by the desk's own ``page`` (session, role, CSRF) and ``case_for`` (team)."""

    @page(*CASE_ROLES)
    async def case_callback(request: Request, desk: Desk, session: DeskSession) -> Response:
        case_id, refused = await case_for(request, desk, session, "callback")
        if refused is not None:
            return refused
        problem = offer(desk.options.settings, session.user)
        if problem in ("off", "no_phone"):
            return _back(case_id, problem)
        # Otherwise the try goes on, to be refused on the timeline (a page opened before a change: AMI taken
        # off, a number no longer allowed).
        try:
            started = await run_in_threadpool(_start, desk, session, case_id)
        except StillRunning:
            return _back(case_id, "still_running")
        except CaseGone:
            return _back(case_id, "case_gone")
        except CallbackRefused as error:
            return _back(case_id, error.key if error.key in MESSAGES else "refused")
        except StoreError:
            LOG.exception("call back of case %d not started: the store failed", case_id)
            return _back(case_id, "store")
        threading.Thread(target=_follow, args=(started, desk), name=f"respectline-callback-{case_id}",
                         daemon=True).start()
        return _back(case_id, "")

    @page("admin")
    async def set_phone(request: Request, desk: Desk, session: DeskSession) -> Response:
        form = request.state.form
        name, phone = str(form.get("name") or "")[:80], str(form.get("phone") or "").strip()[:100]

        def save() -> str:
            try:
                desk.desk.set_phone(name, phone or None)
            except ValueError as error:
                return str(error)
            except StoreError:
                return desk.catalog_for(request, session).gettext("There is no user named %(name)s.") % {"name": name}
            desk.audit(session, "phone_set", detail=f"{name}: {phone or 'removed'}")
            return ""

        problem = await run_in_threadpool(save)
        if problem:
            return desk.render(request, "message.html", {
                "title": desk.catalog_for(request, session).gettext("Phone not saved"), "message": problem},
                               status=400, session=session)
        return RedirectResponse("/admin/users", status_code=303)

    return [Route("/cases/{case_id}/callback", case_callback, methods=["POST"]),
            Route("/admin/users/phone", set_phone, methods=["POST"])]


class CaseGone(Exception):
    """The case was erased (a privacy request) between the page and the press."""


def _start(desk: Desk, session: DeskSession, case_id: int) -> CallbackInProgress:
    try:
        case = desk.store.get_case(case_id)
    except NotFound:
        case = None
    if case is None:
        raise CaseGone(case_id)
    call = desk.store.get_call(case.call_id)
    settings = desk.options.settings
    callback_id = secrets.token_hex(8)
    recording = settings.recordings_dir / RECORDINGS_SUBFOLDER / f"case-{case_id}-{callback_id}.wav"
    request = CallbackRequest(
        case_id=case_id, staff=session.user.name, endpoint=session.user.phone or "", number=case.caller,
        staff_language=session.user.language if session.user.language in ("nl", "fr", "en") else "en",
        caller_language=((call.language if call else "") or settings.language.default)[:2].lower(),
        recording=str(recording), callback_id=callback_id)

    def timeline(case_id: int, action: str, detail: str, author: str) -> None:
        desk.store.add_case_event(case_id, action, detail, author=author)

    now = utc_now()
    running_since = now - timedelta(seconds=MAX_CALL_SECONDS + settings.callback.ring_staff
                                    + settings.callback.ring_caller + 60)
    if not desk.desk.claim_callback(callback_id, case_id, request.staff, request.endpoint,
                                    running_since=running_since, at=now):
        raise StillRunning(request.staff)
    # The number dialled, as the page showed it: what a reviewer of the audit log needs to check.
    desk.audit(session, "callback", case_id=case_id, detail=f"{request.endpoint} -> {request.number}"[:200])
    try:
        return start_callback(request, settings.ami, settings.callback, timeline)
    except BaseException:
        try:
            desk.desk.end_callback(callback_id, "not_started")
        except StoreError:  # the row counts as lost after MAX_CALL_SECONDS; the refusal is what matters here
            LOG.exception("call back %s: its end could not be written", callback_id)
        raise


def _follow(started: CallbackInProgress, desk: Desk) -> None:
    outcome = "unfollowed"
    try:
        outcome = started.follow()
    finally:
        try:
            desk.desk.end_callback(started.request.callback_id, outcome)
        except StoreError:  # the row stays running until it is taken as lost (MAX_CALL_SECONDS)
            LOG.exception("call back %s: its end could not be written", started.request.callback_id)


def _back(case_id: int, key: str) -> Response:
    """Back to the case page; ``key`` (of ``MESSAGES``) names what it says."""
    target = f"/cases/{case_id}" + (f"?error={key}" if key else "")
    return RedirectResponse(target, status_code=303)
