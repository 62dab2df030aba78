"""Inspections against real OpenSSH servers on loopback (see tests/support/sshd.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.canaries import mark_device_side
from support.sshd import (
    CANARY_PASSPHRASE,
    CANARY_PASSWORD,
    DROP_ADDRESS,
    GARBAGE_ADDRESS,
    HANG_ADDRESS,
    PASSWORD_USER,
    SshdFleet,
)

from agent.results import DeviceResult, RunResult
from agent.runner import Inspector, select_devices
from agent.store import Store
from checks.builtin import CHECK_NAMES
from checks.model import State
from collectors.pack import Pack, builtin_pack
from config.loader import load_config

pytestmark = pytest.mark.sshd

ENV = {"XJ_TEST_PASSPHRASE": CANARY_PASSPHRASE, "XJ_TEST_PASSWORD": CANARY_PASSWORD}


def write_config(tmp_path: Path, fleet: SshdFleet, devices: list[dict[str, Any]], *,
                 ssh: Mapping[str, Any] | None = None, known_hosts: Path | None = None) -> Path:
    config = {
        "store": {"data_dir": str(tmp_path / "data")},
        "ssh": {"known_hosts": str(known_hosts or fleet.known_hosts), "connect_timeout": 3,
                "host_timeout": 30, "retries": 0, "retry_backoff": 0.05, **(ssh or {})},
        "credentials": {
            "key": {"username": "root", "key_file": str(fleet.client_key)},
            "passphrase": {"username": "root", "key_file": str(fleet.client_key_passphrase),
                           "passphrase_env": "XJ_TEST_PASSPHRASE"},
            "password": {"username": PASSWORD_USER, "password_env": "XJ_TEST_PASSWORD"},
            "wrong": {"username": PASSWORD_USER, "password_env": "XJ_TEST_WRONG"},
            "missing": {"username": "root", "password_env": "XJ_TEST_NOT_SET"},
        },
        "defaults": {"credentials": "key", "platform": "linux"},
        "devices": devices,
    }
    path = tmp_path / "xunjian.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    return path


def dev(fleet: SshdFleet, address: str, **extra: Any) -> dict[str, Any]:
    name = extra.pop("name", f"h-{address.replace('.', '-')}")
    return {"name": name, "address": address, "port": fleet.port, **extra}


def inspect(path: Path, env: Mapping[str, str] = ENV, packs: dict[str, Pack] | None = None,
            names: tuple[str, ...] = ()) -> tuple[RunResult, Store]:
    loaded = load_config(path, env=env, known_checks=CHECK_NAMES)
    data = path.parent / "data"
    store = Store.open(None, data)
    inspector = Inspector(loaded, store, data_dir=data, env=env, packs=packs)
    return inspector.run(select_devices(loaded.devices, names)), store


def by_name(run: RunResult) -> dict[str, DeviceResult]:
    return {r.device: r for r in run.devices}


def meminfo_total() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal")


def test_twenty_hosts_return_facts_and_checks(ssh_fleet: SshdFleet, tmp_path: Path) -> None:
    devices = [dev(ssh_fleet, h.address, name=h.name) for h in ssh_fleet.hosts[:20]]
    run, store = inspect(write_config(tmp_path, ssh_fleet, devices))
    assert len(run.devices) == 20
    pack = builtin_pack("linux-standard")
    for result in run.devices:
        assert result.reachable, result.error
        assert result.state is not State.UNKNOWN, [c.message for c in result.findings]
        facts = result.facts
        assert facts is not None
        # The simulated hosts are this machine: facts must match what it reports itself.
        assert facts.cpu_count == os.cpu_count()
        assert facts.memory_total_bytes == meminfo_total()
        assert facts.hostname == Path("/proc/sys/kernel/hostname").read_text().strip()
        assert facts.filesystems and "/" in {f.mountpoint for f in facts.filesystems}
        assert facts.load1 is not None and facts.uptime_seconds and facts.uptime_seconds > 0
        assert facts.clock_offset_seconds is not None and abs(facts.clock_offset_seconds) < 2
        checks = {c.check for c in result.checks}
        assert {"cpu", "load", "memory", "filesystem", "inodes", "readonly_fs",
                "clock_offset", "zombies", "reboot"} <= checks
        assert result.pack is not None and result.pack.content_hash == pack.content_hash
        assert result.transcript and "$ cat /proc/meminfo" in result.transcript
        assert {r.item for r in result.raw} == {i.id for i in pack.items}
    stored = store.history(run.devices[0].device)
    assert len(stored) == 1 and stored[0].checks == run.devices[0].checks
    assert store.run_status(run.run_id or 0) == "completed"


@pytest.mark.root
def test_password_and_passphrase_key_authentication(
    ssh_fleet: SshdFleet, password_user: tuple[str, str], tmp_path: Path
) -> None:
    a, b = ssh_fleet.hosts[0].address, ssh_fleet.hosts[1].address
    path = write_config(tmp_path, ssh_fleet, [
        dev(ssh_fleet, a, name="pw", credentials="password"),
        dev(ssh_fleet, b, name="phrase", credentials="passphrase"),
    ])
    results = by_name(inspect(path)[0])
    assert results["pw"].reachable, results["pw"].error
    assert results["phrase"].reachable, results["phrase"].error
    assert f"user: {PASSWORD_USER}" in (results["pw"].transcript or "")


@pytest.mark.root
def test_wrong_password_is_unknown_and_others_carry_on(
    ssh_fleet: SshdFleet, password_user: tuple[str, str], tmp_path: Path
) -> None:
    path = write_config(tmp_path, ssh_fleet, [
        dev(ssh_fleet, ssh_fleet.hosts[0].address, name="bad", credentials="wrong"),
        dev(ssh_fleet, ssh_fleet.hosts[1].address, name="good"),
    ])
    results = by_name(inspect(path, env={**ENV, "XJ_TEST_WRONG": "not-the-password"})[0])
    bad = results["bad"]
    assert bad.state is State.UNKNOWN and not bad.reachable
    assert "authentication failed for user 'xjtest'" in (bad.error or "")
    assert "credential set 'wrong'" in (bad.error or "")
    assert [(c.check, c.state) for c in bad.checks] == [("reachable", State.UNKNOWN)]
    assert results["good"].reachable


def test_connection_failures_are_unknown_with_the_reason(
    ssh_fleet: SshdFleet, tmp_path: Path
) -> None:
    path = write_config(tmp_path, ssh_fleet, [
        dev(ssh_fleet, "127.0.1.250", name="refused"),
        {"name": "nodns", "address": "no-such-host.invalid", "port": ssh_fleet.port},
        dev(ssh_fleet, ssh_fleet.hosts[2].address, name="fine"),
        dev(ssh_fleet, ssh_fleet.hosts[3].address, name="nocred", credentials="missing"),
    ], ssh={"retries": 2})
    run, _ = inspect(path)
    results = by_name(run)
    assert "connection refused" in (results["refused"].error or "")
    assert "after 3 attempts" in (results["refused"].error or "")
    assert "cannot resolve host name 'no-such-host.invalid'" in (results["nodns"].error or "")
    assert "(after" not in (results["nodns"].error or "")  # name errors are not retried
    assert "environment variable XJ_TEST_NOT_SET" in (results["nocred"].error or "")
    assert results["fine"].reachable
    # at least UNKNOWN: the fine host is this machine, whose load may be CRIT when it is busy
    assert run.state in (State.UNKNOWN, State.CRIT)


def test_unknown_and_changed_host_keys_are_refused(ssh_fleet: SshdFleet, tmp_path: Path) -> None:
    unknown, changed, ok = (h.address for h in ssh_fleet.hosts[4:7])
    known_hosts = ssh_fleet.write_known_hosts(tmp_path / "kh", wrong_key_for=[changed],
                                              omit=[unknown])
    path = write_config(tmp_path, ssh_fleet, [
        dev(ssh_fleet, unknown, name="unknown"), dev(ssh_fleet, changed, name="changed"),
        dev(ssh_fleet, ok, name="ok"),
    ], known_hosts=known_hosts)
    results = by_name(inspect(path)[0])
    assert "is not known" in (results["unknown"].error or "")
    assert "ssh-keyscan" in (results["unknown"].error or "")
    assert "HOST KEY CHANGED" in (results["changed"].error or "")
    assert "ssh-keygen -R" in (results["changed"].error or "")
    assert results["ok"].reachable


def test_trust_on_first_use_records_the_key_and_still_refuses_changes(
    ssh_fleet: SshdFleet, tmp_path: Path
) -> None:
    new, changed = ssh_fleet.hosts[7].address, ssh_fleet.hosts[8].address
    known_hosts = ssh_fleet.write_known_hosts(tmp_path / "kh", wrong_key_for=[changed],
                                              omit=[new])
    path = write_config(tmp_path, ssh_fleet, [
        dev(ssh_fleet, new, name="new"), dev(ssh_fleet, changed, name="changed"),
    ], known_hosts=known_hosts, ssh={"host_key_policy": "tofu"})
    results = by_name(inspect(path)[0])
    assert results["new"].reachable, results["new"].error
    assert "HOST KEY CHANGED" in (results["changed"].error or "")
    recorded = (tmp_path / "data" / "known_hosts").read_text()
    assert f"[{new}]:{ssh_fleet.port} ssh-ed25519 " in recorded
    assert changed not in recorded
    again = by_name(inspect(path)[0])
    assert again["new"].reachable


def test_hang_drop_and_garbage_hosts(ssh_fleet: SshdFleet, tmp_path: Path) -> None:
    path = write_config(tmp_path, ssh_fleet, [
        dev(ssh_fleet, HANG_ADDRESS, name="hang"), dev(ssh_fleet, DROP_ADDRESS, name="drop"),
        dev(ssh_fleet, GARBAGE_ADDRESS, name="garbage"),
        dev(ssh_fleet, ssh_fleet.hosts[9].address, name="fine"),
    ], known_hosts=ssh_fleet.write_known_hosts(tmp_path / "kh"), ssh={"host_timeout": 3})
    results = by_name(inspect(path)[0])
    assert "did not finish within 3 s" in (results["hang"].error or "")
    assert "dropped mid-run" in (results["drop"].error or "")
    assert "partial-output" in (results["drop"].transcript or "")
    assert "ran none of the inspection commands" in (results["garbage"].error or "")
    assert "garbage" in (results["garbage"].transcript or "")
    assert all(results[n].state is State.UNKNOWN for n in ("hang", "drop", "garbage"))
    assert results["fine"].reachable


def _pack_with(**commands: str) -> Pack:
    base = builtin_pack("linux-standard")
    items = [i.model_copy(update={"command": commands[i.id], "timeout": 1})
             if i.id in commands else i for i in base.items]
    return base.model_copy(update={"items": items, "version": "test"})


def test_a_hanging_command_and_unparseable_output_make_only_their_checks_unknown(
    ssh_fleet: SshdFleet, tmp_path: Path
) -> None:
    pack = _pack_with(memory="sleep 30", filesystems="cat /proc/version")
    path = write_config(tmp_path, ssh_fleet, [dev(ssh_fleet, ssh_fleet.hosts[10].address)])
    result = inspect(path, packs={"linux": pack})[0].devices[0]
    assert result.reachable
    assert "timed out" in result.item_errors["memory"]
    assert "could not understand" in result.item_errors["filesystems"]
    checks = {(c.check, c.state) for c in result.checks}
    assert ("memory", State.UNKNOWN) in checks
    assert ("filesystem", State.UNKNOWN) in checks
    # the other items were judged (their state depends on how busy this machine is)
    assert any(c == "cpu" and st is not State.UNKNOWN for c, st in checks)
    assert result.state in (State.UNKNOWN, State.CRIT)  # at least UNKNOWN


def test_jump_host(ssh_fleet: SshdFleet, tmp_path: Path) -> None:
    hop, target = ssh_fleet.hosts[11].address, ssh_fleet.hosts[12].address
    path = write_config(tmp_path, ssh_fleet, [
        dev(ssh_fleet, hop, name="bastion"),
        dev(ssh_fleet, target, name="inner", jump_host="bastion"),
    ])
    inner = by_name(inspect(path, names=("inner",))[0])["inner"]
    assert inner.reachable, inner.error
    assert "via bastion" in (inner.transcript or "")


def test_secrets_in_device_output_are_redacted(ssh_fleet: SshdFleet, tmp_path: Path) -> None:
    # a file on the inspected host: device-side state that holds the canary on purpose
    leak = mark_device_side(tmp_path / "host-files", "a secret planted on the inspected host") \
        / "leak.txt"
    leak.write_text(f"db_password={CANARY_PASSWORD}\n")
    pack = _pack_with(hostname=f"cat {leak}")
    # Logged in with the key: the canary is a configured secret of another credential set.
    path = write_config(tmp_path, ssh_fleet, [dev(ssh_fleet, ssh_fleet.hosts[13].address)])
    result = inspect(path, packs={"linux": pack})[0].devices[0]
    text = (result.transcript or "") + "".join(r.output for r in result.raw)
    assert "db_password=********" in text
    assert CANARY_PASSWORD not in text


@pytest.mark.root
def test_cli_end_to_end_never_shows_the_canaries(
    ssh_fleet: SshdFleet, password_user: tuple[str, str], tmp_path: Path
) -> None:
    hosts = ssh_fleet.hosts
    path = write_config(tmp_path, ssh_fleet, [
        dev(ssh_fleet, hosts[14].address, name="pw", credentials="password"),
        dev(ssh_fleet, hosts[15].address, name="phrase", credentials="passphrase"),
        dev(ssh_fleet, hosts[16].address, name="key"),
        dev(ssh_fleet, "127.0.1.251", name="down"),
    ])
    env = {**os.environ, **ENV, "XUNJIAN_CONFIG": str(path)}
    cmd = [sys.executable, "-m", "agent", "-vv", "inspect", "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)
    # one device is down: UNKNOWN (3), or CRIT (2) when this busy machine's own load is CRIT
    assert proc.returncode in (2, 3), proc.stderr
    import json

    data = json.loads(proc.stdout)
    assert {d["device"]: d["state"] for d in data["devices"]}["down"] == "UNKNOWN"
    assert {d["device"] for d in data["devices"] if d["reachable"]} == {"pw", "phrase", "key"}
    history = subprocess.run([sys.executable, "-m", "agent", "history", "pw"],
                             capture_output=True, text=True, env=env, timeout=60, check=False)
    assert history.returncode == 0 and "pw" in history.stdout
    shown = subprocess.run([sys.executable, "-m", "agent", "transcript", "pw"],
                           capture_output=True, text=True, env=env, timeout=60, check=False)
    assert "$ cat /proc/meminfo" in shown.stdout

    artefacts = [proc.stdout, proc.stderr, history.stdout, history.stderr, shown.stdout]
    for file in (tmp_path / "data").rglob("*"):
        if file.is_file():
            artefacts.append(file.read_bytes().decode("latin-1"))
    store = Store.open(None, tmp_path / "data")
    with store.engine.connect() as conn:
        for (blob,) in conn.exec_driver_sql("SELECT transcript FROM device_results"):
            if blob:
                artefacts.append(zlib.decompress(blob).decode())
        for (blob,) in conn.exec_driver_sql("SELECT output FROM raw_outputs"):
            artefacts.append(zlib.decompress(blob).decode())
        for row in conn.exec_driver_sql("SELECT * FROM device_results"):
            artefacts.append(repr(row))
    store.close()
    assert len(artefacts) > 10
    for secret in (CANARY_PASSWORD, CANARY_PASSPHRASE):
        leaks = [a[max(0, a.find(secret) - 80):a.find(secret) + 80]
                 for a in artefacts if secret in a]
        assert not leaks, leaks


def test_a_host_that_accepts_tcp_but_never_speaks_ssh(
    ssh_fleet: SshdFleet, tmp_path: Path
) -> None:
    import socket
    import threading

    silent = socket.socket()
    silent.bind(("127.0.1.252", 0))
    silent.listen(8)
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(silent.accept()[0]), daemon=True).start()
    try:
        path = write_config(tmp_path, ssh_fleet, [
            {"name": "silent", "address": "127.0.1.252", "port": silent.getsockname()[1]},
            dev(ssh_fleet, ssh_fleet.hosts[17].address, name="fine"),
        ], ssh={"connect_timeout": 1})
        results = by_name(inspect(path)[0])
    finally:
        for conn in accepted:
            conn.close()
        silent.close()
    assert "accepted TCP but sent no SSH banner within 1 s" in (results["silent"].error or "")
    assert results["silent"].state is State.UNKNOWN
    assert results["fine"].reachable
