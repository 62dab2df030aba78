"""From findings to what the customer should do: a recommendation per finding, grouped
recommendations (capacity, maintenance, upgrades ...), the top risks and the conclusions.

Every sentence comes from the catalogs (``advice.*``), so zh-CN and en say the same thing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Literal

from checks.model import State
from reports.i18n import Translator
from reports.model import (
    Changes,
    Coverage,
    Finding,
    Forecast,
    IncidentSummary,
    Recommendation,
    Risk,
)

Category = Literal["capacity", "maintenance", "upgrade", "availability", "configuration",
                   "register"]

#: the kind of action each built-in check's findings call for
CATEGORY: dict[str, Category] = {
    "cpu": "capacity", "load": "capacity", "memory": "capacity", "swap": "capacity",
    "filesystem": "capacity", "inodes": "capacity",
    "fans": "maintenance", "power_supplies": "maintenance", "temperature": "maintenance",
    "readonly_fs": "maintenance", "interface_errors": "maintenance",
    "reboot": "availability", "failed_units": "availability", "zombies": "availability",
    "log_errors": "availability", "reachable": "availability", "interface_down": "availability",
    "bgp_neighbors": "availability", "ospf_neighbors": "availability",
    "time_sync": "configuration", "clock_offset": "configuration",
    "config_changed": "configuration", "hardware_register": "register",
}
_ORDER: tuple[Category, ...] = ("availability", "maintenance", "capacity", "upgrade",
                                "configuration", "register")
#: warranties ending this soon after the period count as an upgrade recommendation
WARRANTY_NOTICE = timedelta(days=90)


def finding_advice(t: Translator, check: str) -> str:
    """What to do about one finding of ``check`` (custom checks get the general advice)."""
    key = f"advice.finding.{check}"
    return t(key) if t.has(key) else t("advice.finding.other")


def recommendations(
    t: Translator, findings: Sequence[Finding], forecasts: Sequence[Forecast],
    warranties: Sequence[tuple[str, date]], period_end: date,
) -> list[Recommendation]:
    """One recommendation per check with findings, one per forecast, one for warranties."""
    by_check: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        if not f.waived:
            by_check[f.check].append(f)
    out: list[Recommendation] = []
    for check, items in by_check.items():
        devices = sorted({f.device for f in items})
        key = f"advice.action.{check}"
        text = t(key if t.has(key) else "advice.action.other", count=len(devices),
                 check=t.check_title(check))
        out.append(Recommendation(category=CATEGORY.get(check, "maintenance"), text=text,
                                  devices=devices,
                                  state=State.worst([f.state for f in items])))
    for fc in forecasts:
        out.append(Recommendation(
            category="capacity", state=State.WARN, devices=[fc.device],
            text=t("advice.forecast", device=fc.device, item=fc.item,
                   date=t.date(fc.reaches_on), threshold=f"{fc.threshold_percent:g}")))
    ending = sorted(warranties, key=lambda w: w[1])
    if ending:
        expired = [name for name, end in ending if end <= period_end]
        out.append(Recommendation(
            category="upgrade", state=State.CRIT if expired else State.WARN,
            devices=[name for name, _ in ending],
            text=t("advice.warranty", count=len(ending), expired=len(expired),
                   date=t.date(period_end + WARRANTY_NOTICE))))
    out.sort(key=lambda r: (-r.state.rank, _ORDER.index(r.category), -len(r.devices)))
    return out


def _closeness(f: Finding) -> float:
    """How far the value is towards (or past) its critical limit."""
    if f.value_num is None or not f.crit:
        return 0.0
    return f.value_num / f.crit


def top_risks(t: Translator, findings: Sequence[Finding], limit: int) -> list[Risk]:
    """The findings a manager should hear about first: severity, then the business level of
    the device (1 = most critical), then how far past its limit the value is."""
    ranked = sorted(
        (f for f in findings if not f.waived and f.state is not State.OK),
        key=lambda f: (-f.state.rank, f.business_level or 5, -_closeness(f), f.device))
    return [Risk(device=f.device, business_system=f.business_system, state=f.state,
                 text=t("advice.risk", device=f.device, check=f.check_title,
                        item=f" {f.item}" if f.item else "", value=f.value or t.state(f.state)))
            for f in ranked[:limit]]


def headline(t: Translator, overall: State, empty: bool, findings: Sequence[Finding],
             coverage: Coverage) -> str:
    if empty:
        return t("advice.headline.empty")
    counted = [f for f in findings if not f.waived]
    crit = [f for f in counted if f.state is State.CRIT]
    if crit:
        return t("advice.headline.CRIT", count=len(crit),
                 devices=len({f.device for f in crit}))
    if overall is State.UNKNOWN or coverage.unreachable or coverage.skipped:
        return t("advice.headline.UNKNOWN", count=coverage.unreachable + coverage.skipped)
    warn = [f for f in counted if f.state is State.WARN]
    if warn:
        return t("advice.headline.WARN", count=len(warn))
    return t("advice.headline.OK", count=coverage.inspected)


def conclusions(
    t: Translator, *, empty: bool, coverage: Coverage, devices_by_state: dict[State, int],
    findings_by_state: dict[State, int], waived: int, changes: Changes,
    incidents: IncidentSummary, forecasts: Sequence[Forecast],
) -> list[str]:
    if empty:
        return [t("advice.conclusion.empty", count=coverage.in_scope)]
    out = [t("advice.conclusion.coverage", inspected=coverage.inspected,
             in_scope=coverage.in_scope, ok=devices_by_state.get(State.OK, 0),
             warn=devices_by_state.get(State.WARN, 0), crit=devices_by_state.get(State.CRIT, 0),
             unknown=devices_by_state.get(State.UNKNOWN, 0))]
    total = sum(findings_by_state.get(s, 0) for s in (State.CRIT, State.WARN, State.UNKNOWN))
    if total:
        out.append(t("advice.conclusion.findings", crit=findings_by_state.get(State.CRIT, 0),
                     warn=findings_by_state.get(State.WARN, 0),
                     unknown=findings_by_state.get(State.UNKNOWN, 0), waived=waived))
    else:
        out.append(t("advice.conclusion.healthy", waived=waived))
    if changes.baseline_at is not None:
        out.append(t("advice.conclusion.changes", new=len(changes.new_findings),
                     cleared=len(changes.cleared_findings),
                     configs=len(changes.config_changes),
                     hardware=len(changes.hardware_changes)))
    if incidents.opened or incidents.still_open:
        out.append(t("advice.conclusion.incidents", opened=incidents.opened,
                     resolved=incidents.resolved, open=incidents.still_open,
                     response=t.percent(incidents.response_rate, 0),
                     resolution=t.percent(incidents.resolution_rate, 0)))
    if forecasts:
        first = forecasts[0]
        out.append(t("advice.conclusion.forecast", count=len(forecasts), device=first.device,
                     item=first.item, days=f"{first.days_to_threshold:.0f}"))
    return out
