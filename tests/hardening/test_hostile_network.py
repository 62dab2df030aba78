"""Hostile network-device output, end to end: a Cisco IOS device of the replay simulator
(tests/support/netsim.py, real SSH, driven by netmiko) whose inventory, interfaces, logging
and running-config answer shell syntax, terminal escapes, HTML/JS, invalid UTF-8, a line that
looks like the device's prompt followed by changing commands, and a 1 MiB line; inspected with
``xunjian inspect``, then ``show``, ``transcript`` and ``configs show``, and exported as metrics.

Proves: nothing is executed, the device received exactly the pack's commands (from the
simulator's own log), no terminal output carries a control character, and the metrics
exposition escapes the hostile label values (promtool accepts it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from support.hostile import (
    ANSI,
    HTML,
    INVALID_UTF8,
    LONG_LINE_BYTES,
    existing,
    hostile_text,
    terminal_controls,
)
from support.netsim import REPLAY_ROOT, Device, NetSim
from support.prometheus import PROMTOOL_PATH
from support.replay import replay_file

from agent.service.metrics import XunjianCollector, build_registry, render
from agent.store import Store
from collectors.network.collector import SESSION_COMMANDS
from collectors.pack import builtin_pack

pytestmark = pytest.mark.netsim

XUNJIAN = Path(sys.executable).with_name("xunjian")
NAME = "hostile-sw"
PASSWORD = "Hostile-Net-Pw-4410"
SECRET = "Hostile-Enable-2207"


@dataclass
class Run:
    work: Path
    markers: list[Path]
    interface: str
    sent: list[str]
    outputs: dict[str, subprocess.CompletedProcess[bytes]]
    metrics: bytes


def _interface_name(marker: Path) -> str:
    # a label value with every character the exposition format must escape, and a payload
    return 'Vl12"}\\evil{x="1' + "\x1b[2J" + f"$(touch${{IFS}}{marker})<b>"


def _hostile_replay(directory: Path, marker: Path) -> str:
    shutil.copytree(REPLAY_ROOT / "cisco_ios", directory)
    text = hostile_text(marker, newlines=False)
    interface = _interface_name(marker)
    inventory = replay_file("cisco_ios", "show inventory", directory.parent)
    inventory.write_bytes(inventory.read_bytes().replace(
        b'DESCR: "C9300-48U"', b'DESCR: "' + text.replace('"', "'").encode() + b'"'))
    interfaces = replay_file("cisco_ios", "show interfaces", directory.parent)
    interfaces.write_bytes(interfaces.read_bytes()
                           .replace(b"Vlan12 is up", interface.encode() + b" is up")
                           .replace(b"Description: to bj-core-sw02",
                                    b"Description: " + text.encode() + INVALID_UTF8))
    logging = replay_file("cisco_ios", "show logging", directory.parent)
    logging.write_bytes(logging.read_bytes()
                        + b"*Dec  7 10:00:00: %SYS-3-EVIL: " + text.encode() + INVALID_UTF8
                        + b"\nbj-core-sw01#reload\nconfigure terminal\n"
                        + b"X" * LONG_LINE_BYTES + ANSI[1].encode() + b"\n")
    # a digit run that made ntc-templates' OSPF template backtrack for days (found by fuzzing)
    ospf = replay_file("cisco_ios", "show ip ospf neighbor", directory.parent)
    ospf.write_bytes(b"9" * 100_000 + b"\n" + ospf.read_bytes())
    config = replay_file("cisco_ios", "show running-config", directory.parent)
    config.write_bytes(config.read_bytes().replace(
        b"description OOB-MGMT", b"description " + text.encode() + INVALID_UTF8))
    return interface


def _cli(work: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "COLUMNS": "250", "XJ_NET_PASSWORD": PASSWORD,
           "XJ_NET_SECRET": SECRET}
    return subprocess.run([str(XUNJIAN), *args], cwd=work, capture_output=True, env=env,
                          timeout=300, check=False)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    work = tmp_path_factory.mktemp("hostile-net")
    marker = work / "xj-pwned"
    markers = [marker, Path("/tmp") / marker.name]
    replay = work / "replay" / "cisco_ios"
    interface = _hostile_replay(replay, marker)
    device = Device(NAME, "cisco_ios", password=PASSWORD, secret=SECRET,
                    replay_dir=str(replay))
    with NetSim(work / "sim", [device]) as sim:
        address, port = sim.devices[NAME].address, sim.devices[NAME].port
        config = {
            "store": {"data_dir": str(work / "data")},
            "ssh": {"known_hosts": str(sim.known_hosts), "command_timeout": 30, "retries": 0},
            "credentials": {"net": {"username": "admin", "password_env": "XJ_NET_PASSWORD",
                                    "secret_env": "XJ_NET_SECRET"}},
            "devices": [{"name": NAME, "address": address, "port": port,
                         "platform": "cisco_ios", "credentials": "net",
                         "location": hostile_text(marker), "business_system": HTML[1],
                         "serial": HTML[0], "tags": [hostile_text(marker)]}],
        }
        path = work / "xunjian.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True))
        cfg = ("--config", str(path))
        outputs = {"inspect": _cli(work, "-v", "inspect", *cfg, "--no-progress"),
                   "show": _cli(work, "show", *cfg, NAME),
                   "transcript": _cli(work, "transcript", *cfg, NAME),
                   "configs": _cli(work, "configs", "show", *cfg, NAME)}
        sent = sim.commands(NAME)
    store = Store.open(None, work / "data")
    try:
        metrics = render(build_registry(XunjianCollector(store)))
    finally:
        store.close()
    yield Run(work, markers, interface, sent, outputs, metrics)
    for m in existing(markers):
        m.unlink()


def test_nothing_was_executed(run: Run) -> None:
    assert existing(run.markers) == []


def test_the_device_received_exactly_the_packs_commands(run: Run) -> None:
    pack = builtin_pack("cisco_ios-standard")
    expected = {i.command for i in pack.items} | set(SESSION_COMMANDS["cisco_ios"])
    assert set(run.sent) - expected - {"enable", "exit"} == set()
    assert "reload" not in run.sent and "configure terminal" not in run.sent
    # and every pack command did go out: the hostile output did not derail the session
    assert {i.command for i in pack.items} <= set(run.sent)


def test_inspection_stored_the_hostile_facts(run: Run) -> None:
    assert run.outputs["inspect"].returncode in (0, 1, 2, 3)
    store = Store.open(None, run.work / "data")
    try:
        result = store.latest_result(NAME, with_raw=True)
    finally:
        store.close()
    assert result is not None and result.reachable, result and result.error
    assert result.facts is not None
    assert run.interface in {i.name for i in result.facts.interfaces}
    assert result.item_errors["ospf"].startswith("the output holds a run of 100000 digits")
    raw = {r.item: r.output for r in result.raw}
    assert any(len(text) > LONG_LINE_BYTES for text in raw.values())


@pytest.mark.parametrize("command", ["inspect", "show", "transcript", "configs"])
def test_terminal_output_holds_no_control_characters(run: Run, command: str) -> None:
    done = run.outputs[command]
    assert done.returncode in (0, 1, 2, 3), done.stderr.decode(errors="replace")
    assert terminal_controls(done.stdout.decode()) == []
    assert terminal_controls(done.stderr.decode()) == []


def test_transcript_shows_the_escapes_as_text(run: Run) -> None:
    stdout = run.outputs["transcript"].stdout.decode()
    assert "␛[2J" in stdout and "<script>alert(1)</script>" in stdout
    # netmiko drops bytes that are not UTF-8 (errors="ignore"): only the '(' of C3 28 is left
    assert "␀NUL(" in stdout


def test_metrics_escape_the_hostile_interface_name(run: Run) -> None:
    text = run.metrics.decode()
    names = {s.labels.get("interface") for f in text_string_to_metric_families(text)
             for s in f.samples if s.labels.get("device") == NAME}
    assert run.interface in names
    assert all(line.startswith(("#", "xunjian_")) for line in text.split("\n") if line)
    if not PROMTOOL_PATH.exists():
        pytest.skip(f"{PROMTOOL_PATH} is missing (apt-get install -y prometheus)")
    checked = subprocess.run([str(PROMTOOL_PATH), "check", "metrics"], input=run.metrics,
                             capture_output=True, timeout=30, check=False)
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, b"", b"")
