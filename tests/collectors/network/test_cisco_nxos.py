"""Cisco NX-OS parsers against real captures (ntc-templates tests, genieparser tests) and
samples, plus the replay set of the device simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from support.replay import replay_commands, replay_outputs

from agent.errors import ParseError
from collectors.network import parsing
from collectors.network.cisco_nxos import PARSERS, component_ok, ospf_state, sensor_ok

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NTC = FIXTURES / "ntc" / "cisco_nxos"
OWN = FIXTURES / "own" / "cisco_nxos"
REPLAY = Path(__file__).resolve().parents[2] / "netsim" / "replay" / "cisco_nxos"
PACK = Path(__file__).resolve().parents[3] / "collectors" / "packs" / "cisco_nxos-standard.yaml"

#: fixture folder (the command, words joined by _) → pack item
ITEMS = {
    "show_version": "version",
    "show_inventory": "inventory",
    "show_processes_cpu": "cpu_usage",
    "show_system_resources": "memory",
    "show_environment": "environment",
    "show_interface": "interfaces",
    "show_logging_last_200": "log_errors",
    "show_clock": "clock",
    "show_ntp_peer-status": "ntp",
    "show_ip_bgp_summary": "bgp",
    "show_ip_ospf_neighbors": "ospf",
}


def _cases(root: Path) -> list[Any]:
    return [
        pytest.param(raw, id=f"{raw.parent.name}/{raw.stem}")
        for raw in sorted(root.glob("*/*.raw"))
        if raw.parent.name in ITEMS
    ]


def _parse(raw: Path) -> dict[str, Any]:
    return PARSERS[ITEMS[raw.parent.name]](raw.read_text(encoding="utf-8"))


def _expected(raw: Path) -> Any:
    return yaml.safe_load(raw.with_suffix(".yml").read_text(encoding="utf-8"))


def _int(value: str) -> int | None:
    return parsing.to_int(value)


def _opt(value: str) -> str | None:
    return value.strip() or None


# -- real captures from ntc-templates: compare with the template's own expectations ---------


def _check_environment(update: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """ntc's (broken, table-mashing) rows still say which supply/fan/sensor has which state."""
    env = update["environment"]
    psus = [r for r in rows if r["power_supply"]]
    fans = [r for r in rows if r["fan"]]
    temps = [r for r in rows if r["temperature_module"]]
    assert [(p.name, p.status, p.ok) for p in env.power_supplies] == [
        (f"PS{r['power_supply']}", r["power_supply_status"],
         r["power_supply_status"] == "Ok") for r in psus
    ]
    assert [(f.name, f.status, f.ok) for f in env.fans] == [
        (r["fan"], r["fan_status"], r["fan_status"] == "Ok") for r in fans
    ]
    assert [(t.celsius, t.status, t.ok) for t in env.temperatures] == [
        (float(r["temperature_current"]), r["temperature_status"],
         r["temperature_status"] == "Ok") for r in temps
    ]
    for sensor, row in zip(env.temperatures, temps, strict=True):
        assert sensor.name.startswith(f"Module {row['temperature_module']} ")
        assert row["temperature_sensor"] in sensor.name


