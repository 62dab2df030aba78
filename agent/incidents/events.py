"""Turn an incident row into the :class:`IncidentEvent` the notifiers receive, and back from
the JSON kept in the outbox."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from agent.incidents.fingerprint import identity_labels
from agent.incidents.model import evidence_command
from agent.notify.event import EventKind, IncidentEvent
from agent.store.schema import IncidentRow
from config.incidents import IncidentSettings

_EVENT_FIELDS = tuple(f.name for f in fields(IncidentEvent))
_SEVERITY_ZH = {"CRIT": "严重", "WARN": "警告", "UNKNOWN": "未知"}


def aware(value: datetime) -> datetime:
    # SQLite returns naive datetimes; everything we write is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def title(device: str, check: str, item: str | None, severity: str, lang: str) -> str:
    what = f"{check} {item}" if item else check
    if lang == "zh-CN":
        return f"{device} {what} {_SEVERITY_ZH.get(severity, severity)}"
    return f"{severity}: {what} on {device}"


def build_event(row: IncidentRow, kind: EventKind, settings: IncidentSettings, *,
                escalation: str | None = None, recipients: tuple[str, ...] | None = None,
                now: datetime) -> IncidentEvent:
    labels = identity_labels(row.device, row.check, row.item)
    context = {"severity": row.severity, "priority": row.priority,
               "business_system": row.business_system, "location": row.location,
               "assignee_group": row.assignee_group}
    labels.update({k: v for k, v in context.items() if v})
    if recipients is None:
        group = settings.support_groups.get(row.assignee_group or "")
        recipients = tuple(group.email) if group else ()
    return IncidentEvent(
        kind=kind, incident_id=row.id, fingerprint=row.fingerprint, labels=labels,
        title=row.title, summary=row.message,
        severity=row.severity,  # type: ignore[arg-type]
        priority=row.priority,
        status=row.status,  # type: ignore[arg-type]
        started_at=aware(row.opened_at), updated_at=now,
        resolved_at=aware(row.resolved_at) if row.resolved_at else None,
        value=row.value, threshold=row.threshold, assignee_group=row.assignee_group,
        escalation=escalation, workaround=row.workaround,
        evidence=evidence_command(row.device, row.check, row.item),
        recipients=recipients, lang=settings.language,
    )


def to_json(event: IncidentEvent) -> dict[str, Any]:
    # What dataclasses.asdict gives (every field is a plain value, the labels a dict of
    # strings, the recipients a tuple of strings), without its recursive deep copy.
    data = {name: getattr(event, name) for name in _EVENT_FIELDS}
    data["labels"] = dict(event.labels)
    for key in ("started_at", "updated_at", "resolved_at"):
        if data[key] is not None:
            data[key] = data[key].isoformat()
    data["recipients"] = list(event.recipients)
    return data


def from_json(data: dict[str, Any]) -> IncidentEvent:
    values = dict(data)
    for key in ("started_at", "updated_at", "resolved_at"):
        if values.get(key) is not None:
            values[key] = datetime.fromisoformat(values[key])
    values["recipients"] = tuple(values.get("recipients", ()))
    return IncidentEvent(**values)
