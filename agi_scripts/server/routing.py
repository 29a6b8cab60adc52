"""The contract between the FastAGI server and the handlers.

Each public AGI script is one function in its own module under ``agi_scripts.handlers``; the
function's name is its route (``agi://host:4573/screen`` runs ``screen``). Registering a name twice
is an error, so two modules can never silently shadow each other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agi_scripts.config.bundle import Bundle
    from agi_scripts.storage.base import Store


@dataclass(frozen=True)
class AgiRequest:
    """What Asterisk told us when the session opened."""

    script: str
    """Route name taken from ``agi_request`` (``agi://host/screen?x=1`` -> ``screen``)."""
    params: Mapping[str, str]
    """Query string of ``agi_request`` (``?category=verbal``)."""
    args: tuple[str, ...]
    """The dialplan's extra arguments, ``agi_arg_1`` .. ``agi_arg_N``."""
    env: Mapping[str, str]
    """The whole ``agi_*`` environment (``agi_channel``, ``agi_callerid``, ``agi_uniqueid``, ...)."""

    def arg(self, index: int, default: str = "") -> str:
        """The dialplan argument at 1-based ``index``, or ``default``."""
        return self.args[index - 1] if 0 < index <= len(self.args) else default


@dataclass
class HandlerContext:
    """Everything a handler may use during one AGI session."""

    agi: Any
    """A pyst2 ``asterisk.agi.AGI`` made safe by ``agi_scripts.protocol`` (escaping, HANGUP, timeouts)."""
    request: AgiRequest
    bundle: Bundle
    """Config and flows as they were when the session started; a reload never changes it mid-call."""
    store: Store
    log: logging.LoggerAdapter[logging.Logger]
    outcome: str = "ok"
    """Short word(s) for the per-call log line, set by the handler (``queue=support campaign=cc-day``)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Services the server offers beyond the basics (for example an AMI client), by name."""


Handler = Callable[[HandlerContext], None]


class DuplicateRouteError(RuntimeError):
    """Two handlers claimed the same route name."""


ROUTES: dict[str, Handler] = {}


def route(handler: Handler) -> Handler:
    """Register ``handler`` under its own function name."""
    name = handler.__name__
    if name in ROUTES:
        raise DuplicateRouteError(
            f"AGI route {name!r} is registered twice: {ROUTES[name].__module__} and {handler.__module__}"
        )
    ROUTES[name] = handler
    return handler
