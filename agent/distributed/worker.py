"""``xunjian worker``: inspect the devices a site's queue hands out and store each result
centrally. One task is one device of one run; running it twice stores it once."""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from celery.signals import worker_ready

from agent.distributed.celery_app import TASK_INSPECT, make_app
from agent.errors import DuplicateResultError, PackError, XunjianError
from agent.incidents.factory import build_engine
from agent.runner import Inspector, known_hosts_for
from agent.store import Store
from collectors.hostkeys import KnownHosts
from collectors.pack import Pack
from collectors.pack_library import PackLibrary, runs_on
from config.inventory import Device
from config.loader import LoadedConfig
from config.secrets import Redactor

log = logging.getLogger(__name__)


@dataclass
class WorkerContext:
    """What every task of this worker shares: the config, the store, host keys."""

    loaded: LoadedConfig
    store: Store
    data_dir: Path
    redactor: Redactor
    env: Mapping[str, str]
    known_hosts: KnownHosts = field(init=False)

    def __post_init__(self) -> None:
        self.known_hosts = known_hosts_for(self.loaded.config.ssh, self.data_dir)
        # incidents are written centrally by every worker; the scheduler's agent delivers
        # the notifications (a worker inside a customer network may not reach the channels)
        self.incidents = build_engine(self.store, self.loaded, self.env)
        self.incidents.deliver = False

    def inspect(self, run_id: int, device_name: str, plan_name: str | None,
                redelivered: bool = False) -> str:
        """Run one task; returns what happened (for the log). Never raises for a device
        problem: that is the device's UNKNOWN result."""
        status = self.store.run_status_or_none(run_id)
        if status != "dispatched":
            return (f"run {run_id} is {status or 'unknown to the store'}; {device_name} not "
                    "inspected")
        if self.store.has_result(run_id, device_name):
            return f"run {run_id} already has {device_name} (a retried task); not repeated"
        try:
            device = self.loaded.device(device_name)
        except KeyError:
            return (f"run {run_id}: no device {device_name} in this worker's config "
                    f"({self.loaded.source}); deploy the scheduler's config to every site")
        library = PackLibrary.load(self.loaded.library.paths)
        packs: dict[str, Pack] = {}
        refusal = None
        swapped = self._plan_pack(run_id, plan_name, device)
        if swapped is not None:
            try:
                pack = library.get(swapped)
                if not runs_on(pack, device.platform):
                    raise PackError(f"pack {swapped} runs on {', '.join(pack.platforms)}, "
                                    f"not on {device.platform}")
                packs[device.platform] = pack
            except PackError as exc:
                refusal = f"nothing was sent: plan {plan_name}: {exc}"
        inspector = Inspector(self.loaded, self.store, data_dir=self.data_dir, env=self.env,
                              packs=packs, trigger="worker", redactor=self.redactor,
                              observers=[self.incidents], library=library,
                              known_hosts=self.known_hosts)
        try:
            if swapped is not None and refusal is not None:
                result = inspector.record_refused(device, run_id, swapped, refusal)
            else:
                result = inspector.inspect_one(device, run_id)
        except DuplicateResultError:
            return f"run {run_id} already has {device_name} (stored meanwhile); not repeated"
        again = " (retried: its first worker was lost)" if redelivered else ""
        return f"run {run_id}: {device_name} {result.state}{again}"

    def _plan_pack(self, run_id: int, plan_name: str | None, device: Device) -> str | None:
        """The pack the plan swaps in for the device's platform, if any."""
        if plan_name is None:
            return None
        plan = next((p for p in self.loaded.config.plans if p.name == plan_name), None)
        if plan is None:
            log.warning("run %d: no plan %s in this worker's config (%s); %s is inspected with "
                        "its standard packs; deploy the scheduler's config to every site",
                        run_id, plan_name, self.loaded.source, device.name)
            return None
        return plan.packs.get(device.platform)


def run_worker(loaded: LoadedConfig, store: Store, *, queues: Sequence[str],
               concurrency: int, data_dir: Path, redactor: Redactor,
               env: Mapping[str, str], name: str | None = None) -> int:
    """Consume ``queues`` until SIGTERM (warm shutdown: running tasks finish) or SIGQUIT;
    returns Celery's exit status."""
    settings = loaded.config.celery
    if settings is None:
        raise XunjianError("this config has no celery: section; a worker needs the broker "
                           "and a shared PostgreSQL store (see docs/scale-out.md)")
    app = make_app(settings, env, redactor)
    context = WorkerContext(loaded, store, data_dir, redactor, env)

    @app.task(name=TASK_INSPECT, bind=True)  # type: ignore[untyped-decorator]
    def inspect_device(task: Any, run_id: int, device: str, plan: str | None = None) -> None:
        redelivered = bool((task.request.delivery_info or {}).get("redelivered"))
        try:
            log.info("%s", context.inspect(run_id, device, plan, redelivered))
        except XunjianError as exc:
            # the store is unreachable: the task goes back to the queue for a later try
            log.error("run %d: %s not inspected: %s; retrying in 30 s", run_id, device, exc)
            raise task.retry(countdown=30, max_retries=20) from exc

    hostname = name or f"xunjian-{'+'.join(queues)}@{socket.gethostname()}"

    def ready(**_: Any) -> None:
        log.info("worker %s ready: consuming queue(s) %s with %d thread(s); store %s",
                 hostname, ", ".join(queues), concurrency, store.url)

    worker_ready.connect(ready, weak=False)
    # Celery sets the root logger's level to its own loglevel: keep ours (-v gives DEBUG)
    worker = app.Worker(queues=list(queues), pool="threads", concurrency=concurrency,
                        hostname=hostname, without_mingle=True, without_gossip=True,
                        optimization="fair", quiet=True,
                        loglevel=logging.getLogger().getEffectiveLevel())
    worker.start()
    return int(worker.exitcode or 0)
