"""Run a pack item's parser and checks on a saved output, with no device: how packs are
developed (``xunjian packs test``) and how the runner judges what a device printed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from agent.errors import PackError, ParseError
from checks.builtin import Context
from checks.engine import evaluate_check
from checks.model import CheckResult
from checks.pack_checks import Row, pack_check_specs
from collectors.facts import HostFacts
from collectors.pack import Pack, PackItem, item_key
from collectors.pack_parsers import parse_output


@dataclass
class ItemOutcome:
    item: PackItem
    rows: list[Row] | None
    #: why there are no rows (the parser's message)
    error: str | None
    results: list[CheckResult] = field(default_factory=list)


def pick_item(pack: Pack, item_id: str | None) -> PackItem:
    """The item asked for, or the pack's only item with a parser."""
    if item_id is not None:
        try:
            return pack.item(item_id)
        except KeyError:
            ids = ", ".join(i.id for i in pack.items)
            raise PackError(f"pack {pack.name} has no item {item_id!r} (items: {ids})") from None
    parsed = [i for i in pack.items if i.parser is not None]
    if len(parsed) == 1:
        return parsed[0]
    ids = ", ".join(i.id for i in parsed) or "none"
    raise PackError(f"pack {pack.name} has {len(parsed)} items with a parser ({ids}); say which "
                    "one the output belongs to with --item")


def evaluate_output(pack: Pack, item: PackItem, output: str, *, exit_code: int = 0,
              now: datetime | None = None) -> ItemOutcome:
    """Parse ``output`` as ``item``'s and evaluate its checks, as an inspection would."""
    if item.parser is None:
        raise PackError(f"item {item.id} of pack {pack.name} has no parser: its output is kept "
                        "as evidence only, there is nothing to test")
    key = item_key(pack, item)
    rows: list[Row] | None = None
    error: str | None = None
    if exit_code not in item.ok_exit_codes:
        error = f"exit status {exit_code} (ok_exit_codes: {item.ok_exit_codes})"
    else:
        try:
            rows = parse_output(pack, item, output)
        except ParseError as exc:
            error = str(exc)
    ctx = Context(HostFacts(), None, now or datetime.now(UTC))
    errors = {key: error} if error else {}
    results: list[CheckResult] = []
    for spec in pack_check_specs(pack, item, key, rows):
        results.extend(r.model_copy(update={"title": spec.title})
                       for r in evaluate_check(spec, None, ctx, errors, [key]))
    return ItemOutcome(item, rows, error, results)

