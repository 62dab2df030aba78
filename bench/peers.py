"""The clients of the benchmark: how each is set up, started and checked for completeness.

Every client inspects the same targets with the same concurrency and the same commands (the
commands are read from xunjian's standard packs, so they stay in sync):

* ``paramiko-pool`` — bench/clients/paramiko_pool.py: the Linux pack's commands as one command
  line per host, over one connection each.
* ``xunjian`` / ``xunjian-net`` — the real ``xunjian inspect`` CLI with a generated config
  (linux-standard for the hosts, the platform standard packs for the devices) and its SQLite
  store in the run's directory; complete means every target has a stored, reachable result
  with the raw output of every pack item.
* ``ansible`` — ``ansible all -f W -m shell -a '<the same command line>' -o`` (ansible-core,
  OpenSSH client, pipelining on, no ControlPersist so nothing outlives the run).
* ``nornir`` — bench/clients/nornir_netmiko.py: Nornir's threaded runner + nornir-netmiko.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.harness import (
    ENABLE_PLATFORMS,
    NET_PASSWORD,
    NET_SECRET,
    NET_USERNAME,
    PLATFORMS,
    REPO_ROOT,
    Fleet,
)
from bench.measure import Measurement
from collectors.pack import builtin_pack

BIN = Path(sys.executable).parent
NET_PASSWORD_ENV = "BENCH_NET_PASSWORD"
NET_SECRET_ENV = "BENCH_NET_SECRET"
_ANSIBLE_LINE = re.compile(r"^(\S+) \| (CHANGED|SUCCESS|FAILED!?|UNREACHABLE!?)", re.MULTILINE)


@dataclass
class Outcome:
    """How many targets the client really inspected."""

    total: int
    ok: int
    #: a few failed targets with their reason (all of them are counted in ``total - ok``)
    failures: dict[str, str] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Client:
    name: str
    #: ``hosts`` (Linux over OpenSSH) or ``devices`` (simulated network devices)
    targets: str
    command: list[str]
    env: dict[str, str]
    check: Callable[[Measurement], Outcome]


def linux_commands() -> list[str]:
    pack = builtin_pack("linux-standard")
    return [item.command for item in pack.items if item.command]


def linux_command_line() -> str:
    """The Linux pack's commands as one shell command line (what the peers send)."""
    return "; ".join(linux_commands())


def network_commands() -> dict[str, list[str]]:
    commands = {}
    for platform in PLATFORMS:
        pack = builtin_pack(f"{platform}-standard")
        commands[platform] = [item.command for item in pack.items if item.command]
    return commands


def missing_tools() -> dict[str, str]:
    """Client name → why it cannot run here (the ``bench`` extra is not installed)."""
    missing = {}
    if not (BIN / "ansible").exists() and shutil.which("ansible") is None:
        missing["ansible"] = "ansible-core is not installed (pip install -e '.[bench]')"
    if importlib.util.find_spec("nornir") is None or \
            importlib.util.find_spec("nornir_netmiko") is None:
        missing["nornir"] = "nornir / nornir-netmiko are not installed (pip install -e '.[bench]')"
    return missing


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def _summary(measurement: Measurement) -> dict[str, Any]:
    """The JSON summary a bench/clients/ script printed (an empty one if it died)."""
    try:
        data: dict[str, Any] = json.loads(measurement.stdout.read_text().strip().splitlines()[-1])
    except (IndexError, ValueError, OSError):
        return {}
    return data


def _client_outcome(total: int) -> Callable[[Measurement], Outcome]:
    def check(measurement: Measurement) -> Outcome:
        data = _summary(measurement)
        if not data:
            tail = measurement.stderr.read_text(errors="replace")[-500:]
            return Outcome(total, 0, {"(client)": f"no summary; exit {measurement.exit_code}: "
                                                  f"{tail}"})
        failed = data.get("failed", {})
        return Outcome(total, int(data.get("ok", 0)), dict(list(failed.items())[:5]),
                       {"output_bytes": data.get("output_bytes")})
    return check


# -- paramiko pool -------------------------------------------------------------------------

