"""Turn a pack item's raw output into rows (a list of dicts) for the pack's checks.

One function per parser type of :mod:`collectors.pack`. Every failure is a :class:`ParseError`
naming the item and saying what to do; the runner records it as the item's error and the item's
checks become UNKNOWN with that reason. Whitespace-only output is no rows for every parser.
Output that is not empty but yields no rows is an error for ``textfsm``, ``kv``, ``table`` and
``jsonpath`` (the parser did not understand it); for ``regex`` no match is a valid answer.
A JSONPath match that is a list contributes its elements as rows, so a path selecting an empty
list (``$.items`` of ``{"items": []}``) means "no rows" while a path matching nothing is an error.
"""

from __future__ import annotations

import io
import json
import re
import warnings
from functools import lru_cache
from typing import Any

import textfsm
from jsonpath_ng.ext.parser import parse as jsonpath_parse
from jsonpath_ng.jsonpath import JSONPath

from agent.errors import PackError, ParseError
from collectors.pack import (
    JsonPathParser,
    KeyValueParser,
    Pack,
    PackItem,
    PluginParser,
    RegexParser,
    TableParser,
    TextFsmParser,
)
from collectors.pack_plugins import check_plugin, parser_plugin

Row = dict[str, Any]

_SHOWN = 80
_SCALARS = (str, int, float, bool, type(None))


def parse_output(pack: Pack, item: PackItem, output: str) -> list[Row]:
    """The rows ``item``'s parser finds in ``output``; ParseError when it cannot."""
    parser = item.parser
    if parser is None:
        raise ParseError(f"item {item.id}: has no parser, so its output has no rows to judge")
    if not output.strip():
        return []
    match parser:
        case TextFsmParser():
            rows = _textfsm(item.id, pack, parser, output)
        case RegexParser():
            rows = _regex(parser, output)
        case JsonPathParser():
            rows = _jsonpath(item.id, parser, output)
        case KeyValueParser():
            rows = _kv(item.id, parser, output)
        case TableParser():
            rows = _table(item.id, parser, output)
        case PluginParser():
            rows = _plugin(item.id, parser, output)
    return rows


def check_parsers(pack: Pack) -> None:
    """Offline validation: every TextFSM template compiles, every JSONPath parses, every parser
    and check plugin is installed. PackError naming the pack, the item and the problem."""
    for item in pack.items:
        where = f"pack {pack.name} item {item.id}"
        parser = item.parser
        try:
            if isinstance(parser, TextFsmParser):
                _compile_template(_template(pack, parser))
            elif isinstance(parser, JsonPathParser):
                for expression in [parser.path, *parser.fields.values()]:
                    _compile_path(expression)
            elif isinstance(parser, PluginParser):
                parser_plugin(parser.name)
            for check in item.checks:
                if check.plugin is not None:
                    check_plugin(check.plugin)
        except (ParseError, PackError) as exc:
            raise PackError(f"{where}: {exc}") from exc


# -- helpers ---------------------------------------------------------------------------------


def _show(line: str) -> str:
    """A line fit for a message: at most 80 characters, control characters escaped."""
    return repr(line[:_SHOWN] + "…" if len(line) > _SHOWN else line)


def _describe(output: str) -> str:
    """``N lines of output (first line: '...')`` for "matched nothing" messages."""
    lines = output.splitlines()
    first = next((line for line in lines if line.strip()), "")
    plural = "" if len(lines) == 1 else "s"
    return f"{len(lines)} line{plural} of output (first line: {_show(first)})"


def _template(pack: Pack, parser: TextFsmParser) -> str:
    try:
        return pack.template_text(parser)
    except KeyError:
        raise ParseError(f"TextFSM template file {parser.template!r} is not "
                         "part of the pack; put it beside pack.yaml and reload the pack") from None


def _compile_template(text: str) -> textfsm.TextFSM:
    try:
        return textfsm.TextFSM(io.StringIO(text))
    except textfsm.Error as exc:
        raise ParseError(f"the TextFSM template does not compile: {exc}") from exc


