"""``xunjian packs``: list, show, validate, test, diff, approve and revoke inspection packs."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from agent.clikit import config_option, err, errors_exit, load, open_store, out, shown
from agent.errors import PackError, XunjianError
from agent.visible import json_document, visible

# The packs, the checks, SQLAlchemy and the config models are imported by the functions that
# use them (the imports marked "lazy"): ~0.7 s of CPU that ``xunjian --help`` (which lists
# this group) and every other command paid here.
if TYPE_CHECKING:
    from agent.packs.approval import ApprovalBook
    from agent.store.store import ApprovalRecord
    from collectors.pack import Pack, PackItem
    from collectors.pack_library import PackLibrary
    from config.loader import LoadedConfig

#: by checks.model.State (a StrEnum: its members are these strings)
STYLE = {"OK": "green", "WARN": "yellow", "CRIT": "bold red", "UNKNOWN": "magenta"}


@click.group()
def packs() -> None:
    """Inspection packs: what they send, parse and check, and the customer's approval."""


def _resolve(ref: str, library: PackLibrary) -> Pack:
    """A pack given as a path (file or directory) or as a name in the library."""
    from collectors.pack import load_pack  # noqa: PLC0415 (lazy)

    path = Path(ref)
    if path.exists() or "/" in ref or ref.endswith((".yaml", ".yml")):
        return load_pack(path)
    return library.get(ref)


def _validated(pack: Pack) -> Pack:
    """Load-time checks passed already; also compile templates and find plugins."""
    from collectors.pack_parsers import check_parsers  # noqa: PLC0415 (lazy)

    check_parsers(pack)
    return pack


def _dump(data: Any) -> None:
    click.echo(json_document(data, indent=2, default=str))


def _kind(item: PackItem) -> str:
    if item.script_file:
        return f"script {item.script_file}"
    return "script" if item.script is not None else "command"


def _approval_text(pack: Pack, records: list[ApprovalRecord], book: ApprovalBook) -> str:
    from agent.packs.approval import scope_text  # noqa: PLC0415 (lazy)

    if not book.needs_approval(pack):
        return "not required (built-in)"
    mine = [r for r in records if r.pack_name == pack.name]
    if not mine:
        return "[yellow]not approved[/]"
    parts = []
    for scope in dict.fromkeys(r.scope for r in mine):
        latest = next(r for r in mine if r.scope == scope)
        who = scope_text(scope)
        if latest.content_hash == pack.content_hash:
            parts.append(f"[green]approved[/] for {shown(who)} by {shown(latest.approved_by)}")
        else:
            parts.append(f"[yellow]changed since approved[/] for {shown(who)}")
    return "; ".join(parts)


def _records(loaded: LoadedConfig, pack_name: str | None = None) -> list[ApprovalRecord]:
    store = open_store(loaded)
    try:
        return store.pack_approvals(pack_name)
    finally:
        store.close()


@packs.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def list_packs(config_file: Path | None, as_json: bool) -> None:
    """The built-in packs and those in packs.paths, with their approval."""
    from agent.packs.approval import ApprovalBook  # noqa: PLC0415 (lazy)

    with errors_exit():
        loaded = load(config_file)
        library = loaded.library
        records = _records(loaded)
        book = ApprovalBook(records, loaded.config.packs.approval)
        used: dict[str, list[str]] = {}
        for device in loaded.devices:
            for name in device.packs:
                used.setdefault(name, []).append(device.name)
        if as_json:
            _dump({"packs": [{
                "name": p.name, "version": p.version, "builtin": p.builtin,
                "origin": p.origin, "platforms": p.platforms, "content_hash": p.content_hash,
                "items": len(p.items), "checks": len(p.check_names()),
                "devices": used.get(p.name, []),
                "approvals": [_record_json(r) for r in records if r.pack_name == p.name],
            } for p in library.packs.values()], "broken": library.broken})
            return
        table = Table(title="Inspection packs", title_justify="left")
        for column in ("Pack", "Version", "Source", "Platforms", "Items", "Checks", "Devices",
                       "Approval"):
            table.add_column(column)
        for pack in library.packs.values():
            table.add_row(shown(pack.name), shown(pack.version),
                          "built-in" if pack.builtin else shown(pack.origin),
                          shown(", ".join(pack.platforms)), str(len(pack.items)),
                          str(len(pack.check_names())), str(len(used.get(pack.name, []))),
                          _approval_text(pack, records, book))
        out.print(table)
        for name, error in sorted(library.broken.items()):
            err.print(f"[red]broken:[/] {shown(name)}: {shown(error)}")


def _record_json(record: ApprovalRecord) -> dict[str, Any]:
    return {"id": record.id, "version": record.pack_version,
            "content_hash": record.content_hash, "scope": record.scope,
            "approved_by": record.approved_by, "approved_at": record.approved_at.isoformat(),
            "note": record.note}


