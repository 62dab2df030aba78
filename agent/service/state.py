"""What the scheduler knows about each plan, as the metrics and the API read it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class PlanState:
    name: str
    #: next scheduled time (None: disabled or no future fire time)
    next_run: datetime | None
    #: scheduled time of the last run that started (None: never)
    last_run: datetime | None
    #: fire times recorded as missed (agent down or busy beyond the misfire grace time)
    missed_total: int
    #: runs of this plan that started (for a report plan: reports it started to make)
    runs_total: int
    #: ``inspection`` or ``report``
    kind: str = "inspection"
