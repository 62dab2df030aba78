"""The benchmark's table (rich) and its JSON file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def fleet_table(result: dict[str, Any]) -> Table:
    size = result["size"]
    load = result["load_average"]
    table = Table(title=f"Fleet benchmark: {size['hosts']} hosts, {size['devices']} devices, "
                  f"{size['workers']} workers, {size['repeat']} round(s); load "
                  f"{load['start'][0]:.2f} → {load['end'][0]:.2f}", title_justify="left")
    for column in ("client", "targets"):
        table.add_column(column)
    for column in ("complete", "wall s", "CPU s", "CPU ms/target", "peak RSS MB"):
        table.add_column(column, justify="right")
    for row in result["rows"]:
        complete = f"{row['complete']}/{row['targets']}"
        if row["complete"] < row["targets"]:
            complete = f"[red]{complete}[/]"
        table.add_row(row["client"], row["targets_kind"], complete, _fmt(row["wall_seconds"]),
                      _fmt(row["cpu_seconds"]), _fmt(row["cpu_ms_per_target"]),
                      _fmt(row["peak_rss_mb"]))
    return table


def targets_table(targets: list[dict[str, Any]]) -> Table:
    table = Table(title="Targets (issue 7)", title_justify="left")
    table.add_column("target")
    table.add_column("ratio", justify="right")
    table.add_column("verdict")
    for t in targets:
        verdict = {True: "[green]met[/]", False: "[red]missed[/]", None: "[yellow]n/a[/]"}[t["met"]]
        if t["why"]:
            verdict += f" ({t['why']})"
        table.add_row(t["target"], _fmt(t["ratio"]), verdict)
    return table


def rows_table(title: str, rows: list[dict[str, Any]]) -> Table:
    """Rows of another part (bench.scale): one column per key, in first-seen order."""
    table = Table(title=title, title_justify="left")
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_fmt(row.get(c)) for c in columns))
    return table


def print_results(results: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(width=None if sys.stdout.isatty() else 120)
    fleet = results.get("fleet")
    if fleet:
        console.print(fleet_table(fleet))
        for row in fleet["rows"]:
            if row["complete"] < row["targets"]:
                console.print(f"[red]{row['client']}[/]: {row['targets'] - row['complete']} "
                              f"incomplete, e.g. {row['failures']}")
        for name, why in fleet["skipped"].items():
            console.print(f"[yellow]skipped {name}[/]: {why}")
        console.print(targets_table(fleet["targets"]))
    scale = results.get("scale")
    if scale and scale.get("rows"):
        console.print(rows_table("/metrics and report at 1,000 devices", scale["rows"]))


def write_json(results: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return path
