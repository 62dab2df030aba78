"""Make a report end to end: choose the devices, build the data, render every format and
language, write the files, record the version, and optionally mail it to the customer."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from agent.errors import ReportError, XunjianError
from agent.notify.factory import smtp_sender
from agent.runner import select_devices
from agent.store import Store
from config.inventory import Device
from config.loader import LoadedConfig
from config.reports import BrandingConfig, CustomerConfig, ReportFormat
from reports.build import ReportRequest, build_report
from reports.deliver import email_report, write_outputs
from reports.export import findings_csv, findings_xlsx, report_json
from reports.i18n import Translator
from reports.model import Language, ReportData
from reports.period import Period
from reports.render import render_html, render_pdf

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ReportJob:
    period: Period
    #: empty: the customer's language, else ``report.language``
    languages: Sequence[Language]
    formats: Sequence[ReportFormat]
    out_dir: Path
    customer: str | None = None
    groups: Sequence[str] = ()
    tags: Sequence[str] = ()
    devices: Sequence[str] = ()
    author: str | None = None
    reviewer: str | None = None
    #: mail the report to the customer's contacts (or to ``to``)
    email: bool = False
    to: Sequence[str] = ()


@dataclass
class GeneratedReport:
    version: int
    files: list[Path]
    data: dict[str, ReportData]
    emailed_to: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Selection:
    devices: list[Device]
    customer: CustomerConfig | None
    #: how the devices were chosen: ("customer", name), ("groups", "a, b") ...
    parts: list[tuple[str, str]]
    #: the file-name prefix (the customer id, or ``xunjian``)
    prefix: str
    #: the customer id (given, or the only one configured)
    customer_id: str | None = None


def select(loaded: LoadedConfig, job: ReportJob) -> Selection:
    """The customer's devices, narrowed by any ``--group/--tag/--device`` given."""
    customer = None
    pool = loaded.devices
    parts: list[tuple[str, str]] = []
    customers = loaded.config.customers
    if job.customer is None and len(customers) == 1 and not (job.groups or job.tags
                                                             or job.devices):
        # nothing asked for, and the one customer owns the whole inventory: it is theirs
        only_id, only = next(iter(customers.items()))
        if len(select_devices(pool, only.devices, only.groups, only.tags)) == len(pool):
            job = replace(job, customer=only_id)
    if job.customer is not None:
        customer = loaded.config.customers.get(job.customer)
        if customer is None:
            known = ", ".join(sorted(loaded.config.customers)) or "none (add customers: to " \
                "the config)"
            raise ReportError(f"unknown customer {job.customer!r}; known: {known}")
        pool = select_devices(pool, customer.devices, customer.groups, customer.tags)
        parts.extend((label, ", ".join(values)) for label, values in (
            ("groups", customer.groups), ("tags", customer.tags), ("devices", customer.devices))
            if values)
    if job.groups or job.tags or job.devices:
        pool = [d for d in pool if d.name in {
            x.name for x in select_devices(loaded.devices, job.devices, job.groups, job.tags)}]
        for label, values in (("groups", job.groups), ("tags", job.tags),
                              ("devices", job.devices)):
            if values:
                parts.append((label, ", ".join(values)))
    if not pool:
        raise ReportError("no device matches the selection: check --customer/--group/--tag")
    return Selection(pool, customer, parts, job.customer or "xunjian", job.customer)


def output_dir(loaded: LoadedConfig, data_dir: Path, chosen: Path | None = None) -> Path:
    """``chosen`` (a plan's ``out_dir``), else ``report.output_dir``, else
    ``<data dir>/reports``; relative paths start at the config file's directory."""
    chosen = chosen or loaded.config.report.output_dir
    if chosen is None:
        return data_dir / "reports"
    chosen = chosen.expanduser()
    return chosen if chosen.is_absolute() else loaded.base_dir / chosen


def languages(loaded: LoadedConfig, job: ReportJob, selection: Selection) -> list[Language]:
    """The job's languages; none asked for: the customer's, else ``report.language``."""
    customer = selection.customer
    return list(job.languages) or [
        customer.language if customer and customer.language else loaded.config.report.language]


def scope_text(lang: str, selection: Selection) -> str:
    """The selection in the report's language, for the cover."""
    t = Translator(lang)
    if not selection.parts:
        return t("report.scope.all", count=len(selection.devices))
    return "; ".join(t(f"report.scope.{kind}", value=value) for kind, value in selection.parts)


