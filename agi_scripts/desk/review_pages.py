"""The team lead's review of compliments on the desk (supervisors): what the screening held before any
agent hears it, and the follow-ups low ratings opened. ``/review/compliments`` lists them; a held
message can be played, released to the agent, or deleted with a reason; a follow-up is closed with a
note. Every change and every play is written to the audit log (as ``respectline compliments`` does).

Mounted by ``app.py`` with the desk's own ``page`` decorator (session, role, CSRF on every POST).
Strings are plain English: the desk's translation helper translates pages.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from agi_scripts.desk import evidence
from agi_scripts.desk.i18n import N_
from agi_scripts.policy.screening import delete_message
from agi_scripts.storage.base import NotFound, StoreError
from agi_scripts.storage.desk import DeskSession
from agi_scripts.storage.screening import NotDecidable, ScreeningStore
from agi_scripts.storage.transcripts import TranscriptStore

if TYPE_CHECKING:
    from agi_scripts.desk.app import Desk

Handler = Callable[[Request, Any, DeskSession], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]
PageDecorator = Callable[..., Callable[[Handler], Endpoint]]
REVIEW_ROLES = ("supervisor",)
PAGE = "/review/compliments"
MAX_TEXT = 500
MAX_WORDS = 2000
"""Characters of a transcript shown per compliment (a 30 s message says far fewer)."""
AUDIT_REPLAY = dt.timedelta(seconds=60)
"""An audio player asks for a recording again when seeking: one play is logged per minute."""
DONE = {"released": N_("The compliment was released: the agent hears it on the compliments line."),
        "deleted": N_("The message was deleted. Its rating still counts in the reports."),
        "closed": N_("The follow-up was closed."),
        "reason": N_("A deletion needs a reason."), "note": N_("Closing a follow-up needs a note."),
        "gone": N_("That compliment or follow-up does not exist."),
        "refused": N_("That cannot be done any more (deleted, or closed already)."),
        "unscreened": N_("That compliment is not screened yet: its caller may still be leaving it. Decide once it "
                         "is held."),
        "file": N_("The message was deleted from the review, but its file could not be removed; the log says "
                   "why.")}
"""What a redirect back to the list says (its key only is in the URL: nothing typed is echoed); English, the
message id of the catalogs (``desk/locale``): the page shows it in the user's language."""


def _number(request: Request, name: str) -> int:
    raw = request.path_params.get(name, "")
    return int(raw) if isinstance(raw, str) and raw.isdigit() and len(raw) < 19 else 0


def _back(done: str) -> Response:
    return RedirectResponse(f"{PAGE}?done={done}", status_code=303)


def _text(request: Request, name: str) -> str:
    value = request.state.form.get(name)
    return " ".join(value.split())[:MAX_TEXT] if isinstance(value, str) else ""


