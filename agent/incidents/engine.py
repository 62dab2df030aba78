"""The incident engine: a result observer of the runner that applies the rules to every stored
result, keeps incidents, problems and the notification outbox, and delivers notifications.

Each device result is handled in one transaction (trackers, incidents, timeline, outbox), so a
crash never leaves half an update; notifications are sent outside any transaction by
:meth:`IncidentEngine.dispatch`, retried with exponential backoff, every attempt recorded in the
incident's timeline. A failing channel never blocks an inspection and never loses an incident.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Connection, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from agent.errors import NotifyError
from agent.incidents import matching, rules, sla
from agent.incidents.events import aware, from_json, title
from agent.incidents.fingerprint import fingerprint
from agent.incidents.model import ACTIVE
from agent.incidents.priority import impact_of, priority_of, urgency_of
from agent.incidents.repo import (
    BROADCAST,
    Clock,
    add_timeline,
    queue,
    resolve_row,
    storing,
    utc_now,
)
from agent.notify.event import Notifier
from agent.results import DeviceResult
from agent.store import Store
from agent.store.schema import (
    DeviceRow,
    IncidentOutboxRow,
    IncidentRow,
    IncidentTrackerRow,
    ProblemRow,
)
from checks.builtin import UNREACHABLE
from checks.model import CheckResult, State
from config.incidents import IncidentSettings, Severity
from config.inventory import Device
from config.notify import RetrySettings

log = logging.getLogger(__name__)
ENGINE = "xunjian"
#: a claimed delivery is retried by another dispatcher after this long (the sender died)
CLAIM_LEASE = timedelta(minutes=5)
#: re-send interval for channels that want firing alerts re-sent but do not say how often
DEFAULT_RESEND_SECONDS = 300.0


@dataclass(frozen=True)
class _Seen:
    """One fingerprint in one result: its check result, or None when it disappeared."""

    check: str
    item: str | None
    result: CheckResult | None


@dataclass(frozen=True)
class _Tracked:
    """A stored tracker: its check and item, and its rule state."""

    check: str
    item: str | None
    state: rules.Tracker


@dataclass(frozen=True)
class _Active:
    """The columns of an active incident that a breach of the same severity reads."""

    id: int
    device: str
    check: str
    item: str | None
    severity: str
    silenced: bool
    breach_count: int
    worst_num: float | None
    worst_value: str | None


_NEW_TRACKER = rules.Tracker()
_TRACKER = IncidentTrackerRow.metadata.tables[IncidentTrackerRow.__tablename__]
_INCIDENT = IncidentRow.metadata.tables[IncidentRow.__tablename__]
#: the device's trackers and active incidents, locked (FOR UPDATE on PostgreSQL) until commit
_TRACKERS = (select(_TRACKER.c.fingerprint, _TRACKER.c.check, _TRACKER.c.item,
                    _TRACKER.c.breaches, _TRACKER.c.recoveries, _TRACKER.c.history,
                    _TRACKER.c.flapping)
             .where(_TRACKER.c.device == bindparam("d")).with_for_update())
_ACTIVE_INCIDENTS = (select(_INCIDENT.c.fingerprint, _INCIDENT.c.id, _INCIDENT.c.device,
                            _INCIDENT.c.check, _INCIDENT.c.item, _INCIDENT.c.severity,
                            _INCIDENT.c.silenced, _INCIDENT.c.breach_count,
                            _INCIDENT.c.worst_num, _INCIDENT.c.worst_value)
                     .where(_INCIDENT.c.device == bindparam("d"),
                            # not IN (…): an expanding IN is re-rendered per execution
                            or_(*(_INCIDENT.c.status == status for status in ACTIVE)))
                     .with_for_update())
_RECENT = (select(_INCIDENT.c.id, _INCIDENT.c.fingerprint)
           .where(_INCIDENT.c.opened_at >= bindparam("since"),
                  _INCIDENT.c.device == bindparam("d"), _INCIDENT.c.check == bindparam("c"))
           .order_by(_INCIDENT.c.id))
_INSERT_TRACKERS = insert(_TRACKER)
_UPDATE_TRACKERS = update(_TRACKER).where(_TRACKER.c.fingerprint == bindparam("b_fp"))
_COUNT_BREACH = update(_INCIDENT).where(_INCIDENT.c.id == bindparam("b_id"))


class _LazySession:
    """An ORM session on the caller's connection (its transaction), made on first use. It
    never commits nor rolls back: the connection's ``begin()`` block does (an exception
    leaves the session to the garbage collector with the rolled-back connection)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = Session(bind=self.conn)
        return self._session

    def flush(self) -> None:
        if self._session is not None:
            try:
                self._session.flush()
            finally:
                self._session.close()


