"""``xunjian serve``: the scheduler, the run manager and the HTTP API in one process.

Shutdown (SIGTERM or SIGINT): the listener stops, the scheduler stops firing, runs stop
starting devices and get ``server.shutdown_grace_seconds`` to finish the ones in flight. Each
device result is committed on its own, so nothing is half-written; a run cut short is recorded
as aborted (here, or by the next start if the process is killed outright).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import uvicorn

from agent.distributed.celery_app import make_app
from agent.distributed.dispatch import CeleryDispatcher
from agent.distributed.settle import settle_dispatched_runs
from agent.errors import ServiceError, XunjianError
from agent.incidents.engine import IncidentEngine
from agent.incidents.factory import build_engine, deliver_pending
from agent.incidents.repo import IncidentRepo
from agent.results import DeviceResult
from agent.service.app import Service, create_app
from agent.service.auth import TokenCheck, load_tokens
from agent.service.elected import ElectedScheduler
from agent.service.incident_routes import incident_routes
from agent.service.metrics import (
    XunjianCollector,
    build_registry,
    probe_registry,
    render,
)
from agent.service.metrics_warmer import CacheWarmer
from agent.service.runs import RunManager, plan_packs
from agent.service.scheduler import PlanScheduler
from agent.store import Store
from checks.model import State
from config.loader import LoadedConfig
from config.secrets import Redactor

log = logging.getLogger(__name__)

#: how often SLA timers are checked and due notifications (re)sent
HOUSEKEEPING_SECONDS = 30
#: how often runs with the Celery workers are checked for completion
SETTLE_SECONDS = 2


@dataclass(frozen=True)
class ServeOutcome:
    #: runs still going when the grace time ran out (recorded as aborted)
    abandoned_runs: list[int]


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM after it stops serving, which would kill the process before
    running inspections get their grace time; here the signal only asks it to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit)
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, or a ServiceError that says what to change."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        hint = ("another process listens there; stop it or set server.port"
                if exc.errno == errno.EADDRINUSE else "check server.host")
        raise ServiceError(f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                           f"({hint})") from exc
    sock.listen(128)
    return sock


def check_plans(loaded: LoadedConfig) -> None:
    """Fail at start, not at 02:00 on the 1st: every plan's packs must exist."""
    problems = []
    for plan in loaded.config.plans:
        try:
            plan_packs(plan, loaded.library)
        except XunjianError as exc:
            problems.append(f"plan {plan.name}: {exc}")
    if problems:
        raise ServiceError("; ".join(problems))


def build_service(loaded: LoadedConfig, store: Store, *, data_dir: Path, redactor: Redactor,
                  env: Mapping[str, str]) -> tuple[Service, PlanScheduler | ElectedScheduler]:
    settings = loaded.config.server
    tokens = load_tokens(settings.auth, env, loaded.base_dir)
    redactor.add(tokens)
    incidents = build_engine(store, loaded, env)
    repo = IncidentRepo(store, loaded.config.incidents)
    dispatcher = None
    if loaded.config.celery is not None:
        dispatcher = CeleryDispatcher(make_app(loaded.config.celery, env, redactor),
                                      loaded.config.celery.default_site)
    runs = RunManager(loaded, store, data_dir=data_dir, redactor=redactor,
                      observers=[incidents], env=env, dispatcher=dispatcher)
    scheduler: PlanScheduler | ElectedScheduler
    if store.engine.dialect.name == "postgresql":
        # several agents may share this store: one schedules, the others stand by
        scheduler = ElectedScheduler(list(loaded.config.plans), store, runs.run_plan,
                                     interval=settings.leader_poll_seconds)
    else:
        scheduler = PlanScheduler(list(loaded.config.plans), store, runs.run_plan)
    scheduler.every(HOUSEKEEPING_SECONDS, "incident-housekeeping",
                    lambda: _housekeeping(incidents))
    if loaded.config.celery is not None:
        timeout = timedelta(seconds=loaded.config.celery.run_timeout_seconds)


        def settle() -> None:
            settle_dispatched_runs(store, [incidents], timeout)

        scheduler.every(SETTLE_SECONDS, "close-dispatched-runs", settle)
    inventory = {d.name for d in loaded.devices}
    meta = {d.name: d.model_dump(mode="json") for d in loaded.devices}
    collector = XunjianCollector(
        store, plans=scheduler.states, incidents=repo.metrics_snapshot,
        priorities=sorted(loaded.config.incidents.sla, key=lambda p: int(p[1:])),
        inventory=lambda: inventory)
    registry = build_registry(collector)

    def probe_metrics(result: DeviceResult, duration: float) -> bytes:
        return render(probe_registry(result, duration, meta.get(result.device)))

    service = Service(
        store=store, runs=runs, tokens=TokenCheck(tokens, settings.auth.public),
        metrics=lambda: render(registry), probe_metrics=probe_metrics,
        plans=scheduler.states, scheduler_running=lambda: scheduler.running,
        probe_timeout=settings.probe_timeout_seconds, extra_routes=[incident_routes(repo)],
        metrics_warmer=CacheWarmer(collector, store.last_result_id))
    return service, scheduler


def _housekeeping(engine: IncidentEngine) -> None:
    """SLA escalations, firing alerts re-sent, and notifications due for (re)delivery."""
    engine.tick()
    deliver_pending(engine)


def serve(loaded: LoadedConfig, store: Store, *, data_dir: Path, redactor: Redactor,
          env: Mapping[str, str] | None = None, host: str | None = None,
          port: int | None = None) -> ServeOutcome:
    """Run until SIGTERM/SIGINT. Raises ServiceError when it cannot start."""
    env = os.environ if env is None else env
    settings = loaded.config.server
    check_plans(loaded)
    service, scheduler = build_service(loaded, store, data_dir=data_dir, redactor=redactor,
                                       env=env)
    host, port = host or settings.host, port or settings.port
    sock = bind(host, port)
    for run_id in store.mark_abandoned_runs():
        log.warning("run %d was interrupted (the agent stopped mid-run); recorded as aborted",
                    run_id)
    server = _Server(uvicorn.Config(create_app(service), log_config=None,
                                           lifespan="off", server_header=False))
    scheduler.start()
    if service.metrics_warmer is not None:
        service.metrics_warmer.start()
    log.info("xunjian serving on http://%s:%d (%d plan(s), %d device(s))", host,
             sock.getsockname()[1], len(scheduler.plans), len(loaded.devices))
    try:
        server.run(sockets=[sock])
    finally:
        if service.metrics_warmer is not None:
            service.metrics_warmer.stop()
        scheduler.shutdown()
        abandoned = service.runs.shutdown(settings.shutdown_grace_seconds)
        for run_id in abandoned:
            store.finish_run(run_id, State.UNKNOWN, "aborted")
            log.warning("run %d did not finish within the %.0f s shutdown grace time; "
                        "recorded as aborted (results stored so far are kept)", run_id,
                        settings.shutdown_grace_seconds)
        sock.close()
    return ServeOutcome(abandoned)
