"""A real Prometheus server (the Debian package's ``/usr/bin/prometheus``) for integration tests.

:class:`PrometheusServer` writes a config with the given :class:`ScrapeJob` s, starts Prometheus
on a free ``127.0.0.1`` port with its own temporary storage, waits until it is ready, and stops
it by PID. Its log is kept next to the config (``prometheus.log``) and is quoted in every
failure message::

    job = ScrapeJob("xunjian", targets=[f"127.0.0.1:{port}"])
    with PrometheusServer(tmp_path / "prom", [job]) as prom:
        prom.wait_for_targets("xunjian")
        prom.wait_for_query('xunjian_device_up{device="web-01"}')

A job can scrape static targets or ``http_sd_configs`` URLs, with a metrics path, URL
parameters, relabelling (blackbox-exporter style ``/probe``) and a bearer token read from a
credentials file, so the same harness serves ``/metrics``, ``/probe`` and ``/sd`` tests.
Measured here: a 1 s scrape interval shows a target up about 1-6 s after start.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import yaml

PROMETHEUS_PATH = Path("/usr/bin/prometheus")
PROMTOOL_PATH = Path("/usr/bin/promtool")


class PrometheusError(RuntimeError):
    """The test Prometheus did not start, or did not get where the test waited for."""


def prometheus_unavailable_reason(binary: Path = PROMETHEUS_PATH) -> str | None:
    if not binary.exists():
        return (f"{binary} is missing (apt-get install -y prometheus; `make test` installs it)")
    return None


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ScrapeJob:
    """One ``scrape_configs`` entry."""

    name: str
    #: ``host:port`` of static targets
    targets: Sequence[str] = ()
    #: labels attached to the static targets
    labels: Mapping[str, str] = field(default_factory=dict)
    metrics_path: str = "/metrics"
    #: URL query parameters, e.g. ``{"module": ["linux-standard"]}``
    params: Mapping[str, Sequence[str]] = field(default_factory=dict)
    #: a file holding a bearer token (``authorization: {credentials_file: ...}``)
    credentials_file: Path | None = None
    #: ``http_sd_configs`` URLs (each is fetched with the same credentials file)
    http_sd_urls: Sequence[str] = ()
    http_sd_refresh: str = "1s"
    relabel_configs: Sequence[Mapping[str, Any]] = ()
    scrape_interval: str | None = None
    scrape_timeout: str | None = None

    def config(self) -> dict[str, Any]:
        job: dict[str, Any] = {"job_name": self.name, "metrics_path": self.metrics_path}
        if self.scrape_interval:
            job["scrape_interval"] = self.scrape_interval
        if self.scrape_timeout:
            job["scrape_timeout"] = self.scrape_timeout
        if self.params:
            job["params"] = {k: list(v) for k, v in self.params.items()}
        auth = ({"authorization": {"type": "Bearer",
                                   "credentials_file": str(self.credentials_file)}}
                if self.credentials_file else {})
        job.update(auth)
        if self.targets:
            static: dict[str, Any] = {"targets": list(self.targets)}
            if self.labels:
                static["labels"] = dict(self.labels)
            job["static_configs"] = [static]
        if self.http_sd_urls:
            job["http_sd_configs"] = [{"url": url, "refresh_interval": self.http_sd_refresh,
                                       **auth} for url in self.http_sd_urls]
        if self.relabel_configs:
            job["relabel_configs"] = [dict(r) for r in self.relabel_configs]
        return job


class PrometheusServer:
    def __init__(self, workdir: Path, jobs: Sequence[ScrapeJob], *,
                 scrape_interval: str = "1s", binary: Path = PROMETHEUS_PATH,
                 rule_files: Sequence[Path] = (), port: int | None = None) -> None:
        self.workdir = workdir
        self.jobs = list(jobs)
        self.scrape_interval = scrape_interval
        self.binary = binary
        self.rule_files = list(rule_files)
        self.port = port or free_port()
        self.popen: subprocess.Popen[bytes] | None = None
        self._client = httpx.Client(timeout=5.0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.workdir / "prometheus.yml"

    @property
    def log_path(self) -> Path:
        return self.workdir / "prometheus.log"

    def log_text(self, limit: int = 6000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "<no log>"
        return text[-limit:]

    def config(self) -> dict[str, Any]:
        interval = self.scrape_interval
        config: dict[str, Any] = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval,
                       "scrape_timeout": interval},
            "scrape_configs": [job.config() for job in self.jobs],
        }
        if self.rule_files:
            config["rule_files"] = [str(p) for p in self.rule_files]
        return config

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self, timeout: float = 30.0) -> None:
        reason = prometheus_unavailable_reason(self.binary)
        if reason:
            raise PrometheusError(reason)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        storage = self.workdir / "data"
        shutil.rmtree(storage, ignore_errors=True)
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                [str(self.binary), f"--config.file={self.config_path}",
                 f"--storage.tsdb.path={storage}",
                 f"--web.listen-address=127.0.0.1:{self.port}",
                 "--storage.tsdb.retention.time=1d", "--log.level=debug"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
                start_new_session=True)
        try:
            self._poll(self._ready, timeout, "Prometheus did not become ready")
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> bool:
        if self.popen is not None and self.popen.poll() is not None:
            raise PrometheusError(f"Prometheus exited with {self.popen.returncode}:\n"
                                  f"{self.log_text()}")
        try:
            return self._client.get(f"{self.url}/-/ready").status_code == 200
        except httpx.TransportError:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        popen, self.popen = self.popen, None
        if popen is not None and popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(popen.pid, signal.SIGTERM)
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(popen.pid, signal.SIGKILL)
                popen.wait(timeout)
        self._client.close()

    # -- API ------------------------------------------------------------------------------

    def _get(self, path: str, **params: str) -> Any:
        response = self._client.get(f"{self.url}{path}", params=params)
        body = response.json()
        if response.status_code != 200 or body.get("status") != "success":
            raise PrometheusError(f"GET {path} {params}: HTTP {response.status_code}: "
                                  f"{body.get('error', body)}")
        return body["data"]

    def targets(self) -> list[dict[str, Any]]:
        """Active targets (``/api/v1/targets``): labels, health, lastError, scrapeUrl ..."""
        data: list[dict[str, Any]] = self._get("/api/v1/targets", state="active")[
            "activeTargets"]
        return data

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The result of an instant query (vector: ``[{"metric": {...}, "value": [t, "v"]}]``)."""
        data = self._get("/api/v1/query", query=promql)
        result: list[dict[str, Any]] = data["result"]
        return result

    def wait_for_targets(self, job: str | None = None, count: int = 1,
                         timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait until at least ``count`` active targets (of ``job``) exist and all are up."""
        found: list[dict[str, Any]] = []

        def up() -> bool:
            nonlocal found
            found = [t for t in self.targets()
                     if job is None or t["labels"].get("job") == job]
            return len(found) >= count and all(t["health"] == "up" for t in found)

        self._poll(up, timeout, f"targets of job {job!r} not all up",
                   lambda: "\n".join(f"  {t['scrapeUrl']}: {t['health']} {t['lastError']}"
                                     for t in found) or "  no active targets")
        return found

    def wait_for_query(self, promql: str, *, count: int = 1,
                       timeout: float = 30.0) -> list[dict[str, Any]]:
        """Poll an instant query until it returns at least ``count`` series."""
        result: list[dict[str, Any]] = []

        def enough() -> bool:
            nonlocal result
            result = self.query(promql)
            return len(result) >= count

        self._poll(enough, timeout, f"query {promql!r} returned fewer than {count} series",
                   lambda: f"  last result: {result}")
        return result

    def _poll(self, condition: Callable[[], bool], timeout: float, what: str,
              detail: Callable[[], str] | None = None) -> None:
        deadline = time.monotonic() + timeout
        delay = 0.05
        while not condition():
            if time.monotonic() > deadline:
                extra = f"\n{detail()}" if detail else ""
                raise PrometheusError(f"{what} after {timeout:g} s{extra}\n"
                                      f"--- prometheus log ({self.log_path}) ---\n"
                                      f"{self.log_text()}")
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
