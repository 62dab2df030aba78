"""Settings of the incident engine (``incidents:`` in the config file).

Durations are written as ``90s``, ``15m``, ``4h``, ``1d`` (or a number of seconds). Priorities
are ``P1`` (most urgent) … ``Pn``; the matrix maps impact (from the device's business level,
1 = most critical) × urgency (from the severity) to a priority.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(value: Any) -> Any:
    """``15m`` → 15 minutes; numbers are seconds; timedeltas pass through."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"invalid duration {value!r}: write e.g. 90s, 15m, 4h, 1d or 2w")
        return timedelta(seconds=float(match[1]) * _UNIT_SECONDS[match[2]])
    return value


def _positive(value: timedelta) -> timedelta:
    if value.total_seconds() <= 0:
        raise ValueError("a duration must be longer than zero")
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Priority = Annotated[str, Field(pattern=r"^P[1-9]$")]
Severity = Literal["WARN", "CRIT", "UNKNOWN"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckRule(_Strict):
    """Per-check overrides of the open/resolve rules (keyed by check name)."""

    #: consecutive breaching inspections before an incident opens (like max_check_attempts)
    open_after: int | None = Field(default=None, ge=1, le=100)
    #: consecutive recovered inspections before it resolves
    resolve_after: int | None = Field(default=None, ge=1, le=100)
    #: hysteresis: an OK value counts as recovered only below this (e.g. warn 80, recover 75)
    recover_below: float | None = None
    #: hysteresis relative to the result's warn threshold: recovered below warn − margin
    recover_margin: float | None = Field(default=None, ge=0)


class FlappingSettings(_Strict):
    """Percent state change over the last ``window`` results (Nagios: 21, high 30, low 25)."""

    enabled: bool = True
    window: int = Field(default=21, ge=3, le=100)
    high: float = Field(default=30.0, gt=0, le=100)
    low: float = Field(default=25.0, ge=0, le=100)

    @model_validator(mode="after")
    def _low_below_high(self) -> FlappingSettings:
        if self.low >= self.high:
            raise ValueError(f"flapping.low ({self.low}) must be below flapping.high "
                             f"({self.high})")
        return self


class SlaTarget(_Strict):
    #: time until someone acknowledges the incident
    response: Duration
    #: time until it is resolved
    resolution: Duration

    @model_validator(mode="after")
    def _sane(self) -> SlaTarget:
        _positive(self.response)
        _positive(self.resolution)
        if self.resolution < self.response:
            raise ValueError("resolution target must not be shorter than the response target")
        return self


def _default_matrix() -> dict[int, dict[int, str]]:
    # priority = impact + urgency − 1, capped at P4: a critical system's CRIT is P1, a
    # low-importance device's warning is P4.
    return {impact: {urgency: f"P{min(4, impact + urgency - 1)}" for urgency in (1, 2, 3)}
            for impact in (1, 2, 3, 4)}


def _default_sla() -> dict[str, SlaTarget]:
    return {
        "P1": SlaTarget(response=timedelta(minutes=15), resolution=timedelta(hours=4)),
        "P2": SlaTarget(response=timedelta(minutes=30), resolution=timedelta(hours=8)),
        "P3": SlaTarget(response=timedelta(hours=4), resolution=timedelta(days=1)),
        "P4": SlaTarget(response=timedelta(days=1), resolution=timedelta(days=5)),
    }


def _default_urgency() -> dict[Severity, int]:
    return {"CRIT": 1, "UNKNOWN": 2, "WARN": 3}


class PrioritySettings(_Strict):
    #: urgency 1 (high) … 3 (low) per severity
    urgency: dict[Severity, int] = Field(default_factory=_default_urgency)
    #: impact used for devices without a business level
    default_impact: int = Field(default=3, ge=1, le=4)
    #: impact (1–4) → urgency (1–3) → priority
    matrix: dict[int, dict[int, Priority]] = Field(default_factory=_default_matrix)

    @field_validator("urgency")
    @classmethod
    def _urgency_complete(cls, value: dict[str, int]) -> dict[str, int]:
        missing = {"WARN", "CRIT", "UNKNOWN"} - set(value)
        if missing:
            raise ValueError(f"urgency needs a value for {', '.join(sorted(missing))}")
        if bad := [k for k, v in value.items() if not 1 <= v <= 3]:
            raise ValueError(f"urgency of {', '.join(bad)} must be 1 (high) … 3 (low)")
        return value

    @field_validator("matrix")
    @classmethod
    def _matrix_complete(cls, value: dict[int, dict[int, str]]) -> dict[int, dict[int, str]]:
        missing = [f"impact {i} × urgency {u}" for i in (1, 2, 3, 4) for u in (1, 2, 3)
                   if u not in value.get(i, {})]
        if missing:
            raise ValueError("the priority matrix needs every impact 1–4 × urgency 1–3 "
                             f"cell; missing: {', '.join(missing)}")
        return value


class SupportGroup(_Strict):
    """A support group (functional escalation goes to ``escalate_to``)."""

    email: list[str] = Field(default_factory=list)
    escalate_to: str | None = None


class ManagementContact(_Strict):
    """Hierarchical escalation: told when an SLA target of these priorities is missed."""

    name: str = Field(min_length=1)
    email: list[str] = Field(default_factory=list)
    priorities: list[Priority] = Field(default_factory=lambda: ["P1", "P2"])


class Route(_Strict):
    """Devices in one of ``groups`` or serving one of ``business_systems`` (or named by
    ``devices`` globs) go to ``assignee``. The first matching route wins."""

    groups: list[str] = Field(default_factory=list)
    business_systems: list[str] = Field(default_factory=list)
    devices: list[str] = Field(default_factory=list)
    assignee: str


class Silence(_Strict):
    """A maintenance window / silence: matching incidents still open (state is kept) but
    send no notifications and are not escalated while it is in force."""

    device: str = "*"
    #: an inventory group; the silence then covers every device in it
    group: str | None = None
    check: str = "*"
    item: str = "*"
    starts: datetime | None = None
    ends: datetime
    reason: str = Field(min_length=1)
    created_by: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Silence:
        if self.ends.tzinfo is None or (self.starts is not None and self.starts.tzinfo is None):
            raise ValueError("silence times need a time zone (e.g. 2026-05-01T22:00:00+08:00)")
        if self.starts is not None and self.starts >= self.ends:
            raise ValueError("a silence must end after it starts")
        return self


class ProblemRule(_Strict):
    """K incidents of one fingerprint (or of one device + check) within ``window`` create a
    problem record (or link to the open one)."""

    enabled: bool = True
    recurrences: int = Field(default=3, ge=2, le=1000)
    window: Duration = timedelta(days=7)


class KnownError(_Strict):
    """A known error (KEDB entry): its workaround is attached to matching new incidents."""

    name: str = Field(min_length=1, max_length=128)
    device: str = "*"
    check: str = "*"
    item: str = "*"
    #: regular expression searched in the check's message
    message: str | None = None
    cause: str = Field(min_length=1)
    workaround: str = Field(min_length=1)

    @field_validator("message")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from exc
        return value


class IncidentSettings(_Strict):
    enabled: bool = True
    open_after: int = Field(default=3, ge=1, le=100)
    resolve_after: int = Field(default=2, ge=1, le=100)
    checks: dict[str, CheckRule] = Field(default_factory=dict)
    flapping: FlappingSettings = Field(default_factory=FlappingSettings)
    priority: PrioritySettings = Field(default_factory=PrioritySettings)
    sla: dict[Priority, SlaTarget] = Field(default_factory=_default_sla)
    #: a target is "at risk" when this share of it has elapsed
    at_risk: float = Field(default=0.75, gt=0, lt=1)
    support_groups: dict[str, SupportGroup] = Field(default_factory=dict)
    management: list[ManagementContact] = Field(default_factory=list)
    routing: list[Route] = Field(default_factory=list)
    default_group: str | None = None
    silences: list[Silence] = Field(default_factory=list)
    problems: ProblemRule = Field(default_factory=ProblemRule)
    known_errors: list[KnownError] = Field(default_factory=list)
    #: resolved incidents are closed after this long
    close_after: Duration = timedelta(days=1)
    #: language of titles and messages sent to people
    language: Literal["en", "zh-CN"] = "en"

    @model_validator(mode="after")
    def _references(self) -> IncidentSettings:
        problems = []
        used = {p for row in self.priority.matrix.values() for p in row.values()}
        if missing := sorted(used - set(self.sla)):
            problems.append(f"priority.matrix uses {', '.join(missing)} but sla has no "
                            "target for it: add sla entries or change the matrix")
        groups = set(self.support_groups)
        for name, group in self.support_groups.items():
            if group.escalate_to is not None and group.escalate_to not in groups:
                problems.append(f"support_groups.{name}.escalate_to: unknown support group "
                                f"{group.escalate_to!r}")
        for i, route in enumerate(self.routing):
            if route.assignee not in groups:
                problems.append(f"routing[{i}].assignee: unknown support group "
                                f"{route.assignee!r}")
        if self.default_group is not None and self.default_group not in groups:
            problems.append(f"default_group: unknown support group {self.default_group!r}")
        names = [k.name for k in self.known_errors]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"known_errors: duplicate name(s) {', '.join(dupes)}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def rule_for(self, check: str) -> tuple[int, int, CheckRule]:
        """(open_after, resolve_after, the check's rule) with defaults applied."""
        rule = self.checks.get(check, CheckRule())
        return (rule.open_after or self.open_after, rule.resolve_after or self.resolve_after,
                rule)
