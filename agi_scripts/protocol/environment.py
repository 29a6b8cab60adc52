"""The AGI environment Asterisk sends first (``agi_request: ...`` lines up to a blank line), and the
route, query and dialplan arguments read from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlsplit

MAX_ENVIRONMENT_BYTES = 64 * 1024
"""A real environment is well under 2 KiB; more than this is not Asterisk."""


def parse_environment(lines: Iterable[str]) -> dict[str, str]:
    """``key: value`` lines into a dict.

    The first occurrence of a key wins: Asterisk writes its own keys (``agi_request``,
    ``agi_channel``, ...) before the dialplan arguments, so an argument carrying a newline and a fake
    ``agi_request:`` line cannot override the real one.
    """
    env: dict[str, str] = {}
    for line in lines:
        key, sep, value = line.partition(":")
        if sep:
            key = key.strip()
            if key and key not in env:
                env[key] = value.strip()
    return env


def request_target(env: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """The route name and query parameters of a session.

    FastAGI: ``agi_network_script`` is what followed ``agi://host:port/`` (``screen?x=1``);
    ``agi_request`` is the whole URL and serves when the former is missing. Classic AGI: the
    script's path. The route is the path without surrounding slashes; the last value of a repeated
    query key wins.
    """
    target = env.get("agi_network_script")
    if target is None:
        request = env.get("agi_request", "")
        parts = urlsplit(request)
        target = parts.path + ("?" + parts.query if parts.query else "")
    path, _, query = target.partition("?")
    params = dict(parse_qsl(query, keep_blank_values=True))
    return path.strip("/"), params


def dialplan_args(env: Mapping[str, str]) -> tuple[str, ...]:
    """``agi_arg_1`` .. ``agi_arg_N`` in order (Asterisk numbers them without gaps)."""
    args: list[str] = []
    while (value := env.get(f"agi_arg_{len(args) + 1}")) is not None:
        args.append(value)
    return tuple(args)