@lru_cache(maxsize=256)
def _compile_path(expression: str) -> JSONPath:
    try:
        # `|` and `&` still work in jsonpath-ng 1.x but warn; the pack author cannot act on a
        # warning at inspection time, and pytest turns warnings into errors
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return jsonpath_parse(expression)
    except Exception as exc:  # the grammar raises JSONPathError, PLY internals anything else
        raise ParseError(f"JSONPath {expression!r} does not parse: {exc}") from exc


# -- parsers ---------------------------------------------------------------------------------

_INPUT_LINE = re.compile(r"Input Line: (.*?)\.?$", re.DOTALL)


def _textfsm(item_id: str, pack: Pack, parser: TextFsmParser, output: str) -> list[Row]:
    try:
        template = _template(pack, parser)
    except ParseError as exc:
        raise ParseError(f"item {item_id}: {exc}") from exc
    try:
        fsm = _compile_template(template)
    except ParseError as exc:
        raise ParseError(f"item {item_id}: {exc}; run `xunjian packs validate`") from exc
    try:
        records = fsm.ParseText(output)
    except textfsm.Error as exc:
        # the template's Error action fired; TextFSM quotes the whole input line: shorten it
        message = _INPUT_LINE.sub(lambda m: f"Input Line: {_show(m.group(1))}", str(exc))
        raise ParseError(f"item {item_id}: the TextFSM template rejected the output: "
                         f"{message}") from exc
    except Exception as exc:  # a bug in TextFSM must not escape as anything but ParseError
        raise ParseError(f"item {item_id}: TextFSM failed: {type(exc).__name__}: {exc}") from exc
    if not records:
        raise ParseError(f"item {item_id}: the TextFSM template matched nothing in "
                         f"{_describe(output)}; try the template on saved outputs with "
                         "`xunjian packs test`")
    header = list(fsm.header)
    return [dict(zip(header, record, strict=True)) for record in records]


def _regex(parser: RegexParser, output: str) -> list[Row]:
    flags = re.MULTILINE | (re.IGNORECASE if parser.ignore_case else 0)
    return [m.groupdict() for m in re.finditer(parser.pattern, output, flags)]


def _jsonpath(item_id: str, parser: JsonPathParser, output: str) -> list[Row]:
    try:
        document = json.loads(output)
    except json.JSONDecodeError as exc:
        raise ParseError(f"item {item_id}: output is not JSON: {exc.msg} at line {exc.lineno} "
                         f"column {exc.colno} (near {_show(_line_at(output, exc.lineno))}); "
                         "make the command print JSON (e.g. `-j`, `--json`, `-o json`)") from exc
    except (ValueError, RecursionError) as exc:  # huge integers, absurd nesting
        raise ParseError(f"item {item_id}: output is not usable JSON: {exc}") from exc
    try:
        path = _compile_path(parser.path)
        fields = {name: _compile_path(expr) for name, expr in parser.fields.items()}
    except ParseError as exc:
        raise ParseError(f"item {item_id}: {exc}; run `xunjian packs validate`") from exc
    try:
        matches = [m.value for m in path.find(document)]
        values: list[Any] = []
        for value in matches:
            # a selected list contributes its elements, so `$.items` on `{"items": []}` means
            # "no rows" rather than "the path is wrong"
            values.extend(value if isinstance(value, list) else [value])
        rows = [_json_row(value, fields) for value in values]
    except Exception as exc:  # filters compare arbitrary JSON values
        raise ParseError(f"item {item_id}: JSONPath evaluation failed: "
                         f"{type(exc).__name__}: {exc}") from exc
    if not matches:
        raise ParseError(f"item {item_id}: JSONPath {parser.path!r} matched nothing in the "
                         f"JSON output ({_json_shape(document)}); try the path on saved "
                         "outputs with `xunjian packs test`")
    return rows


