"""Evaluate checks over collected facts: thresholds with per-group/device/item overrides,
UNKNOWN when evidence is missing, and waivers that hold until they expire."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from datetime import date, datetime

from checks.builtin import BUILTIN_CHECKS, UNREACHABLE, CheckSpec, Context, Measurement, Previous
from checks.model import CheckResult, State
from collectors.base import CollectResult
from collectors.facts import Hardware
from config.inventory import Device
from config.models import CheckSettings, Waiver


def _thresholds(
    spec: CheckSpec, settings: CheckSettings | None, item: str | None
) -> tuple[bool, float | None, float | None]:
    enabled, warn, crit = True, spec.warn, spec.crit
    if settings is not None:
        enabled = settings.enabled if settings.enabled is not None else enabled
        warn = settings.warn if "warn" in settings.model_fields_set else warn
        crit = settings.crit if "crit" in settings.model_fields_set else crit
        if item is not None:
            for pattern, override in settings.items.items():
                if fnmatch.fnmatchcase(item, pattern):
                    enabled = override.enabled if override.enabled is not None else enabled
                    warn = override.warn if "warn" in override.model_fields_set else warn
                    crit = override.crit if "crit" in override.model_fields_set else crit
    return enabled, warn, crit


def _judge(m: Measurement, warn: float | None, crit: float | None,
           higher_is_worse: bool = True) -> State:
    if m.state is not None:
        return m.state
    if not isinstance(m.value, int | float):
        return State.UNKNOWN
    value = m.value

    def breaches(threshold: float | None) -> bool:
        if threshold is None:
            return False
        return value >= threshold if higher_is_worse else value <= threshold

    if breaches(crit):
        return State.CRIT
    if breaches(warn):
        return State.WARN
    return State.OK


def evaluate_check(
    spec: CheckSpec, settings: CheckSettings | None, ctx: Context,
    item_errors: dict[str, str], evidence: list[str] | None = None,
) -> list[CheckResult]:
    """``evidence``: the items of the device's pack this check reads (default: all the spec
    names); each result points at them, and they explain an UNKNOWN."""
    if settings is not None and settings.enabled is False:
        return []
    evidence = list(spec.evidence) if evidence is None else evidence
    measurements = spec.measure(ctx)
    if measurements is None:
        reasons = [f"{item}: {item_errors[item]}" for item in evidence if item in item_errors]
        if not reasons:
            return []  # not applicable on this host (e.g. no systemd, no swap)
        return [CheckResult(check=spec.name, state=State.UNKNOWN, unit=spec.unit,
                            message="could not evaluate: " + "; ".join(reasons),
                            evidence=evidence)]
    results = []
    for m in measurements:
        enabled, warn, crit = _thresholds(spec, settings, m.item)
        if not enabled:
            continue
        state = _judge(m, warn, crit, spec.higher_is_worse)
        numeric = m.state is None
        results.append(CheckResult(
            check=spec.name, item=m.item, state=state, value=m.value,
            unit=spec.unit if numeric else None,
            warn=warn if numeric else None, crit=crit if numeric else None,
            message=m.message, evidence=evidence,
        ))
    return results


def evaluate(
    device: Device, collected: CollectResult, previous: Previous | None, now: datetime,
    checks: Iterable[CheckSpec] = BUILTIN_CHECKS.values(),
) -> list[CheckResult]:
    register = None
    if device.serial or device.model:
        register = Hardware(vendor=device.vendor, model=device.model, serial=device.serial)
    ctx = Context(collected.facts, previous, now, register)
    # Evidence is what the device's pack actually ran (or tried to).
    ran = {r.item for r in collected.raw} | set(collected.item_errors) if collected.raw else set()
    results: list[CheckResult] = []
    for spec in checks:
        wanted = spec.evidence_for(device.platform)
        evidence = [e for e in wanted if e in ran] if ran else list(wanted)
        results.extend(evaluate_check(spec, device.checks.get(spec.name), ctx,
                                      collected.item_errors, evidence))
    return results


def unreachable(reason: str) -> CheckResult:
    """The one result of a device that could not be inspected: UNKNOWN, never "normal"."""
    return CheckResult(check=UNREACHABLE, state=State.UNKNOWN, value="unreachable",
                       message=reason, evidence=["transcript"])


def apply_waivers(
    device: str, results: list[CheckResult], waivers: Iterable[Waiver], today: date
) -> list[CheckResult]:
    """Mark non-OK results covered by a waiver in force; an expired waiver no longer hides
    its finding, and the result says so."""
    out = []
    for result in results:
        if result.state is State.OK:
            out.append(result)
            continue
        matching = [
            w for w in waivers
            if w.check == result.check and fnmatch.fnmatchcase(device, w.device)
            and fnmatch.fnmatchcase(result.item or "", w.item)
        ]
        active = [w for w in matching if today <= w.expires]
        if active:
            w = max(active, key=lambda w: w.expires)
            out.append(result.model_copy(update={
                "waived": True, "waiver_reason": w.reason, "waiver_expires": w.expires}))
        elif matching:
            w = max(matching, key=lambda w: w.expires)
            out.append(result.model_copy(update={
                "message": f"{result.message} (waiver expired on {w.expires.isoformat()})"}))
        else:
            out.append(result)
    return out


def device_state(results: Iterable[CheckResult]) -> State:
    return State.worst([r.state for r in results if r.counts])
