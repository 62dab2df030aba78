"""Build the report's data (:class:`reports.model.ReportData`) for one selection and period."""

from __future__ import annotations

import base64
import fnmatch
import mimetypes
import shlex
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from agent import __version__
from agent.errors import ReportError
from agent.store import Store
from checks.model import CheckResult, State
from config.inventory import Device
from config.loader import LoadedConfig
from config.reports import BrandingConfig
from reports import advice
from reports.changes import changes
from reports.i18n import Translator
from reports.model import (
    Appendix,
    Branding,
    CheckLine,
    Coverage,
    DeviceSection,
    EvidenceRef,
    Finding,
    Language,
    PackLine,
    ReportData,
    ReportMeta,
    RunLine,
    Summary,
    WaiverLine,
)
from reports.period import Period
from reports.reconcile import reconcile
from reports.service_review import summarise
from reports.source import ReportSource, StoredResult
from reports.trends import forecasts, trend_metrics

#: a waiver this close to its expiry is flagged in the report
EXPIRY_NOTICE = timedelta(days=30)


@dataclass(frozen=True)
class ReportRequest:
    period: Period
    devices: Sequence[Device]
    language: Language
    now: datetime
    version: int = 1
    customer: BrandingConfig | None = None
    #: how the devices were chosen, for the cover (e.g. "customer acme", "group core-db")
    scope: str = ""
    author: str | None = None
    reviewer: str | None = None
    options: dict[str, str] = field(default_factory=dict)


def logo_uri(path: Path | None, base: Path) -> str | None:
    """A logo file as a ``data:`` URI, so the HTML needs nothing beside it."""
    if path is None:
        return None
    full = path.expanduser() if path.expanduser().is_absolute() else base / path
    mime = mimetypes.guess_type(full.name)[0]
    if mime not in ("image/png", "image/jpeg", "image/svg+xml", "image/gif"):
        raise ReportError(f"logo {full}: use a PNG, JPEG, GIF or SVG file")
    try:
        data = full.read_bytes()
    except OSError as exc:
        raise ReportError(f"cannot read the logo {full}: {exc.strerror or exc}") from exc
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _fmt(value: float | str | None, unit: str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, float | int):
        text = f"{value:.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
        return f"{text} {unit}" if unit else text
    return str(value)


def _threshold(t: Translator, c: CheckResult) -> str | None:
    unit = f" {c.unit}" if c.unit else ""
    parts = []
    if c.warn is not None:
        parts.append(t("report.threshold.warn", value=f"{c.warn:g}{unit}"))
    if c.crit is not None:
        parts.append(t("report.threshold.crit", value=f"{c.crit:g}{unit}"))
    return " / ".join(parts) or None


def _finding(t: Translator, device: Device, stored: StoredResult, c: CheckResult) -> Finding:
    command = ["xunjian", "evidence", device.name, c.check] + ([c.item] if c.item else [])
    return Finding(
        state=c.state, device=device.name, address=device.address,
        business_system=device.business_system, business_level=device.business_level,
        check=c.check, check_title=t.check_title(c.check, c.title), item=c.item,
        value=_fmt(c.value, c.unit), threshold=_threshold(t, c),
        value_num=c.value if isinstance(c.value, float | int) else None, unit=c.unit,
        warn=c.warn, crit=c.crit, message=c.message,
        recommendation=advice.finding_advice(t, c.check),
        evidence=EvidenceRef(result_id=stored.id, inspected_at=stored.result.started_at,
                             items=list(c.evidence), command=shlex.join(command)),
        waived=c.waived, waiver_reason=c.waiver_reason, waiver_expires=c.waiver_expires)


def _line(t: Translator, c: CheckResult) -> CheckLine:
    return CheckLine(check=c.check, check_title=t.check_title(c.check, c.title), item=c.item,
                     state=c.state, value=_fmt(c.value, c.unit), threshold=_threshold(t, c),
                     message=c.message, waived=c.waived)


