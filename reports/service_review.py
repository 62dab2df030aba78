"""Incidents of the period: SLA achievement, major incidents, open problems (the monthly
service review, ITIL style)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from agent.store.schema import IncidentRow, ProblemRow
from config.incidents import IncidentSettings
from reports.model import IncidentLine, IncidentSummary, ProblemLine

MAJOR = ("P1", "P2")


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _within(opened: datetime, done: datetime | None, target: timedelta | None,
            until: datetime) -> bool | None:
    """Met (True), missed (False) or not yet decidable (None) at ``until``."""
    if target is None:
        return None
    if done is not None and done <= until:
        return done - opened <= target
    return False if until - opened > target else None


def summarise(incidents: Sequence[IncidentRow], problems: Sequence[ProblemRow],
              settings: IncidentSettings, start: datetime, end: datetime,
              now: datetime) -> IncidentSummary:
    """SLA figures count incidents opened in ``[start, end)``, judged as of the report's end
    (or now, for a period still running)."""
    until = min(end, now)
    opened = [i for i in incidents if start <= (_aware(i.opened_at) or start) < end]
    lines: list[IncidentLine] = []
    response = resolution = response_met = resolution_met = 0
    for i in opened:
        at = _aware(i.opened_at) or start
        target = settings.sla.get(i.priority)
        acked, resolved = _aware(i.acknowledged_at), _aware(i.resolved_at)
        first_response = min((d for d in (acked, resolved) if d is not None), default=None)
        responded = _within(at, first_response, target.response if target else None, until)
        fixed = _within(at, resolved, target.resolution if target else None, until)
        if responded is not None:
            response += 1
            response_met += responded
        if fixed is not None:
            resolution += 1
            resolution_met += fixed
        lines.append(IncidentLine(
            id=i.id, priority=i.priority, severity=i.severity, device=i.device, title=i.title,
            status=i.status, opened_at=at, resolved_at=resolved, responded_in_target=responded,
            resolved_in_target=fixed))
    still_open = sum(1 for i in incidents
                     if (_aware(i.resolved_at) is None or (_aware(i.resolved_at) or end) >= end)
                     and (_aware(i.opened_at) or end) < end)
    return IncidentSummary(
        opened=len(opened),
        resolved=sum(1 for i in incidents
                     if (r := _aware(i.resolved_at)) is not None and start <= r < end),
        still_open=still_open,
        by_priority=dict(sorted(Counter(i.priority for i in opened).items())),
        response_measured=response, response_met=response_met,
        resolution_measured=resolution, resolution_met=resolution_met,
        major=[line for line in lines if line.priority in MAJOR],
        open_problems=[ProblemLine(id=p.id, title=p.title, device=p.device,
                                   incident_count=p.incident_count,
                                   created_at=_aware(p.created_at) or start,
                                   known_error=p.known_error) for p in problems])
