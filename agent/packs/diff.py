"""What changed between two versions of a pack, in lines a reviewer reads before approving.

Only what affects an inspection is compared (commands, scripts, parsers, checks, thresholds);
the loader's bookkeeping (origin, content hash) is not. Script and TextFSM template texts are
shown as unified diffs, so an approver sees exactly which lines changed.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

from collectors.pack import Pack, PackCheck, PackItem, TextFsmParser
from config.models import CheckSettings, ItemThresholds

#: unified-diff lines shown per text before the rest is counted
MAX_DIFF_LINES = 40
#: parts of a one-line summary before "and N more"
MAX_SUMMARY_PARTS = 5
_INDENT = "    "
_ITEM_FIELDS = ("description", "read_only", "timeout", "max_bytes", "max_lines",
                "ok_exit_codes")


@dataclass(frozen=True)
class _Change:
    line: str
    #: the short form for a one-line summary (default: ``line``)
    short: str | None = None
    #: indented lines shown under ``line`` (a unified diff)
    detail: list[str] = field(default_factory=list)


def diff_packs(old: Pack, new: Pack) -> list[str]:
    """Human-readable change lines from ``old`` to ``new``; empty when they run the same."""
    lines: list[str] = []
    for change in _changes(old, new):
        lines.append(change.line)
        lines.extend(change.detail)
    return lines


def summarize(old: Pack, new: Pack) -> str:
    """One line, e.g. "version 1.0.0 → 1.1.0; item tbs: command changed; check
    tbs.used_pct: crit 90 → 95" (at most five parts, then "and N more"); "" when the two
    run the same (e.g. only a comment changed)."""
    parts = [c.short or c.line for c in _changes(old, new)]
    if not parts:
        return ""
    shown = parts[:MAX_SUMMARY_PARTS]
    if len(parts) > MAX_SUMMARY_PARTS:
        shown.append(f"and {len(parts) - MAX_SUMMARY_PARTS} more")
    return "; ".join(shown)


# -- formatting ------------------------------------------------------------------------------


def _cut(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."


def _fmt(value: Any) -> str:
    """A value as a reviewer reads it: 90 not 90.0, true/false, text cut at 80 characters."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"{value:g}"
    if isinstance(value, str):
        return _cut(repr(value) if not value or value != value.strip() or " " in value
                    else value)
    if isinstance(value, list) and all(isinstance(v, int | float | str) for v in value):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return _cut(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str))


def _arrow(label: str, before: Any, after: Any) -> str:
    return f"{label} {_fmt(before)} → {_fmt(after)}"


def _text_diff(before: str, after: str, name: str) -> list[str]:
    lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(),
                                      fromfile=f"a/{name}", tofile=f"b/{name}", lineterm=""))
    shown = [_INDENT + line for line in lines[:MAX_DIFF_LINES]]
    if len(lines) > MAX_DIFF_LINES:
        shown.append(f"{_INDENT}… {len(lines) - MAX_DIFF_LINES} more diff lines")
    return shown


def _fields(before: dict[str, Any], after: dict[str, Any], names: list[str]) -> list[str]:
    """``name: old → new`` for each named field that differs."""
    return [_arrow(n, before.get(n), after.get(n)) for n in names
            if before.get(n) != after.get(n)]


# -- comparisons -----------------------------------------------------------------------------


def _changes(old: Pack, new: Pack) -> list[_Change]:
    changes = [_Change(f"{attr} {_fmt(getattr(old, attr))} → {_fmt(getattr(new, attr))}")
               for attr in ("name", "version") if getattr(old, attr) != getattr(new, attr)]
    if old.platforms != new.platforms:
        changes.append(_Change(f"platforms: {', '.join(old.platforms)} → "
                               f"{', '.join(new.platforms)}"))
    if old.description != new.description:
        changes.append(_Change(_arrow("description", old.description, new.description),
                               short="description changed"))
    changes.extend(_item_list(old, new))
    before = {i.id: i for i in old.items}
    for item in new.items:
        if item.id in before:
            changes.extend(_item(old, before[item.id], new, item))
    changes.extend(_thresholds(old.thresholds, new.thresholds))
    old_files, new_files = set(old.referenced_files()), set(new.referenced_files())
    if added := sorted(new_files - old_files):
        changes.append(_Change(f"files added: {', '.join(added)}"))
    if removed := sorted(old_files - new_files):
        changes.append(_Change(f"files removed: {', '.join(removed)}"))
    return changes


def _item_list(old: Pack, new: Pack) -> list[_Change]:
    old_ids = [i.id for i in old.items]
    new_ids = [i.id for i in new.items]
    changes = [_Change(f"item {i} added") for i in new_ids if i not in old_ids]
    changes += [_Change(f"item {i} removed") for i in old_ids if i not in new_ids]
    kept_old = [i for i in old_ids if i in new_ids]
    kept_new = [i for i in new_ids if i in old_ids]
    if kept_old != kept_new:  # items run in order: a reorder changes what runs first
        changes.append(_Change(f"items reordered: {', '.join(kept_old)} → "
                               f"{', '.join(kept_new)}", short="items reordered"))
    return changes


