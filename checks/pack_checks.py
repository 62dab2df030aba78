"""A custom pack's checks as CheckSpecs the normal engine evaluates.

Each check judges the rows its item's parser produced (``collectors/pack_parsers.py``), after
the check's ``where`` filter. Threshold checks yield measurements without a state, so the engine
compares them with warn/crit — and the config's overrides (``checks: {"pack.check": {warn: 5}}``)
apply as to any built-in check. Every other rule decides its state itself (its ``severity``
when broken). When the item failed (``rows is None``) the measure returns None and the engine
reports UNKNOWN with the item's error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any

from checks.builtin import CheckSpec, Context, Measure, Measurement
from checks.model import State
from collectors.pack import Pack, PackCheck, PackItem
from collectors.pack_parsers import Row
from collectors.pack_plugins import check_plugin

# Row is re-exported: callers type the rows they pass from here
__all__ = ["Row", "check_name", "check_plugin", "pack_check_specs", "to_number"]

_Judge = Callable[[PackCheck, list[Row]], list[Measurement]]

# A number, optionally with thousands separators, then an ignored unit ("%", "dBm", "G", "°C").
_NUMBER = re.compile(
    r"\s*(?P<num>[+-]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)"
    r"\s*(?:%|°?[^\W\d_]\S*)?\s*")
# Equality compares numbers only when both sides are plain numbers: "12.5G" is not "12.5M".
_PLAIN_NUMBER = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)\s*")
_LIST_CAP = 5


def check_name(pack: Pack, check: PackCheck) -> str:
    return f"{pack.name}.{check.id}"


def to_number(value: Any) -> float | None:
    """A float from a parsed value: numbers as they are; text such as "85", "85%", "1,234.5"
    or " -3.20 dBm" (a trailing unit is ignored, never scaled). None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and (match := _NUMBER.fullmatch(value)):
        number = float(match["num"].replace(",", ""))
    else:
        return None
    return None if math.isnan(number) or math.isinf(number) else number


def pack_check_specs(
    pack: Pack, item: PackItem, evidence: str, rows: list[Row] | None
) -> list[CheckSpec]:
    """One CheckSpec per check of ``item``, judging ``rows`` (None: the item failed)."""
    return [
        CheckSpec(
            name=check_name(pack, check), title=check.title or check.id, evidence=(evidence,),
            measure=_measure(check, rows), unit=check.unit, warn=check.warn, crit=check.crit,
            higher_is_worse=check.direction == "above",
        )
        for check in item.checks
    ]


def _measure(check: PackCheck, rows: list[Row] | None) -> Measure:
    def measure(_ctx: Context) -> list[Measurement] | None:
        if rows is None:
            return None
        if unknown := _unknown_fields(check, rows):
            return [Measurement(None, None, unknown, State.UNKNOWN)]
        return _RULES[check.rule](check, _filtered(check, rows))

    return measure


# -- helpers ---------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _empty(value: Any) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, list | dict | tuple) and not value)


def _unknown_fields(check: PackCheck, rows: list[Row]) -> str | None:
    """A ``where`` or ``field`` that no row has is a typo, not "nothing found": without this,
    ``present: false`` or ``rows: {max: 0}`` would pass whatever the output says."""
    if not rows:
        return None  # nothing to tell a typo from an empty answer
    names = [*check.where, *([check.field] if check.field else [])]
    missing = [n for n in dict.fromkeys(names) if not any(n in row for row in rows)]
    return _missing(missing[0], rows) if missing else None


def _filtered(check: PackCheck, rows: list[Row]) -> list[Row]:
    return [row for row in rows if all(
        field in row and re.search(pattern, _text(row[field]))
        for field, pattern in check.where.items())]


def _where(check: PackCheck) -> str:
    if not check.where:
        return ""
    return " where " + ", ".join(f"{f} ~ /{p}/" for f, p in check.where.items())


def _fields(rows: Iterable[Row]) -> str:
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    return ", ".join(names) or "none"


def _missing(field: str, rows: list[Row], role: str = "") -> str:
    return (f"field {field}{role} is not in the parsed output (fields: {_fields(rows)}); "
            "fix the check's field or the item's parser")


