"""PagerDuty Events API v2 (https://developer.pagerduty.com/docs/events-api-v2/).

``dedup_key`` is the incident's fingerprint, so trigger, acknowledge and resolve all address
the same PagerDuty alert, and re-sending a trigger never opens a second one.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from pydantic import SecretStr

from agent.notify.common import rfc3339
from agent.notify.event import IncidentEvent
from agent.notify.http import post_json

DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
SUMMARY_LIMIT = 1024
#: xunjian severity → PagerDuty severity (critical, error, warning, info)
SEVERITY = {"CRIT": "critical", "WARN": "warning", "UNKNOWN": "error"}
#: firing and escalated re-trigger (updates the alert); the others map one to one
ACTION = {"firing": "trigger", "escalated": "trigger", "acknowledged": "acknowledge",
          "resolved": "resolve"}


def _summary(event: IncidentEvent) -> str:
    text = f"[{event.priority}] {event.title}: {event.summary}" if event.summary else (
        f"[{event.priority}] {event.title}")
    return text if len(text) <= SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 1] + "…"


def pagerduty_event(event: IncidentEvent, routing_key: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": ACTION[event.kind],
        "dedup_key": event.fingerprint,
    }
    if body["event_action"] == "trigger":
        details = {
            "incident_id": event.incident_id,
            "status": event.status,
            "priority": event.priority,
            "value": event.value,
            "threshold": event.threshold,
            "assignee_group": event.assignee_group,
            "escalation": event.escalation,
            "workaround": event.workaround,
            "evidence": event.evidence,
            "labels": dict(event.labels),
        }
        payload: dict[str, Any] = {
            "summary": _summary(event),
            "source": event.labels.get("device") or "xunjian",
            "severity": SEVERITY[event.severity],
            "timestamp": rfc3339(event.updated_at),
            "component": event.labels.get("check") or None,
            "group": event.labels.get("business_system") or event.labels.get("group") or None,
            "class": event.labels.get("item") or None,
            "custom_details": {k: v for k, v in details.items() if v not in (None, "")},
        }
        body["payload"] = {k: v for k, v in payload.items() if v is not None}
    return body


class PagerDutyNotifier:
    resend_firing = False

    def __init__(
        self, name: str, routing_key: SecretStr, http: httpx.Client, *,
        url: str = DEFAULT_URL, timeout: float = 10.0,
    ) -> None:
        self.name = name
        self._routing_key = routing_key
        self._http = http
        self._url = url
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"PagerDutyNotifier(name={self.name!r})"

    def send(self, event: IncidentEvent) -> None:
        key = self._routing_key.get_secret_value()
        body = json.dumps(pagerduty_event(event, key), ensure_ascii=False).encode("utf-8")
        post_json(self._http, self.name, "pagerduty", self._url, body, {}, self._timeout,
                  [key])
