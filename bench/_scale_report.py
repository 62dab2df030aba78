"""The customer report of the whole fleet for the month, through the call ``xunjian report``
makes (:func:`reports.generate.generate`), timed per phase from its progress messages."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.store import Store
from config.loader import LoadedConfig
from reports.generate import ReportJob, generate
from reports.period import parse_period


def pdf_pages(path: Path) -> int:
    """Page count with poppler's pdfinfo (installed with the test peers), else from the PDF's
    page tree."""
    if pdfinfo := shutil.which("pdfinfo"):
        out = subprocess.run([pdfinfo, str(path)], capture_output=True, text=True,
                             check=True).stdout
        if match := re.search(r"^Pages:\s+(\d+)", out, re.MULTILINE):
            return int(match.group(1))
    counts = re.findall(rb"/Type\s*/Pages\b.*?/Count\s+(\d+)", path.read_bytes(), re.DOTALL)
    return max((int(c) for c in counts), default=0)


def measure(store: Store, loaded: LoadedConfig, period: str, customer: str, out_dir: Path,
            language: str = "zh-CN") -> dict[str, Any]:
    """HTML time (collect + render) and PDF time (collect + render + WeasyPrint), as a user of
    ``xunjian report --format html`` / ``--format pdf`` waits for them."""
    marks: dict[str, tuple[float, float]] = {}
    start, cpu = time.perf_counter(), time.process_time()

    def progress(message: str) -> None:
        for phase in ("rendering HTML", "rendering PDF"):
            if message.startswith(phase):
                marks.setdefault(phase, (time.perf_counter() - start,
                                         time.process_time() - cpu))

    job = ReportJob(period=parse_period(period, loaded.config.report.timezone),
                    languages=[language],  # type: ignore[list-item]
                    formats=["html", "pdf"], out_dir=out_dir, customer=customer)
    made = generate(store, loaded, job, datetime(2026, 11, 1, 1, 0, tzinfo=UTC),
                    progress=progress)
    total, total_cpu = time.perf_counter() - start, time.process_time() - cpu
    pdf = next(p for p in made.files if p.suffix == ".pdf")
    html = next(p for p in made.files if p.suffix == ".html")
    data = made.data[language]
    return {
        "collect_s": round(marks["rendering HTML"][0], 2),
        "html_s": round(marks["rendering PDF"][0], 2),
        "pdf_s": round(total, 2),
        "weasyprint_s": round(total - marks["rendering PDF"][0], 2),
        # CPU time of this process: the cost whatever else the machine was doing
        "collect_cpu_s": round(marks["rendering HTML"][1], 2),
        "html_cpu_s": round(marks["rendering PDF"][1], 2),
        "pdf_cpu_s": round(total_cpu, 2),
        "pages": pdf_pages(pdf), "html_bytes": html.stat().st_size,
        "pdf_bytes": pdf.stat().st_size, "findings": len(data.findings),
        "devices": len(data.devices),
    }