def paramiko_pool(fleet: Fleet, workdir: Path, workers: int, command: str | None = None,
                  hosts: int | None = None, name: str = "paramiko-pool") -> Client:
    assert fleet.hosts is not None
    chosen = fleet.hosts.hosts[:hosts]
    job = {
        "hosts": [{"name": h.name, "address": h.address, "port": h.port} for h in chosen],
        "username": "root", "key_file": str(fleet.hosts.client_key),
        "known_hosts": str(fleet.hosts.known_hosts), "command": command or linux_command_line(),
        "workers": workers, "timeout": 30,
    }
    path = workdir / f"{name}.job.json"
    path.write_text(json.dumps(job))
    return Client(name, "hosts", [sys.executable, "-m", "bench.clients.paramiko_pool", str(path)],
                  _base_env(), _client_outcome(len(chosen)))


# -- xunjian -------------------------------------------------------------------------------

def _xunjian_command(config: Path, workers: int) -> list[str]:
    executable = BIN / "xunjian"
    program = [str(executable)] if executable.exists() else [sys.executable, "-m", "agent"]
    return [*program, "inspect", "--config", str(config), "--workers", str(workers),
            "--no-progress"]


def _ssh_settings(known_hosts: Path, workers: int) -> dict[str, Any]:
    return {"known_hosts": str(known_hosts), "connect_timeout": 30, "host_timeout": 300,
            "workers": workers}


def xunjian_hosts(fleet: Fleet, workdir: Path, workers: int) -> Client:
    assert fleet.hosts is not None
    data_dir = workdir / "xunjian-data"
    config = {
        "store": {"data_dir": str(data_dir)},
        "ssh": _ssh_settings(fleet.hosts.known_hosts, workers),
        "credentials": {"bench": {"username": "root", "key_file": str(fleet.hosts.client_key)}},
        "defaults": {"credentials": "bench", "platform": "linux"},
        "devices": [{"name": h.name, "address": h.address, "port": h.port}
                    for h in fleet.hosts.hosts],
    }
    path = workdir / "xunjian.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    items = {"linux": len(builtin_pack("linux-standard").items)}
    names = {h.name: "linux" for h in fleet.hosts.hosts}
    return Client("xunjian", "hosts", _xunjian_command(path, workers), _base_env(),
                  _store_outcome(data_dir, names, items))


def xunjian_devices(fleet: Fleet, workdir: Path, workers: int) -> Client:
    data_dir = workdir / "xunjian-net-data"
    devices = fleet.devices
    config = {
        "store": {"data_dir": str(data_dir)},
        "ssh": _ssh_settings(fleet.device_known_hosts, workers),
        "credentials": {"net": {"username": NET_USERNAME, "password_env": NET_PASSWORD_ENV,
                                "secret_env": NET_SECRET_ENV}},
        "defaults": {"credentials": "net"},
        "devices": [{"name": d.name, "address": d.address, "port": d.port,
                     "platform": d.platform} for d in devices],
    }
    path = workdir / "xunjian-net.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    env = _base_env() | {NET_PASSWORD_ENV: NET_PASSWORD, NET_SECRET_ENV: NET_SECRET}
    items = {p: len(builtin_pack(f"{p}-standard").items) for p in {d.platform for d in devices}}
    names = {d.name: d.platform for d in devices}
    return Client("xunjian-net", "devices", _xunjian_command(path, workers), env,
                  _store_outcome(data_dir, names, items))


def _store_outcome(data_dir: Path, names: dict[str, str], items: dict[str, int]
                   ) -> Callable[[Measurement], Outcome]:
    """Complete = the latest run is ``completed`` and holds, for every target, a reachable
    result with the raw output of every item of its pack (the exit code alone says nothing
    about that: 1/2 are findings, and 3 may be one unreachable host)."""
    def check(measurement: Measurement) -> Outcome:
        total = len(names)
        database = data_dir / "xunjian.db"
        if not database.exists():
            return Outcome(total, 0, {"(client)": f"no store; exit {measurement.exit_code}: "
                                      + measurement.stderr.read_text(errors="replace")[-500:]})
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
            run = db.execute("SELECT id, status FROM runs ORDER BY id DESC LIMIT 1").fetchone()
            if run is None:
                return Outcome(total, 0, {"(client)": "no run was stored"})
            rows = db.execute(
                "SELECT r.device, r.reachable, r.error, r.item_errors, "
                "(SELECT count(*) FROM raw_outputs o WHERE o.result_id = r.id) "
                "FROM device_results r WHERE r.run_id = ?", (run[0],)).fetchall()
        failures: dict[str, str] = {}
        ok = item_errors = 0
        seen = set()
        for device, reachable, error, errors, raw in rows:
            seen.add(device)
            item_errors += len(json.loads(errors) if errors else {})
            expected = items[names[device]]
            if not reachable:
                failures.setdefault(device, f"unreachable: {error}")
            elif raw != expected:
                failures.setdefault(device, f"{raw} of {expected} raw outputs stored")
            else:
                ok += 1
        for device in sorted(set(names) - seen):
            failures.setdefault(device, "no result stored")
        notes = {"run_status": run[1], "item_errors": item_errors,
                 "exit_code": measurement.exit_code}
        if run[1] != "completed":
            failures.setdefault("(run)", f"run {run[0]} is {run[1]}")
            ok = min(ok, total - 1)
        return Outcome(total, ok, dict(sorted(failures.items())[:5]), notes)
    return check