def routes(page: PageDecorator) -> list[Route]:
    """The review routes, guarded by the desk's own ``page`` (session, role, CSRF)."""

    @page(*REVIEW_ROLES)
    async def review_list(request: Request, desk: Desk, session: DeskSession) -> Response:
        def load() -> dict[str, Any]:
            screening = ScreeningStore(desk.store)
            waiting = screening.review_list(limit=500)
            # What the transcription worker heard, so the team lead need not listen first.
            found = TranscriptStore(desk.store).of_recordings(c.compliment.recording for c in waiting)
            words = {path: transcript.text[:MAX_WORDS] for path, transcript in found.items()
                     if transcript.status == "done"}
            # Buttons only where the store would take them: never while a caller may still be speaking.
            decidable = {c.id for c in waiting if screening.decidable(c)}
            # The page shows what callers said (transcripts of held messages): who opened it is audited.
            desk.audit(session, "compliments_review_opened", detail=f"{len(waiting)} waiting, {len(words)} transcripts",
                       once_per=AUDIT_REPLAY)
            return {"waiting": waiting, "words": words, "decidable": decidable,
                    "follow_ups": screening.follow_ups(limit=500)}

        context = await run_in_threadpool(load)
        done = DONE.get(request.query_params.get("done", ""), "")
        return desk.render(request, "review.html", {"title": desk.catalog_for(request, session).gettext(
            "Compliments to review"), "done": done, **context},
                           session=session)

    @page(*REVIEW_ROLES)
    async def review_release(request: Request, desk: Desk, session: DeskSession) -> Response:
        compliment_id = _number(request, "compliment_id")

        def release() -> str:
            try:
                ScreeningStore(desk.store).release(compliment_id, by=session.user.name, role=session.user.role)
            except NotFound:
                return "gone"
            except NotDecidable:
                return "unscreened"
            except StoreError:
                return "refused"
            return "released"

        return _back(await run_in_threadpool(release))

    @page(*REVIEW_ROLES)
    async def review_delete(request: Request, desk: Desk, session: DeskSession) -> Response:
        compliment_id = _number(request, "compliment_id")
        reason = _text(request, "reason")
        if not reason:
            return _back("reason")

        def delete() -> str:
            try:
                _, problem = delete_message(desk.store, compliment_id, by=session.user.name, role=session.user.role,
                                            reason=reason, recordings_dir=desk.options.settings.recordings_dir)
            except NotFound:
                return "gone"
            except NotDecidable:
                return "unscreened"
            return "file" if problem else "deleted"

        return _back(await run_in_threadpool(delete))

    @page(*REVIEW_ROLES)
    async def follow_up_close(request: Request, desk: Desk, session: DeskSession) -> Response:
        follow_up_id = _number(request, "follow_up_id")
        note = _text(request, "note")
        if not note:
            return _back("note")

        def close() -> str:
            try:
                ScreeningStore(desk.store).close_follow_up(follow_up_id, by=session.user.name,
                                                           role=session.user.role, note=note)
            except NotFound:
                return "gone"
            except StoreError:
                return "refused"
            return "closed"

        return _back(await run_in_threadpool(close))

    @page(*REVIEW_ROLES)
    async def review_recording(request: Request, desk: Desk, session: DeskSession) -> Response:
        """A held message, to decide on it; only one the review list shows (never a released or deleted one)."""
        compliment_id = _number(request, "compliment_id")

        def open_it() -> tuple[int, evidence.Slice, str] | str:
            found = ScreeningStore(desk.store).get(compliment_id) if compliment_id else None
            if found is None or found.screening not in ("held", "pending_transcript", "unscreened"):
                return "no such compliment to review"
            try:
                path = evidence.checked_path(found.compliment.recording, desk.options.recordings)
                fd, size = evidence.open_recording(path)
            except evidence.NotServable as error:
                return str(error)
            try:
                part = evidence.parse_range(request.headers.get("range"), size)
            except evidence.Unsatisfiable:
                os.close(fd)
                return "unsatisfiable"
            if part.start == 0:  # a player starting over; seeking is not another play
                desk.audit(session, "compliment_reviewed", detail=f"compliment {compliment_id}",
                           once_per=AUDIT_REPLAY)
            return fd, part, evidence.content_type(path)

        opened = await run_in_threadpool(open_it)
        if isinstance(opened, str):
            return PlainTextResponse(opened, status_code=416 if opened == "unsatisfiable" else 404)
        fd, part, media_type = opened
        headers = {"Accept-Ranges": "bytes", "Content-Length": str(part.length), "Cache-Control": "no-store"}
        if part.partial:
            headers["Content-Range"] = f"bytes {part.start}-{part.end}/{part.size}"
        return StreamingResponse(evidence.read_slice(fd, part), status_code=206 if part.partial else 200,
                                 media_type=media_type, headers=headers)

    return [Route(PAGE, review_list),
            Route(PAGE + "/{compliment_id}/recording", review_recording),
            Route(PAGE + "/{compliment_id}/release", review_release, methods=["POST"]),
            Route(PAGE + "/{compliment_id}/delete", review_delete, methods=["POST"]),
            Route("/review/follow-ups/{follow_up_id}/close", follow_up_close, methods=["POST"])]
