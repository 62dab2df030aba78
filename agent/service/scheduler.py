"""Plans (inspections and customer reports) on cron schedules (APScheduler 3.11).

APScheduler keeps time while the agent runs: coalescing, one running instance per plan, and an
explicit misfire grace time per plan. What it cannot know is what happened while the agent was
down, so every fire time is recorded in the store (``plan_fires``) before its run starts:

- a time already recorded is never run again (restart, or a second agent on the same store);
- at start, fire times between the last recorded one and now are *caught up*: the latest runs
  now if it is within the plan's misfire grace time (coalesced), the others are recorded as
  missed and logged — never silently skipped;
- a run interrupted by the agent's death is recorded as aborted and not repeated.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.background import BackgroundScheduler

from agent.service.state import PlanState
from agent.store import Store
from config.service import PlanConfig

log = logging.getLogger(__name__)

#: catch-up looks at no more than this many missed fire times per plan (a minutely plan
#: after a week down); older ones are summarised in one log line
MAX_CATCH_UP = 1000

RunPlan = Callable[[PlanConfig, datetime], None]
_TICK = timedelta(microseconds=1)


def fire_times(plan: PlanConfig, after: datetime, until: datetime) -> Iterator[datetime]:
    """Scheduled times of ``plan`` strictly after ``after`` and not later than ``until``."""
    trigger = plan.trigger()
    current = trigger.get_next_fire_time(None, after + _TICK)
    while current is not None and current <= until:
        yield current.astimezone(UTC)
        current = trigger.get_next_fire_time(current, current + _TICK)


def latest_fire_time(plan: PlanConfig, now: datetime) -> datetime | None:
    """The plan's latest scheduled time not after ``now`` within its misfire grace time."""
    latest = None
    for latest in fire_times(plan, now - plan.misfire_grace, now):  # noqa: B007
        pass
    return latest


class PlanScheduler:
    def __init__(self, plans: list[PlanConfig], store: Store, run_plan: RunPlan,
                 *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.plans = {p.name: p for p in plans if p.enabled}
        self.store = store
        self._run_plan = run_plan
        self._clock = clock
        self._scheduler = BackgroundScheduler(timezone=UTC)
        self._scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        for name, when in self.store.settle_interrupted_fires():
            log.warning("plan %s: the run scheduled for %s was interrupted (the agent "
                        "stopped); recorded as aborted, not repeated", name, _fmt(when))
        for plan in self.plans.values():
            self._scheduler.add_job(
                self._fire, plan.trigger(), args=[plan.name], id=plan.name, name=plan.name,
                coalesce=True, max_instances=1,
                misfire_grace_time=plan.misfire_grace_seconds, replace_existing=True)
        self._scheduler.start()
        for plan in self.plans.values():
            due = self.catch_up(plan)
            if due is not None:
                self._scheduler.add_job(self._run_claimed, args=[plan.name, due],
                                        id=f"{plan.name}:catch-up", max_instances=1)

    def every(self, seconds: float, name: str, job: Callable[[], None]) -> None:
        """A periodic housekeeping job (not a plan: not recorded, no catch-up)."""

        def guarded() -> None:
            try:
                job()
            except Exception:
                log.exception("%s failed; it runs again in %.0f s", name, seconds)

        self._scheduler.add_job(guarded, "interval", seconds=seconds, id=name, name=name,
                                coalesce=True, max_instances=1, misfire_grace_time=seconds)

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    # -- what happened while we were down -------------------------------------------------

    def catch_up(self, plan: PlanConfig) -> datetime | None:
        """Record the fire times missed since the last recorded one; return the one to run now
        (the latest, if within the misfire grace time), or None."""
        now = self._clock()
        last = self.store.last_fire(plan.name)
        if last is None:
            return None  # a new plan: it starts from now, nothing was owed before
        missed = list(_limited(fire_times(plan, last, now), MAX_CATCH_UP))
        if not missed:
            return None
        due = missed[-1] if now - missed[-1] <= plan.misfire_grace else None
        skipped = missed[:-1] if due else missed
        for when in skipped:
            note = (f"agent was not running; superseded by the run for {_fmt(due)}" if due
                    else "agent was not running and the misfire grace time "
                         f"({plan.misfire_grace_seconds} s) has passed")
            self.store.record_missed(plan.name, when, note)
        if skipped:
            log.warning("plan %s: %d scheduled run(s) missed while the agent was down "
                        "(%s … %s); recorded as missed", plan.name, len(skipped),
                        _fmt(skipped[0]), _fmt(skipped[-1]))
        if due:
            log.warning("plan %s: running the missed run scheduled for %s now (within the "
                        "misfire grace time of %d s)", plan.name, _fmt(due),
                        plan.misfire_grace_seconds)
        return due

    # -- firing ---------------------------------------------------------------------------

    def _fire(self, name: str) -> None:
        plan = self.plans[name]
        when = latest_fire_time(plan, self._clock())
        if when is None:  # APScheduler fired outside the grace window: nothing is due
            return
        self._run_claimed(name, when)

    def _run_claimed(self, name: str, when: datetime) -> None:
        plan = self.plans[name]
        try:
            self._run_plan(plan, when)
        except Exception:
            log.exception("plan %s: the run scheduled for %s failed", name, _fmt(when))

    def _on_missed(self, event: JobEvent) -> None:
        plan = self.plans.get(event.job_id)
        if plan is None:
            return
        when: datetime = getattr(event, "scheduled_run_time", None) or self._clock()
        why = ("the previous run was still going" if event.code == EVENT_JOB_MAX_INSTANCES
               else "the scheduler could not start it within the misfire grace time")
        if self.store.record_missed(plan.name, when.astimezone(UTC), why):
            log.warning("plan %s: the run scheduled for %s was missed: %s", plan.name,
                        _fmt(when), why)

    # -- state for metrics and the API ----------------------------------------------------

    def states(self) -> list[PlanState]:
        stats = self.store.plan_fire_stats()
        states = []
        for plan in self.plans.values():
            job = self._scheduler.get_job(plan.name) if self.running else None
            nxt = job.next_run_time if job is not None else None
            stat = stats.get(plan.name)
            states.append(PlanState(
                name=plan.name, next_run=nxt.astimezone(UTC) if nxt else None,
                last_run=stat.last_run if stat else None,
                missed_total=stat.missed if stat else 0, runs_total=stat.runs if stat else 0,
                kind=plan.kind))
        return states


def _limited(times: Iterator[datetime], limit: int) -> Iterator[datetime]:
    """At most ``limit`` times: the latest ones (older ones are only counted in the log)."""
    window: deque[datetime] = deque(maxlen=limit)
    seen = 0
    for seen, when in enumerate(times, 1):  # noqa: B007 (seen is the count afterwards)
        window.append(when)
    if seen > limit:
        log.warning("%d older missed fire time(s) not recorded individually", seen - limit)
    yield from window


def _fmt(when: datetime | None) -> str:
    return "-" if when is None else f"{when.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"

