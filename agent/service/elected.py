"""A plan scheduler that runs only while this agent holds the scheduler lock (several agents
on one PostgreSQL store: one fires the plans, the others stand by and serve the API)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from agent.distributed.leader import AdvisoryLock, LeaderElection
from agent.service.scheduler import PlanScheduler, RunPlan
from agent.service.state import PlanState
from agent.store import Store
from config.service import PlanConfig

log = logging.getLogger(__name__)


class ElectedScheduler:
    """Same face as :class:`PlanScheduler`; a fresh one is started at each election (so
    catch-up and interrupted fires are settled by whoever takes over)."""

    def __init__(self, plans: list[PlanConfig], store: Store, run_plan: RunPlan, *,
                 interval: float = 5.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._args = (plans, store, run_plan, clock)
        self._standby = self._make()
        self.plans = self._standby.plans
        self._jobs: list[tuple[float, str, Callable[[], None]]] = []
        self._active: PlanScheduler | None = None
        self._lock = threading.Lock()
        self.election = LeaderElection(AdvisoryLock(store.engine), self._elected,
                                       self._deposed, interval=interval)

    def _make(self) -> PlanScheduler:
        plans, store, run_plan, clock = self._args
        return PlanScheduler(plans, store, run_plan, clock=clock)

    def every(self, seconds: float, name: str, job: Callable[[], None]) -> None:
        """Housekeeping that only the leader does (delivering notifications, closing runs)."""
        self._jobs.append((seconds, name, job))

    def start(self) -> None:
        self.election.start()

    def shutdown(self) -> None:
        self.election.stop()

    @property
    def running(self) -> bool:
        """Alive: leading, or standing by ready to lead."""
        return self._active is not None or not self.election.leader

    @property
    def leader(self) -> bool:
        return self.election.leader

    def states(self) -> list[PlanState]:
        return (self._active or self._standby).states()

    def _elected(self) -> None:
        with self._lock:
            scheduler = self._make()
            for seconds, name, job in self._jobs:
                scheduler.every(seconds, name, job)
            scheduler.start()
            self._active = scheduler

    def _deposed(self) -> None:
        with self._lock:
            if self._active is not None:
                self._active.shutdown()
                self._active = None