def _no_rows(check: PackCheck) -> list[Measurement]:
    return [Measurement(None, None, f"no rows to judge{_where(check)}", State.UNKNOWN)]


def _number_text(value: float) -> str:
    return f"{value:.10g}"


def _shown(value: Any) -> str:
    text = repr(_text(value))
    return text if len(text) <= 80 else text[:77] + "..."


def _value(value: Any) -> float | str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None if value is None else _text(value)


def _items(check: PackCheck, rows: list[Row]) -> list[tuple[str | None, Row]] | None:
    """Rows paired with their item name (per-row checks), or None when the item field is
    absent from every row. A row without it is named by its position."""
    if check.item is None:
        return [(None, row) for row in rows]
    if not any(check.item in row for row in rows):
        return None
    return [(_text(row.get(check.item)).strip() or f"row {n}", row)
            for n, row in enumerate(rows, start=1)]


def _about(check: PackCheck, item: str | None) -> str:
    return f" ({check.item} {item})" if check.item and item is not None else ""


# -- rules -----------------------------------------------------------------------------------


def _thresholds(check: PackCheck, rows: list[Row]) -> list[Measurement]:
    field = check.field or ""
    if not rows:
        return _no_rows(check)
    if not any(field in row for row in rows):
        return [Measurement(None, None, _missing(field, rows), State.UNKNOWN)]
    named = _items(check, rows)
    if named is None:
        return [Measurement(None, None, _missing(check.item or "", rows, " (the item)"),
                            State.UNKNOWN)]
    unit = f" {check.unit}" if check.unit else ""
    judged: list[Measurement] = []
    problems: list[Measurement] = []
    for item, row in named:
        number = to_number(row.get(field))
        if number is not None:
            judged.append(Measurement(item, number, f"{field} {_number_text(number)}{unit}"
                                      f"{_about(check, item)}"))
            continue
        why = (_missing(field, rows) if field not in row else
               f"field {field} is empty" if _empty(row[field]) else
               f"field {field} is not a number: {_shown(row[field])}")
        problem = Measurement(item, _value(row.get(field)), why + _about(check, item),
                              State.UNKNOWN)
        (judged if check.item is not None else problems).append(problem)
    if check.item is not None:
        return judged
    if problems:
        # the worst row cannot be told when a row has no number: UNKNOWN, never OK
        extra = f" ({len(problems)} of {len(rows)} rows)" if len(rows) > 1 else ""
        return [Measurement(None, problems[0].value, problems[0].message + extra,
                            State.UNKNOWN)]
    pick = max if check.direction == "above" else min
    worst = pick(judged, key=lambda m: float(m.value or 0))
    note = f" (worst of {len(judged)} rows)" if len(judged) > 1 else ""
    return [Measurement(None, worst.value, worst.message + note)]


_TRUE = frozenset({"true", "yes", "on", "1", "enabled", "active"})
_FALSE = frozenset({"false", "no", "off", "0", "disabled", "inactive"})


def _truth(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = _text(value).strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def _same(actual: Any, expected: str | float | bool) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        # YAML reads `yes`/`no`/`true` as booleans; compare meanings, not spellings
        return _truth(actual) is not None and _truth(actual) == _truth(expected)

    def plain(value: Any) -> float | None:
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str) and _PLAIN_NUMBER.fullmatch(value):
            return float(value)
        return None

    a, b = plain(actual), plain(expected)
    if a is not None and b is not None:
        return a == b
    return _text(actual).strip() == _text(expected).strip()


