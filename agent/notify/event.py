"""The contract between the incident engine and the notification channels.

The engine turns each incident state change into one :class:`IncidentEvent`; every configured
:class:`Notifier` receives it. A notifier raises :class:`agent.errors.NotifyError` when the
delivery failed; the engine retries with backoff and records every attempt in the incident's
timeline, so a failing channel never blocks an inspection and never loses the incident.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

#: firing: opened, or still breaching (re-sent to Alertmanager so the alert stays active);
#: acknowledged: someone took it; resolved: recovered or closed by hand;
#: escalated: an SLA target is at risk or missed (the event names who it escalates to)
EventKind = Literal["firing", "acknowledged", "resolved", "escalated"]


@dataclass(frozen=True)
class IncidentEvent:
    kind: EventKind
    incident_id: int
    #: sha256 hex of the identifying labels (device, check, item): Alertmanager identity,
    #: PagerDuty dedup_key, and the dedup key in our store
    fingerprint: str
    #: identifying labels first (device, check, item), then context labels (severity,
    #: priority, business_system, location, group ...); all values are plain strings
    labels: dict[str, str]
    title: str
    #: one-line description of the current state (the check's message)
    summary: str
    severity: Literal["WARN", "CRIT", "UNKNOWN"]
    priority: str
    status: Literal["open", "acknowledged", "resolved", "closed"]
    started_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    value: str | None = None
    threshold: str | None = None
    assignee_group: str | None = None
    #: for kind == "escalated": "functional" or "hierarchical"
    escalation: str | None = None
    workaround: str | None = None
    #: where an engineer sees the evidence (the CLI command, or the HTTP API path)
    evidence: str | None = None
    #: e-mail addresses to notify in addition to a channel's own (assignee group, escalation)
    recipients: tuple[str, ...] = field(default_factory=tuple)
    #: language of human-readable messages: "zh-CN" or "en"
    lang: str = "en"


class Notifier(Protocol):
    #: the channel's configured name (shown in the incident timeline)
    name: str
    #: Alertmanager wants firing alerts re-sent while they last; other channels do not
    resend_firing: bool

    def send(self, event: IncidentEvent) -> None:
        """Deliver the event; raise NotifyError (with a message that says why) on failure."""
        ...
