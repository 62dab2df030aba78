"""What every platform parser shares: TextFSM (ntc-templates and our own templates), CLI error
detection, unit conversion and merging partial facts into one :class:`HostFacts`.

A platform module (``collectors/network/cisco_ios.py`` ...) exposes ``PARSERS``: pack item id →
:data:`ItemParser`. An item parser takes the raw output of its command and returns the facts it
found as a partial update (field name → value), or raises :class:`ParseError` saying why the
output was not understood. :func:`normalise` runs them all; one item failing never hides another.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from io import StringIO
from typing import Any

import textfsm
from ntc_templates.parse import _get_template_dir, parse_output
from textfsm import clitable

from agent.errors import ParseError
from collectors.facts import Environment, Hardware, HostFacts

Update = dict[str, Any]
ItemParser = Callable[[str], Update]

# What the CLIs print when they refuse or do not know a command.
_CLI_ERRORS = re.compile(
    r"^\s*(% ?Invalid input\b|% ?Incomplete command|% ?Ambiguous command"
    r"|% ?Unrecognized command|% ?Unknown command|% ?Invalid command"
    r"|Error: ?Unrecognized command|Error: ?Incomplete command|Error: ?Wrong parameter"
    r"|Error: ?Too many parameters|unknown command\.|syntax error, expecting"
    r"|% Permission denied|Error: Permission denied|% Authorization failed|Unknown command)",
    re.IGNORECASE | re.MULTILINE,
)


# A routing protocol that is not configured prints a notice instead of a table: no neighbours.
_NOT_RUNNING = re.compile(
    r"^\s*(% ?BGP not active|% ?BGP inactive|BGP is not running|BGP instance not found"
    r"|Info: ?The BGP process is not running|% ?OSPF(?:v2)? inactive|OSPF instance is not running"
    r"|Info: ?The OSPF process is not running|% ?OSPF not active|OSPF is not running)",
    re.IGNORECASE | re.MULTILINE,
)
#: what an item means when its feature is not configured (or the table is empty)
NOTHING_CONFIGURED: dict[str, Update] = {
    "bgp": {"bgp_neighbors": []},
    "ospf": {"ospf_neighbors": []},
}


#: ntc-templates' OSPF neighbour templates (IOS, EOS, Junos) match IPv4 as ``\d+.\d+.\d+.\d+``
#: with unescaped dots: on a long run of digits the match backtracks in O(n⁴) - 300 digits took
#: 4-7 s, 5,000 would take days, and a regex cannot be interrupted. No real field is that long
#: (a 64-bit counter has 20 digits), so such output is refused up front.
_ABSURD_NUMBER = re.compile(r"\d{65,}")


def refuse_absurd_numbers(output: str) -> None:
    """Raise ParseError if ``output`` holds a run of digits longer than any real field."""
    if found := _ABSURD_NUMBER.search(output):
        raise ParseError(f"the output holds a run of {len(found.group())} digits, longer than "
                         "any field; not parsed (device output garbled?)")


def cli_error(output: str) -> str | None:
    """The device's refusal message if ``output`` is one (e.g. ``% Invalid input detected``)."""
    match = _CLI_ERRORS.search(output)
    return match.group(1).strip() if match else None


# Compiled templates, shared: ntc-templates' parse_output() compiles the template and
# deep-copies a TextTable on every call (13 ms of CPU per network device for the standard
# packs; reused templates: 3.7 ms). A TextFSM object holds its parse state, so each is used
# under its own lock (parsing is CPU-bound Python: threads gain nothing by parallel copies).
_compiled: dict[str, tuple[threading.Lock, textfsm.TextFSM]] = {}
_compiled_lock = threading.Lock()


def _parse_with(key: str, text: Callable[[], str], output: str
                ) -> tuple[list[str], list[list[Any]]]:
    """The template's header and the records it makes of ``output``."""
    with _compiled_lock:
        entry = _compiled.get(key)
        if entry is None:
            entry = _compiled[key] = (threading.Lock(), textfsm.TextFSM(StringIO(text())))
    lock, fsm = entry
    with lock:
        fsm.Reset()
        return list(fsm.header), fsm.ParseText(output)