@packs.command("show")
@config_option
@click.argument("pack")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def show_pack(config_file: Path | None, pack: str, as_json: bool) -> None:
    """What PACK (a name or a path) sends, how it parses and what it checks."""
    from agent.packs.approval import ApprovalBook, scope_text  # noqa: PLC0415 (lazy)
    from collectors.pack import TextFsmParser  # noqa: PLC0415 (lazy)

    with errors_exit():
        loaded = load(config_file)
        found = _resolve(pack, loaded.library)
        records = _records(loaded, found.name)
        if as_json:
            data = found.model_dump(mode="json", exclude_none=True)
            data |= {"content_hash": found.content_hash, "origin": found.origin,
                     "files": found.files,
                     "check_names": found.check_names(),
                     "approvals": [_record_json(r) for r in records]}
            _dump(data)
            return
        out.print(f"[bold]{shown(found.name)}[/] {shown(found.version)}  "
                  f"sha256:{found.content_hash}")
        out.print(f"from: {shown(found.origin)}; platforms: {shown(', '.join(found.platforms))}")
        if found.description:
            out.print(shown(found.description))
        for item in found.items:
            parser = item.parser.type if item.parser else "none (evidence only)"
            if item.command is not None:
                out.print(f"\n[bold]{shown(item.id)}[/] (command): {shown(item.command)}")
            else:
                # the whole script: it is what the customer approves
                out.print(f"\n[bold]{shown(item.id)}[/] ({_kind(item)}, read-only):")
                out.print(_indented(found.script_text(item) or ""))
            out.print(f"  parser: {parser}")
            if isinstance(item.parser, TextFsmParser):
                out.print(_indented(found.template_text(item.parser)))
            for check in item.checks:
                out.print(f"  check {shown(found.name)}.{shown(check.id)}: "
                          f"{shown(_rule_text(check))}")
        for name, thresholds in found.thresholds.items():
            out.print(f"\nbuilt-in check {shown(name)}: "
                      f"{shown(json.dumps(thresholds.model_dump(exclude_none=True)))}")
        book = ApprovalBook(records, loaded.config.packs.approval)
        out.print(f"\napproval: {_approval_text(found, records, book)}")
        for r in records:
            mark = "current" if r.content_hash == found.content_hash else "earlier content"
            out.print(f"  {r.approved_at:%Y-%m-%d %H:%M} {shown(r.approved_by)} approved "
                      f"{shown(r.pack_version)} for {shown(scope_text(r.scope))} "
                      f"({mark}, sha256 {r.content_hash[:12]})")


def _indented(text: str) -> str:
    return "\n".join(f"    | {shown(line)}" for line in text.rstrip("\n").splitlines())


def _rule_text(check: Any) -> str:
    rule = check.rule
    subject = f"{check.field} " if check.field else ""
    where = f" where {check.where}" if check.where else ""
    if rule == "thresholds":
        sign = "≥" if check.direction == "above" else "≤"
        unit = f" {check.unit}" if check.unit else ""
        limits = [f"{name} {sign} {value:g}{unit}"
                  for name, value in (("warn", check.warn), ("crit", check.crit))
                  if value is not None]
        return f"{subject}{', '.join(limits)}{where}"
    if rule == "rows":
        return f"row count min {check.rows.min} max {check.rows.max} → {check.severity}{where}"
    value = getattr(check, rule)
    return f"{subject}{rule} {value!r} → {check.severity}{where}"


@packs.command("validate")
@config_option
@click.argument("refs", nargs=-1, required=True, metavar="PACK...")
def validate(config_file: Path | None, refs: tuple[str, ...]) -> None:
    """Check each PACK (a path or a name): schema, read-only policy, script guard, parsers.
    Exit status 0 when all are valid, 1 otherwise."""
    from collectors.pack_library import PackLibrary  # noqa: PLC0415 (lazy)

    with errors_exit():
        library = load(config_file).library if config_file else PackLibrary.load()
    failed = 0
    for ref in refs:
        try:
            pack = _validated(_resolve(ref, library))
        except XunjianError as exc:
            failed += 1
            err.print(f"[red]invalid:[/] {shown(ref)}: {shown(str(exc))}")
            continue
        out.print(f"[green]ok:[/] {shown(pack.name)} {shown(pack.version)}: "
                  f"{len(pack.items)} item(s), {len(pack.check_names())} check(s), "
                  f"sha256:{pack.content_hash}")
    sys.exit(1 if failed else 0)


