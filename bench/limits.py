"""The open-file limit every benchmark process needs: at c=1000 the fake Asterisk holds 1000
sockets and so does each server, above the usual soft limit of 1024."""

from __future__ import annotations

import resource


def raise_open_file_limit() -> tuple[int, int]:
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
