"""Done-when of the scale-out (issue 7): a scheduler and two workers on different site queues,
sharing PostgreSQL, inspect OpenSSH-backed hosts of two sites. Killing a worker mid-run gets
its tasks retried with no duplicate results; a second scheduler stands by and doubles nothing.

Everything is real: `xunjian serve` and `xunjian worker` processes, RabbitMQ (a vhost and a
user of the test's own), PostgreSQL (a database of the test's own), sshd processes.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text
from support.agent_process import Agent, Worker
from support.broker import CANARY_BROKER_PASSWORD, RabbitVhost, rabbitmq_unavailable_reason
from support.canaries import CANARY_API_TOKEN
from support.prometheus import free_port
from support.sshd import SshdFleet, sshd_unavailable_reason

from agent.store import Store

pytestmark = [pytest.mark.sshd, pytest.mark.postgres, pytest.mark.broker,
              pytest.mark.timeout(400)]

PLAN = "patrol"
#: site-a hosts answer after a pause, so a worker is caught mid-inspection
SLOW = "sleep 1.5; eval \"$SSH_ORIGINAL_COMMAND\""
SITE_A = [f"127.0.6.{i}" for i in range(1, 7)]
SITE_B_COUNT = 4


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[SshdFleet]:
    reason = sshd_unavailable_reason()
    if reason:
        pytest.skip(f"no test sshd: {reason}")
    with SshdFleet(tmp_path / "sshd", SITE_B_COUNT, first_address="127.0.5.1",
                   special=dict.fromkeys(SITE_A, SLOW)) as running:
        yield running


@pytest.fixture
def vhost() -> Iterator[RabbitVhost]:
    reason = rabbitmq_unavailable_reason()
    if reason:
        pytest.skip(reason)
    with RabbitVhost() as created:
        yield created


def write_config(tmp_path: Path, fleet: SshdFleet, pg_url: str) -> Path:
    devices = [{"name": f"a-{n}", "address": address, "groups": ["site-a"]}
               for n, address in enumerate(SITE_A, 1)]
    devices += [{"name": f"b-{n}", "address": host.address, "groups": ["site-b"]}
                for n, host in enumerate(fleet.hosts, 1)]
    config = {
        "store": {"url": pg_url, "data_dir": str(tmp_path / "data")},
        "celery": {"broker_url_env": "XJ_BROKER_URL", "run_timeout_seconds": 300},
        "server": {"leader_poll_seconds": 0.5},
        "ssh": {"known_hosts": str(fleet.known_hosts), "connect_timeout": 10,
                "command_timeout": 30, "retries": 0},
        "credentials": {"root": {"username": "root", "key_file": str(fleet.client_key)}},
        "defaults": {"credentials": "root", "port": fleet.port},
        "groups": {"site-a": {"site": "site-a"}, "site-b": {"site": "site-b"}},
        "devices": devices,
        "plans": [{"name": PLAN, "cron": "* * * * *", "misfire_grace_seconds": 3600}],
    }
    path = tmp_path / "xunjian.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def query(pg_url: str, sql: str, **params: object) -> list[tuple[object, ...]]:
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def wait_for(what: str, condition, timeout: float, logs: list[Path]) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in logs)
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


def log_messages(path: Path) -> list[str]:
    messages = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            messages.append(json.loads(line)["message"])
        except (ValueError, KeyError):
            messages.append(line)
    return messages


def test_two_sites_a_killed_worker_and_a_second_scheduler(
        tmp_path: Path, fleet: SshdFleet, vhost: RabbitVhost, pg_url: str) -> None:
    config = write_config(tmp_path, fleet, pg_url)
    env = {"XJ_BROKER_URL": vhost.url}
    # The plan last fired three minutes ago: the scheduler that wins the lock catches up
    # the latest missed minute at once (and records the one before as missed).
    store = Store.open(pg_url)
    store.record_missed(PLAN, (datetime.now(UTC) - timedelta(minutes=3)).replace(
        second=0, microsecond=0), "seeded by the test")
    store.close()

    logs = tmp_path / "logs"
    logs.mkdir()
    worker_a = Worker(config, "site-a", logs / "worker-a.log", env, concurrency=1)
    worker_b = Worker(config, "site-b", logs / "worker-b.log", env, concurrency=2)
    first = Agent(config, free_port(), logs / "scheduler-1.log", CANARY_API_TOKEN, env=env)
    second = Agent(config, free_port(), logs / "scheduler-2.log", CANARY_API_TOKEN, env=env)
    all_logs = [worker_a.log, worker_b.log, first.log, second.log]
    processes = [worker_a, worker_b]
    try:
        worker_a.start()
        worker_b.start()
        first.start()
        second.start()  # the second scheduler: it must stand by

        # -- the caught-up run: site-a's worker is killed after its first device ----------
        wait_for("the first run", lambda: query(
            pg_url, "SELECT id FROM runs WHERE plan = :p", p=PLAN), 30, all_logs)
        (run_id,), = query(pg_url, "SELECT id FROM runs WHERE plan = :p", p=PLAN)
        wait_for("a site-a result", lambda: query(
            pg_url, "SELECT 1 FROM device_results WHERE run_id = :r AND device LIKE 'a-%'",
            r=run_id), 60, all_logs)
        worker_a.kill()  # SIGKILL, mid-run: its task in hand is not acknowledged
        stored_a = query(pg_url, "SELECT count(*) FROM device_results WHERE run_id = :r "
                                 "AND device LIKE 'a-%'", r=run_id)[0][0]
        assert stored_a < len(SITE_A), "the worker finished before it could be killed"
        replacement = Worker(config, "site-a", logs / "worker-a2.log", env, concurrency=1)
        processes.append(replacement)
        all_logs.append(replacement.log)
        replacement.start()
        wait_for("the run to complete", lambda: query(
            pg_url, "SELECT status FROM runs WHERE id = :r", r=run_id)[0][0] == "completed",
            120, all_logs)

        per_device = dict(query(pg_url, "SELECT device, count(*) FROM device_results "
                                        "WHERE run_id = :r GROUP BY device", r=run_id))
        expected = {f"a-{n}" for n in range(1, 7)} | {f"b-{n}" for n in range(1, 5)}
        assert set(per_device) == expected
        assert set(per_device.values()) == {1}, per_device  # nothing stored twice
        states = {d: s for d, s in query(pg_url, "SELECT device, state FROM device_results "
                                                  "WHERE run_id = :r", r=run_id)}
        assert set(states.values()) <= {"OK", "WARN", "CRIT"}, states  # all really inspected
        retried = [m for m in log_messages(replacement.log) if "retried" in m]
        assert retried, replacement.log_text()  # the killed worker's task came back
        # each site's devices were inspected by that site's workers only
        a_log = "\n".join(log_messages(worker_a.log) + log_messages(replacement.log))
        b_log = "\n".join(log_messages(worker_b.log))
        assert all(f"a-{n} " not in b_log for n in range(1, 7))
        assert all(f"b-{n} " not in a_log for n in range(1, 5))

        # -- one scheduler leads, the other stands by ------------------------------------
        messages = {name: log_messages(a.log) for name, a in (("first", first),
                                                               ("second", second))}
        leaders = [name for name, m in messages.items()
                   if any("now the active scheduler" in line for line in m)]
        assert leaders == ["first"], {name: m[-5:] for name, m in messages.items()}
        assert any("standing by" in line for line in messages["second"])

        # -- the leader dies: the standby takes over and fires the next minute once -------
        first.signal(signal.SIGKILL)
        wait_for("the standby to take over", lambda: any(
            "now the active scheduler" in line for line in log_messages(second.log)), 30,
            all_logs)
        wait_for("the next minute's run", lambda: len(query(
            pg_url, "SELECT id FROM runs WHERE plan = :p", p=PLAN)) >= 2, 90, all_logs)
        runs = query(pg_url, "SELECT id FROM runs WHERE plan = :p ORDER BY id", p=PLAN)
        wait_for("the second run to complete", lambda: query(
            pg_url, "SELECT status FROM runs WHERE id = :r", r=runs[1][0])[0][0]
            == "completed", 120, all_logs)
        fires = query(pg_url, "SELECT scheduled_for, status, run_id FROM plan_fires "
                              "WHERE plan = :p ORDER BY scheduled_for", p=PLAN)
        ran = [f for f in fires if f[2] is not None]
        assert len(ran) == len({f[0] for f in ran}) == 2, fires  # one run per fire time
        assert all(status == "completed" for _, status, _ in ran), fires
        assert len(query(pg_url, "SELECT id FROM runs WHERE plan = :p", p=PLAN)) == 2
        # nobody stored a result twice in any run
        assert query(pg_url, "SELECT run_id, device FROM device_results GROUP BY run_id, "
                             "device HAVING count(*) > 1") == []
    finally:
        for process in processes:
            process.stop()
        for agent in (first, second):
            if agent.process is not None and agent.process.poll() is None:
                agent.signal(signal.SIGTERM)

    for path in all_logs:  # the broker password never reaches a log
        assert CANARY_BROKER_PASSWORD not in path.read_text(errors="replace"), path.name
