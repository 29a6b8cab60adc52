"""What every handler receives: ``HandlerContext``, the server's session typed with Respectline's
bundle and services.

``Services`` is what ``respectline serve`` (or a classic AGI process, or a test) hands the server to
offer each session: the store, and optionally the mail queue and the outbox. Handlers reach nothing
else of the process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar, cast

from agi_scripts.config.bundle import Bundle
from agi_scripts.ground import metrics
from agi_scripts.notify.mailer import MailQueue
from agi_scripts.server.blocking import Offloaded
from agi_scripts.server.registry import Session
from agi_scripts.storage.base import Store, StoreError
from agi_scripts.storage.outbox import Outbox


@dataclass(frozen=True)
class Services:
    store: Store
    mail: MailQueue | None = None
    """The server's mail queue; None sends no e-mail (a classic AGI process, most tests)."""
    outbox: Outbox | None = None
    """The outbox the server's keeper drains; None: the ``flag`` handler opens ``paths.spool`` itself."""

    @classmethod
    def offloaded(cls, store: Store, *, mail: MailQueue | None = None, outbox: Outbox | None = None) -> Services:
        """Every store call on a worker thread; one that outlives the server's limit fails as
        ``StoreError``, which every handler survives (the call goes through)."""
        return cls(cast(Store, Offloaded(store, timeout_error=StoreError)), mail, outbox)


HandlerContext = Session[Bundle, Services]

T = TypeVar("T")


def despite_the_store(ctx: HandlerContext, read_or_write: Callable[[], T], fallback: T, consequence: str) -> T:
    """``read_or_write()``, or ``fallback`` when the store fails: the call goes on, and the log says
    once what the failure cost it (``consequence``). The one way handlers survive the store."""
    try:
        return read_or_write()
    except StoreError as exc:
        metrics.store_failed(ctx.request.script)
        ctx.log.error("store unavailable (%s): %s", exc, consequence)
        return fallback
