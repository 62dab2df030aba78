"""Runs inside the agent: on-demand (``POST /runs``), scheduled (plans) and live probes.
Report plans run in the same pool, with their outcome recorded on the plan's fire.

Every run goes through the same :class:`~agent.runner.Inspector`, so the HTTP API, the
scheduler and the CLI store identical results. One stop event is shared by all runs: on
SIGTERM, devices not yet started are skipped and running ones finish within the grace time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from agent.errors import PackError, ServiceError, XunjianError
from agent.results import DeviceResult
from agent.runner import Inspector, ResultObserver, select_devices
from agent.service.report_plans import make_report
from agent.store import Store
from collectors.pack import Pack
from collectors.pack_library import PackLibrary, runs_on
from config.inventory import Device
from config.loader import LoadedConfig
from config.secrets import Redactor
from config.service import PlanConfig

log = logging.getLogger(__name__)


def plan_packs(plan: PlanConfig, library: PackLibrary) -> dict[str, Pack]:
    """The standard packs a plan swaps in, by platform (raises PackError naming a missing or
    broken pack)."""
    packs: dict[str, Pack] = {}
    for platform, name in plan.packs.items():
        pack = library.get(name)
        if not runs_on(pack, platform):
            raise PackError(f"plan {plan.name}: pack {name} runs on "
                            f"{', '.join(pack.platforms)}, not on {platform}")
        packs[platform] = pack
    return packs


class Dispatcher(Protocol):
    """Hands a run's devices to workers elsewhere (Celery); they store the results."""

    def dispatch(self, run_id: int, devices: Sequence[Device], plan: str | None) -> None: ...