@cache
def _ntc_template(platform: str, command: str) -> str | None:
    """The one template ntc-templates' index names for the command (its index is parsed once
    per process by textfsm), or ``None``: no template, or several to merge (parse_output's
    job)."""
    table = clitable.CliTable("index", _get_template_dir())
    row = table.index.GetRowMatch({"Command": command, "Platform": platform})
    if not row:
        return None
    names = str(table.index.index[row]["Template"]).split(":")
    return os.path.join(table.template_dir, names[0]) if len(names) == 1 else None


@cache
def _template_text(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _as_text(value: Any) -> Any:
    """As textfsm's TextTable stores values: strings, and lists of strings."""
    return [str(v) for v in value] if isinstance(value, list | tuple) else str(value)


def ntc(platform: str, command: str, output: str) -> list[dict[str, Any]]:
    """Parse with the ntc-templates template for ``command``; rows with lower-case keys
    (exactly what ``ntc_templates.parse.parse_output`` returns).

    Raises :class:`ParseError` when no template exists or it matches nothing (netmiko would
    silently hand back the raw string instead; we want the reason)."""
    refuse_absurd_numbers(output)
    try:
        path = _ntc_template(platform, command)
        if path is None:
            rows = parse_output(platform=platform, command=command, data=output)
        else:
            header, records = _parse_with(path, lambda: _template_text(path), output)
            keys = [h.lower() for h in header]
            rows = [dict(zip(keys, map(_as_text, record), strict=True)) for record in records]
    except Exception as exc:  # ntc-templates raises bare Exception / TextFSMError
        raise ParseError(f"ntc-templates {platform} {command!r}: {exc}") from exc
    if not rows:
        raise ParseError(f"ntc-templates {platform} {command!r} matched nothing in the output")
    return [{k.lower(): v for k, v in row.items()} for row in rows]


@cache
def _own_template(name: str) -> str:
    ref = resources.files("collectors") / "templates" / f"{name}.textfsm"
    if not ref.is_file():
        raise ParseError(f"no template collectors/templates/{name}.textfsm")
    return ref.read_text(encoding="utf-8")


def own(name: str, output: str) -> list[dict[str, Any]]:
    """Parse with one of our own TextFSM templates (``collectors/templates/NAME.textfsm``)."""
    refuse_absurd_numbers(output)
    try:
        header, table = _parse_with(f"own:{name}", lambda: _own_template(name), output)
    except textfsm.TextFSMError as exc:
        raise ParseError(f"template {name}: {exc}") from exc
    if not table:
        raise ParseError(f"template {name} matched nothing in the output")
    keys = [h.lower() for h in header]
    return [dict(zip(keys, row, strict=True)) for row in table]


def first(rows: list[dict[str, Any]], key: str) -> Any:
    """The first non-empty value of ``key`` (list values: their first element)."""
    for row in rows:
        value = row.get(key)
        if isinstance(value, list):
            value = next((v for v in value if v), None)
        if value not in (None, ""):
            return value
    return None


def to_int(value: Any) -> int | None:
    """``"1,234"`` → 1234; empty or non-numeric → None."""
    if value is None:
        return None
    text = str(value).replace(",", "").strip()
    return int(text) if re.fullmatch(r"-?\d+", text) else None


def to_float(value: Any) -> float | None:
    if value is None:
        return None
    text = str(value).replace(",", "").strip().rstrip("%").strip()
    try:
        return float(text)
    except ValueError:
        return None


_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2,
               "g": 1024**3, "gb": 1024**3, "t": 1024**4, "tb": 1024**4}


def to_bytes(value: Any, default_unit: str = "") -> int | None:
    """``"512M"``, ``"2,048 KB"``, ``"1024"`` (with ``default_unit``) → bytes."""
    if value is None:
        return None
    match = re.fullmatch(r"\s*([\d,.]+)\s*([kKmMgGtT]?[bB]?)\s*", str(value))
    if not match:
        return None
    number = float(match.group(1).replace(",", ""))
    unit = (match.group(2) or default_unit).lower()
    return int(number * _SIZE_UNITS[unit]) if unit in _SIZE_UNITS else None


_DURATION_UNITS = {
    "year": 365 * 86400, "yr": 365 * 86400, "y": 365 * 86400,
    "month": 30 * 86400, "week": 7 * 86400, "wk": 7 * 86400, "w": 7 * 86400,
    "day": 86400, "d": 86400, "hour": 3600, "hr": 3600, "h": 3600,
    "minute": 60, "min": 60, "m": 60, "second": 1, "sec": 1, "s": 1,
}


