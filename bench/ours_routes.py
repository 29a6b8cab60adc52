"""Our server's routes for the fair comparison: the bench handlers on ``ctx.agi``.

``python -m agi_scripts.server.app --routes bench.ours_routes:ROUTES`` serves them (no store, no
config: the bundle is ``None`` and the handlers use neither).
"""

from __future__ import annotations

from typing import Any

from agi_scripts.server.registry import Handler, Session
from bench.bench_handlers import HANDLERS, BenchHandler


def _on_context(handler: BenchHandler) -> Handler:
    def run(ctx: Session[Any, Any]) -> None:
        agi: Any = ctx.agi  # the SafeAGI itself: the bench handlers speak pyst2's whole API
        handler(agi, ctx.request.env, ctx.request.args)

    run.__name__ = handler.__name__
    return run


ROUTES: dict[str, Handler] = {name: _on_context(h) for name, h in HANDLERS.items()}
