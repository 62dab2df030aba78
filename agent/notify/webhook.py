"""Generic webhook: POST the incident event as JSON, signed with HMAC-SHA256.

The body's schema and how a receiver verifies the signature are in docs/notifications.md.
The signature covers ``<timestamp>.<body>`` so a captured request cannot be replayed later with
a fresh timestamp; receivers should refuse timestamps older than a few minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from agent.notify.common import Clock, rfc3339, utc_now
from agent.notify.event import IncidentEvent
from agent.notify.http import post_json

SCHEMA_VERSION = 1
TIMESTAMP_HEADER = "X-Xunjian-Timestamp"
SIGNATURE_HEADER = "X-Xunjian-Signature"


def event_document(event: IncidentEvent, sent_at: str) -> dict[str, Any]:
    """The JSON document a webhook receives (documented in docs/notifications.md)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "event": event.kind,
        "sent_at": sent_at,
        "incident": {
            "id": event.incident_id,
            "fingerprint": event.fingerprint,
            "labels": dict(event.labels),
            "title": event.title,
            "summary": event.summary,
            "severity": event.severity,
            "priority": event.priority,
            "status": event.status,
            "started_at": rfc3339(event.started_at),
            "updated_at": rfc3339(event.updated_at),
            "resolved_at": rfc3339(event.resolved_at) if event.resolved_at else None,
            "value": event.value,
            "threshold": event.threshold,
            "assignee_group": event.assignee_group,
            "escalation": event.escalation,
            "workaround": event.workaround,
            "evidence": event.evidence,
            "recipients": list(event.recipients),
            "lang": event.lang,
        },
    }


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, timestamp + "." + body)."""
    digest = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def verify(secret: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    """What a receiver does (constant-time comparison)."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookNotifier:
    resend_firing = False

    def __init__(
        self, name: str, url: str, http: httpx.Client, *, secret: SecretStr | None = None,
        timeout: float = 10.0, headers: Mapping[str, str] | None = None,
        secret_headers: Mapping[str, SecretStr] | None = None, clock: Clock = utc_now,
    ) -> None:
        self.name = name
        self._url = url
        self._http = http
        self._secret = secret
        self._timeout = timeout
        self._headers = dict(headers or {})
        self._secret_headers = dict(secret_headers or {})
        self._clock = clock

    def __repr__(self) -> str:
        return f"WebhookNotifier(name={self.name!r})"

    def send(self, event: IncidentEvent) -> None:
        now = self._clock()
        body = json.dumps(event_document(event, rfc3339(now)), ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")
        headers = {"User-Agent": "xunjian-webhook", **self._headers}
        headers.update({k: v.get_secret_value() for k, v in self._secret_headers.items()})
        secrets = [v.get_secret_value() for v in self._secret_headers.values()]
        if self._secret is not None:
            timestamp = str(int(now.timestamp()))
            key = self._secret.get_secret_value()
            secrets.append(key)
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = sign(key.encode("utf-8"), timestamp, body)
        post_json(self._http, self.name, "webhook", self._url, body, headers, self._timeout,
                  secrets)