def _section(t: Translator, device: Device, stored: StoredResult | None) -> DeviceSection:
    base = dict(device=device.name, address=device.address, platform=device.platform,
                location=device.location, business_system=device.business_system,
                business_level=device.business_level, model=device.model, serial=device.serial)
    if stored is None:
        return DeviceSection(**base, state=State.UNKNOWN, reachable=False,
                             error=t("report.device.not_inspected"))
    r, facts = stored.result, stored.result.facts
    hardware = facts.hardware if facts else None
    fullest = max(facts.filesystems or [], key=lambda f: f.used_ratio, default=None) \
        if facts else None
    checks = sorted(r.checks, key=lambda c: (-c.state.rank if c.counts else 0, c.check))
    base |= dict(model=(hardware.model if hardware and hardware.model else device.model),
                 serial=(hardware.serial if hardware and hardware.serial else device.serial))
    return DeviceSection(
        **base, state=r.state, reachable=r.reachable, inspected_at=r.started_at, error=r.error,
        os=" ".join(p for p in (facts.os_name, facts.os_version) if p) or None if facts else None,
        uptime_days=round(facts.uptime_seconds / 86400, 3)
        if facts and facts.uptime_seconds is not None else None,
        cpu_percent=round(facts.cpu_used_ratio * 100, 1)
        if facts and facts.cpu_used_ratio is not None else None,
        memory_percent=round(facts.memory_used_ratio * 100, 1)
        if facts and facts.memory_used_ratio is not None else None,
        fullest_filesystem=fullest.mountpoint if fullest else None,
        fullest_filesystem_percent=round(fullest.used_ratio * 100, 1) if fullest else None,
        findings=[_line(t, c) for c in checks if c.state is not State.OK],
        ok_checks=sum(1 for c in checks if c.state is State.OK),
        item_errors=dict(r.item_errors), result_id=stored.id)


def _waivers(t: Translator, loaded: LoadedConfig, devices: Sequence[Device],
             period: Period) -> list[WaiverLine]:
    names = [d.name for d in devices]
    out = []
    for w in loaded.config.waivers:
        if w.expires < period.last or not fnmatch.filter(names, w.device):
            continue
        out.append(WaiverLine(
            device=t("report.all_devices") if w.device == "*" else w.device, check=w.check,
            check_title=t.check_title(w.check), item="*" if w.item == "*" else w.item,
            reason=w.reason, expires=w.expires, approved_by=w.approved_by,
            expiring_soon=w.expires <= period.last + EXPIRY_NOTICE))
    return sorted(out, key=lambda w: w.expires)


def _appendix(store: Store, source: ReportSource, current: Mapping[str, StoredResult],
              period: Period) -> Appendix:
    # results stored before custom packs have only the standard pack
    packs = Counter(p for s in current.values()
                    for p in (s.result.packs or ([s.result.pack] if s.result.pack else [])))
    return Appendix(
        packs=[PackLine(name=p.name, version=p.version, content_hash=p.content_hash, devices=c,
                        approval=p.approval, approved_by=p.approved_by,
                        approved_at=p.approved_at)
               for p, c in sorted(packs.items(), key=lambda pc: (pc[0].name, pc[0].version,
                                                                 pc[0].approval))],
        runs=[RunLine(id=r.id, started_at=r.started_at, finished_at=r.finished_at,
                      trigger=r.trigger, plan=r.plan, status=r.status, devices=r.devices)
              for r in source.runs(period.start, period.end)],
        store=store.url, transcript_command="xunjian transcript DEVICE")


