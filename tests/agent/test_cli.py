"""The CLI as a user runs it: a real process, the embedded default store, real exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def xunjian(*args: str, data: Path, config: Path | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "XUNJIAN_CONFIG"}
    env["XUNJIAN_DATA_DIR"] = str(data)
    if config is not None:
        env["XUNJIAN_CONFIG"] = str(config)
    return subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True,
                          text=True, env=env, timeout=timeout, check=False)


def test_inspect_with_no_config_inspects_this_machine_and_stores_it(tmp_path: Path) -> None:
    run = xunjian("inspect", data=tmp_path)
    assert run.returncode in (0, 1, 2), run.stderr  # never UNKNOWN for the local host
    assert "Inspection run #1" in run.stdout
    assert "Overall:" in run.stdout and str(tmp_path / "xunjian.db") in run.stdout
    assert (tmp_path / "xunjian.db").is_file()

    as_json = xunjian("inspect", "--json", data=tmp_path)
    data = json.loads(as_json.stdout)
    assert data["run_id"] == 2
    device = data["devices"][0]
    assert device["platform"] == "local" and device["reachable"] is True
    assert device["facts"]["cpu_count"] == os.cpu_count()
    assert {c["check"] for c in device["checks"]} >= {"cpu", "memory", "filesystem", "load"}
    assert as_json.returncode == {"OK": 0, "WARN": 1, "CRIT": 2, "UNKNOWN": 3}[data["state"]]

    history = xunjian("history", device["device"], "--json", data=tmp_path)
    past = json.loads(history.stdout)
    assert [h["state"] for h in past][:1] == [data["state"]] and len(past) == 2
    shown = xunjian("show", device["device"], data=tmp_path)
    assert shown.returncode == 0 and "filesystem" in shown.stdout


def test_config_errors_exit_3_with_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "devices:\n"
        "  - name: a\n    address: 10.0.0.1\n    business_level: urgent\n"
        "  - name: a\n    address: 10.0.0.2\n    colour: blue\n"
    )
    run = xunjian("inspect", data=tmp_path, config=bad)
    assert run.returncode == 3
    assert "Traceback" not in run.stderr
    assert "bad.yaml:4: devices[0].business_level: unknown business level 'urgent'" in run.stderr
    assert "bad.yaml:7: devices[1].colour: unknown key" in run.stderr
    check = xunjian("config", "check", str(bad), data=tmp_path)
    assert check.returncode == 1
    assert "2 problem(s)" in check.stderr


def test_unknown_device_selection_is_a_clear_error(tmp_path: Path) -> None:
    run = xunjian("inspect", "--device", "nope", data=tmp_path)
    assert run.returncode == 3
    assert "no device named nope in the inventory" in run.stderr


def test_history_of_an_unknown_device(tmp_path: Path) -> None:
    run = xunjian("history", "ghost", data=tmp_path)
    assert run.returncode == 3 and "no stored results for ghost" in run.stderr


@pytest.mark.parametrize("name", ["设备清单.csv"])
def test_inventory_import_of_the_example_register(tmp_path: Path, name: str) -> None:
    out = tmp_path / "inventory.yaml"
    example = Path(__file__).parents[2] / "examples" / name
    run = xunjian("inventory", "import", str(example), "-o", str(out), data=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "imported 2 device(s)" in run.stderr
    text = out.read_text(encoding="utf-8")
    assert "location: 北京亦庄机房 A02-03" in text and "business_level: 1" in text


def test_example_config_is_valid(tmp_path: Path) -> None:
    example = Path(__file__).parents[2] / "examples" / "xunjian.yaml"
    run = xunjian("config", "check", str(example), data=tmp_path)
    assert run.returncode == 0, run.stderr
    assert ("6 device(s), 3 group(s), 3 credential set(s), 3 plan(s), 1 customer(s), "
            "3 custom pack(s)") in run.stdout
