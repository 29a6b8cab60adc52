"""Tables, CSV and Markdown that show stored values as written and let none of them act."""

from __future__ import annotations

import csv
import io

from agi_scripts.reports.incident_report import md_code, md_line, md_text
from agi_scripts.reports.pdf import latin1
from agi_scripts.reports.render import Cell, Column, csv_text, safe_text, table

COLUMNS = (Column("name", "who"), Column("count", "n", numeric=True), Column("avg", "average", numeric=True))


def test_table_aligns_text_left_and_numbers_right() -> None:
    out = table(COLUMNS, [{"name": "anna", "count": 12, "avg": 4.5}, {"name": "bartholomew", "count": 3}])
    assert out.splitlines() == [
        "who           n  average",
        "-----------  --  -------",
        "anna         12     4.50",
        "bartholomew   3",
    ]


def test_table_without_rows_prints_the_empty_text() -> None:
    assert table(COLUMNS, [], empty="no compliments") == "no compliments\n"


def test_control_characters_are_shown_not_obeyed() -> None:
    assert safe_text("a\x1b[31mb\nc\x00\u2028") == "a\\x1b[31mb / c\\x00\\u2028"


def test_csv_guards_formulas_but_not_numbers() -> None:
    rows: list[dict[str, Cell]] = [{"name": "=1+2", "count": -3, "avg": None}, {"name": "@SUM(A1)", "count": 0, "avg": 1.5},
            {"name": "plain, with comma", "count": 1, "avg": 2.0}]
    parsed = list(csv.DictReader(io.StringIO(csv_text(COLUMNS, rows))))
    assert [(r["name"], r["count"], r["avg"]) for r in parsed] == [
        ("'=1+2", "-3", ""), ("'@SUM(A1)", "0", "1.5"), ("plain, with comma", "1", "2.0")]


def test_markdown_text_escapes_what_would_format_but_keeps_ids_readable() -> None:
    assert md_text("verbal_abuse") == "verbal_abuse"
    assert md_text("_x_ *y* [l](u) <b> `c` a|b") == "\\_x\\_ \\*y\\* \\[l\\](u) \\<b\\> \\`c\\` a\\|b"
    assert md_text("+32470123456") == "+32470123456"
    assert md_line("+ not a list") == "\\+ not a list"
    assert md_line("1. not a list") == "1\\. not a list"
    assert md_text("two\nlines") == "two lines"


def test_markdown_code_span_holds_backticks_literally() -> None:
    assert md_code("/rec/a_b.wav") == "`/rec/a_b.wav`"
    assert md_code("a`b") == "``a`b``"
    assert md_code("`x`") == "`` `x` ``"


def test_pdf_text_is_latin1_with_other_letters_folded() -> None:
    assert latin1("Zoë Łukasz Çelik Nguyễn ‘ok’ €5\x07") == "Zoë Lukasz Çelik Nguyen 'ok' EUR5 "
    assert latin1("日本").encode("latin-1") == b"??"
