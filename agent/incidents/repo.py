"""Incident storage through the store's engine: read, acknowledge, resolve, comment, and the
row-level helpers the engine shares (timeline entries, queued notifications).

Notifications queued here go to the outbox addressed to ``*`` (every configured channel); the
engine's ``dispatch()`` fans them out to the channels it has, so a CLI ``ack`` is delivered by
the next inspection or the running agent.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from agent.errors import IncidentError, StoreError
from agent.incidents import sla
from agent.incidents.events import aware, build_event, to_json
from agent.incidents.model import (
    ACTIVE,
    Incident,
    MetricsSnapshot,
    Problem,
    SlaRemaining,
    TimelineEntry,
)
from agent.notify.event import EventKind
from agent.store import Store
from agent.store.schema import (
    IncidentOutboxRow,
    IncidentRow,
    IncidentTimelineRow,
    IncidentTrackerRow,
    ProblemRow,
)
from config.incidents import IncidentSettings

Clock = Callable[[], datetime]
#: event kinds that carry the incident's state; a newer one replaces an undelivered older one
STATE_KINDS = ("firing", "acknowledged", "resolved")
BROADCAST = "*"


def utc_now() -> datetime:
    return datetime.now(UTC)


@contextlib.contextmanager
def storing(store: Store, what: str) -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise StoreError(f"result store {store.url}: {what} failed: {detail}") from exc


def add_timeline(s: Session, incident_id: int, at: datetime, kind: str, actor: str,
                 text: str, **data: Any) -> None:
    s.add(IncidentTimelineRow(incident_id=incident_id, at=at, kind=kind, actor=actor,
                              text=text, data=data))


def queue(s: Session, row: IncidentRow, kind: EventKind, settings: IncidentSettings,
          now: datetime, *, notifier: str = BROADCAST, escalation: str | None = None,
          recipients: tuple[str, ...] | None = None, resend: bool = False,
          new_incident: bool = False) -> None:
    """Put one notification in the outbox (delivered by ``IncidentEngine.dispatch``).
    ``new_incident``: the incident was inserted by this transaction and queued nothing yet,
    so it has nothing to supersede (outbox rows are deleted with their incident, so no older
    row can carry a reused id)."""
    if kind in STATE_KINDS and not resend and not new_incident:
        # Only the latest state matters to a channel that has not received the older one.
        s.execute(update(IncidentOutboxRow)
                  .where(IncidentOutboxRow.incident_id == row.id,
                         IncidentOutboxRow.status == "pending",
                         IncidentOutboxRow.kind.in_(STATE_KINDS))
                  .values(status="superseded"))
    event = build_event(row, kind, settings, escalation=escalation, recipients=recipients,
                        now=now)
    s.add(IncidentOutboxRow(incident_id=row.id, notifier=notifier, kind=kind,
                            event=to_json(event), status="pending", attempts=0,
                            next_attempt_at=now, created_at=now, resend=resend))
    if kind == "firing":
        row.notified = True


def resolve_row(s: Session, row: IncidentRow, settings: IncidentSettings, now: datetime,
                actor: str, text: str) -> None:
    """Resolve; the resolution is announced whenever the firing was (muted or not), so no
    receiver keeps a stale alert."""
    row.status, row.resolved_at = "resolved", now
    add_timeline(s, row.id, now, "resolved", actor, text)
    if row.notified:
        queue(s, row, "resolved", settings, now)


def to_incident(row: IncidentRow, settings: IncidentSettings, now: datetime,
                timeline: Sequence[IncidentTimelineRow] = ()) -> Incident:
    opened = aware(row.opened_at)
    acked = aware(row.acknowledged_at) if row.acknowledged_at else None
    resolved = aware(row.resolved_at) if row.resolved_at else None
    return Incident(
        id=row.id, fingerprint=row.fingerprint, device=row.device, check=row.check,
        item=row.item, title=row.title, message=row.message,
        severity=row.severity,
        value=row.value, worst_value=row.worst_value, threshold=row.threshold,
        impact=row.impact, urgency=row.urgency, priority=row.priority,
        status=row.status,
        assignee_group=row.assignee_group, flapping=row.flapping, silenced=row.silenced,
        business_system=row.business_system, location=row.location, opened_at=opened,
        acknowledged_at=acked, resolved_at=resolved,
        closed_at=aware(row.closed_at) if row.closed_at else None,
        last_seen_at=aware(row.last_seen_at), breach_count=row.breach_count,
        result_id=row.result_id, problem_id=row.problem_id, known_error=row.known_error,
        workaround=row.workaround, escalations=list(row.escalations.get("done", [])),
        sla=sla.timers(row.priority, opened, acked, resolved, settings, now),
        timeline=[TimelineEntry(at=aware(t.at), kind=t.kind, actor=t.actor, text=t.text,
                                data=t.data) for t in timeline],
    )


def to_problem(row: ProblemRow) -> Problem:
    return Problem(id=row.id, key=row.key, title=row.title,
                   status=row.status,
                   device=row.device, check=row.check, item=row.item,
                   created_at=aware(row.created_at), updated_at=aware(row.updated_at),
                   incident_count=row.incident_count, known_error=row.known_error)


class IncidentRepo:
    """Read and change incidents (CLI, HTTP API, metrics)."""

    def __init__(self, store: Store, settings: IncidentSettings | None = None, *,
                 clock: Clock = utc_now) -> None:
        self.store = store
        self.settings = settings or IncidentSettings()
        self.clock = clock
        self._session = sessionmaker(store.engine, expire_on_commit=False)

    # -- reading --------------------------------------------------------------------------

    def list(self, status: str | Sequence[str] | None = None, priority: str | None = None,
             device: str | None = None, limit: int = 100) -> list[Incident]:
        """Newest first. ``status`` may be one status, several, ``active`` (open or
        acknowledged) or ``all``."""
        query = select(IncidentRow).order_by(IncidentRow.opened_at.desc(),
                                              IncidentRow.id.desc()).limit(limit)
        if status is not None and status != "all":
            wanted = [status] if isinstance(status, str) else list(status)
            if "active" in wanted:
                wanted = [w for w in wanted if w != "active"] + list(ACTIVE)
            query = query.where(IncidentRow.status.in_(wanted))
        if priority is not None:
            query = query.where(IncidentRow.priority == priority)
        if device is not None:
            query = query.where(IncidentRow.device == device)
        now = self.clock()
        with storing(self.store, "reading incidents"), self._session() as s:
            return [to_incident(r, self.settings, now) for r in s.scalars(query)]

    def get(self, incident_id: int) -> Incident:
        """The incident with its timeline; IncidentError when there is none."""
        with storing(self.store, "reading an incident"), self._session() as s:
            row = s.get(IncidentRow, incident_id)
            if row is None:
                raise IncidentError(f"no incident #{incident_id} (see `xunjian incidents "
                                    "list`)")
            timeline = s.scalars(select(IncidentTimelineRow)
                                 .where(IncidentTimelineRow.incident_id == incident_id)
                                 .order_by(IncidentTimelineRow.at, IncidentTimelineRow.id)).all()
            return to_incident(row, self.settings, self.clock(), timeline)

    def problems(self, status: str | None = None, limit: int = 100) -> builtins.list[Problem]:
        query = select(ProblemRow).order_by(ProblemRow.updated_at.desc()).limit(limit)
        if status is not None:
            query = query.where(ProblemRow.status == status)
        with storing(self.store, "reading problems"), self._session() as s:
            return [to_problem(r) for r in s.scalars(query)]

    def metrics_snapshot(self, now: datetime | None = None) -> MetricsSnapshot:
        """Open counts by priority and the SLA time left of every active incident (the
        running target: response until acknowledged, then resolution)."""
        now = now or self.clock()
        counts = {p: 0 for p in sorted(self.settings.sla, key=lambda p: int(p[1:]))}
        remaining = []
        with storing(self.store, "reading incidents"), self._session() as s:
            for row in s.scalars(select(IncidentRow).where(IncidentRow.status.in_(ACTIVE))):
                counts[row.priority] = counts.get(row.priority, 0) + 1
                incident = to_incident(row, self.settings, now)
                running = [t for t in incident.sla if not t.done]
                if running:
                    t = running[0]
                    remaining.append(SlaRemaining(
                        incident_id=row.id, device=row.device, check=row.check,
                        item=row.item, priority=row.priority, target=t.target,
                        remaining_seconds=t.remaining_seconds))
        return MetricsSnapshot(open_by_priority=counts, sla=remaining)

    # -- changing -------------------------------------------------------------------------

    def _change(self, incident_id: int, what: str,
                change: Callable[[Session, IncidentRow, datetime], None]) -> Incident:
        now = self.clock()
        with storing(self.store, what), self._session.begin() as s:
            row = s.get(IncidentRow, incident_id, with_for_update=True)
            if row is None:
                raise IncidentError(f"no incident #{incident_id} (see `xunjian incidents "
                                    "list`)")
            change(s, row, now)
        return self.get(incident_id)

    def ack(self, incident_id: int, by: str, comment: str | None = None) -> Incident:
        def change(s: Session, row: IncidentRow, now: datetime) -> None:
            if row.status != "open":
                raise IncidentError(f"incident #{row.id} is {row.status}; only an open "
                                    "incident can be acknowledged")
            row.status, row.acknowledged_at = "acknowledged", now
            add_timeline(s, row.id, now, "acknowledged", by,
                         f"acknowledged by {by}" + (f": {comment}" if comment else ""))
            if row.notified:
                queue(s, row, "acknowledged", self.settings, now)

        return self._change(incident_id, "acknowledging an incident", change)

    def resolve(self, incident_id: int, by: str, comment: str | None = None) -> Incident:
        def change(s: Session, row: IncidentRow, now: datetime) -> None:
            if row.status not in ACTIVE:
                raise IncidentError(f"incident #{row.id} is already {row.status}")
            resolve_row(s, row, self.settings, now, by,
                        f"resolved by {by}" + (f": {comment}" if comment else ""))
            # A check still breaching must breach open_after times again to reopen.
            tracker = s.get(IncidentTrackerRow, row.fingerprint)
            if tracker is not None:
                tracker.breaches, tracker.recoveries = 0, 0

        return self._change(incident_id, "resolving an incident", change)

    def comment(self, incident_id: int, by: str, text: str) -> Incident:
        if not text.strip():
            raise IncidentError("a comment needs some text")

        def change(s: Session, row: IncidentRow, now: datetime) -> None:
            add_timeline(s, row.id, now, "comment", by, text)

        return self._change(incident_id, "commenting on an incident", change)

    def outbox(self, incident_id: int | None = None) -> builtins.list[dict[str, Any]]:
        """Queued and delivered notifications (for tests and troubleshooting)."""
        query = select(IncidentOutboxRow).order_by(IncidentOutboxRow.id)
        if incident_id is not None:
            query = query.where(IncidentOutboxRow.incident_id == incident_id)
        with storing(self.store, "reading the outbox"), self._session() as s:
            return [{"id": r.id, "incident_id": r.incident_id, "notifier": r.notifier,
                     "kind": r.kind, "status": r.status, "attempts": r.attempts,
                     "next_attempt_at": aware(r.next_attempt_at), "last_error": r.last_error,
                     "resend": r.resend, "event": r.event}
                    for r in s.scalars(query)]

    def counts(self) -> dict[str, int]:
        with self._session() as s:
            return {str(status): n for status, n in s.execute(
                select(IncidentRow.status, func.count()).group_by(IncidentRow.status))}
