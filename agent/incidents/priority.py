"""ITIL priority: impact (from the device's business level) × urgency (from the severity)."""

from __future__ import annotations

from config.incidents import PrioritySettings, Severity


def impact_of(business_level: int | None, settings: PrioritySettings) -> int:
    """Business level 1 (most critical) … 4 is the impact; unknown levels take the default."""
    return business_level if business_level in (1, 2, 3, 4) else settings.default_impact


def urgency_of(severity: Severity, settings: PrioritySettings) -> int:
    return settings.urgency[severity]


def priority_of(impact: int, urgency: int, settings: PrioritySettings) -> str:
    return settings.matrix[impact][urgency]


def rank(priority: str) -> int:
    """P1 → 1 (sort key; lower is more urgent)."""
    return int(priority[1:])
