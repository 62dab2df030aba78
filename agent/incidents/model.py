"""Typed incident records (pydantic, so the HTTP API can return them as JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

Status = Literal["open", "acknowledged", "resolved", "closed"]
#: statuses of an incident that is still going (one per fingerprint at most)
ACTIVE: tuple[Status, ...] = ("open", "acknowledged")
TargetName = Literal["response", "resolution"]
SlaState = Literal["ok", "at_risk", "missed", "met"]


class TimelineEntry(BaseModel):
    at: datetime
    #: opened, updated, priority, flapping, silenced, acknowledged, resolved, closed, comment,
    #: notification, escalation, problem, known_error
    kind: str
    actor: str
    text: str
    data: dict[str, Any] = Field(default_factory=dict)


class SlaTimer(BaseModel):
    target: TargetName
    due: datetime
    #: ok / at_risk / missed while running; met or missed once done
    state: SlaState
    #: seconds left until due (negative when missed); at completion when done
    remaining_seconds: float
    done: bool


class Incident(BaseModel):
    id: int
    fingerprint: str
    device: str
    check: str
    item: str | None
    title: str
    message: str
    severity: Literal["WARN", "CRIT", "UNKNOWN"]
    value: str | None
    worst_value: str | None
    threshold: str | None
    impact: int
    urgency: int
    priority: str
    status: Status
    assignee_group: str | None
    flapping: bool
    silenced: bool
    business_system: str | None
    location: str | None
    opened_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    last_seen_at: datetime
    breach_count: int
    #: the stored check result of the latest breach (the evidence)
    result_id: int | None
    problem_id: int | None
    known_error: str | None
    workaround: str | None
    #: escalations done, e.g. ``response:at_risk``
    escalations: list[str] = Field(default_factory=list)
    sla: list[SlaTimer] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)

    @property
    def evidence_command(self) -> str:
        return evidence_command(self.device, self.check, self.item)


def evidence_command(device: str, check: str, item: str | None) -> str:
    """The CLI command that shows the evidence chain of a finding."""
    return " ".join(["xunjian evidence", _quote(device), _quote(check),
                     *([_quote(item)] if item else [])])


def _quote(text: str) -> str:
    return text if text and all(c.isalnum() or c in "-_./:@" for c in text) else repr(text)


class Problem(BaseModel):
    id: int
    #: ``fp:<fingerprint>`` or ``dc:<device>/<check>``
    key: str
    title: str
    status: Literal["open", "closed"]
    device: str
    check: str
    item: str | None
    created_at: datetime
    updated_at: datetime
    incident_count: int
    known_error: str | None = None


class SlaRemaining(BaseModel):
    incident_id: int
    device: str
    check: str
    item: str | None
    priority: str
    target: TargetName
    remaining_seconds: float


class MetricsSnapshot(BaseModel):
    #: incidents open or acknowledged, by priority (every configured priority present)
    open_by_priority: dict[str, int]
    sla: list[SlaRemaining]
