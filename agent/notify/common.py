"""Small helpers the channels share: time stamps and the injected clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

#: returns the current time (aware, UTC); injected so tests control "now"
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """Naive datetimes (SQLite hands them back that way) are UTC in xunjian's store."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def rfc3339(moment: datetime) -> str:
    """``2024-05-01T02:03:04.123456Z``: what Alertmanager and PagerDuty parse."""
    return as_utc(moment).isoformat().replace("+00:00", "Z")
