"""The open-file limit: each FastAGI session holds a socket, and the usual soft default (1024) would
refuse connections long before ``max_sessions``. The benchmarks' processes lift it the same way."""

from __future__ import annotations

import resource


def lift_open_file_limit() -> tuple[int, int]:
    """Lift this process's soft ``RLIMIT_NOFILE`` to its hard limit (children inherit it);
    returns ``(soft, hard)`` as they are afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            pass
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft, hard