def uptime_seconds(text: str) -> float | None:
    """Vendor uptime strings → seconds: ``1 year, 2 weeks, 3 days, 4 hours, 5 minutes``,
    ``10 days, 3:04:05`` / ``3:04`` (h:m[:s]), ``2w3d``, ``123 days 5 hours 6 minutes``."""
    total = 0.0
    found = False
    rest = text
    clock = re.search(r"(\d+):(\d{2})(?::(\d{2}))?", rest)
    if clock:
        h, m, s = int(clock.group(1)), int(clock.group(2)), int(clock.group(3) or 0)
        total += h * 3600 + m * 60 + s
        found = True
        rest = rest[: clock.start()] + rest[clock.end():]
    for number, unit in re.findall(r"(\d+)\s*([a-zA-Z]+)", rest):
        key = unit.lower().rstrip("s") if len(unit) > 1 else unit.lower()
        if key not in _DURATION_UNITS:
            continue
        total += int(number) * _DURATION_UNITS[key]
        found = True
    return total if found else None


def _merge(base: Any, update: Any) -> Any:
    """Nested fact models merge field by field; lists and scalars replace."""
    if isinstance(base, Hardware | Environment) and isinstance(update, type(base)):
        fields = {k: v for k, v in update.model_dump(exclude_none=True).items()}
        data = base.model_dump()
        for key in fields:
            data[key] = getattr(update, key)
        return type(base).model_validate(data)
    return update


def normalise(
    parsers: Mapping[str, ItemParser], outputs: Mapping[str, str]
) -> tuple[HostFacts, dict[str, str]]:
    """Run the parser of every item that produced output; facts plus per-item errors."""
    merged: Update = {}
    errors: dict[str, str] = {}
    for item, output in outputs.items():
        parser = parsers.get(item)
        if parser is None:
            # e.g. running_config, which the collector stores as config history
            if refusal := cli_error(output):
                errors[item] = f"the device refused the command: {refusal}"
            elif not output.strip() and "." not in item:
                # custom pack items (PACK.ITEM) are parsed by their pack: no output is no rows
                errors[item] = "empty output"
            continue
        if item in NOTHING_CONFIGURED and (not output.strip() or _NOT_RUNNING.search(output)):
            update = NOTHING_CONFIGURED[item]
        elif refusal := cli_error(output):
            errors[item] = f"the device refused the command: {refusal}"
            continue
        elif not output.strip():
            errors[item] = "empty output"
            continue
        else:
            try:
                update = parser(output)
            except ParseError as exc:
                errors[item] = str(exc)
                continue
        for key, value in update.items():
            if value is None:
                continue
            merged[key] = _merge(merged[key], value) if key in merged else value
    try:
        return HostFacts.model_validate(merged), errors
    except ValueError as exc:  # a parser bug, not the device's fault; keep the other facts
        raise ParseError(f"normalised facts failed validation: {exc}") from exc


# -- small helpers the platform parsers share ---------------------------------------------------

def text_or_none(value: Any) -> str | None:
    """A template cell as text; empty or missing → None."""
    text = str(value).strip() if value is not None else ""
    return text or None


def word_state(word: str, ok: frozenset[str], failed: frozenset[str]) -> bool | None:
    """A device's status word → True/False through explicit word lists; anything else None."""
    key = word.strip().lower()
    if key in ok:
        return True
    if key in failed:
        return False
    return None


def require(output: str, pattern: str, what: str) -> None:
    """Raise :class:`ParseError` unless ``output`` has the marker line of ``what``."""
    if not re.search(pattern, output, re.MULTILINE):
        raise ParseError(f"not the output of {what} (its header/marker line is missing)")


def split_blocks(start: re.Pattern[str], output: str) -> dict[str, str]:
    """Split output into blocks that each begin with a ``start`` match (e.g. one block per
    interface), keyed by the match's first group."""
    starts = list(start.finditer(output))
    return {m.group(1): output[m.start(): starts[i + 1].start() if i + 1 < len(starts) else None]
            for i, m in enumerate(starts)}