def request(job: ReportJob, selection: Selection, lang: Language,
            now: datetime) -> ReportRequest:
    """What :func:`reports.build.build_report` needs for one language of the job."""
    customer = selection.customer
    return ReportRequest(
        period=job.period, devices=selection.devices, language=lang, now=now,
        customer=BrandingConfig(name=customer.name, logo=customer.logo) if customer else None,
        scope=scope_text(lang, selection), author=job.author, reviewer=job.reviewer)


def _register_key(selection: Selection, job: ReportJob) -> str:
    """What identifies 'the same report' across generations (for its version number)."""
    if selection.customer_id and not (job.groups or job.tags or job.devices):
        return f"customer:{selection.customer_id}"
    return f"{selection.prefix}:" + hashlib.sha256(
        ",".join(d.name for d in selection.devices).encode()).hexdigest()[:16]


def render_formats(data: ReportData, formats: Sequence[ReportFormat], loaded: LoadedConfig,
                   progress: Progress) -> dict[str, bytes]:
    """Every requested format of one language's report, as bytes by file extension."""
    settings = loaded.config.report
    out: dict[str, bytes] = {}
    lang = data.meta.language
    if "html" in formats or "pdf" in formats:
        progress(f"rendering HTML ({lang})")
        html = render_html(data, settings.forecast, settings.trend_periods)
        if "html" in formats:
            out["html"] = html.encode("utf-8")
        if "pdf" in formats:
            progress(f"rendering PDF ({lang})")
            out["pdf"] = render_pdf(html)
    if "json" in formats:
        out["json"] = report_json(data)
    if "csv" in formats:
        out["csv"] = findings_csv(data, lang)
    if "xlsx" in formats:
        out["xlsx"] = findings_xlsx(data, lang)
    return out


def generate(store: Store, loaded: LoadedConfig, job: ReportJob, now: datetime,
             progress: Progress = lambda _msg: None,
             env: Mapping[str, str] | None = None) -> GeneratedReport:
    selection = select(loaded, job)
    job = replace(job, languages=languages(loaded, job, selection))
    data: dict[str, ReportData] = {}
    for lang in job.languages:
        progress(f"collecting {len(selection.devices)} device(s) for {job.period.label} ({lang})")
        data[lang] = build_report(store, loaded, request(job, selection, lang, now))
    first = next(iter(data.values()))
    report_id, version = store.claim_report_version(
        _register_key(selection, job), job.period.label, ",".join(job.languages),
        first.summary.overall.value, now)
    try:
        written: list[Path] = []
        for code, built in data.items():
            report = built.model_copy(update={"meta": built.meta.model_copy(
                update={"version": version})})
            data[code] = report
            files = render_formats(report, job.formats, loaded, progress)
            basename = f"{selection.prefix}-{job.period.slug}-v{version}-{code}"
            written += write_outputs(job.out_dir, basename, files)
    except BaseException:
        store.discard_report(report_id)
        raise
    store.report_files(report_id, [
        {"name": p.name, "bytes": p.stat().st_size,
         "sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for p in written])
    result = GeneratedReport(version=version, files=written, data=data)
    if job.email:
        result.emailed_to = _email(loaded, selection, job, result, progress, env)
    return result


def _email(loaded: LoadedConfig, selection: Selection, job: ReportJob, result: GeneratedReport,
           progress: Progress, env: Mapping[str, str] | None) -> list[str]:
    recipients = list(job.to) or (list(selection.customer.contacts) if selection.customer
                                  else [])
    if not recipients:
        raise ReportError("no recipients: set customers.<id>.contacts or pass --to")
    mail = loaded.config.mail
    if mail is None:
        raise ReportError("--email needs a mail: section (the SMTP server) in the config")
    try:
        smtp = smtp_sender(mail, os.environ if env is None else env, loaded.base_dir)
    except XunjianError as exc:
        raise ReportError(f"cannot e-mail the report: {exc}") from exc
    # the PDF when there is one (what customers file), else every file of that language
    for lang, report in result.data.items():
        mine = [p for p in result.files if p.stem.endswith(f"-{lang}")]
        attachments = [p for p in mine if p.suffix == ".pdf"] or mine
        progress(f"mailing the {lang} report to {', '.join(recipients)}")
        email_report(smtp, report, attachments, recipients)
    return recipients
