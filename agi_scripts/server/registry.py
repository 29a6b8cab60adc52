"""The contract between the FastAGI server and what it serves: the request, the session, the route table.

The server knows nothing of Respectline's configuration or store: it is handed a route table
(``agi_scripts.handlers.ROUTES``: each public AGI script one function, its name its route, so
``agi://host:4573/screen`` runs ``screen``), a loader for the configuration bundle and a services
object, and gives each session the bundle and the services as they are. Two handlers with one
name are refused, so a module can never silently shadow another.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from agi_scripts.protocol.channel import Channel

B = TypeVar("B")
S = TypeVar("S")


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
class Session(Generic[B, S]):
    """Everything a handler may use during one AGI session."""

    agi: Channel
    """The caller's channel (``SafeAGI``: escaping, pending HANGUP, timeouts)."""
    request: AgiRequest
    bundle: B
    """Config and flows as they were when the session started; a reload never changes it mid-call."""
    services: S
    """What the server was handed to offer every session (Respectline's: ``handlers.context.Services``)."""
    log: logging.LoggerAdapter[logging.Logger]
    outcome: str = "ok"
    """Short word(s) for the per-call log line, set by the handler (``queue=support campaign=cc-day``)."""


Handler = Callable[[Session[Any, Any]], None]


class DuplicateRouteError(RuntimeError):
    """Two handlers claimed the same route name."""


def route_table(*handlers: Handler) -> dict[str, Handler]:
    """Each handler under its own function name; a name given twice is refused."""
    table: dict[str, Handler] = {}
    for handler in handlers:
        name = handler.__name__
        if name in table:
            raise DuplicateRouteError(
                f"AGI route {name!r} is given twice: {table[name].__module__} and {handler.__module__}")
        table[name] = handler
    return table
