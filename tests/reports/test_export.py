"""The machine-readable twins: JSON round-trips, CSV opens in Excel (BOM, CRLF, quoting) with
Chinese intact, XLSX has typed dates and usable sheets; no cell can run as a formula and device
output with control characters does not break the export."""

from __future__ import annotations

import csv
import io
import json
import re
import string
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.workbook.workbook import Workbook
from support.report_samples import (
    ANSI_FAILED,
    APP,
    DB,
    DEVICES,
    FORMULA_AT,
    FORMULA_CMD,
    FORMULA_SUM,
    SCRIPT,
    SWITCH,
    empty_report,
    sample_report,
)

from reports.export import clean_text, findings_csv, findings_xlsx, report_json
from reports.i18n import Translator, catalog
from reports.model import SCHEMA_VERSION, Finding, ReportData

ZH_HEADER = ["状态", "设备", "地址", "业务系统", "业务等级", "检查项", "对象", "当前值", "阈值",
             "说明", "处理建议", "已豁免", "豁免原因", "豁免到期", "新增", "证据",
             "巡检时间（Asia/Shanghai）"]
EN_HEADER = ["State", "Device", "Address", "Business system", "Business level", "Check", "Item",
             "Value", "Threshold", "Message", "Recommendation", "Waived", "Waiver reason",
             "Waiver expires", "New", "Evidence", "Inspected at (Asia/Shanghai)"]
#: what a spreadsheet runs as a formula when a cell starts with it
DANGEROUS = tuple("=+-@\t\r＝＋－＠")
#: ESC [ 3 1 m ... as Excel shows it after the export: the control picture of ESC
ANSI_VISIBLE = "␛[31mFAILED␛[0m"


def _csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "Excel needs the UTF-8 BOM to read Chinese"
    # what Excel does: decode, then split records on CRLF outside quotes
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), dialect="excel"))


def _by_header(rows: list[list[str]]) -> list[dict[str, str]]:
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def _workbook(data: bytes) -> Workbook:
    return load_workbook(io.BytesIO(data))


def _assert_neutral(text: str) -> None:
    if text.startswith(DANGEROUS):
        assert re.fullmatch(r"[+-]?\d+(\.\d+)?", text), f"formula not neutralised: {text!r}"


# --- JSON --------------------------------------------------------------------------------

@pytest.mark.parametrize("data", [sample_report("zh-CN"), sample_report("en"),
                                  empty_report("en", skipped_devices=["db-01"])],
                         ids=["zh-CN", "en", "empty"])
def test_json_round_trips(data: ReportData) -> None:
    raw = report_json(data)
    assert ReportData.model_validate_json(raw) == data
    decoded = json.loads(raw.decode("utf-8"))
    assert decoded["schema_version"] == SCHEMA_VERSION
    assert decoded["meta"]["language"] == data.meta.language
    assert raw.endswith(b"\n") and b'\n  "meta": {' in raw  # indented for people, too


def test_json_keeps_chinese_and_markup_as_data() -> None:
    raw = report_json(sample_report("zh-CN")).decode("utf-8")
    assert "华东某银行" in raw and "\\u" not in raw.replace("\\u001b", "")
    # JSON is data, not markup: the text is kept as the device printed it
    assert json.loads(raw)["devices"][2]["device"] == APP
    assert json.loads(raw)["findings"][1]["value"] == ANSI_FAILED


# --- CSV ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("lang", "header"), [("zh-CN", ZH_HEADER), ("en", EN_HEADER)])
def test_csv_header_and_rows_in_the_language(lang: str, header: list[str]) -> None:
    data = sample_report("zh-CN")
    raw = findings_csv(data, lang)
    rows = _csv_rows(raw)
    assert rows[0] == header
    assert len(rows) == len(data.findings) + 1
    assert b"\r\n" in raw  # Excel's record separator
    t = Translator(lang)
    first = _by_header(rows)[0]
    assert first[header[0]] == t.state("CRIT")
    assert first[header[1]] == DB
    assert first[header[3]] == "核心账务"  # Chinese intact whatever the header language
    assert first[header[4]] == "1"
    assert first[header[5]] == "文件系统使用率"
    assert first[header[13]] == ""  # no waiver
    assert first[header[14]] == t("export.flag.yes")  # new since the baseline
    assert first[header[15]] == "xunjian evidence db-01 filesystem /data"
    # 01:00 UTC is 09:00 in Shanghai, the report's zone
    assert first[header[16]] == "2026-10-31 09:00"


def test_csv_keeps_multiline_text_in_one_cell() -> None:
    data = sample_report("zh-CN")
    rows = _by_header(_csv_rows(findings_csv(data, "zh-CN")))
    assert rows[0]["处理建议"] == data.findings[0].recommendation
    assert "\n" in rows[0]["处理建议"]
    waived = next(r for r in rows if r["已豁免"] == "是")
    assert waived["设备"] == APP  # markup is plain text in a spreadsheet
    assert waived["豁免原因"] == "计划于 11 月维护窗口更换\n（变更单 CHG-1024）"
    assert waived["豁免到期"] == "2026-11-20"


