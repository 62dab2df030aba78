"""Close dispatched runs: completed once every device's result is in, aborted at the run
timeout (the workers of a site were down, or a task was lost)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from agent.runner import ResultObserver
from agent.store import Store

log = logging.getLogger(__name__)


def settle_dispatched_runs(store: Store, observers: Sequence[ResultObserver],
                           timeout: timedelta,
                           clock: Callable[[], datetime] = lambda: datetime.now(UTC)
                           ) -> list[int]:
    """Close what is finished or overdue; returns the ids closed."""
    closed = []
    now = clock()
    for run in store.dispatched_runs():
        if run.stored >= run.device_count:
            status = "completed"
        elif now - run.started_at > timeout:
            status = "aborted"
        else:
            continue
        outcome = store.close_dispatched_run(run.run_id, status)
        if outcome is None:
            continue  # another scheduler closed it first
        state, _ = outcome
        closed.append(run.run_id)
        if status == "completed":
            log.info("run %d completed by the workers: %d device(s), %s", run.run_id,
                     run.stored, state)
        else:
            log.warning("run %d aborted: %d of %d device(s) had no result after %.0f s; the "
                        "workers of their sites may be down (xunjian worker --queue SITE)",
                        run.run_id, run.device_count - run.stored, run.device_count,
                        timeout.total_seconds())
        for observer in observers:
            try:
                observer.run_finished(run.run_id)
            except Exception:
                log.exception("result observer %s failed at the end of run %d",
                              type(observer).__name__, run.run_id)
    return closed
