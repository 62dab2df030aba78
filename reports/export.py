"""The report's machine-readable twins: the whole report as JSON, the findings as CSV and XLSX.

All three read the one :class:`ReportData`, so they never disagree with the HTML/PDF. The CSV
and XLSX are for engineers who work in spreadsheets: headers and states are in the requested
language, times are in the report's time zone.

Spreadsheet cells carry device output, so two defences apply to every text cell (OWASP "CSV
injection"): text that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
``@``, tab or CR) gets a leading ``'``; control characters that XLSX cannot hold (ESC from
coloured output, NUL) become their visible Unicode "control picture" (``␛``) instead of failing
the export. Numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from agent.visible import json_safe
from reports.i18n import Translator
from reports.model import DeviceSection, Finding, InventoryRow, ReportData

#: a cell value: text, a number, a date/time (XLSX keeps it typed), or empty
Cell = str | int | float | date | datetime | None

# The first characters that make Excel/LibreOffice evaluate a cell (OWASP), plus their
# full-width forms, which East Asian Excel input also accepts as formula starts.
_FORMULA_START = frozenset("=+-@\t\r＝＋－＠")
# A plain number written as text ("-3.5") is not a formula; leave it readable.
_PLAIN_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
# What XML 1.0 (and so XLSX) cannot hold: C0 controls except tab/LF/CR, lone surrogates,
# U+FFFE/U+FFFF. openpyxl raises IllegalCharacterError on the first group.
_C0 = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_NOT_XML = re.compile(r"[\ud800-\udfff\ufffe\uffff]")

#: the most characters an Excel cell holds
_XLSX_MAX_TEXT = 32767
_DATE_FORMAT = "yyyy-mm-dd"
_DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
_HEADER_FILL = PatternFill("solid", fgColor="DDE3EA")
#: column width limits in characters (CJK characters count twice)
_MIN_WIDTH, _MAX_WIDTH = 6, 60


def report_json(data: ReportData) -> bytes:
    """The whole report as UTF-8 JSON (Chinese unescaped), indented; it carries
    ``schema_version`` and reads back with ``ReportData.model_validate_json``."""
    return json_safe(data.model_dump_json(indent=2)).encode("utf-8") + b"\n"


def clean_text(text: str) -> str:
    """``text`` safe for a spreadsheet cell: controls made visible, formulas neutralised."""
    text = _C0.sub(lambda m: chr(0x2400 + ord(m.group())), text)
    text = _NOT_XML.sub("\ufffd", text)
    if text and text[0] in _FORMULA_START and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def _cell(value: Cell) -> Cell:
    """``value`` as an XLSX cell holds it."""
    if isinstance(value, str):
        text = clean_text(value)
        # Excel refuses to open ("repairs") a workbook with longer cells
        return text if len(text) <= _XLSX_MAX_TEXT else text[:_XLSX_MAX_TEXT - 1] + "…"
    if isinstance(value, float) and not math.isfinite(value):
        return None  # NaN/inf are not spreadsheet numbers
    return value


Row = TypeVar("Row")


@dataclass(frozen=True)
class _Column(Generic[Row]):
    key: str
    value: Callable[[Row], Cell]
    #: long free text: wrapped in XLSX
    wrap: bool = False
    #: XLSX number format for numbers
    number_format: str | None = None


class _Sheet:
    """The rows of one table in the report's language and time zone."""

    def __init__(self, data: ReportData, lang: str) -> None:
        self.t = Translator(lang, data.meta.timezone)
        self.zone = data.meta.timezone

    def flag(self, value: bool | None) -> str | None:
        if value is None:
            return None
        return self.t("export.flag.yes" if value else "export.flag.no")

    def local(self, moment: datetime | None) -> datetime | None:
        """``moment`` in the report's zone, naive: spreadsheets have no time zones (the
        header names the zone)."""
        if moment is None:
            return None
        return moment.astimezone(self.t.zone).replace(tzinfo=None, microsecond=0)

    def header(self, section: str, columns: Sequence[_Column[Any]]) -> list[str]:
        return [self.t(f"export.{section}.{c.key}", zone=self.zone) for c in columns]


def _finding_columns(s: _Sheet) -> list[_Column[Finding]]:
    c = _Column[Finding]
    return [
        c("state", lambda x: s.t.state(x.state)),
        c("device", lambda x: x.device),
        c("address", lambda x: x.address),
        c("business_system", lambda x: x.business_system),
        c("business_level", lambda x: x.business_level),
        c("check", lambda x: x.check_title),
        c("item", lambda x: x.item),
        c("value", lambda x: x.value),
        c("threshold", lambda x: x.threshold),
        c("message", lambda x: x.message, wrap=True),
        c("recommendation", lambda x: x.recommendation, wrap=True),
        c("waived", lambda x: s.flag(x.waived)),
        c("waiver_reason", lambda x: x.waiver_reason, wrap=True),
        c("waiver_expires", lambda x: x.waiver_expires),
        c("new", lambda x: s.flag(x.new)),
        c("evidence", lambda x: x.evidence.command),
        c("inspected_at", lambda x: s.local(x.evidence.inspected_at)),
    ]