def test_csv_neutralises_formulas() -> None:
    rows = _csv_rows(findings_csv(sample_report("en"), "en"))
    for row in rows:
        for cell in row:
            _assert_neutral(cell)
    by_item = {r["Item"]: r for r in _by_header(rows)}
    optics = by_item["'" + FORMULA_SUM]
    assert optics["Business system"] == "'" + FORMULA_AT
    assert optics["Message"].startswith("'" + FORMULA_CMD + "\n")
    assert optics["Value"] == "'-14.2 dBm"  # "-14.2 dBm" would be a formula, too
    assert optics["Evidence"] == f"xunjian evidence {SWITCH} optics {FORMULA_SUM}"
    ntp = next(r for r in by_item.values() if r["Device"] == "web-02")
    assert ntp["Message"] == "'\tNTP not synchronised (chronyd: no sources)"
    fans = by_item["FAN 2"]
    assert fans["Value"] == ANSI_VISIBLE


def test_csv_of_an_empty_period_is_the_header() -> None:
    assert _csv_rows(findings_csv(empty_report(), "en")) == [EN_HEADER]


# --- cell text ---------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("=1+1", "'=1+1"), ("+SUM(A1)", "'+SUM(A1)"), ("-2+3", "'-2+3"), ("@SUM(1)", "'@SUM(1)"),
    ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("＝1+1", "'＝1+1"),
    ("-3.5", "-3.5"), ("+7", "+7"), ("42", "42"), ("a=1", "a=1"), ("", ""),
    ("核心账务", "核心账务"), ("x\ny", "x\ny"), ("\x00\x07\x1b[0m", "␀␇␛[0m"),
    ("bad \ud800 half", "bad \ufffd half"), ("\x1b=1", "␛=1"),
])
def test_clean_text(text: str, expected: str) -> None:
    assert clean_text(text) == expected


@given(st.text(alphabet=st.characters(codec=None), max_size=40)
       | st.text(alphabet=string.printable + "=+-@\x00\x1b\ud800＝", max_size=20))
def test_clean_text_is_always_safe_for_a_spreadsheet(text: str) -> None:
    cleaned = clean_text(text)
    _assert_neutral(cleaned)
    assert not ILLEGAL_CHARACTERS_RE.search(cleaned)
    cleaned.encode("utf-8")  # no lone surrogates left
    assert len(cleaned) in (len(text), len(text) + 1)


# --- XLSX --------------------------------------------------------------------------------

@pytest.mark.parametrize(("lang", "sheets"), [("zh-CN", ["检查发现", "资产核对", "设备"]),
                                              ("en", ["Findings", "Inventory", "Devices"])])
def test_xlsx_sheets_headers_and_layout(lang: str, sheets: list[str]) -> None:
    data = sample_report(lang)
    book = _workbook(findings_xlsx(data, lang))
    assert book.sheetnames == sheets
    counts = [len(data.findings), len(data.inventory), len(data.devices)]
    for ws, rows in zip(book.worksheets, counts, strict=True):
        header = [c.value for c in ws[1]]
        assert all(isinstance(h, str) and h for h in header)
        assert all(c.font.bold for c in ws[1])
        assert ws.freeze_panes == "A2"
        assert ws.auto_filter.ref == f"A1:{ws.cell(1, len(header)).column_letter}{rows + 1}"
        assert ws.max_row == rows + 1
        widths = [ws.column_dimensions[c.column_letter].width for c in ws[1]]
        assert all(6 <= w <= 60 for w in widths)
    findings = book.worksheets[0]
    assert [c.value for c in findings[1]] == (ZH_HEADER if lang == "zh-CN" else EN_HEADER)
    # wide content gets a wider column: the evidence command is longer than "state"
    assert (findings.column_dimensions["P"].width > findings.column_dimensions["A"].width)


def _rows(ws: Any) -> list[dict[str, Any]]:
    values = list(ws.values)
    return [dict(zip(values[0], row, strict=True)) for row in values[1:]]


def test_xlsx_dates_are_dates_and_numbers_are_numbers() -> None:
    book = _workbook(findings_xlsx(sample_report("en"), "en"))
    findings, inventory, devices = book.worksheets
    first = findings["Q2"]
    assert first.is_date and first.value == datetime(2026, 10, 31, 9, 0)
    assert first.number_format == "yyyy-mm-dd hh:mm"
    waived = next(r for r in _rows(findings) if r["Waived"] == "yes")
    assert waived["Waiver expires"] == datetime(2026, 11, 20)  # a date cell reads back so
    assert findings["E2"].data_type == "n" and findings["E2"].value == 1
    warranty = next(r for r in _rows(inventory) if r["Device"] == DB)["Warranty end"]
    assert warranty == datetime(2028, 6, 30)
    db = next(r for r in _rows(devices) if r["Device"] == DB)
    assert db["CPU (%)"] == pytest.approx(41.3)
    assert db["Uptime (days)"] == pytest.approx(182.5)
    assert db["Findings"] == 2 and db["Checks OK"] == 11
    assert db["Inspected at (Asia/Shanghai)"] == datetime(2026, 10, 31, 9, 0)


