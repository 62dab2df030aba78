"""A real store + incident engine driven by hand-made check results and an injected clock,
plus small in-test notifier classes (recording, failing) for the incident tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from agent.errors import NotifyError
from agent.incidents.engine import IncidentEngine
from agent.incidents.repo import IncidentRepo
from agent.notify.event import IncidentEvent, Notifier
from agent.results import DeviceResult
from agent.store import Store
from checks.engine import unreachable
from checks.model import CheckResult, State
from config.incidents import IncidentSettings
from config.inventory import Device
from config.notify import RetrySettings

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@dataclass
class Recorder:
    """Records every event it is sent."""

    name: str = "rec"
    resend_firing: bool = False
    resend_interval_seconds: float = 60.0
    events: list[IncidentEvent] = field(default_factory=list)

    def send(self, event: IncidentEvent) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


@dataclass
class Flaky:
    """Fails the first ``failures`` deliveries (with a NotifyError, or a bug if ``bug``)."""

    name: str = "flaky"
    failures: int = 1_000_000
    bug: bool = False
    resend_firing: bool = False
    calls: int = 0
    events: list[IncidentEvent] = field(default_factory=list)

    def send(self, event: IncidentEvent) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            if self.bug:
                raise RuntimeError("boom")
            raise NotifyError(f"{self.name}: connection refused (is the receiver running?)")
        self.events.append(event)


def device(name: str = "db-01", level: int | None = 1, groups: Sequence[str] = ("core-db",),
           system: str | None = "核心账务系统") -> Device:
    return Device(name=name, address="192.0.2.1", port=22, platform="linux", credentials=None,
                  groups=tuple(groups), tags=(), location="A01", business_system=system,
                  business_level=level, owner=None, jump_host=None, serial=None, model=None,
                  vendor=None, warranty_end=None, checks={})


def fs(value: float, item: str = "/var", warn: float = 80, crit: float = 90,
       waived: bool = False) -> CheckResult:
    state = State.CRIT if value >= crit else State.WARN if value >= warn else State.OK
    return CheckResult(check="filesystem", item=item, state=state, value=value, unit="%",
                       warn=warn, crit=crit, message=f"{item} {value:g} % used",
                       evidence=["df"], waived=waived)


def check(name: str, state: State, item: str | None = None, message: str = "") -> CheckResult:
    return CheckResult(check=name, item=item, state=state, message=message or f"{name} {state}")


class Harness:
    def __init__(self, store: Store, settings: IncidentSettings | None = None,
                 notifiers: Sequence[Notifier] = (), start: datetime = START,
                 retry: RetrySettings | None = None) -> None:
        self.store = store
        self.settings = settings or IncidentSettings()
        self.now = start
        self.notifiers = list(notifiers)
        self.retry = retry or RetrySettings(attempts=4, backoff_seconds=10,
                                            max_backoff_seconds=25)
        self.engine = self.new_engine()
        self.repo = IncidentRepo(store, self.settings, clock=self.clock)
        self.run_id = store.start_run("test", 1, None)

    def clock(self) -> datetime:
        return self.now

    def new_engine(self) -> IncidentEngine:
        return IncidentEngine(self.store, self.settings, self.notifiers, clock=self.clock,
                              retry=self.retry)

    def advance(self, **delta: Any) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def feed(self, dev: Device, *checks: CheckResult, reachable: bool = True,
             step: timedelta = timedelta(minutes=5)) -> int:
        """Store a result of ``dev`` with these checks and let the engine observe it."""
        self.now += step
        results = list(checks) if reachable else [unreachable("connection refused")]
        states = [c.state for c in results if not c.waived]
        result = DeviceResult(
            device=dev.name, address=dev.address, platform=dev.platform,
            state=State.worst(states) if reachable else State.UNKNOWN, reachable=reachable,
            error=None if reachable else "connection refused", started_at=self.now,
            finished_at=self.now, checks=results)
        # one result per device and run, as inspections store them
        self.run_id = self.store.start_run("test", 1, None)
        result_id = self.store.save_result(self.run_id, dev, result)
        self.engine.observe(dev, result, result_id)
        return result_id

    def active(self) -> list[Any]:
        return self.repo.list(status="active")