@functools.lru_cache(maxsize=65536)
def _fingerprint(device: str, check: str, item: str | None) -> str:
    return fingerprint(device, check, item)


def _breach_values(row: IncidentRow | _Active, c: CheckResult, result_id: int,
                   now: datetime) -> dict[str, object]:
    """An active incident's columns after one more breach of the same severity."""
    value = _value_text(c)
    worst_num, worst_value = row.worst_num, row.worst_value
    if isinstance(c.value, int | float):
        if worst_num is None or c.value > worst_num:
            worst_num, worst_value = float(c.value), value
    elif c.value is not None:
        worst_value = value
    return {"breach_count": row.breach_count + 1, "last_seen_at": now,
            "result_id": result_id, "message": c.message, "value": value,
            "threshold": c.threshold_text, "worst_num": worst_num, "worst_value": worst_value}


def _value_text(c: CheckResult) -> str | None:
    if c.value is None:
        return None
    if isinstance(c.value, float | int):
        return f"{c.value:g}{' ' + c.unit if c.unit else ''}"
    return str(c.value)


class IncidentEngine:
    def __init__(self, store: Store, settings: IncidentSettings, notifiers: Sequence[Notifier],
                 *, clock: Clock = utc_now, retry: RetrySettings | None = None,
                 deliver: bool = True) -> None:
        self.store = store
        #: False when the channels could not be built: notifications stay queued, unsent
        self.deliver = deliver
        self.settings = settings
        self.notifiers = list(notifiers)
        self.clock = clock
        self.retry = retry or RetrySettings()
        self._session = sessionmaker(store.engine, expire_on_commit=False)
        self._rules: dict[str, rules.Rule] = {}
        self._rules_of = settings

    # -- observing results ----------------------------------------------------------------

    def observe(self, device: Device, result: DeviceResult, result_id: int) -> None:
        if not self.settings.enabled:
            return
        # A second process may open the same fingerprint between our read and our insert:
        # the partial unique index refuses it, and we redo the result against its incident.
        with storing(self.store, f"updating incidents of {device.name}"):
            for attempt in range(3):
                try:
                    # on the connection that stored the result, when the store holds one
                    with self.store.begin() as conn:
                        self._observe(conn, device, result, result_id, self.clock())
                    return
                except IntegrityError:
                    if attempt == 2:
                        raise
                    log.info("%s: incident opened concurrently; re-applying the result",
                             device.name)

    def run_finished(self, run_id: int) -> None:
        self.tick()

    def _seen(self, device: Device, result: DeviceResult,
              trackers: dict[str, _Tracked]) -> dict[str, _Seen]:
        seen: dict[str, _Seen] = {}
        if not result.reachable:
            # Unreachable: only the "reachable" check speaks; every other check of the device
            # is suppressed (its counters freeze, nothing opens or resolves).
            for c in result.checks:
                if c.check == UNREACHABLE:
                    seen[_fingerprint(device.name, c.check, c.item)] = _Seen(c.check, c.item, c)
            return seen
        for c in result.checks:
            seen[_fingerprint(device.name, c.check, c.item)] = _Seen(c.check, c.item, c)
        # Could not evaluate a check at all: its items are unknown, not recovered.
        undecided = {c.check for c in result.checks
                     if c.item is None and c.state is State.UNKNOWN}
        for fp, t in trackers.items():
            if fp not in seen and t.check not in undecided:
                seen[fp] = _Seen(t.check, t.item, None)  # gone (or reachable again): recovered
        return seen

    def _rule(self, check: str) -> rules.Rule:
        if self._rules_of is not self.settings:  # settings replaced: rebuild the rules
            self._rules, self._rules_of = {}, self.settings
        rule = self._rules.get(check)
        if rule is None:
            open_after, resolve_after, per_check = self.settings.rule_for(check)
            flap = self.settings.flapping
            rule = self._rules[check] = rules.Rule(
                open_after=open_after, resolve_after=resolve_after,
                recover_below=per_check.recover_below, recover_margin=per_check.recover_margin,
                flapping=flap.enabled, window=flap.window, high=flap.high, low=flap.low)
        return rule

    def _observe(self, conn: Connection, device: Device, result: DeviceResult,
                 result_id: int, now: datetime) -> None:
        """One result in the caller's transaction. The rule bookkeeping (trackers, and an
        active incident that only counts one more breach) is SQLAlchemy Core: one locking
        read per table, one executemany per write; an ORM session only comes in when an
        incident opens, changes severity, silence or flapping, or resolves (rare)."""
        trackers = {fp: _Tracked(check, item, rules.Tracker(breaches, recoveries, history,
                                                            flapping))
                    for fp, check, item, breaches, recoveries, history, flapping
                    in conn.execute(_TRACKERS, {"d": device.name})}
        observed: list[tuple[str, _Seen, rules.Observation]] = []
        for fp, seen in self._seen(device, result, trackers).items():
            c = seen.result
            state = State.OK if c is None or c.waived else c.state
            obs = rules.Observation(state, c.value if c else None, c.warn if c else None)
            if fp in trackers or obs.breaching:  # never breached: nothing to track
                observed.append((fp, seen, obs))
        if not observed:
            return  # nothing breaches and nothing is tracked: nothing can change
        active = {fp: _Active(*columns) for fp, *columns
                  in conn.execute(_ACTIVE_INCIDENTS, {"d": device.name})}
        new_trackers: list[dict[str, object]] = []
        changed_trackers: list[dict[str, object]] = []
        counted: list[dict[str, object]] = []  # incidents that only count one more breach
        orm = _LazySession(conn)
        for fp, seen, obs in observed:
            tracked = trackers.get(fp)
            incident = active.get(fp)
            decision = rules.decide(tracked.state if tracked else _NEW_TRACKER, obs,
                                    self._rule(seen.check), incident is not None)
            t = decision.tracker
            values = {"breaches": t.breaches, "recoveries": t.recoveries, "history": t.history,
                      "flapping": t.flapping, "updated_at": now}
            if tracked is None:
                new_trackers.append({"fingerprint": fp, "device": device.name,
                                     "check": seen.check, "item": seen.item, **values})
            else:
                changed_trackers.append({"b_fp": fp, **values})
            c = seen.result
            if incident is None:
                if decision.action is rules.Action.OPEN and c is not None:
                    self._open(orm.session, device, fp, c, t, result_id, now)
            elif decision.action is rules.Action.UPDATE and c is not None \
                    and not decision.flapping_changed and self._only_counts(incident, device, c,
                                                                            now):
                counted.append({"b_id": incident.id,
                                **_breach_values(incident, c, result_id, now)})
            elif decision.action is not rules.Action.NONE or decision.flapping_changed:
                self._change(orm.session, incident.id, device, seen, decision, result_id, now)
        # The incidents first: a concurrent open of the same fingerprint fails here, before we
        # would wait on the tracker row the other process inserted.
        orm.flush()
        for statement, rows in ((_COUNT_BREACH, counted), (_INSERT_TRACKERS, new_trackers),
                                (_UPDATE_TRACKERS, changed_trackers)):
            if rows:
                conn.execute(statement, rows)

    def _change(self, s: Session, incident_id: int, device: Device, seen: _Seen,
                decision: rules.Decision, result_id: int, now: datetime) -> None:
        """An active incident that changes more than its counters (the ORM path)."""
        row = s.get_one(IncidentRow, incident_id)
        c = seen.result
        if decision.action is rules.Action.UPDATE and c is not None:
            self._update(s, row, device, c, result_id, now)
        elif decision.action is rules.Action.RESOLVE:
            detail = c.message if c else "no longer reported"
            resolve_row(s, row, self.settings, now, ENGINE,
                        f"recovered for {self._rule(seen.check).resolve_after} "
                        f"consecutive inspection(s): {detail}")
            return
        if decision.flapping_changed:
            t = decision.tracker
            self._flapping(s, row, t.flapping, t.history, now)

    def _only_counts(self, incident: _Active, device: Device, c: CheckResult,
                     now: datetime) -> bool:
        """Whether this breach of an active incident changes nothing but its counters and
        values (same severity, silence unchanged): what :meth:`_update` would do then."""
        if c.state.value != incident.severity:
            return False
        silence = matching.active_silence(self.settings, incident.device, device.groups,
                                          incident.check, incident.item, now)
        return (silence is not None) == incident.silenced

    # -- incident changes -----------------------------------------------------------------

    def _muted(self, row: IncidentRow) -> bool:
        return row.flapping or row.silenced

    def _priority(self, device_level: int | None, severity: str) -> tuple[int, int, str]:
        p = self.settings.priority
        impact = impact_of(device_level, p)
        urgency = urgency_of(cast(Severity, severity), p)
        return impact, urgency, priority_of(impact, urgency, p)

    def _open(self, s: Session, device: Device, fp: str, c: CheckResult,
              tracker: rules.Tracker, result_id: int, now: datetime) -> IncidentRow:
        severity = c.state.value
        impact, urgency, priority = self._priority(device.business_level, severity)
        silence = matching.active_silence(self.settings, device.name, device.groups, c.check,
                                          c.item, now)
        known = matching.known_error_for(self.settings, device.name, c.check, c.item,
                                         c.message)
        worst = float(c.value) if isinstance(c.value, int | float) else None
        row = IncidentRow(
            fingerprint=fp, device=device.name, check=c.check, item=c.item,
            title=title(device.name, c.check, c.item, severity, self.settings.language),
            message=c.message, severity=severity, value=_value_text(c),
            worst_value=_value_text(c), worst_num=worst,
            threshold=c.threshold_text, impact=impact, urgency=urgency, priority=priority,
            status="open",
            assignee_group=matching.assignee_for(self.settings, device.name, device.groups,
                                                 device.business_system),
            flapping=tracker.flapping, silenced=silence is not None, notified=False,
            business_system=device.business_system, location=device.location,
            opened_at=now, last_seen_at=now, breach_count=tracker.breaches,
            result_id=result_id, known_error=known.name if known else None,
            workaround=known.workaround if known else None, escalations={"done": []},
        )
        s.add(row)
        s.flush()  # the partial unique index speaks here
        add_timeline(s, row.id, now, "opened", ENGINE,
                     f"opened after {tracker.breaches} consecutive breaching inspection(s): "
                     f"{c.message}", severity=severity, impact=impact, urgency=urgency,
                     priority=priority, assignee_group=row.assignee_group)
        if known:
            add_timeline(s, row.id, now, "known_error", ENGINE,
                         f"matches known error {known.name}: {known.cause}; workaround: "
                         f"{known.workaround}", name=known.name)
        if silence:
            add_timeline(s, row.id, now, "silenced", ENGINE,
                         f"silenced until {silence.ends.isoformat()}: {silence.reason}")
        if row.flapping:
            add_timeline(s, row.id, now, "flapping", ENGINE,
                         "flapping: notifications muted until it settles",
                         percent=rules.percent_state_change(tracker.history,
                                                            self.settings.flapping.window))
        self._link_problem(s, row, known.name if known else None, now)
        if not self._muted(row):
            queue(s, row, "firing", self.settings, now, new_incident=True)
        return row

    def _update(self, s: Session, row: IncidentRow, device: Device, c: CheckResult,
                result_id: int, now: datetime) -> None:
        for name, value in _breach_values(row, c, result_id, now).items():
            setattr(row, name, value)
        if c.state.value != row.severity:
            impact, urgency, priority = self._priority(device.business_level, c.state.value)
            add_timeline(s, row.id, now, "priority", ENGINE,
                         f"severity {row.severity} → {c.state.value}, priority {row.priority}"
                         f" → {priority}", severity=c.state.value, priority=priority)
            row.severity, row.impact, row.urgency, row.priority = (
                c.state.value, impact, urgency, priority)
            row.title = title(row.device, row.check, row.item, row.severity,
                              self.settings.language)
            if not self._muted(row):
                queue(s, row, "firing", self.settings, now)
        self._resilence(s, row, device.groups, now)

    def _resilence(self, s: Session, row: IncidentRow, groups: Sequence[str],
                   now: datetime) -> None:
        silence = matching.active_silence(self.settings, row.device, groups, row.check,
                                          row.item, now)
        if (silence is not None) == row.silenced:
            return
        row.silenced = silence is not None
        if silence is not None:
            add_timeline(s, row.id, now, "silenced", ENGINE,
                         f"silenced until {silence.ends.isoformat()}: {silence.reason}")
            return
        add_timeline(s, row.id, now, "silenced", ENGINE, "silence ended")
        if not row.flapping and row.status == "open":
            queue(s, row, "firing", self.settings, now)

    def _flapping(self, s: Session, row: IncidentRow, flapping: bool, history: str,
                  now: datetime) -> None:
        row.flapping = flapping
        pct = rules.percent_state_change(history, self.settings.flapping.window)
        if flapping:
            add_timeline(s, row.id, now, "flapping", ENGINE,
                         f"flapping ({pct:g} % state change): notifications muted",
                         percent=pct)
            return
        add_timeline(s, row.id, now, "flapping", ENGINE,
                     f"stopped flapping ({pct:g} % state change)", percent=pct)
        if not row.silenced and not row.notified:
            queue(s, row, "firing", self.settings, now)

    def _link_problem(self, s: Session, row: IncidentRow, known: str | None,
                      now: datetime) -> None:
        rule = self.settings.problems
        if not rule.enabled:
            return
        # The incidents of this device and check opened in the window: those of the same
        # fingerprint are among them. Read on the session's connection without an autoflush:
        # incidents are flushed as they open, and the columns read never change.
        by_dc = [(i, fp) for i, fp in s.connection().execute(
            _RECENT, {"since": now - rule.window, "d": row.device, "c": row.check})]
        by_fp = [i for i, fp in by_dc if fp == row.fingerprint]
        if len(by_fp) >= rule.recurrences:
            key, ids, what = f"fp:{row.fingerprint}", by_fp, row.title
        elif len(by_dc) >= rule.recurrences:
            key, ids, what = f"dc:{row.device}/{row.check}", [i for i, _ in by_dc], \
                f"{row.check} on {row.device}"
        else:
            return
        members = s.scalars(select(IncidentRow).where(IncidentRow.id.in_(ids))
                            .order_by(IncidentRow.id)).all()
        problem = s.scalars(select(ProblemRow).where(ProblemRow.key == key,
                                                     ProblemRow.status == "open")).first()
        if problem is None:
            problem = ProblemRow(key=key, title=f"recurring: {what}", status="open",
                                 device=row.device, check=row.check,
                                 item=row.item if key.startswith("fp:") else None,
                                 created_at=now, updated_at=now, incident_count=0,
                                 known_error=known)
            s.add(problem)
            s.flush()
        for member in members:
            if member.problem_id is None:
                member.problem_id = problem.id
                add_timeline(s, member.id, now, "problem", ENGINE,
                             f"linked to problem #{problem.id}: {len(members)} incidents in "
                             f"{rule.window}", problem_id=problem.id)
        problem.incident_count = s.scalar(select(func.count()).select_from(IncidentRow)
                                          .where(IncidentRow.problem_id == problem.id)) or 0
        problem.updated_at = now
        problem.known_error = problem.known_error or known

    # -- periodic work: SLA escalation, silences, closing, re-sending ---------------------

    def tick(self, now: datetime | None = None) -> None:
        now = now or self.clock()
        with storing(self.store, "SLA escalation"), self._session.begin() as s:
            rows = s.scalars(select(IncidentRow).where(IncidentRow.status.in_(ACTIVE))
                             .order_by(IncidentRow.id)
                             .with_for_update()).all()
            unreachable = {r.device for r in rows if r.check == UNREACHABLE}
            groups = self._device_groups(s, {r.device for r in rows})
            for row in rows:
                self._resilence(s, row, groups.get(row.device, ()), now)
                suppressed = row.check != UNREACHABLE and row.device in unreachable
                if not (self._muted(row) or suppressed):
                    self._escalate(s, row, now)
            for row in s.scalars(select(IncidentRow).where(
                    IncidentRow.status == "resolved",
                    IncidentRow.resolved_at <= now - self.settings.close_after)):
                row.status, row.closed_at = "closed", now
                add_timeline(s, row.id, now, "closed", ENGINE,
                             f"closed {self.settings.close_after} after resolution")
            self._queue_resends(s, [r for r in rows if r.notified and not self._muted(r)
                                    and not (r.check != UNREACHABLE and r.device in unreachable)],
                                now)

    def _device_groups(self, s: Session, names: set[str]) -> dict[str, tuple[str, ...]]:
        if not names:
            return {}
        rows = s.scalars(select(DeviceRow).where(DeviceRow.name.in_(names)))
        return {r.name: tuple(r.meta.get("groups") or ()) for r in rows}

    def _escalate(self, s: Session, row: IncidentRow, now: datetime) -> None:
        acked = aware(row.acknowledged_at) if row.acknowledged_at else None
        timers = sla.timers(row.priority, aware(row.opened_at), acked, None, self.settings, now)
        done = set(row.escalations.get("done", []))
        for esc in sla.escalations_due(row.priority, row.assignee_group, timers, done,
                                       self.settings):
            done.add(esc.key)
            due = next(t.due for t in timers if t.target == esc.target)
            state = "missed" if esc.key.endswith("missed") else "at risk"
            why = f"{esc.target} target {state} (due {due:%Y-%m-%d %H:%M} UTC)"
            if esc.kind == "functional":
                if esc.to_group:
                    before, row.assignee_group = row.assignee_group, esc.to_group
                    text = f"escalated (functional) from {before or '-'} to {esc.to_group}: {why}"
                else:
                    text = (f"{why}; no further support group after "
                            f"{row.assignee_group or '-'} to escalate to")
                add_timeline(s, row.id, now, "escalation", ENGINE, text, escalation="functional",
                             target=esc.target, to_group=esc.to_group)
                queue(s, row, "escalated", self.settings, now, escalation="functional")
            else:
                names = ", ".join(c.name for c in esc.contacts) or "nobody configured"
                add_timeline(s, row.id, now, "escalation", ENGINE,
                             f"escalated (hierarchical) to {names}: {why}",
                             escalation="hierarchical", target=esc.target,
                             contacts=[c.name for c in esc.contacts])
                queue(s, row, "escalated", self.settings, now, escalation="hierarchical",
                      recipients=esc.recipients)
        row.escalations = {"done": sorted(done)}

    def _queue_resends(self, s: Session, rows: Sequence[IncidentRow], now: datetime) -> None:
        channels = [n for n in self.notifiers if n.resend_firing]
        if not rows or not channels or not self.deliver:
            return
        # A channel that has not taken the last one yet gets no second copy queued.
        undelivered = {(i, n) for i, n in s.execute(
            select(IncidentOutboxRow.incident_id, IncidentOutboxRow.notifier)
            .where(IncidentOutboxRow.incident_id.in_([r.id for r in rows]),
                   IncidentOutboxRow.status == "pending"))}
        # The latest firing/acknowledged event per channel, or a broadcast not yet fanned out.
        last = {(i, n): aware(at) for i, n, at in s.execute(
            select(IncidentOutboxRow.incident_id, IncidentOutboxRow.notifier,
                   func.max(IncidentOutboxRow.created_at))
            .where(IncidentOutboxRow.incident_id.in_([r.id for r in rows]),
                   IncidentOutboxRow.notifier.in_([BROADCAST, *(n.name for n in channels)]),
                   IncidentOutboxRow.kind.in_(("firing", "acknowledged")),
                   IncidentOutboxRow.status.not_in(("superseded", "dropped")))
            .group_by(IncidentOutboxRow.incident_id, IncidentOutboxRow.notifier))}
        for row in rows:
            for n in channels:
                every = float(getattr(n, "resend_interval_seconds", DEFAULT_RESEND_SECONDS))
                times = [t for t in (last.get((row.id, n.name)), last.get((row.id, BROADCAST)))
                         if t is not None]
                sent = max(times) if times else None
                if (row.id, n.name) in undelivered or (row.id, BROADCAST) in undelivered:
                    continue
                if sent is None or (now - sent).total_seconds() >= every:
                    queue(s, row, "firing", self.settings, now, notifier=n.name, resend=True)

    # -- delivering -----------------------------------------------------------------------

    def _fan_out(self, now: datetime) -> None:
        """Broadcast rows (``*``) become one row per configured channel."""
        with storing(self.store, "queueing notifications"), self._session.begin() as s:
            for row in s.scalars(select(IncidentOutboxRow).where(
                    IncidentOutboxRow.notifier == BROADCAST,
                    IncidentOutboxRow.status == "pending").with_for_update()):
                row.status = "expanded" if self.notifiers else "dropped"
                if not self.notifiers:
                    row.last_error = "no notification channel configured"
                for n in self.notifiers:
                    s.add(IncidentOutboxRow(
                        incident_id=row.incident_id, notifier=n.name, kind=row.kind,
                        event=row.event, status="pending", attempts=0, next_attempt_at=now,
                        created_at=row.created_at, resend=row.resend))

    def _claim(self, row_id: int, due: datetime, now: datetime) -> bool:
        """Take a delivery for ourselves (another dispatcher may be running)."""
        with storing(self.store, "claiming a notification"), self._session.begin() as s:
            claimed = s.execute(
                update(IncidentOutboxRow)
                .where(IncidentOutboxRow.id == row_id, IncidentOutboxRow.status == "pending",
                       IncidentOutboxRow.next_attempt_at == due)
                .values(next_attempt_at=now + CLAIM_LEASE))
            return bool(getattr(claimed, "rowcount", 0))

    def dispatch(self, now: datetime | None = None) -> int:
        """Deliver due notifications; return how many deliveries were attempted."""
        if not self.deliver:
            return 0
        now = now or self.clock()
        self._fan_out(now)
        by_name = {n.name: n for n in self.notifiers}
        with storing(self.store, "reading the outbox"), self._session() as s:
            due = s.scalars(select(IncidentOutboxRow).where(
                IncidentOutboxRow.status == "pending",
                IncidentOutboxRow.next_attempt_at <= now)
                .order_by(IncidentOutboxRow.id).limit(1000)).all()
            # earlier deliveries of an incident to a channel that are still waiting
            waiting = {(r.incident_id, r.notifier) for r in s.scalars(select(IncidentOutboxRow)
                       .where(IncidentOutboxRow.status == "pending",
                              IncidentOutboxRow.next_attempt_at > now))}
        blocked = set(waiting)
        attempted = 0
        for row in due:
            key = (row.incident_id, row.notifier)
            if key in blocked:
                continue  # keep the order of one incident's events on one channel
            notifier = by_name.get(row.notifier)
            if notifier is None:
                self._finish(row, now, "dropped", "channel no longer configured")
                continue
            if not self._claim(row.id, row.next_attempt_at, now):
                continue
            attempted += 1
            error = None
            try:
                notifier.send(from_json(row.event))
            except NotifyError as exc:
                error = str(exc)
            except Exception as exc:  # a notifier bug must not stop the others
                log.exception("notification channel %s failed unexpectedly", row.notifier)
                error = f"internal error in channel {row.notifier}: {type(exc).__name__}: {exc}"
            if error is None:
                self._finish(row, now, "sent", None)
            else:
                blocked.add(key)
                log.warning("incident #%d: %s notification via %s failed (attempt %d): %s",
                            row.incident_id, row.kind, row.notifier, row.attempts + 1, error)
                self._finish(row, now, "pending", error)
        return attempted

    def _finish(self, row: IncidentOutboxRow, now: datetime, status: str,
                error: str | None) -> None:
        with storing(self.store, "recording a notification"), self._session.begin() as s:
            out = s.get_one(IncidentOutboxRow, row.id)
            if status == "dropped":
                out.status, out.last_error = "dropped", error
                add_timeline(s, out.incident_id, now, "notification", ENGINE,
                             f"{out.kind} via {out.notifier} dropped: {error}",
                             notifier=out.notifier, outcome="dropped")
                return
            out.attempts += 1
            out.last_error = error
            if status == "sent":
                out.status, out.sent_at = "sent", now
                if not out.resend:
                    add_timeline(s, out.incident_id, now, "notification", ENGINE,
                                 f"{out.kind} sent via {out.notifier} (attempt {out.attempts})",
                                 notifier=out.notifier, outcome="sent", attempt=out.attempts)
                return
            if out.attempts >= self.retry.attempts:
                out.status = "failed"
                text = (f"{out.kind} via {out.notifier} failed (attempt {out.attempts}), "
                        f"giving up: {error}")
            else:
                wait = self.retry.delay(out.attempts)
                out.next_attempt_at = now + timedelta(seconds=wait)
                text = (f"{out.kind} via {out.notifier} failed (attempt {out.attempts}), "
                        f"retry in {wait:g} s: {error}")
            add_timeline(s, out.incident_id, now, "notification", ENGINE, text,
                         notifier=out.notifier, outcome=out.status, attempt=out.attempts,
                         error=error)
