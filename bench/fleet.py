"""The fleet benchmark: start the fleet once, run every client against it, compare.

Order (fixed, every round): a warm-up (the paramiko pool running ``uname`` on up to 50 hosts, not
measured: it pages in sshd, PAM and the shells), then on the hosts ``paramiko-pool``,
``xunjian``, ``ansible``, then on the devices ``nornir``, ``xunjian-net``. With ``repeat`` > 1
the rounds repeat in the same order and each figure is the median over the rounds
(completeness is the worst round's).
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import peers
from bench.harness import (
    DEVICES_PER_SIMULATOR,
    REPO_ROOT,
    Fleet,
    sshd_unavailable_reason,
    sshd_version,
    start_fleet,
)
from bench.measure import Measurement, run_measured


@dataclass(frozen=True)
class Size:
    hosts: int
    devices: int


SIZES = {"quick": Size(100, 20), "full": Size(1000, 200)}
HOST_ORDER = ("paramiko-pool", "xunjian", "ansible")
DEVICE_ORDER = ("nornir", "xunjian-net")

#: (name, numerator client, denominator client, metric, comparison, limit) — issue 7's targets
TARGETS = (
    ("xunjian wall <= 1.2x paramiko pool", "xunjian", "paramiko-pool", "wall_seconds",
     "<=", 1.2),
    ("xunjian CPU/host <= 1.5x paramiko pool", "xunjian", "paramiko-pool", "cpu_ms_per_target",
     "<=", 1.5),
    ("Ansible CPU/host >= 20x xunjian", "ansible", "xunjian", "cpu_ms_per_target", ">=", 20.0),
    ("Nornir wall >= 1.5x xunjian (network)", "nornir", "xunjian-net", "wall_seconds",
     ">=", 1.5),
)

BUILDERS: dict[str, Callable[[Fleet, Path, int], peers.Client]] = {
    "paramiko-pool": peers.paramiko_pool,
    "xunjian": peers.xunjian_hosts,
    "ansible": peers.ansible,
    "nornir": peers.nornir,
    "xunjian-net": peers.xunjian_devices,
}


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def run(size: Size, out_dir: Path, *, workers: int = 50, repeat: int = 1,
        clients: tuple[str, ...] = HOST_ORDER + DEVICE_ORDER,
        devices_per_simulator: int = DEVICES_PER_SIMULATOR, timeout: float = 1800.0,
        ) -> dict[str, Any]:
    """Run the fleet benchmark; return the JSON-ready results (``rows`` and ``targets``)."""
    reason = sshd_unavailable_reason()
    if reason and size.hosts:
        raise RuntimeError(f"cannot start the simulated hosts: {reason}")
    missing = peers.missing_tools()
    wanted = [c for c in clients if c not in missing]
    started = datetime.now(UTC)
    load_start = os.getloadavg()
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    workdir = out_dir / f"fleet-{stamp}"
    workdir.mkdir(parents=True, exist_ok=True)
    rounds: dict[str, list[tuple[Measurement, peers.Outcome]]] = {c: [] for c in wanted}
    log(f"starting {size.hosts} hosts and {size.devices} devices in {workdir}")
    with start_fleet(workdir / "fleet", size.hosts, size.devices,
                     devices_per_simulator) as fleet:
        processes = {"simulator_processes": len(fleet.simulators),
                     "sshd_processes": len(fleet.hosts.pids) if fleet.hosts else 0}
        log(f"fleet up: {processes['sshd_processes']} sshd and "
            f"{processes['simulator_processes']} simulator process(es)")
        if size.hosts:
            _warm_up(fleet, workdir, workers)
        for round_no in range(1, repeat + 1):
            for name in [c for c in HOST_ORDER + DEVICE_ORDER if c in wanted]:
                if (name in HOST_ORDER and not size.hosts) or \
                        (name in DEVICE_ORDER and not size.devices):
                    continue
                rundir = workdir / f"round-{round_no}" / name
                rundir.mkdir(parents=True, exist_ok=True)
                client = BUILDERS[name](fleet, rundir, workers)
                log(f"round {round_no}: {name} ...")
                measured = run_measured(client.command, out_dir=rundir, name=name,
                                        env=client.env, timeout=timeout, cwd=REPO_ROOT)
                outcome = client.check(measured)
                rounds[name].append((measured, outcome))
                log(f"round {round_no}: {name}: {measured.wall_seconds:.1f} s wall, "
                    f"{measured.cpu_seconds:.1f} s CPU, {outcome.ok}/{outcome.total} complete")
    rows = [_row(name, results) for name, results in rounds.items() if results]
    by_name = {row["client"]: row for row in rows}
    return {
        "benchmark": "fleet",
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "machine": machine(),
        "load_average": {"start": list(load_start), "end": list(os.getloadavg())},
        "versions": versions(),
        "size": {"hosts": size.hosts, "devices": size.devices, "workers": workers,
                 "repeat": repeat, **processes},
        "order": ["warm-up", *[c for c in HOST_ORDER + DEVICE_ORDER if c in wanted]],
        "skipped": missing,
        "workdir": str(workdir),
        "rows": rows,
        "targets": [target(t, by_name) for t in TARGETS],
    }


def _warm_up(fleet: Fleet, workdir: Path, workers: int) -> None:
    client = peers.paramiko_pool(fleet, workdir, workers, command="uname", hosts=50,
                                 name="warm-up")
    measured = run_measured(client.command, out_dir=workdir, name="warm-up", env=client.env,
                            cwd=REPO_ROOT, timeout=300)
    outcome = client.check(measured)
    log(f"warm-up: {outcome.ok}/{outcome.total} hosts in {measured.wall_seconds:.1f} s")


def _row(name: str, results: list[tuple[Measurement, peers.Outcome]]) -> dict[str, Any]:
    def median(get: Callable[[Measurement], float]) -> float:
        return statistics.median(get(m) for m, _ in results)

    worst = min((o for _, o in results), key=lambda o: o.ok)
    targets = worst.total
    cpu = median(lambda m: m.cpu_seconds)
    return {
        "client": name,
        "targets_kind": "devices" if name in DEVICE_ORDER else "hosts",
        "targets": targets,
        "complete": worst.ok,
        "wall_seconds": round(median(lambda m: m.wall_seconds), 3),
        "cpu_seconds": round(cpu, 3),
        "user_seconds": round(median(lambda m: m.user_seconds), 3),
        "system_seconds": round(median(lambda m: m.system_seconds), 3),
        "cpu_ms_per_target": round(1000 * cpu / targets, 3) if targets else None,
        "peak_rss_mb": round(median(lambda m: m.peak_rss_bytes) / 2**20, 1),
        "max_process_rss_mb": round(median(lambda m: m.max_process_rss_bytes) / 2**20, 1),
        "exit_codes": [m.exit_code for m, _ in results],
        "timed_out": any(m.timed_out for m, _ in results),
        "failures": worst.failures,
        "notes": worst.notes,
        "rounds": [{"wall_seconds": round(m.wall_seconds, 3),
                    "cpu_seconds": round(m.cpu_seconds, 3), "complete": o.ok}
                   for m, o in results],
        "command": results[0][0].command[:4] + (["…"] if len(results[0][0].command) > 4 else []),
    }


def target(spec: tuple[str, str, str, str, str, float], rows: dict[str, dict[str, Any]]
           ) -> dict[str, Any]:
    """One target's ratio and verdict; ``met`` is None when a client is missing, and False
    when either client left targets uninspected (a fast incomplete run proves nothing)."""
    name, top, bottom, metric, comparison, limit = spec
    result: dict[str, Any] = {"target": name, "ratio": None, "limit": limit,
                              "comparison": comparison, "met": None, "why": None}
    if top not in rows or bottom not in rows:
        result["why"] = f"{top if top not in rows else bottom} did not run"
        return result
    a, b = rows[top][metric], rows[bottom][metric]
    if not a or not b:
        result["why"] = "no measurement"
        return result
    ratio = a / b
    result["ratio"] = round(ratio, 3)
    incomplete = [r["client"] for r in (rows[top], rows[bottom]) if r["complete"] < r["targets"]]
    if incomplete:
        result["met"] = False
        result["why"] = f"incomplete: {', '.join(incomplete)}"
        return result
    result["met"] = ratio <= limit if comparison == "<=" else ratio >= limit
    return result


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {"host": platform.node(), "cpus": os.cpu_count(), "cpu_model": model,
            "memory_gib": round(memory / 2**30, 1), "kernel": platform.release(),
            "python": platform.python_version()}


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for package in ("xunjian", "paramiko", "netmiko", "ansible-core", "nornir",
                    "nornir-netmiko", "SQLAlchemy"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    openssh = sshd_version()
    found["openssh"] = ".".join(map(str, openssh)) if openssh else None
    return found


