"""``/metrics`` of a real ``xunjian serve`` over a filled store: scrape times and agent RSS.

Scrapes are timed from the client (HTTP request to last byte), the way Prometheus experiences
them: the first scrape (nothing cached), steady scrapes (nothing new stored), and the scrape
right after a whole run of the fleet has been stored by another process (every device has a
new result, as after a scheduled run or one dispatched to Celery workers).
"""

from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

XUNJIAN = Path(sys.executable).with_name("xunjian")


@dataclass
class ServeProcess:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_bytes(self) -> int:
        return int(psutil.Process(self.process.pid).memory_info().rss)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@contextmanager
def serving(config: Path, port: int, log: Path, timeout: float = 120) -> Iterator[ServeProcess]:
    """``xunjian serve`` on ``config`` until the block ends (stopped with SIGTERM, by pid)."""
    env = {**os.environ, "XUNJIAN_API_TOKENS": secrets.token_hex(16)}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(XUNJIAN), "serve", "--config", str(config), "--port", str(port),
             "--log-format", "json"], stdout=out, stderr=subprocess.STDOUT, env=env)
    served = ServeProcess(process, port, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"xunjian serve exited:\n{served.log_tail()}")
            try:
                if httpx.get(f"{served.url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"xunjian serve not answering:\n{served.log_tail()}")
            time.sleep(0.2)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@dataclass(frozen=True)
class Scrape:
    seconds: float
    #: CPU time the agent process spent meanwhile (user + system): what the scrape cost it,
    #: whatever else the machine was doing
    agent_cpu_seconds: float
    size_bytes: int
    samples: int


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def scrape(client: httpx.Client, served: ServeProcess) -> Scrape:
    agent = psutil.Process(served.process.pid)
    cpu = _cpu(agent)
    start = time.perf_counter()
    response = client.get(f"{served.url}/metrics")
    took = time.perf_counter() - start
    spent = _cpu(agent) - cpu
    response.raise_for_status()
    body = response.content
    samples = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    return Scrape(took, spent, len(body), samples)


def _stats(scrapes: list[Scrape]) -> dict[str, float]:
    times = [s.seconds for s in scrapes]
    cpu = [s.agent_cpu_seconds for s in scrapes]
    return {"median_ms": round(statistics.median(times) * 1000, 1),
            "max_ms": round(max(times) * 1000, 1), "count": len(times),
            "agent_cpu_median_ms": round(statistics.median(cpu) * 1000, 1)}


def measure(config: Path, port: int, log: Path, store_run: Callable[[], None],
            store_run_at_once: Callable[[], None], *, steady: int = 10, after_runs: int = 3,
            ) -> dict[str, Any]:
    """First, steady and after-a-full-run scrape times, then the agent's RSS.

    ``store_run`` stores a run of the whole fleet at the pace of a real inspection (results
    arrive as devices finish); ``store_run_at_once`` stores it in one go (an import, say):
    the worst case, where the scrape finds every device unformatted."""
    with serving(config, port, log) as served, httpx.Client(timeout=120) as client:
        rss_idle = served.rss_bytes()
        first = scrape(client, served)
        steady_scrapes = [scrape(client, served) for _ in range(steady)]
        after, at_once = [], []
        for _ in range(after_runs):
            store_run()
            after.append(scrape(client, served))
            steady_scrapes.append(scrape(client, served))
        for _ in range(2):
            store_run_at_once()
            at_once.append(scrape(client, served))
        rss = served.rss_bytes()
        peak = psutil.Process(served.process.pid).memory_info()
        return {
            "first_ms": round(first.seconds * 1000, 1),
            "first_agent_cpu_ms": round(first.agent_cpu_seconds * 1000, 1),
            "steady": _stats(steady_scrapes),
            "after_full_run": _stats(after),
            "after_run_stored_at_once": _stats(at_once),
            "exposition_bytes": first.size_bytes, "samples": first.samples,
            "rss_idle_mb": round(rss_idle / 2**20, 1), "rss_mb": round(rss / 2**20, 1),
            "vms_mb": round(peak.vms / 2**20, 1),
        }