def test_xlsx_inventory_status_and_devices_translated() -> None:
    book = _workbook(findings_xlsx(sample_report("zh-CN"), "zh-CN"))
    statuses = [r["核对结果"] for r in _rows(book["资产核对"])]
    # the same words as the HTML/PDF report
    assert statuses == ["一致", "已更换", "缺失", "未登记", "未核实"]
    devices = _rows(book["设备"])
    assert [d["设备"] for d in devices] == list(DEVICES)
    t = Translator("zh-CN")
    assert [d["状态"] for d in devices] == [t.state(s) for s in
                                          ("CRIT", "CRIT", "OK", "UNKNOWN", "WARN")]
    assert [d["可达"] for d in devices] == ["是", "是", "是", "否", "是"]


def test_xlsx_neutralises_formulas_and_keeps_control_characters_readable() -> None:
    book = _workbook(findings_xlsx(sample_report("en"), "en"))
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{ws.title}!{cell.coordinate} is a formula"
                if isinstance(cell.value, str):
                    _assert_neutral(cell.value)
    rows = _rows(book["Findings"])
    fans = next(r for r in rows if r["Item"] == "FAN 2")
    assert fans["Value"] == ANSI_VISIBLE
    assert fans["Message"] == f"fan 2 reports {ANSI_VISIBLE}"
    assert fans["Business system"] == "'" + FORMULA_AT
    optics = next(r for r in rows if r["Item"] == "'" + FORMULA_SUM)
    assert optics["Message"].startswith("'" + FORMULA_CMD)
    note = next(r for r in _rows(book["Inventory"]) if r["Device"] == APP)["Note"]
    assert note == "'" + FORMULA_CMD
    # markup is inert in a spreadsheet: kept as the text it is
    app = next(r for r in rows if r["Device"] == APP)
    assert app["Message"] == f"nginx.service failed: {SCRIPT}"


def test_xlsx_survives_any_device_output() -> None:
    data = sample_report("en")
    nasty = "\x00NUL \x0bVT \x1b[1m bold \ud83d half surrogate \uffff"
    # model_copy skips validation, as text read from a broken device might
    finding: Finding = data.findings[0].model_copy(update={"message": nasty, "item": nasty})
    data = data.model_copy(update={"findings": [finding]})
    book = _workbook(findings_xlsx(data, "en"))
    (row,) = _rows(book["Findings"])
    assert row["Message"] == "␀NUL ␋VT ␛[1m bold \ufffd half surrogate \ufffd"
    rows = _csv_rows(findings_csv(data, "en"))
    assert rows[1][EN_HEADER.index("Message")] == row["Message"]


def test_xlsx_cuts_huge_text_and_drops_non_numbers() -> None:
    data = sample_report("en")
    finding = data.findings[0].model_copy(update={"message": "x" * 40000})
    device = data.devices[0].model_copy(update={"cpu_percent": float("nan"),
                                                "memory_percent": float("inf")})
    data = data.model_copy(update={"findings": [finding], "devices": [device]})
    book = _workbook(findings_xlsx(data, "en"))
    (row,) = _rows(book["Findings"])
    assert len(row["Message"]) == 32767 and row["Message"].endswith("x…")
    (db,) = _rows(book["Devices"])
    assert db["CPU (%)"] is None and db["Memory (%)"] is None
    assert _csv_rows(findings_csv(data, "en"))[1][EN_HEADER.index("Message")] == "x" * 40000


def test_xlsx_of_an_empty_period_has_headers_only() -> None:
    book = _workbook(findings_xlsx(empty_report("zh-CN"), "zh-CN"))
    assert book.sheetnames == ["检查发现", "资产核对", "设备"]
    for ws in book.worksheets:
        assert ws.max_row == 1
        assert ws.auto_filter.ref is not None and ws.auto_filter.ref.endswith("1")
        assert ws.freeze_panes == "A2"


def test_xlsx_document_properties() -> None:
    book = _workbook(findings_xlsx(sample_report("zh-CN"), "zh-CN"))
    assert book.properties.title == "月度巡检报告"
    assert book.properties.creator == "巡检服务有限公司"


def test_export_catalogs_match() -> None:
    # both languages have every key, with the same placeholders
    en, zh = ({k: v for k, v in catalog(lang).items() if k.startswith("export.")}
              for lang in ("en", "zh-CN"))
    assert en.keys() == zh.keys() and en
    field = re.compile(r"\{(\w+)\}")
    for key in en:
        assert set(field.findall(en[key])) == set(field.findall(zh[key])), key

