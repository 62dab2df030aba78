"""Alertmanager API v2: ``POST {url}/api/v2/alerts`` with one alert per event.

Alertmanager identifies an alert by its label set, so the labels are only what never changes
during an incident's life: ``alertname``, the fingerprint's identifying labels (device, check,
item) and the stable context labels (business_system, location). Severity and priority can
change while the incident is open; as labels they would turn one incident into two alerts, so
they travel as annotations (route on ``check`` / ``business_system``, or match annotations in
templates).

A firing alert ends at ``now + alert_lifetime`` unless re-sent (``resend_firing``), like
Prometheus does; a resolved one is sent with ``endsAt`` = the resolution time.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx

from agent.notify.common import Clock, as_utc, rfc3339, utc_now
from agent.notify.event import IncidentEvent
from agent.notify.http import post_json

ALERTNAME = "XunjianIncident"
IDENTITY_LABELS = ("device", "check", "item")
CONTEXT_LABELS = ("business_system", "location")


def alert_labels(event: IncidentEvent) -> dict[str, str]:
    labels = {"alertname": ALERTNAME}
    for key in (*IDENTITY_LABELS, *CONTEXT_LABELS):
        value = event.labels.get(key)
        # Alertmanager treats an empty label as absent; leave it out so identity is explicit.
        if value:
            labels[key] = value
    return labels


def _fill(template: str | None, event: IncidentEvent) -> str | None:
    """The link with the event's values, each percent-encoded: an item or device name comes
    from a device's output or the inventory and must not change the link's host or path
    (``@evil.example``, ``../``, ``?``, ``#``)."""
    if template is None:
        return None
    values = {"incident_id": event.incident_id, "fingerprint": event.fingerprint,
              "device": event.labels.get("device", ""), "check": event.labels.get("check", ""),
              "item": event.labels.get("item", "")}
    return template.format(**{key: quote(str(value), safe="") for key, value in values.items()})


class AlertmanagerNotifier:
    resend_firing = True

    def __init__(
        self, name: str, url: str, http: httpx.Client, *, timeout: float = 10.0,
        alert_lifetime: timedelta = timedelta(minutes=15),
        resend_interval: timedelta = timedelta(minutes=5),
        generator_url: str | None = None, runbook_url: str | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.name = name
        #: how often the engine should re-send a firing alert (well inside its lifetime)
        self.resend_interval_seconds = resend_interval.total_seconds()
        self._endpoint = url.rstrip("/") + "/api/v2/alerts"
        self._http = http
        self._timeout = timeout
        self._lifetime = alert_lifetime
        self._generator_url = generator_url
        self._runbook_url = runbook_url
        self._clock = clock

    def __repr__(self) -> str:
        return f"AlertmanagerNotifier(name={self.name!r})"

    def alert(self, event: IncidentEvent) -> dict[str, Any]:
        """The alert object sent for ``event``."""
        annotations = {
            "summary": event.title,
            "description": event.summary,
            "severity": event.severity.lower(),
            "priority": event.priority,
            "status": event.status,
            "incident_id": str(event.incident_id),
            "fingerprint": event.fingerprint,
            "value": event.value,
            "threshold": event.threshold,
            "assignee_group": event.assignee_group,
            "escalation": event.escalation,
            "workaround": event.workaround,
            "evidence": event.evidence,
            "runbook_url": _fill(self._runbook_url, event),
        }
        if event.kind == "resolved":
            ends = as_utc(event.resolved_at or event.updated_at)
        else:
            ends = as_utc(self._clock()) + self._lifetime
        alert: dict[str, Any] = {
            "labels": alert_labels(event),
            "annotations": {k: v for k, v in annotations.items() if v},
            "startsAt": rfc3339(event.started_at),
            "endsAt": rfc3339(ends),
        }
        generator = _fill(self._generator_url, event)
        if generator:
            alert["generatorURL"] = generator
        return alert

    def send(self, event: IncidentEvent) -> None:
        body = json.dumps([self.alert(event)], ensure_ascii=False).encode("utf-8")
        post_json(self._http, self.name, "alertmanager", self._endpoint, body, {},
                  self._timeout)
