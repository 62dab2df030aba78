"""Turn a device register (设备清单) spreadsheet into inventory YAML.

``xunjian inventory import FILE.csv|FILE.xlsx`` reads one row per device, maps the columns it
recognises (English or Chinese headers) onto :class:`~config.models.DeviceConfig` fields,
validates every row through the model and reports the rows it could not take, with the row
number as the spreadsheet program shows it and the reason. A file that cannot be read at all
raises :class:`~agent.errors.InventoryImportError`.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import openpyxl
import yaml
from openpyxl.utils.exceptions import InvalidFileException
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from agent.errors import InventoryImportError
from config.models import DeviceConfig
from config.platforms import PLATFORMS

__all__ = ["ImportResult", "RowProblem", "import_inventory", "render_inventory_yaml"]


@dataclass(frozen=True)
class RowProblem:
    """Why one row was not imported. A row with several faults has several problems."""

    #: 1-based row number as the spreadsheet program shows it (the header is normally row 1)
    row: int
    message: str


@dataclass
class ImportResult:
    devices: list[DeviceConfig]
    problems: list[RowProblem]
    #: headers that were not recognised; their columns are not imported (reported, not fatal)
    unmapped_columns: list[str] = field(default_factory=list)


# --- header mapping ----------------------------------------------------------------------------

_HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("name", "hostname", "host name", "device", "device name",
             "设备名称", "设备名", "主机名", "主机名称"),
    "address": ("ip", "address", "management ip", "mgmt ip", "host", "ip address",
                "管理ip", "管理地址", "ip地址", "管理ip地址"),
    "port": ("port", "ssh port", "端口", "ssh端口"),
    "platform": ("platform", "device type", "os", "系统类型", "平台", "操作系统"),
    "vendor": ("vendor", "manufacturer", "厂商", "品牌", "厂家"),
    "model": ("model", "型号", "设备型号"),
    "serial": ("serial", "sn", "serial number", "序列号"),
    "location": ("location", "site", "room", "rack", "物理位置", "位置", "机房"),
    "business_system": ("business system", "system", "application", "业务系统"),
    "business_level": ("business level", "criticality", "level",
                       "业务级别", "重要级别", "等级"),
    "owner": ("owner", "contact", "负责人", "联系人"),
    "warranty_end": ("warranty", "warranty end", "保修截止", "维保到期", "保修到期"),
    "groups": ("group", "groups", "分组"),
    "tags": ("tags", "tag", "标签"),
    "credentials": ("credentials", "credential", "凭据"),
}


def _norm_header(text: str) -> str:
    """Case-insensitive, ignoring spaces, ``_``, ``-`` and a required-field ``*`` marker."""
    return re.sub(r"[\s_\-*＊]+", "", text).lower()


_HEADER_TO_FIELD = {
    _norm_header(alias): name for name, aliases in _HEADER_ALIASES.items() for alias in aliases
}

#: how a field is named in messages
_LABELS = {"name": "device name"}

# --- platform mapping --------------------------------------------------------------------------

#: operating-system words (matched anywhere in the cell, e.g. "CentOS 7.9", "银河麒麟 V10")
_LINUX_WORDS = (
    "linux", "centos", "rhel", "red hat", "redhat", "ubuntu", "debian", "kylin", "麒麟",
    "统信", "uos", "openeuler", "euleros", "suse", "rocky", "anolis", "龙蜥", "fedora",
)

#: network vendors → the platform they become (the vendor's mainstream OS; a Cisco Nexus or an
#: H3C on Comware 5 needs an explicit platform column)
_NETWORK_PLATFORMS = {
    "huawei": "huawei_vrp", "华为": "huawei_vrp",
    "h3c": "hp_comware", "新华三": "hp_comware", "华三": "hp_comware",
    "cisco": "cisco_ios", "思科": "cisco_ios",
    "juniper": "juniper_junos",
    "arista": "arista_eos",
}


def _platform_for(word: str) -> str | None:
    """Map a platform / OS / vendor word to a platform name; None if it means nothing to us."""
    text = " ".join(word.lower().split())
    if text in PLATFORMS or text in _NETWORK_PLATFORMS.values():
        return text
    if any(w in text for w in _LINUX_WORDS):
        return "linux"
    for vendor, platform in _NETWORK_PLATFORMS.items():
        if vendor in text:
            return platform
    return None


def _supported() -> str:
    return ", ".join(PLATFORMS)


# --- reading -----------------------------------------------------------------------------------

_Cell = str | int | float | bool | date | time | None
_Row = tuple[int, list[_Cell]]  # (spreadsheet row number, cells)


def _read_csv(path: Path) -> list[_Row]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise InventoryImportError(f"{path}: file not found") from exc
    except OSError as exc:
        raise InventoryImportError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    text = _decode(raw, path)
    lines = text.splitlines()
    delimiter = None
    if lines and re.fullmatch(r"sep=(.)", lines[0].strip()):
        # Excel's "sep=;" hint line; Excel does not show it as a row
        delimiter = lines[0].strip()[4]
        text = text.split("\n", 1)[1] if "\n" in text else ""
        lines = lines[1:]
    if delimiter is None:
        delimiter = _guess_delimiter(lines)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        rows: list[_Row] = []
        for number, cells in enumerate(reader, start=1):
            rows.append((number, [*cells]))
        return rows
    except csv.Error as exc:
        raise InventoryImportError(f"{path}: not a readable CSV file: {exc}") from exc


def _decode(raw: bytes, path: Path) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text"
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030")  # Chinese Excel saves CSV as GBK, a subset of GB18030
    except UnicodeDecodeError as exc:
        raise InventoryImportError(
            f"{path}: the text is neither UTF-8 nor GBK/GB18030; in Excel use "
            "'Save As' → 'CSV UTF-8', or save the sheet as .xlsx"
        ) from exc


def _guess_delimiter(lines: list[str]) -> str:
    """The delimiter among , ; TAB that occurs most on the first non-empty line (the header)."""
    header = next((line for line in lines if line.strip()), "")
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_xlsx(path: Path) -> list[_Row]:
    with warnings.catch_warnings():
        # "no default style", "Data Validation extension is not supported" (WPS files): noise
        warnings.simplefilter("ignore", UserWarning)
        try:
            workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except FileNotFoundError as exc:
            raise InventoryImportError(f"{path}: file not found") from exc
        except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
            raise InventoryImportError(
                f"{path}: not a readable .xlsx workbook ({exc}); open it in Excel or WPS and "
                "save it again as .xlsx or .csv"
            ) from exc
        try:
            if not workbook.worksheets:
                raise InventoryImportError(f"{path}: the workbook has no worksheet")
            sheet = workbook.worksheets[0]
            return [
                (number, [_xlsx_cell(v) for v in values])
                for number, values in enumerate(sheet.iter_rows(values_only=True), start=1)
            ]
        finally:
            workbook.close()


def _xlsx_cell(value: Any) -> _Cell:
    if isinstance(value, float) and value.is_integer():
        return int(value)  # a port typed as 22 may be stored as 22.0
    if isinstance(value, datetime):
        return value.date() if value.time() == time() else value
    if value is None or isinstance(value, str | int | float | bool | date | time):
        return value
    return str(value)


def _read(path: Path) -> list[_Row]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == ".xlsx":
        return _read_xlsx(path)
    hint = " (the old Excel 97–2003 format)" if suffix == ".xls" else ""
    raise InventoryImportError(
        f"{path}: cannot import {suffix or 'a file without extension'}{hint}: "
        "save the sheet as .csv or .xlsx and import that"
    )


# --- cells -------------------------------------------------------------------------------------


def _text(value: _Cell) -> str:
    """A cell as stripped text ("" for empty); numbers without a spurious ``.0``."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime):
        value = value.date() if value.time() == time() else value
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value).strip()


