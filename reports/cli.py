"""``xunjian report``: make the customer report for a period, and ``xunjian reports`` to list
the reports made so far."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click
from rich.console import Console
from rich.table import Table

from agent.clikit import config_option, shown
from agent.visible import json_document

if TYPE_CHECKING:
    from config.reports import ReportFormat
    from reports.model import Language

out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def _split(values: tuple[str, ...], allowed: tuple[str, ...], what: str) -> list[str]:
    """``--format html,pdf --format json`` → ['html', 'pdf', 'json'] (checked, no repeats)."""
    chosen: list[str] = []
    for value in values:
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            if part not in allowed:
                raise click.BadParameter(f"unknown {what} {part!r}; use {', '.join(allowed)}")
            if part not in chosen:
                chosen.append(part)
    return chosen


@click.command()
@config_option
@click.option("--period", "-p", help="2026-10 (month), 2026-Q3, 2026-W42 or 2026 "
              "[default: this month so far].")
@click.option("--from", "date_from", type=click.DateTime(["%Y-%m-%d"]),
              help="First day (with --to, instead of --period).")
@click.option("--to", "date_to", type=click.DateTime(["%Y-%m-%d"]),
              help="Last day, inclusive.")
@click.option("--customer", "-C", help="A customer id from the config's customers: section.")
@click.option("--group", "-g", "groups", multiple=True, help="Only this group (repeatable).")
@click.option("--tag", "-t", "tags", multiple=True, help="Only devices with this tag.")
@click.option("--device", "-d", "devices", multiple=True, help="Only this device (repeatable).")
@click.option("--lang", "-l", "langs", multiple=True,
              help="zh-CN, en or both (zh-CN,en) [default: the customer's, else report.language].")
@click.option("--format", "-f", "formats", multiple=True,
              help="html,pdf,json,csv,xlsx (comma-separated) [default: report.formats].")
@click.option("--out", "-o", "out_dir", type=click.Path(path_type=Path),
              help="Output directory [default: report.output_dir, else <data dir>/reports].")
@click.option("--author", help="Prepared by (sign-off block) [default: report.author].")
@click.option("--reviewer", help="Reviewed by (sign-off block) [default: report.reviewer].")
@click.option("--email", is_flag=True, help="Mail the report (PDF) to the customer's contacts.")
@click.option("--email-to", "email_to", multiple=True,
              help="Mail to this address instead of the contacts (repeatable; implies --email).")
@click.option("--json", "as_json", is_flag=True, help="Print what was made as JSON.")
def report(config_file: Path | None, period: str | None, date_from: datetime | None,
           date_to: datetime | None, customer: str | None, groups: tuple[str, ...],
           tags: tuple[str, ...], devices: tuple[str, ...], langs: tuple[str, ...],
           formats: tuple[str, ...], out_dir: Path | None, author: str | None,
           reviewer: str | None, email: bool, email_to: tuple[str, ...], as_json: bool) -> None:
    """Make the customer inspection report for a period (HTML, PDF, JSON, CSV, XLSX)."""
    from agent.clikit import data_dir as _data_dir  # noqa: PLC0415
    from agent.clikit import errors_exit as _errors_exit  # noqa: PLC0415
    from agent.clikit import load as _load  # noqa: PLC0415
    from agent.clikit import open_store as _open_store  # noqa: PLC0415
    from agent.errors import ReportError  # noqa: PLC0415
    from config.reports import REPORT_FORMATS  # noqa: PLC0415 (pydantic models: not for --help)
    from reports.generate import ReportJob, generate, output_dir  # noqa: PLC0415
    from reports.i18n import LANGUAGES  # noqa: PLC0415 (pydantic models: not for --help)
    from reports.period import current_month, date_range, parse_period  # noqa: PLC0415

    with _errors_exit():
        loaded = _load(config_file)
        settings = loaded.config.report
        zone = settings.timezone
        now = datetime.now(UTC)
        if period and (date_from or date_to):
            raise ReportError("give --period or --from/--to, not both")
        if bool(date_from) != bool(date_to):
            raise ReportError("--from and --to go together")
        if date_from and date_to:
            chosen = date_range(date_from.date(), date_to.date(), zone)
        elif period:
            chosen = parse_period(period, zone)
        else:
            chosen = current_month(now, zone)
        languages = _split(langs, LANGUAGES, "language")
        kinds = _split(formats, REPORT_FORMATS, "format") or list(settings.formats)
        # --out is relative to where the command runs; report.output_dir to the config file
        target = out_dir or output_dir(loaded, _data_dir(loaded))
        job = ReportJob(
            period=chosen, languages=cast("list[Language]", languages),
            formats=cast("list[ReportFormat]", kinds), out_dir=target, customer=customer,
            groups=groups, tags=tags, devices=devices, author=author, reviewer=reviewer,
            email=email or bool(email_to), to=email_to)
        store = _open_store(loaded)
        try:
            with err.status("making the report") as status:
                made = generate(store, loaded, job, now,
                                progress=lambda msg: status.update(shown(msg)))
        finally:
            store.close()
        first = next(iter(made.data.values()))
        if as_json:
            click.echo(json_document({
                "version": made.version, "period": chosen.label,
                "overall": first.summary.overall.value, "empty": first.empty,
                "files": [str(p) for p in made.files], "emailed_to": made.emailed_to},
                indent=2))
            return
        if first.empty:
            err.print(f"[yellow]note:[/] no inspection of these devices is stored for "
                      f"{chosen.label}; the report says so")
        out.print(f"Report {shown(chosen.label)} version {made.version}: "
                  f"{shown(first.summary.headline)}")
        for path in made.files:
            out.print(f"  {shown(str(path))}")
        if made.emailed_to:
            out.print(f"mailed to {shown(', '.join(made.emailed_to))}")


@click.command()
@config_option
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True)
def reports(config_file: Path | None, limit: int, as_json: bool) -> None:
    """List the reports made so far (newest first), with their versions and files."""
    from agent.cli import _read_store  # noqa: PLC0415

    rows = _read_store(config_file, lambda store: store.reports(limit))
    if as_json:
        click.echo(json_document(rows, indent=2, default=_json_default))
        return
    table = Table("Id", "Scope", "Period", "Version", "Overall", "Made", "Files")
    for r in rows:
        table.add_row(str(r["id"]), shown(r["scope"]), shown(r["period"]), str(r["version"]),
                      r["overall"], r["generated_at"].strftime("%Y-%m-%d %H:%M"),
                      shown(", ".join(f["name"] for f in r["files"])))
    out.print(table)


def _json_default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value).__name__)
