"""The incident engine: a result observer of the runner that applies the rules to every stored
result, keeps incidents, problems and the notification outbox, and delivers notifications.

Each device result is handled in one transaction (trackers, incidents, timeline, outbox), so a
crash never leaves half an update; notifications are sent outside any transaction by
:meth:`IncidentEngine.dispatch`, retried with exponential backoff, every attempt recorded in the
incident's timeline. A failing channel never blocks an inspection and never loses an incident.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import func, select, update
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
                    with self.store.session() as s:
                        self._observe(s, device, result, result_id, self.clock())
                    return
                except IntegrityError:
                    if attempt == 2:
                        raise
                    log.info("%s: incident opened concurrently; re-applying the result",
                             device.name)

    def run_finished(self, run_id: int) -> None:
        self.tick()

    def _seen(self, device: Device, result: DeviceResult,
              trackers: dict[str, IncidentTrackerRow]) -> dict[str, _Seen]:
        seen: dict[str, _Seen] = {}
        if not result.reachable:
            # Unreachable: only the "reachable" check speaks; every other check of the device
            # is suppressed (its counters freeze, nothing opens or resolves).
            for c in result.checks:
                if c.check == UNREACHABLE:
                    seen[fingerprint(device.name, c.check, c.item)] = _Seen(c.check, c.item, c)
            return seen
        for c in result.checks:
            seen[fingerprint(device.name, c.check, c.item)] = _Seen(c.check, c.item, c)
        # Could not evaluate a check at all: its items are unknown, not recovered.
        undecided = {c.check for c in result.checks
                     if c.item is None and c.state is State.UNKNOWN}
        for fp, t in trackers.items():
            if fp not in seen and t.check not in undecided:
                seen[fp] = _Seen(t.check, t.item, None)  # gone (or reachable again): recovered
        return seen

    def _rule(self, check: str) -> rules.Rule:
        open_after, resolve_after, rule = self.settings.rule_for(check)
        flap = self.settings.flapping
        return rules.Rule(open_after=open_after, resolve_after=resolve_after,
                          recover_below=rule.recover_below, recover_margin=rule.recover_margin,
                          flapping=flap.enabled, window=flap.window, high=flap.high,
                          low=flap.low)

    def _observe(self, s: Session, device: Device, result: DeviceResult, result_id: int,
                 now: datetime) -> None:
        trackers = {t.fingerprint: t for t in s.scalars(
            select(IncidentTrackerRow).where(IncidentTrackerRow.device == device.name)
            .with_for_update())}
        active = {i.fingerprint: i for i in s.scalars(
            select(IncidentRow).where(IncidentRow.device == device.name,
                                      IncidentRow.status.in_(ACTIVE)).with_for_update())}
        for fp, seen in self._seen(device, result, trackers).items():
            c = seen.result
            state = State.OK if c is None or c.waived else c.state
            obs = rules.Observation(state, c.value if c else None, c.warn if c else None)
            tracker = trackers.get(fp)
            if tracker is None:
                if not obs.breaching:
                    continue  # never breached: nothing to track
                tracker = IncidentTrackerRow(fingerprint=fp, device=device.name,
                                             check=seen.check, item=seen.item, breaches=0,
                                             recoveries=0, history="", flapping=False,
                                             updated_at=now)
                s.add(tracker)
            incident = active.get(fp)
            decision = rules.decide(
                rules.Tracker(tracker.breaches, tracker.recoveries, tracker.history,
                              tracker.flapping),
                obs, self._rule(seen.check), incident is not None)
            t = decision.tracker
            tracker.breaches, tracker.recoveries = t.breaches, t.recoveries
            tracker.history, tracker.flapping, tracker.updated_at = t.history, t.flapping, now
            if decision.action is rules.Action.OPEN and c is not None:
                incident = self._open(s, device, fp, c, t, result_id, now)
            elif decision.action is rules.Action.UPDATE and incident and c is not None:
                self._update(s, incident, device, c, result_id, now)
            elif decision.action is rules.Action.RESOLVE and incident is not None:
                detail = c.message if c else "no longer reported"
                resolve_row(s, incident, self.settings, now, ENGINE,
                            f"recovered for {self._rule(seen.check).resolve_after} "
                            f"consecutive inspection(s): {detail}")
                continue
            if incident is not None and decision.flapping_changed \
                    and decision.action is not rules.Action.OPEN:
                self._flapping(s, incident, t.flapping, t.history, now)

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
            queue(s, row, "firing", self.settings, now)
        return row

    def _update(self, s: Session, row: IncidentRow, device: Device, c: CheckResult,
                result_id: int, now: datetime) -> None:
        row.breach_count += 1
        row.last_seen_at, row.result_id, row.message = now, result_id, c.message
        row.value, row.threshold = _value_text(c), c.threshold_text
        if isinstance(c.value, int | float):
            if row.worst_num is None or c.value > row.worst_num:
                row.worst_num, row.worst_value = float(c.value), _value_text(c)
        elif c.value is not None:
            row.worst_value = _value_text(c)
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
        since = now - rule.window
        recent = select(IncidentRow).where(IncidentRow.opened_at >= since)
        by_fp = s.scalars(recent.where(IncidentRow.fingerprint == row.fingerprint)).all()
        if len(by_fp) >= rule.recurrences:
            key, members, what = f"fp:{row.fingerprint}", by_fp, row.title
        else:
            by_dc = s.scalars(recent.where(IncidentRow.device == row.device,
                                           IncidentRow.check == row.check)).all()
            if len(by_dc) < rule.recurrences:
                return
            key, members, what = f"dc:{row.device}/{row.check}", by_dc, \
                f"{row.check} on {row.device}"
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