def _json_row(value: Any, fields: dict[str, JSONPath]) -> Row:
    if fields:
        found = {name: expr.find(value) for name, expr in fields.items()}
        return {name: matches[0].value if matches else None for name, matches in found.items()}
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if isinstance(v, _SCALARS)}
    return {"value": value}


def _json_shape(document: Any) -> str:
    if isinstance(document, dict):
        keys = ", ".join(list(document)[:8]) + (", ..." if len(document) > 8 else "")
        return f"top level: an object with keys {keys}" if document else "top level: {}"
    if isinstance(document, list):
        return f"top level: a list of {len(document)}"
    return f"top level: {type(document).__name__} {_show(str(document))}"


def _line_at(text: str, number: int) -> str:
    lines = text.splitlines()
    return lines[number - 1] if 0 < number <= len(lines) else ""


def _kv(item_id: str, parser: KeyValueParser, output: str) -> list[Row]:
    row: Row = {}
    for line in output.splitlines():
        separator = parser.separator or _first_separator(line)
        if separator is None or separator not in line:
            continue
        key, value = line.split(separator, 1)
        if key.strip():
            row[key.strip()] = value.strip()  # a repeated key: the last one wins
    if not row:
        kinds = f"`key{parser.separator}value`" if parser.separator else \
            "`key=value` or `key: value`"
        raise ParseError(f"item {item_id}: no {kinds} line in {_describe(output)}; check the "
                         "command's output or choose another parser")
    return [row]


def _first_separator(line: str) -> str | None:
    positions = [(line.find(s), s) for s in ("=", ":") if s in line]
    return min(positions)[1] if positions else None


def _table(item_id: str, parser: TableParser, output: str) -> list[Row]:
    lines = [line for line in output.splitlines()[parser.skip:] if line.strip()]
    columns = parser.columns
    if columns is None:
        if not lines:
            raise ParseError(f"item {item_id}: no header line after skipping {parser.skip} "
                             f"line(s) of {_describe(output)}; lower `skip`")
        columns = lines.pop(0).split()
        if dupes := sorted({c for c in columns if columns.count(c) > 1}):
            raise ParseError(f"item {item_id}: the header {_show(' '.join(columns))} repeats "
                             f"column {', '.join(dupes)} (a column name with spaces?); give "
                             "`columns` and `skip: 1` instead")
    if not lines and parser.columns is None:
        # a lone line may be an error message taken for a header; with `columns` given, no
        # rows is a real answer (nothing listens, nothing runs)
        raise ParseError(f"item {item_id}: no table rows in {_describe(output)} (skip: "
                         f"{parser.skip}, columns: {', '.join(columns)}); check `skip` and "
                         "the command's output, or give `columns` if no rows is a valid answer")
    rows = []
    for line in lines:
        cells = line.split(None, len(columns) - 1)
        # a short row leaves its last columns empty (e.g. ss without a Process column)
        rows.append(dict(zip(columns, cells + [None] * (len(columns) - len(cells)),
                             strict=True)))
    return rows


def _plugin(item_id: str, parser: PluginParser, output: str) -> list[Row]:
    try:
        plugin = parser_plugin(parser.name)
    except PackError as exc:
        raise ParseError(f"item {item_id}: {exc}") from exc
    try:
        rows = plugin(output, dict(parser.options))
    except Exception as exc:  # the plugin's own code: report whatever it raised
        raise ParseError(f"item {item_id}: plugin {parser.name} failed: "
                         f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(rows, list):
        raise ParseError(f"item {item_id}: plugin {parser.name} returned a "
                         f"{type(rows).__name__}, not a list of rows (dicts); fix the plugin")
    if bad := [r for r in rows if not isinstance(r, dict)]:
        raise ParseError(f"item {item_id}: plugin {parser.name} returned a row that is a "
                         f"{type(bad[0]).__name__}, not a dict; fix the plugin")
    return rows
