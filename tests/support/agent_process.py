"""``xunjian serve`` as a real process: start it, call its API, wait for runs, read its log."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

XUNJIAN = Path(sys.executable).with_name("xunjian")


@dataclass
class Agent:
    config: Path
    port: int
    log: Path
    #: the API token the agent accepts (XUNJIAN_API_TOKENS)
    token: str
    process: subprocess.Popen[bytes] | None = None
    #: more environment (e.g. the broker URL)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, **self.env, "XUNJIAN_API_TOKENS": self.token}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(XUNJIAN), "serve", "--config", str(self.config), "--log-format", "json",
                 "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 90  # a loaded 2-core machine imports slowly
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"agent exited:\n{self.log_text()}"
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"agent not answering:\n{self.log_text()}")

    def signal(self, signum: int, timeout: float = 60) -> int:
        assert self.process is not None
        self.process.send_signal(signum)
        return self.process.wait(timeout)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-5000:]

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.url}{path}", timeout=30,
                             headers={"Authorization": f"Bearer {self.token}"}, **kwargs)

    def wait_run(self, run_id: int, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body: dict[str, Any] = self.api("GET", f"/runs/{run_id}").json()
            if body["status"] not in ("running", "dispatched"):
                return body
            time.sleep(0.2)
        raise AssertionError(f"run {run_id} still running:\n{self.log_text()}")


@dataclass
class Worker:
    """``xunjian worker`` as a real process (scale-out on Celery)."""

    config: Path
    queue: str
    log: Path
    env: dict[str, str]
    concurrency: int = 2
    process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        """Start and wait until it consumes its queue (Celery logs ``ready``)."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(XUNJIAN), "worker", "--config", str(self.config), "--queue", self.queue,
                 "--concurrency", str(self.concurrency), "--log-format", "json"],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"worker exited:\n{self.log_text()}"
            if "ready" in self.log.read_text(errors="replace")[offset:]:
                return
            time.sleep(0.1)
        raise AssertionError(f"worker not ready:\n{self.log_text()}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def stop(self, timeout: float = 30) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-5000:]
