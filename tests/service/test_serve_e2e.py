"""``xunjian serve`` as a real process against OpenSSH-backed hosts, scraped by a real
Prometheus: scheduled plan (caught up at start), /metrics, /probe through /sd, POST /runs,
SIGKILL mid-run and restart (nothing lost, nothing run twice), SIGTERM."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from support.agent_process import Agent
from support.canaries import CANARY_API_TOKEN
from support.prometheus import PrometheusServer, ScrapeJob, free_port, prometheus_unavailable_reason
from support.sshd import HANG_ADDRESS, SshdFleet

from agent.store import Store

pytestmark = [pytest.mark.sshd,
              pytest.mark.skipif(bool(prometheus_unavailable_reason()),
                                 reason=prometheus_unavailable_reason() or "")]

TOKEN = CANARY_API_TOKEN
PLAN = "every-minute"
XUNJIAN = Path(sys.executable).with_name("xunjian")


@pytest.fixture
def agent(tmp_path: Path, ssh_fleet: SshdFleet) -> Iterator[Agent]:
    hosts = ssh_fleet.hosts[:3]
    config = {
        "store": {"data_dir": str(tmp_path / "data")},
        "ssh": {"known_hosts": str(ssh_fleet.known_hosts), "connect_timeout": 15,
                "host_timeout": 30, "retries": 0},
        "credentials": {"key": {"username": "root", "key_file": str(ssh_fleet.client_key)}},
        "defaults": {"credentials": "key", "platform": "linux", "port": ssh_fleet.port},
        "groups": {"web": {"business_system": "网上银行", "location": "IDC-A"},
                   "slow": {}},
        "devices": [{"name": f"web-{i}", "address": h.address, "groups": ["web"]}
                    for i, h in enumerate(hosts, 1)]
                   + [{"name": "hangs", "address": HANG_ADDRESS, "groups": ["slow"]}],
        "server": {"port": free_port(), "shutdown_grace_seconds": 5},
        "plans": [{"name": PLAN, "cron": "* * * * *", "groups": ["web"]}],
    }
    path = tmp_path / "xunjian.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    # The agent last ran this plan two minutes ago: at start it owes the current minute's run
    # (within the misfire grace time), so the first run starts at once instead of at :00.
    store = Store.open(None, tmp_path / "data")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    store.claim_fire(PLAN, now - timedelta(minutes=2))
    store.close()
    running = Agent(path, config["server"]["port"], tmp_path / "agent.log", TOKEN)
    running.start()
    yield running
    if running.process and running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def test_serve_end_to_end(agent: Agent, tmp_path: Path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    address = f"127.0.0.1:{agent.port}"
    jobs = [
        ScrapeJob("xunjian", targets=[address]),
        ScrapeJob("xunjian-probe", metrics_path="/probe", credentials_file=token_file,
                  http_sd_urls=[f"http://{address}/sd?group=web"], scrape_interval="3s",
                  scrape_timeout="3s",
                  relabel_configs=[
                      {"source_labels": ["__address__"], "target_label": "__param_target"},
                      {"target_label": "__address__", "replacement": address}]),
    ]
    with PrometheusServer(tmp_path / "prom", jobs) as prom:
        # the plan's first run (caught up at start) reaches Prometheus through /metrics
        ratios = prom.wait_for_query('xunjian_filesystem_used_ratio{mountpoint="/"}',
                                     count=3, timeout=60)
        assert {r["metric"]["device"] for r in ratios} == {"web-1", "web-2", "web-3"}
        assert all(0 < float(r["value"][1]) < 1 for r in ratios)
        info = prom.wait_for_query('xunjian_device_info{business_system="网上银行"}', count=3)
        assert {r["metric"]["location"] for r in info} == {"IDC-A"}
        # /sd → one probe target per device of the group, each inspected live
        targets = prom.wait_for_targets("xunjian-probe", count=3, timeout=60)
        assert {t["labels"]["device"] for t in targets} == {"web-1", "web-2", "web-3"}
        probed = prom.wait_for_query('xunjian_probe_success{job="xunjian-probe"} == 1',
                                     count=3, timeout=30)
        assert len(probed) == 3

    plans = agent.api("GET", "/plans").json()
    assert plans[0]["name"] == PLAN and plans[0]["runs_total"] >= 2
    # at least the minute between the seeded run and the caught-up one
    assert plans[0]["missed_total"] >= 1

    # POST /runs: a run whose results appear in GET /runs/{id}
    started = agent.api("POST", "/runs", json={"groups": ["web"]})
    assert started.status_code == 202
    run = agent.wait_run(started.json()["id"])
    assert run["status"] == "completed"
    assert sorted(r["device"] for r in run["results"]) == ["web-1", "web-2", "web-3"]

    # SIGKILL in the middle of a run (the hanging host keeps it open), then restart
    before = Store.open(None, tmp_path / "data")
    results_before = before.counts()["device_results"]
    killed = agent.api("POST", "/runs", json={"groups": ["slow", "web"]}).json()["id"]
    # the three web hosts are stored; the hanging one holds the run open
    assert wait_for_results(tmp_path, killed, 3)
    agent.signal(signal.SIGKILL)
    committed = before.run_info(killed)
    assert committed is not None and committed.status == "running"
    before.close()

    agent.start()
    store = Store.open(None, tmp_path / "data")
    try:
        info = store.run_info(killed)
        assert info is not None and info.status == "aborted"
        assert [r.device for r in info.results] == [r.device for r in committed.results]
        assert store.counts()["device_results"] >= results_before + len(committed.results)
        with store.engine.connect() as conn:
            plan_runs = conn.exec_driver_sql(
                "SELECT id FROM runs WHERE plan = ?", (PLAN,)).scalars().all()
            fired = conn.exec_driver_sql(
                "SELECT run_id FROM plan_fires WHERE plan = ? AND run_id IS NOT NULL",
                (PLAN,)).scalars().all()
        # every plan run belongs to exactly one scheduled time (unique per plan and time)
        assert plan_runs and sorted(plan_runs) == sorted(fired)
    finally:
        store.close()

    # SIGTERM while a run is held open by the hanging host: the web hosts' results are
    # stored, the run is recorded aborted after the grace time, and the agent exits 0
    held = agent.api("POST", "/runs", json={"groups": ["slow", "web"]}).json()["id"]
    assert wait_for_results(tmp_path, held, 3)
    assert agent.signal(signal.SIGTERM, timeout=30) == 0
    store = Store.open(None, tmp_path / "data")
    try:
        info = store.run_info(held)
        assert info is not None and info.status == "aborted" and len(info.results) >= 3
    finally:
        store.close()
    log = agent.log_text()
    assert "did not finish within the 5 s shutdown grace time" in log
    assert "was interrupted" in log  # the SIGKILLed run, found at restart
    assert TOKEN not in log


def wait_for_results(tmp_path: Path, run_id: int, count: int, timeout: float = 20) -> bool:
    store = Store.open(None, tmp_path / "data")
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            progress = store.run_info(run_id)
            if progress is not None and len(progress.results) >= count:
                return True
            time.sleep(0.1)
        return False
    finally:
        store.close()