def _inventory_columns(s: _Sheet) -> list[_Column[InventoryRow]]:
    c = _Column[InventoryRow]
    return [
        c("device", lambda x: x.device),
        c("address", lambda x: x.address),
        c("platform", lambda x: x.platform),
        c("vendor", lambda x: x.vendor),
        c("location", lambda x: x.location),
        c("business_system", lambda x: x.business_system),
        c("business_level", lambda x: x.business_level),
        c("registered_model", lambda x: x.registered_model),
        c("collected_model", lambda x: x.collected_model),
        c("registered_serial", lambda x: x.registered_serial),
        c("collected_serial", lambda x: x.collected_serial),
        c("warranty_end", lambda x: x.warranty_end),
        c("status", lambda x: s.t(f"report.reconcile.{x.status}")),
        c("note", lambda x: x.note, wrap=True),
    ]


def _device_columns(s: _Sheet) -> list[_Column[DeviceSection]]:
    c = _Column[DeviceSection]
    return [
        c("device", lambda x: x.device),
        c("address", lambda x: x.address),
        c("platform", lambda x: x.platform),
        c("state", lambda x: s.t.state(x.state)),
        c("reachable", lambda x: s.flag(x.reachable)),
        c("inspected_at", lambda x: s.local(x.inspected_at)),
        c("model", lambda x: x.model),
        c("serial", lambda x: x.serial),
        c("os", lambda x: x.os),
        c("uptime_days", lambda x: x.uptime_days, number_format="0.0"),
        c("location", lambda x: x.location),
        c("business_system", lambda x: x.business_system),
        c("business_level", lambda x: x.business_level),
        c("cpu_percent", lambda x: x.cpu_percent, number_format="0.0"),
        c("memory_percent", lambda x: x.memory_percent, number_format="0.0"),
        c("fullest_filesystem", lambda x: x.fullest_filesystem),
        c("fullest_filesystem_percent", lambda x: x.fullest_filesystem_percent,
          number_format="0.0"),
        c("findings", lambda x: len(x.findings)),
        c("ok_checks", lambda x: x.ok_checks),
        c("error", lambda x: x.error, wrap=True),
    ]


# --- CSV ---------------------------------------------------------------------------------

def _csv_text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) else ""
    return clean_text(value) if isinstance(value, str) else str(value)


def findings_csv(data: ReportData, lang: str) -> bytes:
    """The findings as CSV: UTF-8 with a BOM (so Excel reads Chinese correctly), CRLF rows,
    a header row in ``lang``."""
    sheet = _Sheet(data, lang)
    columns = _finding_columns(sheet)
    out = io.StringIO(newline="")
    writer = csv.writer(out, dialect="excel")
    writer.writerow(sheet.header("findings", columns))
    for finding in data.findings:
        writer.writerow([_csv_text(c.value(finding)) for c in columns])
    return out.getvalue().encode("utf-8-sig")


# --- XLSX --------------------------------------------------------------------------------

def _width(value: Cell) -> int:
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 16
    if isinstance(value, date):
        return 10
    text = str(value)
    # the longest line; CJK and other wide characters take two columns
    return max(sum(2 if ord(ch) > 0x2E7F else 1 for ch in line) for line in text.split("\n"))


def _add_sheet(workbook: Workbook, title: str, header: Sequence[str],
               columns: Sequence[_Column[Row]], rows: Sequence[Row]) -> None:
    ws = workbook.create_sheet(title)
    ws.append([clean_text(h) for h in header])
    widths = [_width(h) for h in header]
    for row in rows:
        values = [_cell(c.value(row)) for c in columns]
        ws.append(values)
        widths = [max(w, _width(v)) for w, v in zip(widths, values, strict=True)]
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(vertical="top", wrap_text=True)
    for cells in ws.iter_rows(min_row=2):
        for cell, column in zip(cells, columns, strict=True):
            _format(cell, column)
    for index, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(index)].width = min(
            _MAX_WIDTH, max(_MIN_WIDTH, width + 2))
    last = get_column_letter(len(columns))
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{last}{ws.max_row}"


def _format(cell: Any, column: _Column[Any]) -> None:
    value = cell.value
    if isinstance(value, datetime):
        cell.number_format = _DATETIME_FORMAT
    elif isinstance(value, date):
        cell.number_format = _DATE_FORMAT
    elif column.number_format and isinstance(value, int | float):
        cell.number_format = column.number_format
    cell.alignment = Alignment(vertical="top", wrap_text=column.wrap)


def findings_xlsx(data: ReportData, lang: str) -> bytes:
    """An XLSX workbook: the findings, the inventory with its reconciliation status, and one
    row per device. Headers are bold and frozen, every sheet has an autofilter; dates and
    times are real spreadsheet dates in the report's time zone."""
    sheet = _Sheet(data, lang)
    workbook = Workbook()
    workbook.remove(workbook.worksheets[0])
    findings, inventory, devices = (_finding_columns(sheet), _inventory_columns(sheet),
                                    _device_columns(sheet))
    _add_sheet(workbook, sheet.t("export.findings.sheet"), sheet.header("findings", findings),
               findings, data.findings)
    _add_sheet(workbook, sheet.t("export.inventory.sheet"),
               sheet.header("inventory", inventory), inventory, data.inventory)
    _add_sheet(workbook, sheet.t("export.devices.sheet"), sheet.header("devices", devices),
               devices, data.devices)
    workbook.properties.title = clean_text(data.meta.title)
    workbook.properties.creator = clean_text(data.meta.provider.name)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
