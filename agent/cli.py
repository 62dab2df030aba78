"""The ``xunjian`` command line."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.table import Table

from agent import __version__, clikit, heap
from agent.errors import ConfigError, XunjianError
from agent.logs import setup_logging
from agent.visible import json_document, json_safe, visible
from config.secrets import Redactor

if TYPE_CHECKING:
    from agent.results import DeviceResult, RunResult
    from agent.store import Store
    from agent.store.store import StoredConfig
    from config.loader import LoadedConfig

# What a command needs is imported in it (the imports marked PLC0415): SQLAlchemy, paramiko,
# the pydantic models and the other command groups cost ~1 s of CPU to import, which every
# ``xunjian`` process paid before it ran anything (``--help`` included).

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
#: by checks.model.State (a StrEnum: its members are these strings)
STYLE = {"OK": "green", "WARN": "yellow", "CRIT": "bold red", "UNKNOWN": "magenta"}
out, err = clikit.out, clikit.err
EXIT_ERROR = clikit.EXIT_ERROR
config_option = clikit.config_option
_load = clikit.load
_data_dir = clikit.data_dir
_open_store = clikit.open_store
_errors_exit = clikit.errors_exit
shown = clikit.shown


def _read_store(config_file: Path | None, read: Callable[[Store], T]) -> T:
    """Open the configured store, read from it, close it; errors exit with a message."""
    with _errors_exit():
        store = _open_store(_load(config_file))
        try:
            return read(store)
        finally:
            store.close()
    raise AssertionError("unreachable")  # _errors_exit() exits on error


class _LazyGroup(click.Group):
    """A group whose sub-groups living in other modules are imported only when one of them
    is run or listed (``--help``): ``lazy`` maps a command name to ``module:attribute``."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, _, attribute = self.lazy[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            assert isinstance(command, click.Command)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]},
             lazy={"incidents": "agent.incidents.cli:incidents",
                   "problems": "agent.incidents.cli:problems",
                   "report": "reports.cli:report",
                   "packs": "agent.packs.cli:packs",
                   "reports": "reports.cli:reports"})
@click.version_option(__version__, prog_name="xunjian")
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-vv for debug).")
@click.pass_context
def main(ctx: click.Context, verbose: int) -> None:
    """xunjian (巡检): read-only inspection of servers and network devices over SSH."""
    ctx.obj = Redactor()
    ctx.meta["verbose"] = verbose
    setup_logging(logging.WARNING - 10 * min(verbose, 2), ctx.obj)


# -- inspect ------------------------------------------------------------------------------

def _findings_text(result: DeviceResult, limit: int = 3) -> str:
    if result.error:
        return shown(result.error)
    findings = sorted(result.findings, key=lambda c: -c.state.rank)
    if not findings:
        return f"[dim]{len(result.checks)} checks OK[/]"
    parts = []
    for c in findings[:limit]:
        mark = " [dim](waived)[/]" if c.waived else ""
        parts.append(f"[{STYLE[c.state]}]{c.state}[/] {shown(c.message)}{mark}")
    if len(findings) > limit:
        parts.append(f"[dim]… and {len(findings) - limit} more[/]")
    return "\n".join(parts)


def print_summary(run: RunResult, store_url: str) -> None:
    table = Table(title=f"Inspection run #{run.run_id}", title_justify="left")
    table.add_column("Device", style="bold", no_wrap=True)
    table.add_column("State", no_wrap=True)
    table.add_column("Findings")
    table.add_column("Time", justify="right", no_wrap=True)
    for r in run.devices:
        table.add_row(shown(r.device), f"[{STYLE[r.state]}]{r.state}[/]",
                      _findings_text(r), f"{r.duration_seconds:.1f} s")
    out.print(table)
    counts = ", ".join(f"{n} {s}" for s, n in run.counts.items() if n)
    out.print(f"{len(run.devices)} device(s): {counts}. Overall: "
              f"[{STYLE[run.state]}]{run.state}[/]. Stored in {shown(store_url)}")


def _warn_unapproved(run: RunResult) -> None:
    unapproved = sorted({f"{p.name} {p.version}" for r in run.devices
                         for p in r.unapproved_packs})
    if unapproved:
        err.print(f"[yellow]warning:[/] ran unapproved pack(s) (--allow-unapproved): "
                  f"{shown(', '.join(unapproved))}; the results are marked unapproved")


