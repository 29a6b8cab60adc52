"""``Channel``: the AGI commands handlers give a caller's channel, typed.

``SafeAGI`` implements it over a real AGI session; tests implement it with fakes. Handlers type their
channel as ``Channel`` and never reach pyst2 directly, so what they may do to a call is this list.
"""

from __future__ import annotations

from typing import Any, Protocol

from agi_scripts.protocol.wire import ResultFields


class Channel(Protocol):
    def get_variable(self, name: str) -> str:
        """The variable's value, ``""`` when unset."""
        ...

    def get_full_variable(self, name: str, channel: str | None = None) -> str:
        """An expression with ``${VARIABLES}`` as Asterisk expands it (``GET FULL VARIABLE``)."""
        ...

    def set_variable(self, name: str, value: str) -> Any: ...

    def stream_file(self, filename: str, escape_digits: str = "", sample_offset: int = 0) -> str:
        """Play a sound; the key that interrupted it, or ``""``."""
        ...

    def wait_for_digit(self, timeout: int = ...) -> str: ...

    def say_number(self, number: int | str, escape_digits: str = "") -> str: ...

    def record_file(self, filename: str, format: str = ..., escape_digits: str = ..., timeout: int = ...,
                    offset: int = 0, beep: str = ..., silence: int = 0) -> Any: ...

    def exec_command(self, command: str, *args: Any) -> ResultFields:
        """Run a dialplan application (``EXEC``)."""
        ...

    def exec_even_if_hung_up(self, application: str, *args: Any) -> bool:
        """``EXEC`` also once the caller hung up (``UserEvent``); True when Asterisk ran it."""
        ...

    def hangup(self, channel: str = "") -> None: ...