_DATE_RE = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[ T]+\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
)


def _parse_date(value: _Cell) -> date | None:
    """2027-03-31, 2027/3/31, 2027.03.31, 2027年3月31日, 20270331 or an Excel date cell."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    match = _DATE_RE.fullmatch(text)
    if match is None:
        match = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", text)
    if match is None:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def _split(value: _Cell) -> list[str]:
    """Split a groups / tags cell on , ; ， ； 、 and white space; duplicates dropped."""
    out: list[str] = []
    for part in re.split(r"[,;，；、\s]+", _text(value)):
        if part and part not in out:
            out.append(part)
    return out


# --- rows --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    index: int
    header: str


def _map_headers(cells: Sequence[_Cell]) -> tuple[dict[str, _Column], list[str]]:
    columns: dict[str, _Column] = {}
    unmapped: list[str] = []
    for index, cell in enumerate(cells):
        header = _text(cell)
        if not header:
            continue
        target = _HEADER_TO_FIELD.get(_norm_header(header))
        if target is None or target in columns:
            unmapped.append(header)  # unknown, or a second column for a field already mapped
        else:
            columns[target] = _Column(index, header)
    return columns, unmapped


def _find_header(rows: list[_Row], path: Path) -> tuple[int, dict[str, _Column], list[str]]:
    """The header is the first non-empty row with a name or address column.

    Up to five title rows above it (``XX公司设备清单``) are tolerated and ignored.
    """
    non_empty = [(i, cells) for i, (_, cells) in enumerate(rows) if any(map(_text, cells))]
    if not non_empty:
        raise InventoryImportError(f"{path}: the sheet is empty; a header row is required")
    for position, cells in non_empty[:6]:
        columns, unmapped = _map_headers(cells)
        if "name" in columns or "address" in columns:
            return position, columns, unmapped
    found = [h for h in map(_text, non_empty[0][1]) if h]
    raise InventoryImportError(
        f"{path}: no device name or address column found; the first row must be a header row. "
        f"Headers found: {', '.join(found)}. Expected a name column "
        f"({', '.join(_HEADER_ALIASES['name'])}) and/or an address column "
        f"({', '.join(_HEADER_ALIASES['address'])})"
    )


class _RowReader:
    def __init__(self, columns: dict[str, _Column], default_platform: str) -> None:
        self.columns = columns
        self.default_platform = default_platform
        self.first_row: dict[str, int] = {}  # device name → first row that used it

    def label(self, name: str) -> str:
        label = _LABELS.get(name, name.replace("_", " "))
        column = self.columns.get(name)
        if column and _norm_header(column.header) not in (_norm_header(label), _norm_header(name)):
            return f"{label} ({column.header})"
        return label

    def read(self, number: int, cells: list[_Cell]) -> DeviceConfig | list[str]:
        """One data row → a device, or the list of reasons it cannot be imported."""

        def cell(name: str) -> _Cell:
            column = self.columns.get(name)
            return cells[column.index] if column and column.index < len(cells) else None

        # no name column: the address names the device (and vice versa)
        name = _text(cell("name" if "name" in self.columns else "address"))
        if not name:
            return ["missing device name" if "name" in self.columns else "missing address"]
        problems: list[str] = []
        if name in self.first_row:
            problems.append(f"duplicate device name {name!r} (first on row "
                            f"{self.first_row[name]}); device names must be unique")
        else:
            self.first_row[name] = number

        data: dict[str, Any] = {"name": name}
        address = _text(cell("address")) if "address" in self.columns else name
        if address:  # else validation reports "missing address"
            data["address"] = address
        platform, problem = self.platform(_text(cell("platform")), _text(cell("vendor")))
        if problem:
            problems.append(problem)
        else:
            data["platform"] = platform
        problems.extend(self.convert(cell, data))
        try:
            device = DeviceConfig.model_validate(data)
        except ValidationError as exc:
            problems.extend(self.describe(err) for err in exc.errors())
            return problems
        return problems or device

    def convert(self, cell: Callable[[str], _Cell], data: dict[str, Any]) -> list[str]:
        """Put the other fields into ``data``, as the model takes them; returns problems."""
        problems: list[str] = []
        port = cell("port")
        if isinstance(port, str) and re.fullmatch(r"\s*\d+(\.0+)?\s*", port):
            port = int(float(port))
        if _text(port):
            data["port"] = port
        level = cell("business_level")
        if _text(level):
            data["business_level"] = level.strip() if isinstance(level, str) else level
        warranty = cell("warranty_end")
        if _text(warranty):
            parsed = _parse_date(warranty)
            if parsed is None:
                problems.append(f"{self.label('warranty_end')}: {_text(warranty)!r} is not a "
                                "date: use 2027-03-31, 2027/3/31 or 2027.03.31")
            else:
                data["warranty_end"] = parsed
        for key in ("groups", "tags"):
            if items := _split(cell(key)):
                data[key] = items
        for key in ("vendor", "model", "serial", "location", "business_system", "owner",
                    "credentials"):
            if text := _text(cell(key)):
                data[key] = text
        return problems

    def platform(self, given: str, vendor: str) -> tuple[str | None, str | None]:
        """(platform, None) or (None, problem) from the platform cell, else from the vendor."""
        if given:
            platform = _platform_for(given)
            if platform is None:
                return None, (f"{self.label('platform')}: {given!r} is not recognised: "
                              f"supported: {_supported()} (OS names such as CentOS, Ubuntu, "
                              "麒麟 or 统信 UOS count as linux)")
            return platform, None
        platform = _platform_for(vendor) if vendor else None
        return (platform or self.default_platform), None

    def describe(self, err: ErrorDetails) -> str:
        """A pydantic error as 'column: what is wrong'."""
        loc = err["loc"]
        message = err["msg"].removeprefix("Value error, ")
        value = err["input"]
        kind = err["type"]
        if not loc:
            return message  # whole-row checks name their field themselves
        label = self.label(str(loc[0]))
        if kind == "missing":
            return f"missing {label}"
        if kind == "string_pattern_mismatch" and loc[0] == "name":
            message = (f"{value!r} contains a space, '/' or '\\'; device names cannot "
                       "(use - or _ instead)")
        elif kind in ("int_parsing", "int_from_float", "int_type"):
            message = f"{value!r} is not a whole number"
        elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
            message = f"{value!r} is out of range: {message[:1].lower()}{message[1:]}"
        elif kind != "value_error":
            message = f"{message[:1].lower()}{message[1:]} (got {value!r})"
        return f"{label}: {message}"


def import_inventory(path: Path, *, default_platform: str = "linux") -> ImportResult:
    """Read a .csv or .xlsx device register. Raises InventoryImportError if it cannot be read.

    Rows that cannot be imported are returned as problems; the other rows are imported.
    ``default_platform`` applies to rows whose platform (or vendor) column does not say.
    """
    if default_platform not in PLATFORMS:
        raise InventoryImportError(
            f"default platform {default_platform!r} is not supported: use one of {_supported()}"
        )
    rows = _read(path)
    header_at, columns, unmapped = _find_header(rows, path)
    reader = _RowReader(columns, default_platform)
    result = ImportResult(devices=[], problems=[], unmapped_columns=unmapped)
    for number, cells in rows[header_at + 1:]:
        if not any(map(_text, cells)):
            continue
        outcome = reader.read(number, cells)
        if isinstance(outcome, DeviceConfig):
            result.devices.append(outcome)
        else:
            result.problems.extend(RowProblem(number, message) for message in outcome)
    return result


# --- writing -----------------------------------------------------------------------------------

_KEY_ORDER = (
    "name", "address", "port", "platform", "vendor", "model", "serial", "location",
    "business_system", "business_level", "owner", "warranty_end", "groups", "tags", "credentials",
)


def _device_entry(device: DeviceConfig) -> dict[str, Any]:
    values = device.model_dump(exclude_none=True)
    ordered = [*_KEY_ORDER, *(k for k in values if k not in _KEY_ORDER)]
    return {k: values[k] for k in ordered if k in values and values[k] not in ([], {}, "")}


def _comment(text: str) -> str:
    return " ".join(text.split())


def _comment_lines(result: ImportResult, source: Path, today: date) -> Iterator[str]:
    yield f"# Generated from {_comment(str(source))} on {today.isoformat()} " \
          "by `xunjian inventory import`."
    count = len(result.devices)
    yield f"# {count} device{'' if count == 1 else 's'}."
    rows = sorted({p.row for p in result.problems})
    if rows:
        yield f"# {len(rows)} row{'' if len(rows) == 1 else 's'} skipped:"
        for problem in sorted(result.problems, key=lambda p: p.row):
            yield f"#   row {problem.row}: {_comment(problem.message)}"
    if result.unmapped_columns:
        yield "# Columns not imported (not recognised): " + ", ".join(
            _comment(c) for c in result.unmapped_columns)


def _groups_of(devices: Iterable[DeviceConfig]) -> list[str]:
    groups: list[str] = []
    for device in devices:
        groups.extend(g for g in device.groups if g not in groups)
    return groups


def render_inventory_yaml(
    result: ImportResult, source: Path, *, today: date | None = None
) -> str:
    """The inventory file for ``result``: a comment header, then ``groups:`` and ``devices:``."""
    lines = list(_comment_lines(result, source, today or date.today()))
    document: dict[str, Any] = {}
    if groups := _groups_of(result.devices):
        lines.append("# Groups are declared empty so this file validates on its own; give them "
                     "settings here (or move them to the main config and delete them here).")
        document["groups"] = {g: {} for g in groups}
    document["devices"] = [_device_entry(d) for d in result.devices]
    body = yaml.safe_dump(document, allow_unicode=True, sort_keys=False,
                          default_flow_style=False, width=100)
    return "\n".join(lines) + "\n\n" + body
