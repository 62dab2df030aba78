"""Cisco IOS / IOS-XE parsers against real captures (ntc-templates tests, public captures) and
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
from collectors.network.cisco_ios import PARSERS, component_ok, ospf_state

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NTC = FIXTURES / "ntc" / "cisco_ios"
OWN = FIXTURES / "own" / "cisco_ios"
REPLAY = Path(__file__).resolve().parents[2] / "netsim" / "replay" / "cisco_ios"
PACK = Path(__file__).resolve().parents[3] / "collectors" / "packs" / "cisco_ios-standard.yaml"

#: fixture folder (the command, words joined by _) → pack item
ITEMS = {
    "show_version": "version",
    "show_inventory": "inventory",
    "show_processes_cpu": "cpu_usage",
    "show_processes_memory_sorted": "memory",
    "show_environment_temperature": "temperature",
    "show_environment_fan": "fans",
    "show_environment_power_all": "power",
    "show_interfaces": "interfaces",
    "show_logging": "log_errors",
    "show_clock": "clock",
    "show_ntp_status": "ntp",
    "show_ip_bgp_summary": "bgp",
    "show_ip_ospf_neighbor": "ospf",
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


def _check_version(update: dict[str, Any], row: dict[str, Any], raw_text: str) -> None:
    assert update["hostname"] == row["hostname"]
    assert update["os_version"] == row["version"]
    assert update["uptime_seconds"] == parsing.uptime_seconds(row["uptime"])
    assert update["os_name"] == ("IOS-XE" if "IOS-XE" in raw_text or "IOS XE" in raw_text
                                 else "IOS")
    assert update["hardware"].model == row["hardware"][0]
    assert update["hardware"].serial == row["serial"][0]
    assert update["hardware"].vendor == "Cisco"


def _check_interfaces(update: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    interfaces = update["interfaces"]
    assert len(interfaces) == len(rows)
    for iface, row in zip(interfaces, rows, strict=True):
        assert iface.name == row["interface"]
        assert iface.rx_errors == _int(row["input_errors"])
        assert iface.tx_errors == _int(row["output_errors"])
        assert iface.crc_errors == _int(row["crc"])
        assert iface.rx_dropped == _int(row["queue_drops"])
        assert iface.tx_dropped == _int(row["queue_output_drops"])
        assert iface.description == _opt(row["description"])
        assert iface.admin_up is (row["link_status"] != "administratively down")
        assert iface.oper_up is (row["link_status"] == "up"
                                 and row["protocol_status"].startswith("up"))


def _check_environment(folder: str, update: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    if folder == "show_environment_temperature":
        expected = []
        for row in rows:
            for kind in ("inlet", "hotspot"):
                expected.append((f"Switch {row['switch']} {kind.capitalize()}",
                                 float(row[f"{kind}_temperature_value"]),
                                 row[f"{kind}_temperature_state"] == "GREEN",
                                 row[f"{kind}_temperature_state"]))
        assert [(s.name, s.celsius, s.ok, s.status)
                for s in update["environment"].temperatures] == expected
    else:
        supplies = update["environment"].power_supplies
        assert [p.name for p in supplies] == [f"PS{r['ps_module']}" for r in rows]
        assert [p.status for p in supplies] == [r["status"] or r["sys_pwr"] for r in rows]
        assert [p.ok for p in supplies] == [
            (r["status"] or r["sys_pwr"]) in ("OK", "Good") for r in rows
        ]


def _check_routing(folder: str, update: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    if folder == "show_ip_bgp_summary":
        neighbors = update["bgp_neighbors"]
        assert [(n.peer, n.remote_as) for n in neighbors] == [
            (r["bgp_neighbor"], r["neighbor_as"]) for r in rows
        ]
        for neighbor, row in zip(neighbors, rows, strict=True):
            word = row["state_or_prefixes_received"]
            assert neighbor.established is word.isdigit()
            assert neighbor.prefixes_received == (int(word) if word.isdigit() else None)
            assert neighbor.state == ("Established" if word.isdigit() else word)
    else:
        assert [(n.neighbor_id, n.address, n.interface, n.state, n.healthy)
                for n in update["ospf_neighbors"]] == [
            (r["neighbor_id"], r["ip_address"], r["interface"],
             r["state"].replace(" ", ""), r["state"].startswith("FULL")) for r in rows
        ]


@pytest.mark.parametrize("raw", _cases(NTC))
def test_real_capture_matches_ntc_expectation(raw: Path) -> None:
    update = _parse(raw)
    rows: list[dict[str, Any]] = _expected(raw)["parsed_sample"]
    folder = raw.parent.name
    if folder == "show_version":
        _check_version(update, rows[0], raw.read_text(encoding="utf-8"))
    elif folder == "show_inventory":
        assert [(m.name, m.description, m.part, m.serial) for m in update["modules"]] == [
            (r["name"], _opt(r["descr"]), _opt(r["pid"]), _opt(r["sn"])) for r in rows
        ]
    elif folder == "show_processes_cpu":
        assert update["cpu_used_ratio"] == pytest.approx(int(rows[0]["cpu_usage_5_min"]) / 100)
    elif folder == "show_processes_memory_sorted":
        row = rows[0]
        assert update["memory_total_bytes"] == int(row["memory_total"])
        assert update["memory_available_bytes"] == int(row["memory_free"])
        assert update["memory_used_ratio"] == pytest.approx(
            int(row["memory_used"]) / int(row["memory_total"])
        )
    elif folder.startswith("show_environment_"):
        _check_environment(folder, update, rows)
    elif folder == "show_interfaces":
        _check_interfaces(update, rows)
    elif folder == "show_logging":
        assert update["log_error_count"] == sum(
            1 for r in rows if r["severity"] != "" and int(r["severity"]) <= 3
        )
    elif folder == "show_clock":
        assert update == {}
    elif folder.startswith("show_ip_"):
        _check_routing(folder, update, rows)
    else:  # pragma: no cover - a fixture folder without a comparison
        pytest.fail(f"no comparison for {folder}")


def test_real_captures_cover_failure_states() -> None:
    """The ntc capture with a dead PSU bay is read as a failure, not as OK."""
    raw = NTC / "show_environment_power_all" / "cisco_ios_show_environment_power_all.raw"
    supplies = PARSERS["power"](raw.read_text())["environment"].power_supplies
    assert [p.name for p in supplies if p.ok is False] == ["PS3A"]
    bgp = NTC / "show_ip_bgp_summary" / "cisco_ios_show_ip_bgp_summary.raw"
    idle = [n for n in PARSERS["bgp"](bgp.read_text())["bgp_neighbors"] if not n.established]
    assert [(n.peer, n.state) for n in idle] == [("10.0.0.10", "Idle (Admin)")]


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
    ("OK", True), ("Good", True), ("NOT PRESENT", None), ("Not Present", None),
    ("NOT OK", False), ("FAULTY", False), ("No Input Power", False), ("Bad", False),
    ("something new", None),
])
def test_component_words(word: str, ok: bool | None) -> None:
    assert component_ok(word) is ok


@pytest.mark.parametrize(("state", "word", "healthy"), [
    ("FULL/  -", "FULL/-", True), ("FULL/DR", "FULL/DR", True),
    ("2WAY/DROTHER", "2WAY/DROTHER", True), ("2WAY/DR", "2WAY/DR", False),
    ("INIT/  -", "INIT/-", False), ("EXSTART/BDR", "EXSTART/BDR", False),
])
def test_ospf_states(state: str, word: str, healthy: bool) -> None:
    assert ospf_state(state) == (word, healthy)


# -- bad input ---------------------------------------------------------------------------------

GARBAGE = "lorem ipsum dolor sit amet\nconsectetur adipiscing elit\n"

HUAWEI_VERSION = """Huawei Versatile Routing Platform Software
VRP (R) software, Version 8.180 (CE6850EI V200R005C10SPC800)
Copyright (C) 2012-2018 Huawei Technologies Co., Ltd.
HUAWEI CE6850-48S6Q-HI uptime is 35 days, 2 hours, 16 minutes
"""

HUAWEI_CPU = """CPU Usage Stat. Cycle: 60 (Second)
CPU Usage            : 9% Max: 22%
CPU Usage Stat. Time : 2024-03-01  10:12:01
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
    with pytest.raises(ParseError, match="not Cisco IOS"):
        PARSERS["version"](HUAWEI_VERSION)