# -- Ansible ---------------------------------------------------------------------------------

def ansible(fleet: Fleet, workdir: Path, workers: int) -> Client:
    assert fleet.hosts is not None
    home = workdir / "ansible-home"
    home.mkdir(parents=True, exist_ok=True)
    ssh_args = (f"-o UserKnownHostsFile={fleet.hosts.known_hosts} -o StrictHostKeyChecking=yes "
                "-o ControlMaster=no -o ControlPath=none -o BatchMode=yes")
    inventory = {"all": {
        "vars": {"ansible_user": "root",
                 "ansible_ssh_private_key_file": str(fleet.hosts.client_key),
                 "ansible_ssh_common_args": ssh_args,
                 "ansible_python_interpreter": "/usr/bin/python3"},
        "hosts": {h.name: {"ansible_host": h.address, "ansible_port": h.port}
                  for h in fleet.hosts.hosts},
    }}
    path = workdir / "ansible-inventory.yaml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    config = workdir / "ansible.cfg"
    config.write_text("[defaults]\n")  # keep any ansible.cfg of the machine out of it
    executable = BIN / "ansible" if (BIN / "ansible").exists() else Path(
        shutil.which("ansible") or "ansible")
    env = _base_env() | {
        "ANSIBLE_CONFIG": str(config), "ANSIBLE_HOME": str(home),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"), "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_SSH_ARGS": "-o ControlMaster=no", "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_NOCOLOR": "1", "ANSIBLE_DEPRECATION_WARNINGS": "False",
        "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8",
    }
    command = [str(executable), "all", "-i", str(path), "-f", str(workers), "-m", "shell",
               "-a", linux_command_line(), "-o", "--timeout", "30"]
    total = len(fleet.hosts.hosts)

    def check(measurement: Measurement) -> Outcome:
        text = measurement.stdout.read_text(errors="replace")
        states = dict(_ANSIBLE_LINE.findall(text))
        ok = sum(1 for s in states.values() if s in ("CHANGED", "SUCCESS"))
        failures = {h: s for h, s in states.items() if s not in ("CHANGED", "SUCCESS")}
        for host in fleet.hosts.hosts if fleet.hosts else []:
            if host.name not in states:
                failures.setdefault(host.name, "no result line")
        return Outcome(total, ok, dict(sorted(failures.items())[:5]))

    return Client("ansible", "hosts", command, env, check)


# -- Nornir ----------------------------------------------------------------------------------

def nornir(fleet: Fleet, workdir: Path, workers: int) -> Client:
    extras = {"ssh_strict": True, "system_host_keys": False, "alt_host_keys": True,
              "alt_key_file": str(fleet.device_known_hosts), "use_keys": False,
              "allow_agent": False}
    hosts = {
        d.name: {"hostname": d.address, "port": d.port, "username": d.username,
                 "password": d.password, "platform": d.platform,
                 "connection_options": {"netmiko": {"extras": extras | (
                     {"secret": d.secret} if d.secret else {})}}}
        for d in fleet.devices
    }
    hosts_file = workdir / "nornir-hosts.yaml"
    hosts_file.write_text(yaml.safe_dump(hosts, sort_keys=False))
    hosts_file.chmod(0o600)
    job = {"hosts_file": str(hosts_file), "commands": network_commands(),
           "enable_platforms": list(ENABLE_PLATFORMS), "workers": workers}
    path = workdir / "nornir.job.json"
    path.write_text(json.dumps(job))
    return Client("nornir", "devices",
                  [sys.executable, "-m", "bench.clients.nornir_netmiko", str(path)],
                  _base_env(), _client_outcome(len(hosts)))
