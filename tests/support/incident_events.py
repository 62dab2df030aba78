"""An :class:`IncidentEvent` to send in notification tests, and canary secrets."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from agent.notify.event import IncidentEvent

#: canary secrets: tests assert they never show up in errors, logs or payloads
HMAC_SECRET = "Xj-canary-hmac-4b1d9e"
ROUTING_KEY = "Xj-canary-routing-key-8c2f7a01"
SMTP_PASSWORD = "Xj-canary-smtp-pw-e3a1"
HEADER_TOKEN = "Xj-canary-bearer-77d0"

STARTED = datetime(2024, 5, 1, 2, 0, 0, tzinfo=UTC)
NOW = datetime(2024, 5, 1, 2, 30, 0, tzinfo=UTC)


def make_event(**changes: Any) -> IncidentEvent:
    event = IncidentEvent(
        kind="firing",
        incident_id=42,
        fingerprint="5f" * 32,
        labels={"device": "db-01", "check": "filesystem", "item": "/var",
                "severity": "CRIT", "priority": "P1", "business_system": "核心账务",
                "location": "北京亦庄 A3-12", "group": "core-db"},
        title="db-01 filesystem /var 95 % used",
        summary="/var is 95.0 % full (crit at 90 %)",
        severity="CRIT",
        priority="P1",
        status="open",
        started_at=STARTED,
        updated_at=NOW,
        value="95.0 %",
        threshold="warn 80 %, crit 90 %",
        assignee_group="DBA 二线",
        workaround="清理 /var/log 下的旧日志 <archive & purge>",
        evidence="xunjian evidence db-01 filesystem /var",
    )
    return dataclasses.replace(event, **changes)