def _item(old_pack: Pack, old: PackItem, new_pack: Pack, new: PackItem) -> list[_Change]:
    label = f"item {new.id}"
    changes: list[_Change] = []
    old_script, new_script = old_pack.script_text(old), new_pack.script_text(new)
    if new_script is not None and old_script is None:
        changes.append(_Change(f"{label}: now a script (was command {_fmt(old.command)})",
                               short=f"{label}: now a script", detail=_text_diff(
                                   "", new_script, new.script_file or f"{new.id} (script)")))
    elif new.command is not None and old.command is None:
        changes.append(_Change(f"{label}: now command {_fmt(new.command)} (was a script)",
                               short=f"{label}: now a command"))
    elif old.command is not None and new.command is not None and old.command != new.command:
        changes.append(_Change(f"{label}: command {_fmt(old.command)} → {_fmt(new.command)}",
                               short=f"{label}: command changed"))
    if old.script_file != new.script_file and old.is_script and new.is_script:
        changes.append(_Change(_arrow(f"{label}: script_file", old.script_file,
                                      new.script_file)))
    if old_script is not None and new_script is not None and old_script != new_script:
        changes.append(_Change(f"{label}: script changed", detail=_text_diff(
            old_script, new_script, new.script_file or f"{new.id} (inline script)")))
    changes += [_Change(f"{label}: {text}") for text in _fields(
        old.model_dump(), new.model_dump(), list(_ITEM_FIELDS))]
    changes += _parser(old_pack, old, new_pack, new, label)
    changes += _checks(old, new)
    return changes


def _parser(old_pack: Pack, old: PackItem, new_pack: Pack, new: PackItem,
            label: str) -> list[_Change]:
    before, after = old.parser, new.parser
    if before == after and not isinstance(after, TextFsmParser):
        return []
    if before is None or after is None or before.type != after.type:
        detail = []
        if isinstance(after, TextFsmParser):  # the whole new template is what gets reviewed
            detail = _text_diff("", new_pack.template_text(after),
                                after.template or f"{new.id} (inline template)")
        return [_Change(_arrow(f"{label}: parser", before and before.type,
                               after and after.type), detail=detail)]
    changes: list[_Change] = []
    old_opts, new_opts = before.model_dump(), after.model_dump()
    names = [n for n in new_opts if n not in {"type", "inline"}]
    changes += [_Change(f"{label}: parser {text}") for text in _fields(old_opts, new_opts, names)]
    if isinstance(before, TextFsmParser) and isinstance(after, TextFsmParser):
        old_text, new_text = old_pack.template_text(before), new_pack.template_text(after)
        if old_text != new_text:
            changes.append(_Change(f"{label}: TextFSM template changed", detail=_text_diff(
                old_text, new_text, after.template or f"{new.id} (inline template)")))
    return changes


def _checks(old: PackItem, new: PackItem) -> list[_Change]:
    before = {c.id: c for c in old.checks}
    after = {c.id: c for c in new.checks}
    changes = [_Change(f"check {new.id}.{c} added ({_rule(after[c])})")
               for c in after if c not in before]
    changes += [_Change(f"check {new.id}.{c} removed") for c in before if c not in after]
    names = list(PackCheck.model_fields)
    for check_id, check in after.items():
        if check_id in before:
            changes += [_Change(f"check {new.id}.{check_id}: {text}") for text in _fields(
                before[check_id].model_dump(), check.model_dump(), names)]
    return changes


def _rule(check: PackCheck) -> str:
    if check.rule == "thresholds":
        return ", ".join(f"{k} {_fmt(v)}" for k, v in (("warn", check.warn),
                                                        ("crit", check.crit)) if v is not None)
    return check.rule


def _thresholds(before: dict[str, CheckSettings],
                after: dict[str, CheckSettings]) -> list[_Change]:
    changes = [_Change(f"thresholds {name} added ({_override(after[name])})")
               for name in after if name not in before]
    changes += [_Change(f"thresholds {name} removed") for name in before if name not in after]
    for name, new in after.items():
        old = before.get(name)
        if old is None or old == new:
            continue
        changes += [_Change(f"thresholds {name}: {text}") for text in _fields(
            old.model_dump(), new.model_dump(), ["enabled", "warn", "crit"])]
        for item, override in new.items.items():
            was = old.items.get(item)
            if was is None:
                changes.append(_Change(f"thresholds {name} item {item} added "
                                       f"({_override(override)})"))
            else:
                changes += [_Change(f"thresholds {name} item {item}: {text}") for text in
                            _fields(was.model_dump(), override.model_dump(),
                                    ["enabled", "warn", "crit"])]
        changes += [_Change(f"thresholds {name} item {item} removed")
                    for item in old.items if item not in new.items]
    return changes


def _override(value: CheckSettings | ItemThresholds) -> str:
    parts = [f"{n} {_fmt(getattr(value, n))}" for n in ("enabled", "warn", "crit")
             if getattr(value, n) is not None]
    return ", ".join(parts) or "no values"
