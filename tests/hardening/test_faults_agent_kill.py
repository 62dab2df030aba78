"""The fault suite: ``xunjian serve`` SIGKILLed in the middle of a run that opens incidents.

The agent inspects a host whose filesystem check breaches, and a host that refuses
connections (one "unreachable" incident); with ``open_after: 1`` the first run opens both
incidents. A second run is held open by a host that never answers; the agent is SIGKILLed once
the other results are committed, then restarted and run again. Afterwards: the interrupted run
is recorded as aborted, its committed results are intact, and every fingerprint still has its
one incident - the same one, opened once, not a duplicate. (tests/service/test_serve_e2e.py
covers the plans and fires around a SIGKILL; this adds the incidents.)
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text
from support.agent_process import Agent
from support.prometheus import free_port
from support.sshd import HANG_ADDRESS, SshdFleet

from agent.store import Store

pytestmark = pytest.mark.sshd

TOKEN = "faults-" + "5d" * 16
#: nothing listens here on the fleet's port: connection refused at once
REFUSING_ADDRESS = "127.0.4.30"


@pytest.fixture
def agent(tmp_path: Path, ssh_fleet: SshdFleet) -> Iterator[Agent]:
    config = {
        "store": {"data_dir": str(tmp_path / "data")},
        "ssh": {"known_hosts": str(ssh_fleet.known_hosts), "connect_timeout": 5,
                "host_timeout": 120, "retries": 0},
        "credentials": {"key": {"username": "root", "key_file": str(ssh_fleet.client_key)}},
        "defaults": {"credentials": "key", "platform": "linux", "port": ssh_fleet.port},
        "groups": {"fast": {}, "slow": {}},
        "devices": [
            # "/" is always more than 1 % used: the filesystem check is CRIT on every run (and
            # cpu/load, which follow this shared machine's load, are off)
            {"name": "full-1", "address": ssh_fleet.hosts[-5].address, "groups": ["fast"],
             "checks": {"filesystem": {"warn": 0.5, "crit": 1}, "cpu": {"enabled": False},
                        "load": {"enabled": False}}},
            {"name": "down-1", "address": REFUSING_ADDRESS, "groups": ["fast"]},
            {"name": "hangs", "address": HANG_ADDRESS, "groups": ["slow"]},
        ],
        "incidents": {"open_after": 1},
        "server": {"port": free_port(), "shutdown_grace_seconds": 2},
    }
    path = tmp_path / "xunjian.yaml"
    path.write_text(yaml.safe_dump(config))
    running = Agent(path, config["server"]["port"], tmp_path / "agent.log", TOKEN)
    running.start()
    yield running
    if running.process and running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def _incidents(data: Path) -> list[tuple[Any, ...]]:
    """(id, fingerprint, device, check, status, times opened) of every incident."""
    store = Store.open(None, data)
    try:
        with store.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(
                "SELECT i.id, i.fingerprint, i.device, i.\"check\", i.status, "
                "(SELECT count(*) FROM incident_timeline t WHERE t.incident_id = i.id "
                " AND t.kind = 'opened') FROM incidents i ORDER BY i.id")).all()]
    finally:
        store.close()


def _wait_results(agent: Agent, run_id: int, devices: set[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stored = {r["device"] for r in agent.api("GET", f"/runs/{run_id}").json()["results"]}
        if devices <= stored:
            return
        time.sleep(0.1)
    raise AssertionError(f"run {run_id}: {devices} not stored in {timeout} s\n"
                         f"{agent.log_text()}")


def test_sigkill_mid_run_then_restart(agent: Agent, tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = agent.api("POST", "/runs", json={"groups": ["fast"]}).json()["id"]
    assert agent.wait_run(first)["status"] == "completed"
    opened = _incidents(data)
    assert {(device, check) for _, _, device, check, _, _ in opened} >= {
        ("full-1", "filesystem"), ("down-1", "reachable")}, opened
    assert all(status == "open" and times == 1 for *_, status, times in opened)

    killed = agent.api("POST", "/runs", json={"groups": ["fast", "slow"]}).json()["id"]
    _wait_results(agent, killed, {"full-1", "down-1"})  # "hangs" holds the run open
    committed = agent.api("GET", f"/runs/{killed}").json()
    assert agent.signal(signal.SIGKILL) == -signal.SIGKILL

    agent.start()
    after_kill = agent.api("GET", f"/runs/{killed}").json()
    assert after_kill["status"] == "aborted"
    assert after_kill["results"] == committed["results"]  # committed results intact
    third = agent.api("POST", "/runs", json={"groups": ["fast"]}).json()["id"]
    assert agent.wait_run(third)["status"] == "completed"

    # the same incidents, each opened once: no duplicate from the killed or the next run
    now = _incidents(data)
    assert [i for i in now if i[0] <= opened[-1][0]] == opened
    fingerprints = [fingerprint for _, fingerprint, *_ in now]
    assert len(fingerprints) == len(set(fingerprints)), now
    assert all(times == 1 for *_, times in now), now
    listed = agent.api("GET", "/incidents").json()
    assert sorted(i["id"] for i in listed) == [i for i, *_ in now]
    assert "was interrupted" in agent.log_text()
    assert TOKEN not in agent.log_text()
