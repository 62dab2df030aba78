"""Smoke test of the fleet benchmark (bench/): a tiny fleet, every client that is installed,
so the benchmark cannot rot. The figures themselves are not judged here (docs/performance.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench import fleet, peers
from bench.harness import sshd_unavailable_reason
from bench.measure import run_measured

SMOKE = fleet.Size(hosts=8, devices=2)


def test_measure_counts_the_whole_process_tree(tmp_path: Path) -> None:
    # the child starts a grandchild that burns CPU and holds 64 MiB: both must be counted
    burn = ("import subprocess, sys; subprocess.run([sys.executable, '-c', "
            "\"import time; b = bytearray(64 << 20); t = time.process_time(); "
            "exec('while time.process_time() - t < 0.3: pass')\"], check=True)")
    measured = run_measured([sys.executable, "-c", burn], out_dir=tmp_path, name="burn")
    assert measured.exit_code == 0
    assert measured.cpu_seconds >= 0.3
    assert measured.wall_seconds >= 0.3
    assert measured.max_process_rss_bytes >= 64 << 20
    assert measured.peak_rss_bytes >= 64 << 20


def test_measure_kills_a_client_past_its_timeout(tmp_path: Path) -> None:
    measured = run_measured([sys.executable, "-c", "import time; time.sleep(30)"],
                            out_dir=tmp_path, name="sleeper", timeout=0.5)
    assert measured.timed_out
    assert measured.exit_code < 0
    assert measured.wall_seconds < 10


def _row(client: str, wall: float, cpu_ms: float, complete: int = 10) -> dict[str, object]:
    return {"client": client, "wall_seconds": wall, "cpu_ms_per_target": cpu_ms,
            "complete": complete, "targets": 10}


def test_targets_are_met_missed_or_not_applicable() -> None:
    wall, cpu, ansible, _network = fleet.TARGETS
    rows = {"xunjian": _row("xunjian", 11.0, 4.0), "paramiko-pool": _row("paramiko-pool", 10.0,
                                                                         3.0),
            "ansible": _row("ansible", 100.0, 90.0)}
    assert fleet.target(wall, rows) | {} == {"target": wall[0], "ratio": 1.1, "limit": 1.2,
                                             "comparison": "<=", "met": True, "why": None}
    assert fleet.target(cpu, rows)["met"] is True
    assert fleet.target(ansible, rows)["ratio"] == 22.5
    assert fleet.target(ansible, rows)["met"] is True
    rows["xunjian"] = _row("xunjian", 13.0, 4.0)
    assert fleet.target(wall, rows)["met"] is False
    # a fast but incomplete run is never "met"
    rows["xunjian"] = _row("xunjian", 5.0, 1.0, complete=9)
    verdict = fleet.target(wall, rows)
    assert verdict["met"] is False and verdict["why"] == "incomplete: xunjian"
    del rows["ansible"]
    assert fleet.target(ansible, rows)["met"] is None


def test_peers_send_the_commands_of_the_linux_pack() -> None:
    line = peers.linux_command_line()
    assert line.startswith("date +%s.%N; cat /proc/sys/kernel/hostname; ")
    assert "vmstat 1 2" in line and line.endswith("cat /proc/net/dev")
    assert peers.network_commands()["huawei_vrp"][0] == "display clock"


@pytest.mark.skipif(sshd_unavailable_reason() is not None,
                    reason=f"no simulated hosts here: {sshd_unavailable_reason()}")
def test_a_tiny_fleet_is_inspected_completely_by_every_installed_client(tmp_path: Path) -> None:
    result = fleet.run(SMOKE, tmp_path, workers=8)
    rows = {row["client"]: row for row in result["rows"]}
    expected = set(fleet.BUILDERS) - set(peers.missing_tools())
    assert set(rows) == expected
    for row in rows.values():
        assert row["complete"] == row["targets"], (row["client"], row["failures"])
        assert row["wall_seconds"] > 0 and row["cpu_seconds"] > 0 and row["peak_rss_mb"] > 10
    assert rows["xunjian"]["targets"] == 8 and rows["xunjian-net"]["targets"] == 2
    assert rows["xunjian"]["notes"]["run_status"] == "completed"
    verdicts = {t["target"]: t for t in result["targets"]}
    assert len(verdicts) == len(fleet.TARGETS)
    for t in verdicts.values():
        assert (t["met"] is None) == (t["ratio"] is None)
    assert result["size"] == {"hosts": 8, "devices": 2, "workers": 8, "repeat": 1,
                              "simulator_processes": 1, "sshd_processes": 1}
    assert result["load_average"]["start"] and result["versions"]["xunjian"]


def test_a_client_does_not_inherit_the_benchmarks_peak_rss(tmp_path: Path) -> None:
    # Linux carries the peak RSS across exec: started straight from this (enlarged) process,
    # a tiny client would report this process's peak as its own
    ballast = bytearray(256 << 20)
    measured = run_measured([sys.executable, "-c", "pass"], out_dir=tmp_path, name="tiny")
    assert len(ballast) == 256 << 20
    assert measured.exit_code == 0
    assert measured.max_process_rss_bytes < 64 << 20
