"""The agent's HTTP API (FastAPI): metrics, probes, service discovery, runs, devices,
reports and incidents. Everything except the configured public paths needs a bearer token.

The app is built from a :class:`Service` holding its collaborators, so tests can build one
over a real store without starting the scheduler or a listener.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import text

from agent import __version__
from agent.errors import PackError, ServiceError, XunjianError
from agent.results import DeviceResult
from agent.service.auth import TokenCheck
from agent.service.metrics_warmer import CacheWarmer
from agent.service.openapi_doc import document_errors
from agent.service.runs import RunManager
from agent.service.safe_io import RowId, SafeJSONResponse, Text
from agent.service.state import PlanState
from agent.store import Store
from agent.store.store import RunInfo
from config.inventory import Device

log = logging.getLogger(__name__)

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
#: Prometheus sends its scrape timeout; the probe keeps this much of it for the reply
PROBE_TIMEOUT_OFFSET = 0.5


@dataclass
class Service:
    """What the HTTP API serves from. ``metrics`` renders the exposition of ``/metrics``;
    ``probe_metrics`` renders one live result for ``/probe``."""

    store: Store
    runs: RunManager
    tokens: TokenCheck
    metrics: Callable[[], bytes]
    probe_metrics: Callable[[DeviceResult, float], bytes]
    plans: Callable[[], list[PlanState]] = list
    scheduler_running: Callable[[], bool] = lambda: True
    probe_timeout: float = 30.0
    extra_routes: list[Callable[[FastAPI, Service], None]] = field(default_factory=list)
    #: formats newly stored results for ``/metrics`` in the background (started by serve)
    metrics_warmer: CacheWarmer | None = None

    @property
    def devices(self) -> list[Device]:
        return self.runs.loaded.devices


# -- response models (the OpenAPI schema is generated from these) -----------------------------

class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(default_factory=dict)


class RunRequest(BaseModel):
    """Devices to inspect: the union of names, groups and tags; all of them when empty."""

    devices: list[Text] = Field(default_factory=list, max_length=10000)
    groups: list[Text] = Field(default_factory=list, max_length=1000)
    tags: list[Text] = Field(default_factory=list, max_length=1000)


class RunStarted(BaseModel):
    id: int
    status: str
    url: str


class DeviceSummary(BaseModel):
    name: str
    address: str
    platform: str
    groups: list[str]
    tags: list[str]
    business_system: str | None
    business_level: int | None
    location: str | None
    state: str | None = None
    reachable: bool | None = None
    last_inspected: datetime | None = None


class SdTarget(BaseModel):
    targets: list[str]
    labels: dict[str, str]


class PlanView(BaseModel):
    name: str
    kind: Literal["inspection", "report"]
    next_run: datetime | None
    last_run: datetime | None
    missed_total: int
    runs_total: int


class ReportFile(BaseModel):
    name: str
    bytes: int
    sha256: str


class ReportView(BaseModel):
    id: int
    #: what the report covers: ``customer:<id>``, or a selection's prefix and hash
    scope: str
    period: str
    version: int
    #: comma-separated, e.g. ``zh-CN,en``
    languages: str
    overall: str
    generated_at: datetime
    files: list[ReportFile]


def _device_summary(device: Device, latest: DeviceResult | None) -> DeviceSummary:
    return DeviceSummary(
        name=device.name, address=device.address, platform=device.platform,
        groups=list(device.groups), tags=list(device.tags),
        business_system=device.business_system, business_level=device.business_level,
        location=device.location, state=latest.state.value if latest else None,
        reachable=latest.reachable if latest else None,
        last_inspected=latest.finished_at if latest else None)


def sd_labels(device: Device) -> dict[str, str]:
    """Target labels for Prometheus service discovery: bounded, stable device metadata."""
    labels = {"device": device.name, "platform": device.platform,
              "__meta_xunjian_address": device.address,
              "__meta_xunjian_groups": "," + ",".join(device.groups) + ",",
              "__meta_xunjian_tags": "," + ",".join(device.tags) + ","}
    optional = {"business_system": device.business_system, "location": device.location,
                "business_level": str(device.business_level) if device.business_level else None}
    labels.update({k: v for k, v in optional.items() if v})
    return labels


def _guard(app: FastAPI, tokens: TokenCheck) -> None:
    """The token middleware, the handler of xunjian's errors, and the schema saying so."""

    @app.middleware("http")
    async def require_token(request: Request,
                            call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if not tokens.allows(request.url.path, request.headers.get("authorization")):
            return JSONResponse({"detail": "missing or invalid bearer token"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        return await call_next(request)

    @app.exception_handler(XunjianError)
    async def xunjian_error(_request: Request, exc: XunjianError) -> JSONResponse:
        # a ServiceError is ours, not the caller's (e.g. the broker is down): 503
        return SafeJSONResponse({"detail": str(exc)},
                                status_code=503 if isinstance(exc, ServiceError) else 400)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler, but its echo of the input cannot fail to encode
        return SafeJSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)

    document_errors(app, tokens)  # lazily, on the first request: sees every route


def create_app(service: Service) -> FastAPI:
    app = FastAPI(
        title="xunjian agent", version=__version__,
        description="Scheduled read-only inspections and reports: metrics, probes, service "
                    "discovery, runs, devices, reports and incidents. Send `Authorization: "
                    "Bearer <token>` on every path except the public ones (default /metrics "
                    "and /healthz).",
        # documents the scheme in OpenAPI; the middleware below enforces it on every path
        dependencies=[Depends(HTTPBearer(auto_error=False))],
    )

    _guard(app, service.tokens)

    @app.get("/healthz", response_model=Health, tags=["operations"])
    def healthz() -> Health:
        """The process answers (liveness)."""
        return Health(status="ok")

    @app.get("/readyz", response_model=Health, tags=["operations"],
             responses={503: {"model": Health}})
    def readyz(response: Response) -> Health:
        """The store answers and the scheduler runs (readiness)."""
        checks = {"store": "ok", "scheduler": "ok" if service.scheduler_running() else "stopped"}
        try:
            with service.store.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # any driver error means "not ready"; the reason is shown
            checks["store"] = f"unavailable: {type(exc).__name__}"
        ready = all(v == "ok" for v in checks.values()) and not service.runs.stop.is_set()
        if not ready:
            response.status_code = 503
        return Health(status="ok" if ready else "unavailable", checks=checks)

    @app.get("/metrics", tags=["metrics"], response_class=Response,
             responses={200: {"content": {PROMETHEUS_TEXT: {}}}})
    def metrics() -> Response:
        """Prometheus exposition of the latest stored results (no SSH during a scrape)."""
        return Response(service.metrics(), media_type=PROMETHEUS_TEXT)

    @app.get("/probe", tags=["metrics"], response_class=Response,
             responses={200: {"content": {PROMETHEUS_TEXT: {}}}, 404: {}, 400: {}})
    def probe(
        target: Annotated[str, Query(min_length=1, max_length=128,
                                     description="Device name from the inventory")],
        module: Annotated[str | None, Query(max_length=128,
                                            description="Pack name (default: the "
                                                        "platform's standard pack)")] = None,
        scrape_timeout: Annotated[float | None, Header(
            alias="X-Prometheus-Scrape-Timeout-Seconds", gt=0, le=3600)] = None,
    ) -> Response:
        """Inspect one device now, blackbox-exporter style; nothing is stored."""
        timeout = (scrape_timeout - PROBE_TIMEOUT_OFFSET if scrape_timeout
                   else service.probe_timeout)
        started = time.monotonic()
        try:
            result = service.runs.probe(target, module, max(1.0, timeout))
        except KeyError:
            raise HTTPException(404, f"no device named {target!r} in the inventory") from None
        except PackError as exc:
            raise HTTPException(400, str(exc)) from None
        return Response(service.probe_metrics(result, time.monotonic() - started),
                        media_type=PROMETHEUS_TEXT)

    @app.get("/sd", response_model=list[SdTarget], tags=["metrics"])
    def sd(group: Annotated[str | None, Query(max_length=128)] = None) -> list[SdTarget]:
        """Prometheus ``http_sd_configs`` targets: one per device (the device name, for
        ``/probe?target=``), labelled with its metadata; optionally one group only."""
        return [SdTarget(targets=[d.name], labels=sd_labels(d)) for d in service.devices
                if group is None or group in d.groups]

    @app.post("/runs", response_model=RunStarted, status_code=202, tags=["runs"])
    def start_run(request: RunRequest) -> RunStarted:
        """Start an inspection run now; poll ``GET /runs/{id}`` for its results."""
        run_id = service.runs.submit(request.devices, request.groups, request.tags)
        return RunStarted(id=run_id, status=service.runs.started_status,
                          url=f"/runs/{run_id}")

    @app.get("/runs/{run_id}", response_model=RunInfo, tags=["runs"], responses={404: {}})
    def get_run(run_id: RowId) -> RunInfo:
        """A run's status and each device result stored so far."""
        info = service.store.run_info(run_id)
        if info is None:
            raise HTTPException(404, f"no run {run_id}")
        return info

    @app.get("/plans", response_model=list[PlanView], tags=["runs"])
    def plans() -> list[PlanView]:
        """Scheduled plans (inspection and report): next and last run, runs and missed
        runs."""
        return [PlanView(**vars(p)) for p in service.plans()]

    @app.get("/devices", response_model=list[DeviceSummary], tags=["devices"])
    def devices() -> list[DeviceSummary]:
        """The inventory with each device's latest state."""
        latest = {r.device: r for r in service.store.latest_results()}
        return [_device_summary(d, latest.get(d.name)) for d in service.devices]

    @app.get("/devices/{name}/results", response_model=list[DeviceResult], tags=["devices"],
             responses={404: {}})
    def device_results(
        name: str, limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    ) -> list[DeviceResult]:
        """Past results of one device, newest first, with every check."""
        if name not in {d.name for d in service.devices}:
            raise HTTPException(404, f"no device named {name!r} in the inventory")
        return service.store.history(name, limit)

    for add_routes in [_report_routes, *service.extra_routes]:
        add_routes(app, service)
    return app


def _report_routes(app: FastAPI, service: Service) -> None:
    @app.get("/reports", response_model=list[ReportView], tags=["reports"])
    def reports(limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[ReportView]:
        """Customer reports made so far (by report plans or ``xunjian report``), newest
        first, with their files (in the output directory on the agent's host)."""
        return [ReportView(**row) for row in service.store.reports(limit)]
