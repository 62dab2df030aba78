"""The scale part of the benchmark: ``/metrics`` render time and agent RSS, and the customer
report's HTML and PDF time, over a store holding a month of history of 1,000 devices.

    python -m bench.scale --size quick     # 100 devices (about half a minute)
    python -m bench.scale --size full      # 1,000 devices (a few minutes, CPU-heavy)

The store is filled through the product's own write path (:mod:`bench._scale_fleet`), the
agent is a real ``xunjian serve`` process scraped over HTTP (:mod:`bench._scale_metrics`),
and the report is made by the call ``xunjian report`` makes (:mod:`bench._scale_report`).
Prints a table and writes ``scale-<size>-<time>.json`` into the output directory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table

from agent.store import Store
from bench import _scale_metrics, _scale_report
from bench._scale_fleet import CUSTOMER, DAYS, PERIOD, fill, make_fleet
from bench.harness import free_port

SIZES = {"quick": 100, "full": 1000}
RESULTS = Path(__file__).resolve().parent / "results"
#: the issue's targets at 1,000 devices (reported at every size; judged against the size run)
TARGETS = {"metrics_ms": 200.0, "rss_mb": 300.0, "report_html_s": 10.0, "report_pdf_s": 60.0}

#: devices a second a run stores its results at: xunjian inspected 1,000 OpenSSH hosts in
#: ~16 s in the fleet benchmark (issue 7's reference: bare paramiko pool 15.9 s)
RUN_PACE = 62.5

_T = TypeVar("_T")


def _load() -> dict[str, float]:
    one, five, fifteen = os.getloadavg()
    return {"1m": round(one, 2), "5m": round(five, 2), "15m": round(fifteen, 2)}


def _timed(phases: dict[str, Any], name: str, action: Callable[[], _T]) -> _T:
    before = _load()
    start = time.perf_counter()
    value = action()
    phases[name] = {"seconds": round(time.perf_counter() - start, 2), "load_before": before,
                    "load_after": _load()}
    return value


def _row(name: str, value: float | int, unit: str, target: float | None = None,
         cpu: float | None = None) -> dict[str, Any]:
    """``cpu``: the CPU time the measured process spent (same unit), shown beside the wall
    time because this machine is shared."""
    return {"name": name, "value": value, "unit": unit, "target": target,
            "met": None if target is None else value <= target, "cpu": cpu}


def _rows(size: int, fill_s: float, metrics: dict[str, Any], report: dict[str, Any],
          ) -> list[dict[str, Any]]:
    t = TARGETS
    return [
        _row(f"store fill ({size} devices, {DAYS} daily runs)", fill_s, "s"),
        _row("/metrics first scrape", metrics["first_ms"], "ms",
             cpu=metrics["first_agent_cpu_ms"]),
        _row("/metrics steady scrape (median)", metrics["steady"]["median_ms"], "ms",
             t["metrics_ms"], cpu=metrics["steady"]["agent_cpu_median_ms"]),
        _row("/metrics steady scrape (max)", metrics["steady"]["max_ms"], "ms"),
        _row("/metrics right after a full run (median)",
             metrics["after_full_run"]["median_ms"], "ms", t["metrics_ms"],
             cpu=metrics["after_full_run"]["agent_cpu_median_ms"]),
        _row("/metrics right after a full run (max)", metrics["after_full_run"]["max_ms"], "ms"),
        _row("/metrics right after a run stored at once (median)",
             metrics["after_run_stored_at_once"]["median_ms"], "ms",
             cpu=metrics["after_run_stored_at_once"]["agent_cpu_median_ms"]),
        _row("/metrics samples", metrics["samples"], "series"),
        _row("agent RSS after the scrapes", metrics["rss_mb"], "MB", t["rss_mb"]),
        _row("report: collect the data", report["collect_s"], "s",
             cpu=report["collect_cpu_s"]),
        _row("report HTML (collect + render)", report["html_s"], "s", t["report_html_s"],
             cpu=report["html_cpu_s"]),
        _row("report PDF (collect + render + WeasyPrint)", report["pdf_s"], "s",
             t["report_pdf_s"], cpu=report["pdf_cpu_s"]),
        _row("report PDF pages", report["pages"], "pages"),
    ]


def run(size: str, *, work_dir: Path | None = None) -> dict[str, Any]:
    """Fill a store for ``size`` ("quick": 100 devices, "full": 1,000), measure and return
    the results. ``work_dir`` keeps the store and the report files (default: a temporary
    directory, removed afterwards)."""
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; use {', '.join(SIZES)}")
    devices = SIZES[size]
    with tempfile.TemporaryDirectory(prefix="xunjian-scale-") as tmp:
        work = work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        port = free_port()
        fleet = make_fleet(work, devices, port=port)
        store = Store.open(None, work / "data")
        phases: dict[str, Any] = {}
        try:
            history = _timed(phases, "fill", lambda: fill(store, fleet))
            next_day = iter(range(DAYS, DAYS + 10))

            def store_run() -> None:
                history.store_run(store, next(next_day), pace=RUN_PACE)

            def store_run_at_once() -> None:
                history.store_run(store, next(next_day))

            metrics = _timed(phases, "metrics", lambda: _scale_metrics.measure(
                fleet.config_path, port, work / "serve.log", store_run, store_run_at_once))
            report = _timed(phases, "report", lambda: _scale_report.measure(
                store, fleet.loaded, PERIOD, CUSTOMER, work / "reports"))
        finally:
            store.close()
    rows = _rows(devices, phases["fill"]["seconds"], metrics, report)
    judged = [r for r in rows if r["met"] is not None]
    result = {
        "benchmark": "scale", "size": size, "devices": devices,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "phases": phases, "metrics": metrics, "report": report, "targets": TARGETS,
        "met": all(r["met"] for r in judged),
        "missed": [r["name"] for r in judged if not r["met"]],
        "rows": rows,
    }
    return result


def table(result: dict[str, Any]) -> Table:
    view = Table(title=f"xunjian at scale: {result['devices']} devices ({result['size']})")
    for column in ("measure", "value", "CPU", "target", "met"):
        view.add_column(column, justify="left" if column == "measure" else "right")
    for r in result["rows"]:
        target = "" if r["target"] is None else f"≤ {r['target']:g} {r['unit']}"
        met = "" if r["met"] is None else ("[green]yes[/]" if r["met"] else "[red]no[/]")
        cpu = "" if r.get("cpu") is None else f"{r['cpu']:g} {r['unit']}"
        view.add_row(r["name"], f"{r['value']:g} {r['unit']}", cpu, target, met)
    return view


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="quick")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument("--keep", type=Path, help="keep the store, config, agent log and "
                        "report files in this (new) directory, for profiling")
    args = parser.parse_args(argv)
    if args.keep is not None and args.keep.exists() and any(args.keep.iterdir()):
        parser.error(f"--keep {args.keep}: give a new or empty directory")
    result = run(args.size, work_dir=args.keep)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (args.out / f"scale-{args.size}-{stamp}.json").write_text(
        json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    console = Console()
    console.print(table(result))
    loads = {name: phase["load_before"]["1m"] for name, phase in result["phases"].items()}
    console.print(f"load average (1 min) at the start of each phase: {loads}")
    console.print("all targets met" if result["met"] else
                  f"[red]missed:[/] {', '.join(result['missed'])}")
    return 0 if result["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
