"""The incident report as a PDF, written with fpdf2 (pure Python; no system libraries needed).

Import this module only when a PDF is asked for: ``pdf_available()`` says whether fpdf2 is there.
PDF's built-in fonts (Helvetica, Courier) cover Latin-1 only; other characters are folded to their
base letter (``ł`` -> ``l``) or shown as ``?``. The Markdown export keeps every character.
"""

from __future__ import annotations

import unicodedata

from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos

from agi_scripts.reports.incident_report import IncidentReport, Section, TimelineEntry
from agi_scripts.reports.moments import shown_local_with_zone

_FOLDED = {"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Ħ": "H", "ħ": "h", "ı": "i", "Œ": "OE", "œ": "oe",
           "‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "...", "€": "EUR"}
"""Letters and signs without a Unicode decomposition to a Latin-1 base."""
_LINE = 5.5
_LABEL_WIDTH = 50.0
_INDENT = 6.0


class _ReportPdf(FPDF):
    def __init__(self, report: IncidentReport) -> None:
        super().__init__(format="A4")
        self.report = report
        self.set_margins(20, 20, 20)
        self.set_auto_page_break(auto=True, margin=20)
        self.set_title(latin1(report.title))
        self.set_creator("Respectline")
        self.set_creation_date(report.generated_at)

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Helvetica", size=8)
        self.cell(0, 10, f"{latin1(self.report.title)} - page {self.page_no()}/{{nb}}", align=Align.C)

    def paragraph(self, text: str, *, height: float = _LINE) -> None:
        self.multi_cell(0, height, latin1(text), align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def write_report(self) -> None:
        self.add_page()
        self.set_font("Helvetica", "B", 16)
        self.paragraph(self.report.title, height=9)
        self.set_font("Helvetica", size=10)
        self.paragraph(self.report.intro)
        for section in self.report.sections:
            self.write_section(section)

    def write_section(self, section: Section) -> None:
        self.ln(4)
        self.set_font("Helvetica", "B", 12)
        self.paragraph(section.title, height=7)
        for fieldline in section.fields:
            self.set_font("Helvetica", "B", 10)
            self.cell(_LABEL_WIDTH, _LINE, latin1(fieldline.label + ":"))
            self.set_font(*(("Courier", "", 8) if fieldline.verbatim else ("Helvetica", "", 10)))
            self.paragraph(fieldline.value)
        for entry in section.timeline:
            self.set_font("Helvetica", "B", 10)
            self.paragraph(shown_local_with_zone(entry.at, self.report.tz))
            self.set_font("Helvetica", size=10)
            self.set_x(self.l_margin + _INDENT)
            self.paragraph(_entry_text(entry))
        self.set_font("Helvetica", size=10)
        for text in section.paragraphs:
            self.ln(1)
            self.paragraph(text)


def pdf_bytes(report: IncidentReport) -> bytes:
    document = _ReportPdf(report)
    document.write_report()
    return bytes(document.output())


def _entry_text(entry: TimelineEntry) -> str:
    text = entry.what + (f": {entry.detail}" if entry.detail else "")
    return text + (f" (by {entry.by})" if entry.by else "")


def latin1(text: str) -> str:
    """What the PDF core fonts can show: Latin-1, other letters folded, control characters as spaces."""
    out: list[str] = []
    for char in text:
        if char == "\n" or (ord(char) < 0x100 and unicodedata.category(char) != "Cc"):
            out.append(char)
        elif unicodedata.category(char) == "Cc":
            out.append(" ")
        elif char in _FOLDED:
            out.append(_FOLDED[char])
        else:
            folded = unicodedata.normalize("NFKD", char)
            base = "".join(c for c in folded if ord(c) < 0x100 and not unicodedata.combining(c))
            out.append(base or "?")
    return "".join(out)
