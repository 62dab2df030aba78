"""A real Alertmanager (Debian's /usr/bin/prometheus-alertmanager) on 127.0.0.1, for tests.

:class:`AlertmanagerPeer` writes a minimal config (one receiver that sends nothing), starts the
binary on a free port with its own ``--storage.path`` and no cluster listener
(``--cluster.listen-address=`` empty, otherwise it binds 0.0.0.0:9094), polls ``/-/ready`` and
stops it by PID. Its log stays in ``workdir/alertmanager.log`` and is quoted in failures.

Use as a context manager::

    with AlertmanagerPeer(tmp_path) as am:
        httpx.post(am.url + "/api/v2/alerts", json=[...])
        am.alerts()   # GET /api/v2/alerts: active (not resolved) alerts
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

ALERTMANAGER_PATH = Path("/usr/bin/prometheus-alertmanager")

CONFIG = """\
route:
  receiver: discard
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: discard
"""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def alertmanager_unavailable_reason() -> str | None:
    if not os.access(ALERTMANAGER_PATH, os.X_OK):
        return (f"{ALERTMANAGER_PATH} not found: apt-get install -y prometheus-alertmanager")
    return None


class AlertmanagerPeer:
    def __init__(self, workdir: Path, *, config: str = CONFIG,
                 start_timeout: float = 20.0) -> None:
        self.workdir = workdir
        self.config = config
        self.start_timeout = start_timeout
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "alertmanager.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config_file = self.workdir / "alertmanager.yml"
        config_file.write_text(self.config)
        storage = self.workdir / "data"
        storage.mkdir(exist_ok=True)
        # A port picked free can be taken before the binary binds it: retry a few times.
        for _ in range(3):
            self.port = free_port()
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    [str(ALERTMANAGER_PATH), f"--config.file={config_file}",
                     f"--storage.path={storage}", f"--web.listen-address=127.0.0.1:{self.port}",
                     "--cluster.listen-address=", "--log.level=info"],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            if self._wait_ready():
                return
            self.stop()
        raise RuntimeError(f"Alertmanager did not become ready; its log:\n{self.log()}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.start_timeout
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/-/ready", timeout=1.0).status_code == 200:
                    return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts`` (active, silenced, inhibited, unprocessed; never resolved)."""
        response = httpx.get(self.url + "/api/v2/alerts", params=filters, timeout=5.0)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()
        return result

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Poll :meth:`alerts` until ``predicate(alerts)`` is true; return the alerts."""
        deadline = time.monotonic() + timeout
        while True:
            alerts = self.alerts()
            if predicate(alerts):
                return alerts
            if time.monotonic() > deadline:
                raise AssertionError(f"Alertmanager never showed the expected alerts; last "
                                     f"answer: {alerts}\nlog:\n{self.log()}")
            time.sleep(0.05)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