def test_other_vendor_cpu() -> None:
    with pytest.raises(ParseError, match="show processes cpu"):
        PARSERS["cpu_usage"](HUAWEI_CPU)


def test_other_vendor_ntp() -> None:
    nxos = (FIXTURES / "own" / "cisco_nxos" / "show_ntp_peer-status"
            / "synced_four_peers.raw").read_text()
    with pytest.raises(ParseError, match="Clock is synchronized"):
        PARSERS["ntp"](nxos)


def test_truncated_version() -> None:
    text = (NTC / "show_version" / "cisco_ios_show_version.raw").read_text()
    with pytest.raises(ParseError, match="truncated"):
        PARSERS["version"](text.split("uptime is")[0])


def test_truncated_memory() -> None:
    text = (NTC / "show_processes_memory_sorted"
            / "cisco_ios_show_processes_memory_sorted.raw").read_text()
    with pytest.raises(ParseError):
        PARSERS["memory"](text.splitlines()[0][:30])


def test_logging_without_buffer() -> None:
    text = (NTC / "show_logging" / "cisco_ios_show_logging_1.raw").read_text()
    with pytest.raises(ParseError, match="Log Buffer"):
        PARSERS["log_errors"](text.split("Log Buffer")[0])


def test_ospf_header_only_is_no_neighbors() -> None:
    header = "Neighbor ID     Pri   State           Dead Time   Address         Interface\n"
    assert PARSERS["ospf"](header) == {"ospf_neighbors": []}


# -- replay set of the device simulator ---------------------------------------------------------


def test_replay_covers_every_pack_command() -> None:
    mapping = replay_commands("cisco_ios")
    pack = yaml.safe_load(PACK.read_text())
    assert {item["command"] for item in pack["items"]} <= set(mapping)
    for name in mapping.values():
        assert (REPLAY / name).is_file(), name


def test_replay_parses_without_item_errors() -> None:
    outputs = replay_outputs("cisco_ios")
    facts, errors = parsing.normalise(PARSERS, outputs)
    assert errors == {}
    assert facts.hostname == "bj-core-sw01"
    assert facts.os_name == "IOS-XE"
    assert facts.environment is not None
    env = facts.environment
    assert env.fans and all(f.ok is not False for f in env.fans)
    assert env.power_supplies and all(p.ok for p in env.power_supplies)
    assert env.temperatures and all(t.ok for t in env.temperatures)
    assert facts.time_synchronized is True
    assert facts.bgp_neighbors and all(n.established for n in facts.bgp_neighbors)
    assert facts.ospf_neighbors and all(n.healthy for n in facts.ospf_neighbors)
    assert facts.log_error_count == 0
    assert facts.interfaces and facts.modules and facts.cpu_used_ratio is not None
    assert facts.memory_used_ratio is not None
