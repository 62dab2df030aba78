"""The fault suite: the store fails in the middle of a run (``xunjian inspect`` as a process).

* The disk of the SQLite store fills up (a small tmpfs, filled while the inspection's
  ``vmstat`` runs on the host).
* The PostgreSQL database stops accepting connections mid-run (its sessions are terminated and
  new ones refused), and a store URL with nothing listening.

Each time: a clear error that says what happened and what to do, exit status 3, nothing of the
failed run recorded as completed or OK, and everything stored earlier still there, unchanged.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text
from support.faults import (
    CommandWatch,
    Measured,
    TmpfsMount,
    mount_unavailable_reason,
    run_measured,
)
from support.sshd import SshdFleet

from agent.store import Store
from checks.model import State

pytestmark = pytest.mark.sshd

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _config(tmp: Path, fleet: SshdFleet, store: dict[str, Any]) -> Path:
    config = {
        "store": store,
        "ssh": {"known_hosts": str(fleet.known_hosts), "connect_timeout": 5, "retries": 0},
        "credentials": {"key": {"username": "root", "key_file": str(fleet.client_key)}},
        "defaults": {"credentials": "key", "platform": "linux", "port": fleet.port},
        "devices": [{"name": "db-1", "address": fleet.hosts[-3].address},
                    {"name": "db-2", "address": fleet.hosts[-4].address}],
    }
    path = tmp / "xunjian.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _inspect(config: Path, workdir: Path) -> Measured:
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "XUNJIAN_CONFIG": str(config)}
    return run_measured([sys.executable, "-m", "agent", "inspect", "--json"], env=env,
                        workdir=workdir)


def _snapshot(store: Store) -> dict[str, Any]:
    """What was stored: runs with their status, and every result's state and check verdicts."""
    with store.engine.connect() as conn:
        runs = conn.execute(text("SELECT id, status, state FROM runs ORDER BY id")).all()
        results = conn.execute(text(
            "SELECT r.id, r.run_id, r.device, r.state, count(c.id) FROM device_results r "
            "LEFT JOIN check_results c ON c.result_id = r.id "
            "GROUP BY r.id, r.run_id, r.device, r.state ORDER BY r.id")).all()
    return {"runs": [tuple(r) for r in runs], "results": [tuple(r) for r in results]}


# -- the SQLite store's disk fills up -------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[TmpfsMount]:
    reason = mount_unavailable_reason()
    if reason:
        pytest.skip(reason)
    with TmpfsMount(tmp_path / "disk", 16 * 1024 * 1024) as mount:
        yield mount


def test_disk_full_mid_run_is_a_clear_error_and_keeps_earlier_results(
        ssh_fleet: SshdFleet, small_disk: TmpfsMount, tmp_path: Path) -> None:
    config = _config(tmp_path, ssh_fleet, {"data_dir": str(small_disk.path / "data")})
    first = _inspect(config, tmp_path / "first")
    assert first.returncode in (0, 1, 2), first.stderr  # whatever the hosts' load is
    store = Store.open(None, small_disk.path / "data")
    before = _snapshot(store)
    store.close()
    assert before["runs"][0][1] == "completed" and len(before["results"]) == 2

    with CommandWatch(ssh_fleet, "vmstat", lambda _: small_disk.fill()) as filling:
        second = _inspect(config, tmp_path / "second")
    assert filling.fired
    assert second.returncode == 3, second.stdout
    assert "Traceback" not in second.stderr
    # the first failure is named (not the aborted run's bookkeeping that failed after it)
    assert re.search(r"error: result store sqlite:///\S+: saving the result of db-[12] failed: "
                     r"database or disk is full; free space where the store keeps its data, then "
                     r"run again \(results stored earlier are kept\)", second.stderr), second.stderr
    assert second.stdout == ""  # no summary that could be read as a verdict

    small_disk.free()
    store = Store.open(None, small_disk.path / "data")
    try:
        after = _snapshot(store)
        assert after["results"][:2] == before["results"]  # nothing stored earlier was lost
        assert after["runs"][0] == before["runs"][0]
        failed = [r for r in after["runs"] if r[0] != before["runs"][0][0]]
        assert failed and all(status != "completed" for _, status, _ in failed)
        assert not [r for r in after["results"][2:] if r[3] == State.OK.value]
        # the next start records the interrupted run (whose end could not be written) aborted
        assert [status for _, status, _ in failed] == ["running"]
        assert store.mark_abandoned_runs() == [failed[0][0]]
        assert store.run_status(failed[0][0]) == "aborted"
    finally:
        store.close()


# -- the PostgreSQL database becomes unavailable ---------------------------------------------------

@pytest.mark.postgres
def test_database_gone_mid_run_is_a_clear_error_and_keeps_earlier_results(
        ssh_fleet: SshdFleet, pg_url: str, tmp_path: Path) -> None:
    database = pg_url.rsplit("/", 1)[1]
    config = _config(tmp_path, ssh_fleet, {"url": pg_url})
    first = _inspect(config, tmp_path / "first")
    assert first.returncode in (0, 1, 2), first.stderr
    store = Store.open(pg_url)
    before = _snapshot(store)
    store.close()

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")

    def take_database_away(_: list[int]) -> None:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false'))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :name"), {"name": database})

    try:
        with CommandWatch(ssh_fleet, "vmstat", take_database_away) as watch:
            second = _inspect(config, tmp_path / "second")
        assert watch.fired
        assert second.returncode == 3, second.stdout
        assert "Traceback" not in second.stderr
        assert re.search(rf'error: result store postgresql\S+: [a-z ]+ failed: connection failed: '
                         rf'.*database "{database}" is not currently accepting connections; check '
                         r"that the database server is running and accepts connections for "
                         r"store.url, then run again \(results stored earlier are kept\)",
                         second.stderr), second.stderr
        assert second.stdout == ""
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true'))
        admin.dispose()

    store = Store.open(pg_url)
    try:
        after = _snapshot(store)
        assert after["results"][:2] == before["results"]
        assert after["runs"][0] == before["runs"][0]
        failed = [r for r in after["runs"] if r[0] != before["runs"][0][0]]
        assert failed and all(status != "completed" for _, status, _ in failed)
        assert not [r for r in after["results"][2:] if r[3] == State.OK.value]
    finally:
        store.close()


def test_a_store_url_with_nothing_listening_is_a_clear_error(
        ssh_fleet: SshdFleet, tmp_path: Path) -> None:
    url = "postgresql+psycopg://xunjian@127.0.0.1:1/xunjian?connect_timeout=3"
    result = _inspect(_config(tmp_path, ssh_fleet, {"url": url}), tmp_path / "run")
    assert result.returncode == 3
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert "127.0.0.1" in result.stderr and "Connection refused" in result.stderr
    assert "check that the database server is running" in result.stderr, result.stderr