def _compare(check: PackCheck, rows: list[Row], passes: Callable[[Any], bool],
             expectation: str) -> list[Measurement]:
    """Judge ``field`` of each row with ``passes``: per row with ``item``, else all rows in one
    result (the first failing value named)."""
    field = check.field or ""
    if not rows:
        return _no_rows(check)
    named = _items(check, rows)
    if named is None:
        return [Measurement(None, None, _missing(check.item or "", rows, " (the item)"),
                            State.UNKNOWN)]
    broken = State(check.severity)
    results: list[Measurement] = []
    for item, row in named:
        if field not in row:
            results.append(Measurement(item, None, _missing(field, rows) + _about(check, item),
                                       State.UNKNOWN))
            continue
        value = row[field]
        ok = passes(value)
        verdict = "as expected" if ok else "expected"
        results.append(Measurement(
            item, _value(value),
            f"{field} is {_shown(value)}, {verdict} {expectation}{_about(check, item)}",
            State.OK if ok else broken))
    if check.item is not None:
        return results
    failing = [m for m in results if m.state is not State.OK]
    if not failing:
        message = (results[0].message if len(results) == 1 else
                   f"all {len(results)} rows{_where(check)}: {field} {expectation}")
        return [Measurement(None, results[0].value, message, State.OK)]
    first = failing[0]
    extra = f" ({len(failing)} of {len(results)} rows fail)" if len(results) > 1 else ""
    return [Measurement(None, first.value, first.message + extra,
                        State.worst([m.state or State.UNKNOWN for m in failing]))]


def _equals(check: PackCheck, rows: list[Row]) -> list[Measurement]:
    expected = check.equals if check.equals is not None else ""
    return _compare(check, rows, lambda v: _same(v, expected), f"to be {_shown(expected)}")


def _not_equals(check: PackCheck, rows: list[Row]) -> list[Measurement]:
    unwanted = check.not_equals if check.not_equals is not None else ""
    return _compare(check, rows, lambda v: not _same(v, unwanted),
                    f"not to be {_shown(unwanted)}")


def _matches(check: PackCheck, rows: list[Row]) -> list[Measurement]:
    pattern = check.matches or ""
    return _compare(check, rows, lambda v: re.search(pattern, _text(v)) is not None,
                    f"to match /{pattern}/")


def _present(check: PackCheck, rows: list[Row]) -> list[Measurement]:
    field = check.field
    found = [row for row in rows if field is None or (field in row and not _empty(row[field]))]
    what = _where(check) + (f" with a non-empty {field}" if field else "")
    count = f"found {len(found)} row{'' if len(found) == 1 else 's'}{what}"
    broken = State(check.severity)
    if check.present:
        if found:
            return [Measurement(None, len(found), count, State.OK)]
        return [Measurement(None, 0, f"no row{what} found (expected at least one)", broken)]
    if not found:
        return [Measurement(None, 0, f"no row{what} found, as expected", State.OK)]
    names = ""
    if check.item:
        shown = [_text(row.get(check.item)) for row in found[:_LIST_CAP]]
        names = ": " + ", ".join(shown) + (" …" if len(found) > _LIST_CAP else "")
    return [Measurement(None, len(found),
                        f"{count} (expected none){names}", broken)]


def _rows(check: PackCheck, rows: list[Row]) -> list[Measurement]:
    count = len(rows)
    bounds = check.rows
    low = bounds.min if bounds else None
    high = bounds.max if bounds else None
    wanted = " and ".join(part for part in (
        f"at least {low}" if low is not None else "",
        f"at most {high}" if high is not None else "") if part) or "any number"
    ok = (low is None or count >= low) and (high is None or count <= high)
    return [Measurement(None, count, f"{count} row(s){_where(check)}; expected {wanted}",
                        State.OK if ok else State(check.severity))]


def _plugin(check: PackCheck, rows: list[Row]) -> list[Measurement]:
    name = check.plugin or ""
    try:
        measurements = check_plugin(name)(rows, check.options)
    except Exception as exc:  # a plugin's failure (or absence) is this check's UNKNOWN
        return [Measurement(None, None, f"plugin {name} failed: {type(exc).__name__}: {exc}",
                            State.UNKNOWN)]
    if not isinstance(measurements, list) or not all(
            isinstance(m, Measurement) for m in measurements):
        return [Measurement(None, None, f"plugin {name} failed: it returned "
                            f"{type(measurements).__name__}, not a list of Measurement",
                            State.UNKNOWN)]
    return measurements


_RULES: dict[str, _Judge] = {
    "thresholds": _thresholds, "equals": _equals, "not_equals": _not_equals,
    "matches": _matches, "present": _present, "rows": _rows, "plugin": _plugin,
}
