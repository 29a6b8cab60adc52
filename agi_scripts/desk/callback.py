"""The case page's "Call back" button: ``POST /cases/{case_id}/callback``.

Who may press it: whoever may work the case (Special Care and Security for their team's cases,
supervisors for all); never an agent or an admin. The form carries its CSRF token like every other. The
desk rings the staff member's own phone (``phone`` in their desk profile) through AMI and follows the
call on a thread of its own (``policy.callback``); each step is a case event on the timeline with who
and when, and the press itself is in the audit log. Admins set each staff member's phone on the users page
(``POST /admin/users/phone``) or with ``respectline desk set-phone``.

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
from urllib.parse import quote
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from agi_scripts.config.settings import Settings
from agi_scripts.policy.callback import (MAX_CALL_SECONDS, CallbackInProgress, CallbackRefused, CallbackRequest,
                                        start_callback)
from agi_scripts.storage.base import StoreError, utc_now
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


def offer(settings: Settings, user: DeskUser | None) -> str:
    """Why the button cannot be used, for the page ("" when it can)."""
    if not settings.callback.enabled:
        return "Calling back is off: the configuration has no callback.dial."
    if not settings.ami.enabled:
        return "Calling back needs Asterisk's AMI, which is not configured (the ami section)."
    if user is None or not user.phone:
        return "Your profile has no phone to ring; ask an admin to set one."
    return ""


def routes(page: PageDecorator, case_for: CaseFor) -> list[Route]:
    """The call back route, guarded by the desk's own ``page`` (session, role, CSRF) and ``case_for`` (team)."""

    @page(*CASE_ROLES)
    async def case_callback(request: Request, desk: Desk, session: DeskSession) -> Response:
        case_id, refused = await case_for(request, desk, session, "callback")
        if refused is not None:
            return refused
        settings = desk.options.settings
        problem = offer(settings, session.user)
        only_ami_missing = not settings.ami.enabled and settings.callback.enabled and bool(session.user.phone)
        if problem and not only_ami_missing:
            return _back(case_id, problem)
        # Without AMI the try goes on, to be refused on the timeline (a page opened before the change).
        try:
            started = await run_in_threadpool(_start, desk, session, case_id)
        except StillRunning:
            return _back(case_id, "Your call back is still going; wait until it has ended.")
        except CallbackRefused as error:
            return _back(case_id, f"The call back did not start: {error}. The try is on the timeline.")
        except StoreError:
            LOG.exception("call back of case %d not started: the store failed", case_id)
            return _back(case_id, "The call back did not start: the store did not answer. Try again.")
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
                return f"There is no user named {name}."
            desk.audit(session, "phone_set", detail=f"{name}: {phone or 'removed'}")
            return ""

        problem = await run_in_threadpool(save)
        if problem:
            return desk.render(request, "message.html", {"title": "Phone not saved", "message": problem},
                               status=400, session=session)
        return RedirectResponse("/admin/users", status_code=303)

    return [Route("/cases/{case_id}/callback", case_callback, methods=["POST"]),
            Route("/admin/users/phone", set_phone, methods=["POST"])]


def _start(desk: Desk, session: DeskSession, case_id: int) -> CallbackInProgress:
    case = desk.store.get_case(case_id)
    assert case is not None
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
    desk.audit(session, "callback", case_id=case_id, detail=session.user.phone or "")
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


def _back(case_id: int, message: str) -> Response:
    target = f"/cases/{case_id}" + (f"?error={quote(message)}" if message else "")
    return RedirectResponse(target, status_code=303)