def _check_interfaces(update: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    interfaces = update["interfaces"]
    assert len(interfaces) == len(rows)
    for iface, row in zip(interfaces, rows, strict=True):
        link = row["link_status"].lower()
        assert iface.name == row["interface"]
        assert iface.rx_errors == _int(row["input_errors"])
        assert iface.tx_errors == _int(row["output_errors"])
        assert iface.crc_errors == _int(row["crc"])
        assert iface.rx_dropped == _int(row["input_discards"])
        assert iface.tx_dropped == _int(row["output_discards"])
        assert iface.description == _opt(row["description"])
        assert iface.oper_up is (link == "up")
        if iface.admin_up is False:
            assert "administratively down" in link or row["admin_state"] == "down"
        else:
            assert iface.admin_up is True
            assert "administratively down" not in link


@pytest.mark.parametrize("raw", _cases(NTC))
def test_real_capture_matches_ntc_expectation(raw: Path) -> None:
    update = _parse(raw)
    rows: list[dict[str, Any]] = _expected(raw)["parsed_sample"]
    folder = raw.parent.name
    if folder == "show_version":
        row = rows[0]
        assert update["hostname"] == row["hostname"]
        assert update["os_name"] == "NX-OS"
        assert update["os_version"] == row["os"].split(" [")[0]
        assert update["uptime_seconds"] == parsing.uptime_seconds(row["uptime"])
        assert update["hardware"].model == row["platform"]
        assert update["hardware"].serial == row["serial"]
    elif folder == "show_inventory":
        assert [(m.name, m.description, m.part, m.serial) for m in update["modules"]] == [
            (r["name"], _opt(r["descr"]), _opt(r["pid"]),
             None if r["sn"] in ("", "N/A") else r["sn"]) for r in rows
        ]
        chassis = next(r for r in rows if r["name"] == "Chassis")
        assert update["hardware"].model == chassis["pid"]
        assert update["hardware"].serial == chassis["sn"]
    elif folder == "show_processes_cpu":
        assert update["cpu_used_ratio"] == pytest.approx(int(rows[0]["cpu_5_min"]) / 100)
    elif folder == "show_environment":
        _check_environment(update, rows)
    elif folder == "show_interface":
        _check_interfaces(update, rows)
    elif folder == "show_clock":
        assert update == {}
    elif folder == "show_ip_bgp_summary":
        neighbors = update["bgp_neighbors"]
        assert [(n.peer, n.remote_as, n.vrf) for n in neighbors] == [
            (r["bgp_neigh"], r["neigh_as"], _opt(r["vrf"])) for r in rows
        ]
        for neighbor, row in zip(neighbors, rows, strict=True):
            word = row["state_pfxrcd"]
            assert neighbor.established is word.isdigit()
            assert neighbor.prefixes_received == (int(word) if word.isdigit() else None)
            assert neighbor.state == ("Established" if word.isdigit() else word)
    else:  # pragma: no cover - a fixture folder without a comparison
        pytest.fail(f"no comparison for {folder}")


def test_interface_byte_counters_from_real_capture() -> None:
    raw = (NTC / "show_interface" / "cisco_nxos_show_interface3.raw").read_text()
    eth = PARSERS["interfaces"](raw)["interfaces"][0]
    assert (eth.name, eth.rx_bytes, eth.tx_bytes) == (
        "Ethernet1/1", 1909306429752104, 1387104438655786
    )


# -- own samples ----------------------------------------------------------------------------


def _dump(value: Any) -> Any:
    """Models to plain data, floats rounded (the .yml holds them to 9 places at most)."""
    if isinstance(value, BaseModel):
        return _dump(value.model_dump(exclude_none=True))
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    if isinstance(value, float):
        return round(value, 9)
    return value


@pytest.mark.parametrize("raw", _cases(OWN))
def test_own_sample(raw: Path) -> None:
    update = _parse(raw)
    expected = _expected(raw)["expected"]
    assert _dump(update) == _dump(expected)


def test_own_samples_have_sources() -> None:
    for folder in {raw.parent for raw in OWN.glob("*/*.raw")}:
        assert (folder / "SOURCE.md").is_file(), folder


# -- explicit word mappings -------------------------------------------------------------------


@pytest.mark.parametrize(("word", "ok"), [
    ("Ok", True), ("ok", True), ("Absent", None), ("None", None), ("NotSupported", None),
    ("Shutdown", False), ("Fail/Shutdown", False), ("Failure", False), ("Powered-Dn", False),
    ("something new", None),
])
def test_component_words(word: str, ok: bool | None) -> None:
    assert component_ok(word) is ok


@pytest.mark.parametrize(("word", "ok"), [
    ("Ok", True), ("ok", True), ("Minor", False), ("Major", False), ("Alarm", False),
    ("n/a", None),
])
def test_sensor_words(word: str, ok: bool | None) -> None:
    assert sensor_ok(word) is ok


@pytest.mark.parametrize(("state", "word", "healthy"), [
    ("FULL/ -", "FULL/-", True), ("FULL/DR", "FULL/DR", True),
    ("2WAY/DROTHER", "2WAY/DROTHER", True), ("2WAY/BDR", "2WAY/BDR", False),
    ("INIT/DROTHER", "INIT/DROTHER", False), ("EXSTART/ -", "EXSTART/-", False),
])
def test_ospf_states(state: str, word: str, healthy: bool) -> None:
    assert ospf_state(state) == (word, healthy)


# -- bad input ---------------------------------------------------------------------------------

GARBAGE = "lorem ipsum dolor sit amet\nconsectetur adipiscing elit\n"

IOS_VERSION = (FIXTURES / "ntc" / "cisco_ios" / "show_version" / "cisco_ios_show_version.raw")

HUAWEI_ENVIRONMENT = """Slot  PowerID  Online   Mode   State      Power(W)
--------------------------------------------------
1     PWR1     Present  AC     Supply     350
1     PWR2     Absent   -      -          -
"""


@pytest.mark.parametrize("item", sorted(PARSERS))
def test_garbage_is_a_parse_error(item: str) -> None:
    with pytest.raises(ParseError):
        PARSERS[item](GARBAGE)


@pytest.mark.parametrize("item", sorted(PARSERS))
def test_blank_output_is_a_parse_error(item: str) -> None:
    with pytest.raises(ParseError):
        PARSERS[item]("\n  \n")


def test_other_vendor_version() -> None:
    with pytest.raises(ParseError, match="not Cisco NX-OS"):
        PARSERS["version"](IOS_VERSION.read_text())


def test_other_vendor_environment() -> None:
    with pytest.raises(ParseError, match="matched nothing"):
        PARSERS["environment"](HUAWEI_ENVIRONMENT)


def test_other_vendor_memory() -> None:
    ios = (FIXTURES / "ntc" / "cisco_ios" / "show_processes_memory_sorted"
           / "cisco_ios_show_processes_memory_sorted.raw").read_text()
    with pytest.raises(ParseError):
        PARSERS["memory"](ios)


def test_other_vendor_logging() -> None:
    ios = (FIXTURES / "ntc" / "cisco_ios" / "show_logging" / "cisco_ios_show_logging_1.raw")
    with pytest.raises(ParseError, match="NX-OS log lines"):
        PARSERS["log_errors"](ios.read_text())


def test_truncated_version() -> None:
    text = (NTC / "show_version" / "cisco_nxos_show_version.raw").read_text()
    with pytest.raises(ParseError, match="truncated"):
        PARSERS["version"](text.split("Kernel uptime")[0])


def test_truncated_system_resources() -> None:
    text = (OWN / "show_system_resources" / "n7k_r3.raw").read_text()
    with pytest.raises(ParseError, match="Memory usage"):
        PARSERS["memory"](text.split("Memory usage")[0])


def test_ntp_without_peers_is_not_synchronised() -> None:
    assert PARSERS["ntp"]("\nTotal peers : 0\n") == {"time_synchronized": False}


def test_ospf_without_neighbors() -> None:
    text = " OSPF Process ID 10 VRF default\n Total number of neighbors: 0\n"
    assert PARSERS["ospf"](text) == {"ospf_neighbors": []}


# -- replay set of the device simulator ---------------------------------------------------------


def test_replay_covers_every_pack_command() -> None:
    mapping = replay_commands("cisco_nxos")
    pack = yaml.safe_load(PACK.read_text())
    assert {item["command"] for item in pack["items"]} <= set(mapping)
    for name in mapping.values():
        assert (REPLAY / name).is_file(), name


def test_replay_parses_without_item_errors() -> None:
    outputs = replay_outputs("cisco_nxos")
    facts, errors = parsing.normalise(PARSERS, outputs)
    assert errors == {}
    assert facts.hostname == "N9K-LAB-07"
    assert facts.os_name == "NX-OS"
    assert facts.hardware is not None
    assert facts.hardware.serial == "FDO23490570"
    assert facts.environment is not None
    env = facts.environment
    assert env.fans and all(f.ok for f in env.fans)
    assert env.power_supplies and all(p.ok for p in env.power_supplies)
    assert env.temperatures and all(t.ok for t in env.temperatures)
    assert facts.time_synchronized is True
    assert facts.bgp_neighbors and all(n.established for n in facts.bgp_neighbors)
    assert facts.ospf_neighbors and all(n.healthy for n in facts.ospf_neighbors)
    assert facts.log_error_count == 0
    assert facts.cpu_used_ratio == pytest.approx(0.055)
    assert facts.memory_used_ratio is not None
    assert facts.interfaces and facts.modules
