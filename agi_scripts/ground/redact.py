"""What of a caller, or of a peer, may appear in a log line, a mail or a report."""

from __future__ import annotations


def printable(text: str, limit: int = 300) -> str:
    """``text`` on one log line: control characters shown as ``?`` (no forged log lines), cut at ``limit``."""
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else "?" for ch in text)
    return text if len(text) <= limit else text[:limit] + "..."


def mask_number(number: str) -> str:
    """A phone number fit for a log or a mail: the last 2 digits and, for a long number, its first few
    characters (country and operator): ``+32471234512`` -> ``+3247****12``."""
    text = printable(number.strip(), 40)
    if not text:
        return "-"
    if len(text) <= 2:
        return "*" * len(text)
    keep_head = (5 if text.startswith("+") else 4) if len(text) >= 9 else 0
    return text[:keep_head] + "****" + text[-2:]