class RunManager:
    def __init__(self, loaded: LoadedConfig, store: Store, *, data_dir: Path,
                 redactor: Redactor, observers: Sequence[ResultObserver] = (),
                 env: Mapping[str, str] | None = None, max_parallel_runs: int = 2,
                 dispatcher: Dispatcher | None = None) -> None:
        self.loaded = loaded
        #: set: inspections run on the workers of each device's site, not in this process
        self.dispatcher = dispatcher
        self.store = store
        self.data_dir = data_dir
        self.redactor = redactor
        self.observers = list(observers)
        self.env = env
        self.stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_parallel_runs, thread_name_prefix="run")
        self._lock = threading.Lock()
        self._active: dict[int, Future[object]] = {}
        #: report plans being made, by fire id (they have no inspection run)
        self._reports: dict[int, Future[str]] = {}

    def _library(self) -> PackLibrary:
        """The packs as they are on disk now: an edit after approval is seen (and refused)
        by the next run, not at the next restart."""
        return PackLibrary.load(self.loaded.library.paths)

    def _inspector(self, trigger: str, packs: Mapping[str, Pack] | None = None,
                   library: PackLibrary | None = None) -> Inspector:
        return Inspector(self.loaded, self.store, data_dir=self.data_dir, env=self.env,
                         packs=packs, trigger=trigger, redactor=self.redactor,
                         observers=self.observers, stop=self.stop,
                         library=library or self._library())

    @property
    def started_status(self) -> str:
        """A new run's status: with Celery workers it is ``dispatched`` until every device's
        result is in."""
        return "running" if self.dispatcher is None else "dispatched"

    @property
    def active_runs(self) -> list[int]:
        with self._lock:
            return [run_id for run_id, f in self._active.items() if not f.done()]

    # -- on demand ------------------------------------------------------------------------

    def submit(self, devices: list[str], groups: list[str], tags: list[str],
               trigger: str = "api") -> int:
        """Start a run in the background; its id is returned at once (results are stored as
        each device finishes). Raises XunjianError for an empty or unknown selection."""
        if self.stop.is_set():
            raise XunjianError("the agent is shutting down; no new runs are started")
        targets = select_devices(self.loaded.devices, devices, groups, tags)
        if self.dispatcher is not None:
            return self._dispatch(trigger, targets, None)
        inspector = self._inspector(trigger)
        run_id = inspector.start(len(targets))
        future: Future[object] = self._pool.submit(self._guarded, inspector, targets, run_id,
                                                   None)
        with self._lock:
            self._active[run_id] = future
        return run_id

    def _dispatch(self, trigger: str, targets: list[Device], plan: str | None,
                  fire_id: int | None = None) -> int:
        """Open a run for the workers and queue its devices; the leader's housekeeping closes
        it (and its fire) when every result is in. Raises ServiceError when the broker is
        unreachable (the run and its fire are then closed as failed)."""
        assert self.dispatcher is not None
        source = str(self.loaded.source) if self.loaded.source else None
        run_id = self.store.start_run(trigger, len(targets), source, plan=plan,
                                      status="dispatched")
        if fire_id is not None:
            self.store.update_fire(fire_id, "running", run_id)
        try:
            self.dispatcher.dispatch(run_id, targets, plan)
        except ServiceError:
            self.store.close_dispatched_run(run_id, "failed")
            raise
        return run_id

    def _guarded(self, inspector: Inspector, targets: list[Device], run_id: int,
                 plan: str | None) -> object:
        try:
            return inspector.run(targets, run_id=run_id, plan=plan)
        except Exception:
            log.exception("run %d failed", run_id)
            return None
        finally:
            with self._lock:
                self._active.pop(run_id, None)

    # -- scheduled ------------------------------------------------------------------------

    def run_plan(self, plan: PlanConfig, scheduled_for: datetime) -> None:
        """Run ``plan`` for its fire time ``scheduled_for`` unless that time already ran."""
        fire_id = self.store.claim_fire(plan.name, scheduled_for)
        if fire_id is None:
            log.info("plan %s: the run for %s already happened; not repeated", plan.name,
                     scheduled_for.isoformat())
            return
        if self.stop.is_set():
            self.store.update_fire(fire_id, "missed", None, "the agent was shutting down")
            return
        if plan.kind == "report":
            self._run_report(plan, scheduled_for, fire_id)
            return
        try:
            targets = select_devices(self.loaded.devices, plan.devices, plan.groups, plan.tags)
            library = self._library()
            inspector = self._inspector("schedule", plan_packs(plan, library), library)
        except XunjianError as exc:
            self.store.update_fire(fire_id, "failed", None, str(exc))
            log.error("plan %s: %s", plan.name, exc)
            return
        if self.dispatcher is not None:
            self._dispatch_plan(plan, scheduled_for, fire_id, targets)
            return
        run_id = inspector.start(len(targets), plan=plan.name)
        self.store.update_fire(fire_id, "running", run_id)
        log.info("plan %s: run %d started for %s (%d device(s))", plan.name, run_id,
                 scheduled_for.isoformat(), len(targets))
        future: Future[object] = self._pool.submit(self._guarded, inspector, targets, run_id,
                                                   plan.name)
        with self._lock:
            self._active[run_id] = future
        result = future.result()  # the scheduler's max_instances=1 holds while this runs
        status = self.store.run_status(run_id) if result is not None else "failed"
        self.store.update_fire(fire_id, status, run_id)

    def _dispatch_plan(self, plan: PlanConfig, scheduled_for: datetime, fire_id: int,
                       targets: list[Device]) -> None:
        """Queue the plan's devices; the fire stays ``running`` until the run is closed."""
        previous = self.store.open_dispatched_run(plan.name)
        if previous is not None:
            note = f"the previous run ({previous}) was still with the workers"
            self.store.update_fire(fire_id, "missed", None, note)
            log.warning("plan %s: the run scheduled for %s was missed: %s", plan.name,
                        scheduled_for.isoformat(), note)
            return
        try:
            run_id = self._dispatch("schedule", targets, plan.name, fire_id)
        except ServiceError as exc:
            self.store.update_fire(fire_id, "failed", None, str(exc))
            log.error("plan %s: %s", plan.name, exc)
            return
        log.info("plan %s: run %d queued for %s (%d device(s))", plan.name, run_id,
                 scheduled_for.isoformat(), len(targets))

    def _run_report(self, plan: PlanConfig, scheduled_for: datetime, fire_id: int) -> None:
        """Make a report plan's report in the worker pool; the fire records the outcome (no
        inspection run). A failure is logged and recorded, never raised to the scheduler."""
        log.info("plan %s: making the report scheduled for %s", plan.name,
                 scheduled_for.isoformat())
        future = self._pool.submit(
            make_report, plan, scheduled_for, loaded=self.loaded, store=self.store,
            data_dir=self.data_dir, env=self.env, clock=lambda: datetime.now(UTC),
            progress=lambda msg: log.debug("plan %s: %s", plan.name, msg))
        with self._lock:
            self._reports[fire_id] = future
        try:
            note = future.result()  # the scheduler's max_instances=1 holds while this runs
            status = "completed"
            log.info("plan %s: %s", plan.name, note)
        except CancelledError:
            status, note = "aborted", "the agent stopped before the report was made"
            log.warning("plan %s: %s", plan.name, note)
        except XunjianError as exc:
            status, note = "failed", str(exc)
            log.error("plan %s: the report failed: %s", plan.name, exc)
        except Exception as exc:  # a bug must not stop the service; the fire says what
            status, note = "failed", f"{type(exc).__name__}: {exc}"
            log.exception("plan %s: the report failed", plan.name)
        finally:
            with self._lock:
                self._reports.pop(fire_id, None)
        self.store.update_fire(fire_id, status, None, note)

    # -- live probe -----------------------------------------------------------------------

    def probe(self, name: str, module: str | None, timeout: float) -> DeviceResult:
        """Inspect one device now within ``timeout`` seconds; nothing is stored. ``module``: a
        built-in pack replaces the device's standard pack, a custom pack is run beside it
        instead of the device's own custom packs (approved packs only). Raises KeyError for an
        unknown device, PackError for a bad pack."""
        device = self.loaded.device(name)
        library = self._library()
        packs: dict[str, Pack] = {}
        if module is not None:
            pack = library.get(module)
            if not runs_on(pack, device.platform):
                raise PackError(f"pack {module} runs on {', '.join(pack.platforms)}, not on "
                                f"{device.platform}")
            if pack.builtin:
                packs = {device.platform: pack}
            else:
                device = device.model_copy(update={"packs": (module,)})
        inspector = self._inspector("probe", packs, library)
        settings = inspector.settings
        inspector.settings = settings.model_copy(update={
            "host_timeout": max(1.0, timeout),
            "connect_timeout": min(settings.connect_timeout, max(1.0, timeout / 2)),
            "command_timeout": min(settings.command_timeout, max(1.0, timeout)),
            "retries": 0})
        return inspector.probe(device)

    # -- shutdown -------------------------------------------------------------------------

    def shutdown(self, grace: float) -> list[int]:
        """Stop starting devices and runs; wait up to ``grace`` seconds for running ones.
        Returns the ids of runs still going (the caller records them as aborted)."""
        self.stop.set()
        with self._lock:
            pending = dict(self._active)
            reports: list[Future[Any]] = list(self._reports.values())
        if pending or reports:
            log.warning("waiting up to %.0f s for %d running inspection run(s) and %d "
                        "report(s) to finish", grace, len(pending), len(reports))
            wait([*pending.values(), *reports], timeout=grace)
        self._pool.shutdown(wait=False, cancel_futures=True)
        return [run_id for run_id, f in pending.items() if not f.done()]