@contextmanager
def _progress(show: bool, total: int) -> Iterator[Callable[[DeviceResult], None]]:
    """What to call with each device's result: a progress bar on stderr, when ``show``."""
    if not show:
        yield lambda result: None
        return
    from rich.progress import (  # noqa: PLC0415 (30 ms of CPU; only for a terminal)
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    bar = Progress(TextColumn("inspecting"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.description}"), TimeElapsedColumn(),
                   console=err, transient=True)
    with bar:
        task = bar.add_task("", total=total)

        def advance(result: DeviceResult) -> None:
            bar.update(task, advance=1, description=shown(f"{result.device}: {result.state}"))

        yield advance


def _run_json(run: RunResult) -> str:
    data = run.model_dump(mode="json")
    data["counts"] = {s.value: n for s, n in run.counts.items()}
    return json_document(data, indent=2)


@main.command()
@config_option
@click.option("--device", "-d", "devices", multiple=True, help="Inspect this device (repeatable).")
@click.option("--group", "-g", "groups", multiple=True, help="Inspect this group (repeatable).")
@click.option("--tag", "-t", "tags", multiple=True, help="Inspect devices with this tag.")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON on stdout.")
@click.option("--workers", type=click.IntRange(1, 500), help="Parallel connections.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal).")
@click.option("--allow-unapproved", is_flag=True,
              help="Also run packs the customer has not approved (or that changed since); "
                   "results are marked unapproved.")
@click.pass_obj
def inspect(redactor: Redactor, config_file: Path | None, devices: tuple[str, ...],
            groups: tuple[str, ...], tags: tuple[str, ...], as_json: bool,
            workers: int | None, progress: bool | None, allow_unapproved: bool) -> None:
    """Inspect devices now; exit 0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN."""
    # paramiko, the collectors and the incident engine: only this command needs them
    from agent.incidents.factory import build_engine, deliver_pending  # noqa: PLC0415
    from agent.runner import Inspector, select_devices  # noqa: PLC0415

    with _errors_exit():
        loaded = _load(config_file)
        for warning in loaded.warnings:
            err.print(f"[yellow]warning:[/] {shown(str(warning))}")
        if workers:
            loaded.config = loaded.config.model_copy(
                update={"ssh": loaded.config.ssh.model_copy(update={"workers": workers})})
        targets = select_devices(loaded.devices, devices, groups, tags)
        store = _open_store(loaded)
        show = err.is_terminal if progress is None else progress
        with _progress(show, len(targets)) as advance:
            incidents = build_engine(store, loaded)
            inspector = Inspector(loaded, store, data_dir=_data_dir(loaded), on_result=advance,
                                  redactor=redactor, observers=[incidents],
                                  allow_unapproved=allow_unapproved)
            heap.settle()
            run = inspector.run(targets)
        deliver_pending(incidents)
        if as_json:
            click.echo(_run_json(run))
        else:
            print_summary(run, store.url)
        _warn_unapproved(run)
        store.close()
    sys.exit(run.state.exit_code)


# -- serve --------------------------------------------------------------------------------

def _load_for_service(ctx: click.Context, config_file: Path | None,
                      log_format: str | None) -> LoadedConfig:
    """The config, with logging set up as a long-running process logs (serve, worker)."""
    loaded = _load(config_file)
    fmt = log_format or loaded.config.server.log_format
    setup_logging(logging.INFO - 10 * min(ctx.meta.get("verbose", 0), 1), ctx.obj,
                  "json" if fmt == "json" else "text")
    for warning in loaded.warnings:
        logging.getLogger("xunjian").warning("%s", warning)
    return loaded


@main.command()
@config_option
@click.option("--host", help="Listen address (default: server.host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="Listen port (default: server.port).")
@click.option("--log-format", type=click.Choice(["text", "json"]),
              help="Log lines as text or JSON (default: server.log_format).")
@click.pass_context
def serve(ctx: click.Context, config_file: Path | None, host: str | None, port: int | None,
          log_format: str | None) -> None:
    """Run the agent: scheduled plans, the HTTP API and /metrics, until SIGTERM."""
    from agent.service.serve import serve as run_service  # noqa: PLC0415 (loads FastAPI)

    redactor: Redactor = ctx.obj
    with _errors_exit():
        loaded = _load_for_service(ctx, config_file, log_format)
        store = _open_store(loaded)
        heap.settle()
        outcome = run_service(loaded, store, data_dir=_data_dir(loaded), redactor=redactor,
                              host=host, port=port)
        store.close()
    if outcome.abandoned_runs:
        # inspection threads still hold SSH sessions past the grace time; what they
        # committed is kept and their runs are recorded as aborted, so exit now
        logging.shutdown()
        os._exit(0)


# -- worker (scale-out) -------------------------------------------------------------------

@main.command()
@config_option
@click.option("--queue", "-Q", "queues", multiple=True, metavar="SITE",
              help="Site queue to consume (repeatable; default: celery.default_site).")
@click.option("--concurrency", type=click.IntRange(1, 500),
              help="Devices inspected at once (default: ssh.workers).")
@click.option("--name", help="Worker name (default: xunjian-SITE@HOST).")
@click.option("--log-format", type=click.Choice(["text", "json"]),
              help="Log lines as text or JSON (default: server.log_format).")
@click.pass_context
def worker(ctx: click.Context, config_file: Path | None, queues: tuple[str, ...],
           concurrency: int | None, name: str | None, log_format: str | None) -> None:
    """Inspect the devices of a site for the scheduler, until SIGTERM (scale-out on Celery).

    Needs the config's celery: section and a PostgreSQL store; see docs/scale-out.md.
    """
    from agent.distributed.worker import run_worker  # noqa: PLC0415 (loads Celery)

    redactor: Redactor = ctx.obj
    with _errors_exit():
        loaded = _load_for_service(ctx, config_file, log_format)
        celery = loaded.config.celery
        if celery is None:
            raise XunjianError("the config has no celery: section; a worker needs a broker "
                               "and a shared PostgreSQL store (see docs/scale-out.md)")
        store = _open_store(loaded)
        heap.settle()
        try:
            status = run_worker(loaded, store, queues=queues or (celery.default_site,),
                                concurrency=concurrency or loaded.config.ssh.workers,
                                data_dir=_data_dir(loaded), redactor=redactor,
                                env=os.environ, name=name)
        finally:
            store.close()
    sys.exit(status)


# -- history / show / transcript ----------------------------------------------------------

@main.command()
@config_option
@click.argument("device")
@click.option("--limit", "-n", default=20, show_default=True, type=click.IntRange(1, 10000))
@click.option("--json", "as_json", is_flag=True)
def history(config_file: Path | None, device: str, limit: int, as_json: bool) -> None:
    """Past inspection results of DEVICE, newest first."""
    results = _read_store(config_file, lambda store: store.history(device, limit))
    if as_json:
        click.echo(json_document([r.model_dump(mode="json") for r in results], indent=2))
        return
    if not results:
        err.print(f"no stored results for {shown(device)}")
        sys.exit(EXIT_ERROR)
    table = Table(title=f"History of {shown(device)}", title_justify="left")
    for column in ("When (UTC)", "State", "Findings", "Pack"):
        table.add_column(column)
    for r in results:
        pack = f"{r.pack.name} {r.pack.version}" if r.pack else "-"
        table.add_row(f"{r.started_at:%Y-%m-%d %H:%M:%S}", f"[{STYLE[r.state]}]{r.state}[/]",
                      _findings_text(r, limit=2), shown(pack))
    out.print(table)


@main.command()
@config_option
@click.argument("device")
@click.option("--json", "as_json", is_flag=True)
def show(config_file: Path | None, device: str, as_json: bool) -> None:
    """Every check of DEVICE's latest inspection, with values, thresholds and evidence."""
    result = _read_store(config_file, lambda store: store.latest_result(device))
    if result is None:
        err.print(f"no stored results for {shown(device)}")
        sys.exit(EXIT_ERROR)
    if as_json:
        click.echo(json_safe(result.model_dump_json(indent=2)))
        return
    table = Table(title=f"{shown(device)} — {result.started_at:%Y-%m-%d %H:%M:%S} UTC — "
                        f"[{STYLE[result.state]}]{result.state}[/]", title_justify="left")
    for column in ("Check", "Item", "State", "Value", "Threshold", "Message", "Evidence"):
        table.add_column(column)
    for c in result.checks:
        value = "" if c.value is None else f"{c.value}{' ' + c.unit if c.unit else ''}"
        state = f"[{STYLE[c.state]}]{c.state}[/]" + (" (waived)" if c.waived else "")
        table.add_row(c.check, shown(c.item or ""), state, shown(value),
                      c.threshold_text or "", shown(c.message), ", ".join(c.evidence))
    out.print(table)
    for p in result.packs:
        approval = {"approved": f"approved by {p.approved_by}",
                    "unapproved": "[yellow]UNAPPROVED[/] (run with --allow-unapproved)",
                    "not-required": "built-in"}[p.approval]
        out.print(f"pack {shown(p.name)} {shown(p.version)} sha256:{p.content_hash[:12]}: "
                  f"{shown(approval) if p.approval == 'approved' else approval}")


@main.command()
@config_option
@click.argument("device")
def transcript(config_file: Path | None, device: str) -> None:
    """Print DEVICE's latest session transcript (secrets redacted)."""
    result = _read_store(config_file, lambda store: store.latest_result(device))
    if result is None or result.transcript is None:
        err.print(f"no stored transcript for {shown(device)}")
        sys.exit(EXIT_ERROR)
    click.echo(visible(result.transcript), nl=False)


@main.command()
@config_option
@click.argument("device")
@click.argument("check")
@click.argument("item", required=False)
def evidence(config_file: Path | None, device: str, check: str, item: str | None) -> None:
    """The evidence chain of CHECK (optionally one ITEM) in DEVICE's latest inspection: the
    finding, the pack version, each command with its raw output, and the transcript."""
    result = _read_store(config_file, lambda store: store.latest_result(device, with_raw=True))
    if result is None:
        err.print(f"no stored results for {shown(device)}")
        sys.exit(EXIT_ERROR)
    found = [c for c in result.checks if c.check == check and (item is None or c.item == item)]
    if not found:
        err.print(f"no result for check {shown(check)}"
                  + (f" item {shown(item)}" if item else "") + f" in {shown(device)}'s "
                  f"inspection of {result.started_at:%Y-%m-%d %H:%M:%S} UTC")
        sys.exit(EXIT_ERROR)
    for c in found:
        value = "" if c.value is None else f" = {c.value}{' ' + c.unit if c.unit else ''}"
        out.print(f"[{STYLE[c.state]}]{c.state}[/] {shown(c.check)}"
                  f"{shown(' [' + c.item + ']') if c.item else ''}{shown(value)}"
                  f"{' (' + c.threshold_text + ')' if c.threshold_text else ''}: "
                  f"{shown(c.message)}")
    # a custom pack's check is PACK.CHECK; the others come from the standard pack
    pack = next((p for p in result.packs if check.startswith(f"{p.name}.")), result.pack)
    click.echo(f"inspected: {result.started_at:%Y-%m-%d %H:%M:%S} UTC, {result.platform}")
    if pack:
        approval = f" ({pack.approval})" if pack.approval != "not-required" else ""
        click.echo(visible(f"pack: {pack.name} {pack.version} sha256:{pack.content_hash}"
                           f"{approval}"))
    raw = {r.item: r for r in result.raw}
    for name in dict.fromkeys(e for c in found for e in c.evidence):
        if name in raw:
            click.echo(visible(f"\n$ {raw[name].command}    [{name}]"))
            click.echo(visible(raw[name].output.rstrip("\n")))
        elif name in result.item_errors:
            click.echo(visible(f"\n[{name}] no output: {result.item_errors[name]}"))
    click.echo(visible(f"\nsession transcript (secrets redacted): xunjian transcript {device}"))


# -- device configuration history ---------------------------------------------------------

@main.group()
def configs() -> None:
    """Running configurations of network devices: history and diffs."""


def _config_versions(config_file: Path | None, device: str) -> list[StoredConfig]:
    versions = _read_store(config_file, lambda store: store.config_versions(device))
    if not versions:
        err.print(f"no stored configuration for {shown(device)} (network devices only; "
                  "it is kept from their first inspection)")
        sys.exit(EXIT_ERROR)
    return versions


def _pick(versions: list[StoredConfig], version: int | None) -> StoredConfig:
    if version is None:
        return versions[0]
    for v in versions:
        if v.id == version:
            return v
    err.print(f"no version {version}; versions: {', '.join(str(v.id) for v in versions)}")
    sys.exit(EXIT_ERROR)


@configs.command("list")
@config_option
@click.argument("device")
def configs_list(config_file: Path | None, device: str) -> None:
    """Stored versions of DEVICE's running configuration, newest first."""
    table = Table(title=f"Configuration history of {shown(device)}", title_justify="left")
    for column in ("Version", "Seen first (UTC)", "Lines", "Change", "SHA-256"):
        table.add_column(column)
    for v in _config_versions(config_file, device):
        change = "first" if v.previous_id is None else f"+{v.added} -{v.removed}"
        table.add_row(str(v.id), f"{v.collected_at:%Y-%m-%d %H:%M:%S}", str(v.lines), change,
                      v.sha256[:12])
    out.print(table)


@configs.command("show")
@config_option
@click.argument("device")
@click.option("--version", "-v", type=int, help="Version id (default: the latest).")
def configs_show(config_file: Path | None, device: str, version: int | None) -> None:
    """Print a stored configuration (secrets masked unless config_history.mask_secrets is
    off)."""
    click.echo(visible(_pick(_config_versions(config_file, device), version).text), nl=False)


@configs.command("diff")
@config_option
@click.argument("device")
@click.option("--version", "-v", type=int, help="Version id (default: the latest).")
def configs_diff(config_file: Path | None, device: str, version: int | None) -> None:
    """Unified diff of a version against the one before it (timestamps and other oscillating
    lines filtered out)."""
    chosen = _pick(_config_versions(config_file, device), version)
    if chosen.diff is None:
        err.print(f"version {chosen.id} is the first stored configuration of "
                  f"{shown(device)}: nothing to compare with")
        sys.exit(EXIT_ERROR)
    click.echo(visible(chosen.diff), nl=False)


# -- config / inventory --------------------------------------------------------------------

@main.group("config")
def config_group() -> None:
    """Validate configuration."""


@config_group.command("check")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
def config_check(file: Path | None) -> None:
    """Validate FILE (or $XUNJIAN_CONFIG) and print every problem found."""
    from checks.builtin import CHECK_NAMES  # noqa: PLC0415 (the checks and their models)
    from config import CONFIG_ENV  # noqa: PLC0415 (with the two below)
    from config.loader import config_path_from, load_config  # noqa: PLC0415 (same)

    path = file or config_path_from(None, os.environ)
    if path is None:
        err.print(f"no config file given (argument or ${CONFIG_ENV})")
        sys.exit(2)
    try:
        loaded = load_config(path, known_checks=CHECK_NAMES)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(visible(f"error: {problem}"), err=True)
        err.print(f"[red]{len(exc.problems)} problem(s)[/] in {shown(str(path))}")
        sys.exit(1)
    for warning in loaded.warnings:
        click.echo(visible(f"warning: {warning}"), err=True)
    out.print(f"[green]ok:[/] {shown(str(path))}: {len(loaded.devices)} device(s), "
              f"{len(loaded.config.groups)} group(s), {len(loaded.config.credentials)} "
              f"credential set(s), {len(loaded.config.plans)} plan(s), "
              f"{len(loaded.config.customers)} customer(s), "
              f"{len(loaded.library.custom())} custom pack(s)")
    if loaded.config.celery is not None:
        default = loaded.config.celery.default_site
        sites = Counter(d.site or default for d in loaded.devices)
        out.print("scale-out: devices by site queue (xunjian worker --queue SITE): "
                  + ", ".join(f"{shown(site)} {n}" for site, n in sorted(sites.items())))


@main.group()
def inventory() -> None:
    """Inventory tools."""


@inventory.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the inventory YAML here (default: stdout).")
@click.option("--platform", default="linux", show_default=True,
              help="Platform for rows that do not say.")
def inventory_import(file: Path, output: Path | None, platform: str) -> None:
    """Turn a device register spreadsheet (CSV/XLSX, English or Chinese headers) into
    inventory YAML; rows that cannot be taken are listed with the reason."""
    from config.importer import import_inventory, render_inventory_yaml  # noqa: PLC0415

    with _errors_exit():
        result = import_inventory(file, default_platform=platform)
    text = render_inventory_yaml(result, file)
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)
    for column in result.unmapped_columns:
        click.echo(f"note: column {column!r} is not an inventory field; ignored", err=True)
    for problem in result.problems:
        click.echo(visible(f"{file}: row {problem.row}: {problem.message}"), err=True)
    where = f" to {output}" if output else ""
    click.echo(f"imported {len(result.devices)} device(s){where}; "
               f"{len(result.problems)} row(s) skipped", err=True)
    sys.exit(1 if result.problems else 0)