@packs.command("test")
@config_option
@click.argument("pack")
@click.option("--against", "against", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A saved raw output of the item (what the command printed).")
@click.option("--item", "item_id", help="The item the output belongs to [default: the pack's "
              "only item with a parser].")
@click.option("--exit-code", default=0, show_default=True,
              help="The exit status the command had (checked against ok_exit_codes).")
@click.option("--json", "as_json", is_flag=True, help="Print rows and results as JSON.")
def test_pack(config_file: Path | None, pack: str, against: Path, item_id: str | None,
              exit_code: int, as_json: bool) -> None:
    """Run PACK's parser and checks on a saved output, offline. Exit 0 OK, 1 WARN, 2 CRIT,
    3 UNKNOWN (as an inspection would judge it)."""
    from agent.packs.offline import evaluate_output, pick_item  # noqa: PLC0415 (lazy)
    from checks.model import State  # noqa: PLC0415 (lazy)
    from collectors.pack_library import PackLibrary  # noqa: PLC0415 (lazy)

    with errors_exit():
        library = load(config_file).library if config_file else PackLibrary.load()
        found = _validated(_resolve(pack, library))
        item = pick_item(found, item_id)
        try:
            text = against.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise PackError(f"cannot read {against}: {exc.strerror or exc}") from exc
        outcome = evaluate_output(found, item, text, exit_code=exit_code)
    worst = State.worst([r.state for r in outcome.results])
    if as_json:
        _dump({"pack": found.name, "item": item.id, "rows": outcome.rows,
               "error": outcome.error,
               "results": [r.model_dump(mode="json", exclude_none=True)
                           for r in outcome.results], "state": worst.value})
        sys.exit(worst.exit_code)
    if outcome.error:
        err.print(f"[magenta]parse:[/] {shown(outcome.error)}")
    else:
        _print_rows(outcome.rows or [])
    table = Table(title=f"Checks of {found.name}.{item.id}", title_justify="left")
    for column in ("Check", "Item", "State", "Value", "Message"):
        table.add_column(column)
    for r in outcome.results:
        value = "" if r.value is None else f"{r.value}{' ' + r.unit if r.unit else ''}"
        table.add_row(shown(r.check), shown(r.item or ""), f"[{STYLE[r.state]}]{r.state}[/]",
                      shown(value), shown(r.message))
    out.print(table)
    if not outcome.results:
        out.print("[dim]the item has no checks[/]")
    sys.exit(worst.exit_code)


def _print_rows(rows: list[dict[str, Any]], limit: int = 20) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    table = Table(title=f"Parsed rows ({len(rows)})", title_justify="left")
    for column in columns or ["(no rows)"]:
        table.add_column(shown(column))
    for row in rows[:limit]:
        table.add_row(*(shown("" if row.get(c) is None else str(row.get(c))) for c in columns))
    out.print(table)
    if len(rows) > limit:
        out.print(f"[dim]… and {len(rows) - limit} more rows[/]")


@packs.command("diff")
@config_option
@click.argument("old")
@click.argument("new", required=False)
@click.option("--approved", is_flag=True,
              help="Compare the pack OLD as last approved with its current content.")
@click.option("--customer", help="With --approved: the approval for this customer.")
def diff(config_file: Path | None, old: str, new: str | None, approved: bool,
         customer: str | None) -> None:
    """What changed from OLD to NEW (paths or names), or since PACK was approved (--approved).
    Exit status 0 when they are the same, 1 when they differ."""
    from agent.packs.approval import ALL, approved_pack, scope_text  # noqa: PLC0415 (lazy)
    from agent.packs.diff import diff_packs  # noqa: PLC0415 (lazy)

    with errors_exit():
        loaded = load(config_file)
        if approved:
            if new is not None:
                raise PackError("give one pack with --approved (its approval is the old side)")
            after = _resolve(old, loaded.library)
            records = [r for r in _records(loaded, after.name)
                       if customer is None or r.scope in {customer, ALL}]
            if not records:
                raise PackError(f"pack {after.name} has no approval"
                                + (f" for customer {customer}" if customer else ""))
            before = approved_pack(records[0])
            if before is None:
                raise PackError(f"the approved content of {after.name} no longer loads")
            out.print(f"[dim]approved by {shown(records[0].approved_by)} on "
                      f"{records[0].approved_at:%Y-%m-%d} for {scope_text(records[0].scope)}[/]")
        else:
            if new is None:
                raise PackError("give OLD and NEW (paths or pack names), or one pack with "
                                "--approved")
            before, after = _resolve(old, loaded.library), _resolve(new, loaded.library)
    lines = diff_packs(before, after)
    for line in lines:
        click.echo(visible(line))
    if not lines:
        out.print("[green]no changes[/]")
    sys.exit(1 if lines else 0)


@packs.command("approve")
@config_option
@click.argument("pack")
@click.option("--by", "approved_by", required=True,
              help="Who approves (the customer's reviewer, as they sign).")
@click.option("--customer", "customers", multiple=True,
              help="For this customer (repeatable); needed when the config has customers.")
@click.option("--all-devices", is_flag=True,
              help="For every device, whoever's it is (instead of --customer).")
@click.option("--note", help="A note kept with the approval (ticket, review minutes).")
def approve(config_file: Path | None, pack: str, approved_by: str,
            customers: tuple[str, ...], all_devices: bool, note: str | None) -> None:
    """Record that PACK's current content is approved; scheduled runs use only approved
    packs. The approval is of this exact content (its hash): any later edit needs a new one."""
    from agent.packs.approval import approval_content, scope_text  # noqa: PLC0415 (lazy)

    with errors_exit():
        loaded = load(config_file)
        found = _validated(loaded.library.get(pack))
        scopes = _approval_scopes(loaded, customers, all_devices)
        if not approved_by.strip():
            raise PackError("--by needs the approver's name")
        store = open_store(loaded)
        try:
            for scope in scopes:
                record = store.approve_pack(
                    pack_name=found.name, pack_version=found.version,
                    content_hash=found.content_hash, scope=scope,
                    approved_by=approved_by.strip(), content=approval_content(found),
                    note=note)
                out.print(f"[green]approved:[/] {shown(found.name)} {shown(found.version)} "
                          f"(sha256 {found.content_hash[:12]}) for {shown(scope_text(scope))} "
                          f"by {shown(record.approved_by)}")
        finally:
            store.close()
        _warn_devices(loaded, found, scopes)


def _approval_scopes(loaded: LoadedConfig, customers: Iterable[str],
                     all_devices: bool) -> list[str]:
    from agent.packs.approval import ALL  # noqa: PLC0415 (lazy)

    customers = list(dict.fromkeys(customers))
    known = loaded.config.customers
    if all_devices and customers:
        raise PackError("give --customer or --all-devices, not both")
    if unknown := [c for c in customers if c not in known]:
        raise PackError(f"unknown customer {', '.join(unknown)}; customers in the config: "
                        f"{', '.join(sorted(known)) or 'none'}")
    if customers:
        return customers
    if known and not all_devices:
        raise PackError(f"this config has customers ({', '.join(sorted(known))}): say whose "
                        "approval this is with --customer ID, or --all-devices for every "
                        "device")
    return [ALL]


def _warn_devices(loaded: LoadedConfig, pack: Pack, scopes: list[str]) -> None:
    """Devices that select the pack but that this approval does not cover."""
    from agent.packs.approval import scopes_of  # noqa: PLC0415 (lazy)

    uncovered = [d.name for d in loaded.devices if pack.name in d.packs
                 and not set(scopes) & set(scopes_of(d, loaded.config))]
    if uncovered:
        err.print(f"[yellow]note:[/] {len(uncovered)} device(s) selecting {shown(pack.name)} "
                  f"are not covered by this approval: {shown(', '.join(uncovered[:10]))}")


@packs.command("revoke")
@config_option
@click.argument("pack")
@click.option("--customer", "customers", multiple=True, help="Revoke this customer's approval.")
@click.option("--all-devices", is_flag=True, help="Revoke the approval for every device.")
def revoke(config_file: Path | None, pack: str, customers: tuple[str, ...],
           all_devices: bool) -> None:
    """Withdraw PACK's approval: scheduled runs stop sending it."""
    from agent.packs.approval import scope_text  # noqa: PLC0415 (lazy)

    with errors_exit():
        loaded = load(config_file)
        scopes = _approval_scopes(loaded, customers, all_devices)
        store = open_store(loaded)
        try:
            # all or nothing: check every scope before revoking any
            held = {r.scope for r in store.pack_approvals(pack)}
            if missing := [s for s in scopes if s not in held]:
                raise PackError(f"no approval of {pack} for "
                                f"{', '.join(scope_text(s) for s in missing)} is in force; "
                                "`xunjian packs show` lists its approvals")
            for scope in scopes:
                count = store.revoke_pack_approvals(pack, scope)
                out.print(f"revoked {count} approval(s) of {shown(pack)} for "
                          f"{shown(scope_text(scope))}")
        finally:
            store.close()


@packs.command("schema")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of stdout.")
def schema(output: Path | None) -> None:
    """The JSON Schema of a pack file, for editors (yaml-language-server) and CI."""
    from collectors.pack import pack_schema  # noqa: PLC0415 (lazy)

    text = json.dumps(pack_schema(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        with errors_exit():
            try:
                output.write_text(text, encoding="utf-8")
            except OSError as exc:
                raise PackError(f"cannot write {output}: {exc.strerror or exc}") from exc
        out.print(f"wrote {shown(str(output))}")
