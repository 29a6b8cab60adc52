"""The desk's Prometheus metrics: every request by route template and status, its time to the first byte,
the live streams open now, and refused logins; ``GET /metrics`` answers them (``ground.metrics.DESK_REGISTRY``).

One ASGI middleware sees every answer, so no page has to remember to report. Routes are counted by their
template (``/cases/{case_id}``), never by the path asked for: a case number, a user name or a scanner's
made-up paths never become a series. ``/metrics`` holds no personal data; put it behind the reverse
proxy's rules like the rest if it should not be read from outside.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agi_scripts.ground import metrics

LOGIN_REFUSALS = {401: "refused", 429: "throttled", 403: "expired"}
"""What the login form's answer status means, for ``respectline_desk_failed_logins_total``."""


def route_template(scope: Scope) -> str:
    """The matched route's template; ``unmatched`` for a path no route knows."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else "unmatched"


class DeskMetrics:
    """Counts each HTTP answer; a server-sent events answer counts as an open live stream until it ends."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        streaming = False

        async def observe(message: Message) -> None:
            nonlocal streaming
            if message["type"] == "http.response.start":
                status = int(message["status"])
                route = route_template(scope)
                metrics.desk_request(route, str(scope.get("method", "")), status, time.monotonic() - started)
                if route == "/login" and scope.get("method") == "POST" and status in LOGIN_REFUSALS:
                    metrics.desk_login_failed(LOGIN_REFUSALS[status])
                content_type = dict(message.get("headers", [])).get(b"content-type", b"")
                if content_type.startswith(b"text/event-stream"):
                    streaming = True
                    metrics.DESK_STREAMS.inc()
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            if streaming:
                metrics.DESK_STREAMS.dec()


async def metrics_page(_request: Request) -> Response:
    return Response(metrics.exposition(metrics.DESK_REGISTRY), media_type=metrics.CONTENT_TYPE)
