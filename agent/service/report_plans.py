"""Report plans (``kind: report``): the customer report made on a schedule.

The period a report covers follows from the plan's *scheduled* time, not the wall clock: a
run caught up after downtime still reports the period it was meant for. Everything else is
chosen the way ``xunjian report`` chooses it (customer language, ``report.formats``, output
directory), so a scheduled report and a hand-made one of the same period are the same report
in successive versions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

from agent.store import Store
from config.loader import LoadedConfig
from config.reports import ReportFormat
from config.service import PlanConfig, ReportPeriodKind
from reports.generate import GeneratedReport, ReportJob, generate
from reports.generate import output_dir as generate_output_dir
from reports.model import Language
from reports.period import Period, month, parse_period


def period_for(kind: ReportPeriodKind, scheduled_for: datetime, zone: str) -> Period:
    """The calendar period a report scheduled for ``scheduled_for`` covers, in ``zone``."""
    local = scheduled_for.astimezone(ZoneInfo(zone)).date()
    if kind == "current-month":
        return month(local.year, local.month, zone)
    if kind == "previous-month":
        last = local.replace(day=1) - timedelta(days=1)
        return month(last.year, last.month, zone)
    if kind == "previous-week":
        week = (local - timedelta(days=7)).isocalendar()
        return parse_period(f"{week.year}-W{week.week:02d}", zone)
    quarter = (local.month - 1) // 3  # 0-based quarter of the fire time
    year, previous = (local.year - 1, 4) if quarter == 0 else (local.year, quarter)
    return parse_period(f"{year}-Q{previous}", zone)


def output_dir(plan: PlanConfig, loaded: LoadedConfig, data_dir: Path) -> Path:
    """The plan's ``out_dir``, else ``report.output_dir``, else ``<data dir>/reports``."""
    return generate_output_dir(loaded, data_dir, plan.out_dir)


def report_job(plan: PlanConfig, loaded: LoadedConfig, scheduled_for: datetime,
               data_dir: Path) -> ReportJob:
    settings = loaded.config.report
    languages = plan.languages or []  # empty: generate() takes the customer's language
    return ReportJob(
        period=period_for(plan.period, scheduled_for, settings.timezone),
        languages=cast(list[Language], list(languages)),
        formats=cast(list[ReportFormat], list(plan.formats or settings.formats)),
        out_dir=output_dir(plan, loaded, data_dir), customer=plan.customer,
        groups=plan.groups, tags=plan.tags, devices=plan.devices, email=plan.email)


def make_report(plan: PlanConfig, scheduled_for: datetime, *, loaded: LoadedConfig,
                store: Store, data_dir: Path, env: Mapping[str, str] | None,
                clock: Callable[[], datetime],
                progress: Callable[[str], None] = lambda _msg: None) -> str:
    """Make (and mail) the plan's report; returns a one-line summary for the fire's note.
    Raises ReportError/StoreError (XunjianError) saying what went wrong."""
    job = report_job(plan, loaded, scheduled_for, data_dir)
    made = generate(store, loaded, job, clock(), progress=progress, env=env)
    return summary(job, made)


def summary(job: ReportJob, made: GeneratedReport) -> str:
    names = ", ".join(p.name for p in made.files)
    text = f"report {job.period.label} version {made.version}: {names} in {job.out_dir}"
    if made.emailed_to:
        text += f"; mailed to {', '.join(made.emailed_to)}"
    return text