def build_report(store: Store, loaded: LoadedConfig, request: ReportRequest) -> ReportData:
    settings = loaded.config.report
    t = Translator(request.language, request.period.timezone)
    period, devices = request.period, sorted(request.devices, key=lambda d: d.name)
    source = ReportSource(store, [d.name for d in devices])
    current = source.latest(before=period.end, since=period.start)
    baseline = source.latest(before=period.start)
    empty = not current

    findings = sorted(
        (_finding(t, d, current[d.name], c) for d in devices if d.name in current
         for c in current[d.name].result.checks if c.state is not State.OK),
        key=lambda f: (-f.state.rank, f.waived, f.business_level or 5, f.device, f.check))
    prior = {(b.result.device, c.check, c.item) for b in baseline.values()
             for c in b.result.checks if c.state is not State.OK and c.counts}
    if baseline:
        findings = [f.model_copy(update={"new": (f.device, f.check, f.item) not in prior
                                         and f.device in baseline}) for f in findings]

    unreachable = sorted(n for n, s in current.items() if not s.result.reachable)
    skipped = [d.name for d in devices if d.name not in current]
    coverage = Coverage(in_scope=len(devices), inspected=len(current) - len(unreachable),
                        unreachable=len(unreachable), skipped=len(skipped),
                        skipped_devices=skipped, unreachable_devices=unreachable)
    device_states = [current[d.name].result.state if d.name in current else State.UNKNOWN
                     for d in devices]
    devices_by_state = {s: device_states.count(s) for s in State}
    counted = [f for f in findings if not f.waived]
    findings_by_state = {s: sum(1 for f in counted if f.state is s) for s in State}

    window = period.back(settings.trend_periods)
    values = source.trend_values(window.start, period.end)
    generated = min(request.now, period.end)
    predicted = forecasts(t, values, settings.forecast, generated)
    change = changes(t, current, baseline, source.config_activity(period.start, period.end))
    incidents = summarise(source.incidents(period.start, period.end), source.open_problems(),
                          loaded.config.incidents, period.start, period.end, request.now)
    warranties = [(d.name, d.warranty_end) for d in devices if d.warranty_end
                  and d.warranty_end <= period.last + advice.WARRANTY_NOTICE]
    overall = State.worst(device_states) if not empty else State.UNKNOWN

    customer = request.customer or BrandingConfig(name=request.scope or t("report.all_devices"))
    meta = ReportMeta(
        title=t("report.title"),
        customer=Branding(name=customer.name, logo=logo_uri(customer.logo, loaded.base_dir)),
        provider=Branding(name=settings.provider.name,
                          logo=logo_uri(settings.provider.logo, loaded.base_dir)),
        period_label=period.label, period_start=period.first, period_end=period.last,
        timezone=period.timezone, language=request.language, version=request.version,
        generated_at=request.now, author=request.author or settings.author,
        reviewer=request.reviewer or settings.reviewer, xunjian_version=__version__,
        scope=request.scope)
    summary = Summary(
        overall=overall, headline=advice.headline(t, overall, empty, findings, coverage),
        devices_by_state=devices_by_state, findings_by_state=findings_by_state,
        waived_findings=sum(1 for f in findings if f.waived), coverage=coverage,
        top_risks=advice.top_risks(t, findings, settings.top_risks),
        conclusions=advice.conclusions(
            t, empty=empty, coverage=coverage, devices_by_state=devices_by_state,
            findings_by_state=findings_by_state,
            waived=sum(1 for f in findings if f.waived), changes=change, incidents=incidents,
            forecasts=predicted),
        recommendations=advice.recommendations(t, findings, predicted, warranties,
                                               period.last))
    return ReportData(
        meta=meta, empty=empty, summary=summary,
        inventory=[reconcile(t, d, current.get(d.name)) for d in devices],
        findings=findings,
        devices=[_section(t, d, current.get(d.name))
                 for d in sorted(devices, key=lambda d: (d.business_level or 5,
                                                         d.business_system or "", d.name))],
        changes=change, trends=trend_metrics(t, values, settings.trend_devices),
        forecasts=predicted, incidents=incidents, waivers=_waivers(t, loaded, devices, period),
        appendix=_appendix(store, source, current, period))
