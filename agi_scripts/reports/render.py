"""Rows printed as an aligned table, JSON or CSV.

Values in the store partly come from callers (caller ID) and from Asterisk channel names, so what
reaches a terminal or a spreadsheet is made harmless here: control characters (a caller ID can
hold terminal escape sequences) are shown as ``\\x1b``-style escapes in tables, and CSV cells that
a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@`` first) get a leading apostrophe.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Union

Cell = Union[str, int, float, bool, None]
JsonValue = Union[None, bool, int, float, str, list["JsonValue"], dict[str, "JsonValue"]]

FORMATS = ("table", "json", "csv")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    key: str
    """The row key (and the CSV header)."""
    title: str
    """What a person reads above the column in a table."""
    numeric: bool = False
    """Right-aligned in tables."""


def table(columns: Sequence[Column], rows: Sequence[Mapping[str, Cell]], *, empty: str = "(none)") -> str:
    """Aligned columns with a header and a rule; ``empty`` when there is no row."""
    if not rows:
        return empty + "\n"
    cells = [[_table_cell(row.get(column.key)) for column in columns] for row in rows]
    widths = [max(len(column.title), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        parts = [value.rjust(width) if column.numeric else value.ljust(width)
                 for value, width, column in zip(values, widths, columns)]
        return "  ".join(parts).rstrip()

    out = [line([c.title for c in columns]), line(["-" * w for w in widths])]
    out.extend(line(values) for values in cells)
    return "\n".join(out) + "\n"


def csv_text(columns: Sequence[Column], rows: Sequence[Mapping[str, Cell]]) -> str:
    """RFC 4180 CSV with a header of the column keys; None is an empty cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([column.key for column in columns])
    for row in rows:
        writer.writerow([_csv_cell(row.get(column.key)) for column in columns])
    return buffer.getvalue()


def json_text(value: JsonValue) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def safe_text(value: str) -> str:
    """One printable line: control characters (newlines included) shown as escapes."""
    return _CONTROL.sub(_escape_control, value)


def _escape_control(match: re.Match[str]) -> str:
    char = match.group(0)
    if char == "\n":
        return " / "
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _table_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    return safe_text(str(value))


def _csv_cell(value: Cell) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return value
    if value.startswith(_FORMULA_START):
        return "'" + value
    return value
