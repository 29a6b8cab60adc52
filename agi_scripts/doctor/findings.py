"""What doctor found: one :class:`Finding` per check, printed with the fix for each problem."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Status(enum.Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Finding:
    area: str
    """What was checked: ``modules``, ``dialplan``, ``queues``, ``sounds``..."""
    status: Status
    message: str
    fix: str = ""
    """The line to add or the command to run; empty when nothing is to be done."""


def ok(area: str, message: str) -> Finding:
    return Finding(area, Status.OK, message)


def fail(area: str, message: str, fix: str) -> Finding:
    return Finding(area, Status.FAIL, message, fix)


def warn(area: str, message: str, fix: str = "") -> Finding:
    return Finding(area, Status.WARN, message, fix)


def failed(findings: Iterable[Finding]) -> list[Finding]:
    return [finding for finding in findings if finding.status is Status.FAIL]


def render(finding: Finding) -> str:
    """``FAIL queues: ...`` then the fix, indented, one line each."""
    text = f"{finding.status.value:<4} {finding.area}: {finding.message}"
    if finding.fix:
        text += "".join(f"\n       fix: {line}" if i == 0 else f"\n            {line}"
                        for i, line in enumerate(finding.fix.splitlines()))
    return text


def summary(findings: Iterable[Finding]) -> str:
    counted = list(findings)
    problems = len(failed(counted))
    warnings = sum(1 for finding in counted if finding.status is Status.WARN)
    if problems == 0:
        extra = f" ({warnings} warning{'s' if warnings != 1 else ''})" if warnings else ""
        return f"all {len(counted)} checks passed{extra}: Asterisk is ready for Respectline"
    return (f"{problems} problem{'s' if problems != 1 else ''} found in {len(counted)} checks; "
            "fix them (see 'fix:' above) and run `respectline doctor` again")


def limited(items: list[str], shown: int = 5) -> str:
    """``a, b, c and 7 more``: long lists stay readable."""
    head = ", ".join(items[:shown])
    return head if len(items) <= shown else f"{head} and {len(items) - shown} more"
