"""`xunjian serve` with workers. Over Redis: an on-demand run (POST /runs) to `xunjian serve` is
inspected by a `xunjian worker` process through a Redis broker, and its results are in the
shared PostgreSQL store. With the broker down, POST /runs says so (503)."""

from __future__ import annotations

import secrets
import signal
import subprocess
from pathlib import Path

import pytest
import yaml
from support.agent_process import Agent, Worker
from support.broker import port_open
from support.canaries import CANARY_API_TOKEN
from support.prometheus import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.broker, pytest.mark.timeout(300)]


@pytest.fixture
def redis_url() -> str:
    if not port_open(6379):
        pytest.skip("Redis not listening on 127.0.0.1:6379")
    db = 1 + secrets.randbelow(15)
    url = f"redis://127.0.0.1:6379/{db}"
    yield url  # type: ignore[misc]
    subprocess.run(["redis-cli", "-n", str(db), "flushdb"], capture_output=True, check=False)


def test_an_api_run_goes_through_redis_to_a_worker(tmp_path: Path, pg_url: str,
                                                   redis_url: str) -> None:
    site = f"redis-{secrets.token_hex(3)}"
    config = tmp_path / "xunjian.yaml"
    config.write_text(yaml.safe_dump({
        "store": {"url": pg_url, "data_dir": str(tmp_path / "data")},
        "celery": {"broker_url_env": "XJ_BROKER_URL", "default_site": site},
        "devices": [{"name": f"local-{n}", "address": "127.0.0.1", "platform": "local"}
                    for n in range(1, 4)],
    }), encoding="utf-8")
    env = {"XJ_BROKER_URL": redis_url}
    worker = Worker(config, site, tmp_path / "worker.log", env, concurrency=2)
    agent = Agent(config, free_port(), tmp_path / "agent.log", CANARY_API_TOKEN, env=env)
    try:
        worker.start()
        agent.start()
        created = agent.api("POST", "/runs", json={})
        assert created.status_code == 202, created.text
        assert created.json()["status"] == "dispatched"
        run = agent.wait_run(created.json()["id"], timeout=120)
        assert run["status"] == "completed", agent.log_text() + worker.log_text()
        assert sorted(r["device"] for r in run["results"]) == ["local-1", "local-2", "local-3"]
        assert all(r["reachable"] for r in run["results"])
        assert "local-1" in worker.log.read_text()  # the worker, not the agent, inspected
        assert "local-1" not in agent.log.read_text()
    finally:
        worker.stop()
        if agent.process is not None and agent.process.poll() is None:
            agent.signal(signal.SIGTERM)


def test_a_broker_that_is_down_is_a_503_with_the_reason(tmp_path: Path, pg_url: str) -> None:
    config = tmp_path / "xunjian.yaml"
    dead = free_port()  # nothing listens there
    config.write_text(yaml.safe_dump({
        "store": {"url": pg_url, "data_dir": str(tmp_path / "data")},
        "celery": {"broker_url_env": "XJ_BROKER_URL"},
        "devices": [{"name": "local-1", "address": "127.0.0.1", "platform": "local"}],
    }), encoding="utf-8")
    secret = "Xj-canary-dead-broker"
    agent = Agent(config, free_port(), tmp_path / "agent.log", CANARY_API_TOKEN,
                  env={"XJ_BROKER_URL": f"amqp://xj:{secret}@127.0.0.1:{dead}//"})
    try:
        agent.start()
        refused = agent.api("POST", "/runs", json={})
        assert refused.status_code == 503, refused.text
        assert "the broker is unreachable" in refused.json()["detail"]
        assert "check celery.broker_url" in refused.json()["detail"]
        assert secret not in refused.text
        runs = agent.api("GET", "/runs/1").json()
        assert runs["status"] == "failed"
    finally:
        if agent.process is not None and agent.process.poll() is None:
            agent.signal(signal.SIGTERM)
    assert secret not in agent.log.read_text()
