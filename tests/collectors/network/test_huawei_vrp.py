"""Huawei VRP parsers against real ntc-templates captures, our own samples and bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from support.replay import replay_commands, replay_outputs

from agent.errors import ParseError
from collectors.facts import HostFacts
from collectors.network import huawei_vrp as vrp
from collectors.network.parsing import normalise
from collectors.pack import load_pack

ROOT = Path(__file__).resolve().parents[3]
NTC = ROOT / "tests/collectors/fixtures/ntc/huawei_vrp"
OWN = ROOT / "tests/collectors/fixtures/own/huawei_vrp"
REPLAY = ROOT / "tests/netsim/replay/huawei_vrp"
PACK = ROOT / "collectors/packs/huawei_vrp-standard.yaml"


def _cases(folder: Path) -> list[Any]:
    return [pytest.param(raw, id=raw.stem) for raw in sorted(folder.glob("*.raw"))]


def _parsed_sample(raw: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = yaml.safe_load(raw.with_suffix(".yml").read_text())[
        "parsed_sample"]
    return rows


def _facts(update: dict[str, Any]) -> dict[str, Any]:
    dumped: dict[str, Any] = HostFacts.model_validate(update).model_dump(exclude_none=True)
    return dumped


# -- real captures (ntc-templates tests), field by field -------------------------------------

@pytest.mark.parametrize("raw", _cases(NTC / "display_version"))
def test_version_matches_ntc_sample(raw: Path) -> None:
    row = _parsed_sample(raw)[0]
    facts = vrp.parse_version(raw.read_text())
    assert facts["os_name"] == "VRP"
    # os_version = the product version's V...R...C... word, e.g. "NE40E V800R011C00SPC200"
    assert facts["os_version"] == row["product_version"].split()[-1]
    # model = yml MODEL without the "Routing Switch"/"Router" suffix of the uptime line
    assert facts["hardware"].model == vrp.model_name(row["model"])
    assert facts["hardware"].vendor == "Huawei"
    assert facts["uptime_seconds"] is not None and facts["uptime_seconds"] > 0


def test_version_uptime_value() -> None:
    facts = vrp.parse_version((NTC / "display_version/huawei_vrp_display_version.raw").read_text())
    assert facts["uptime_seconds"] == 161 * 86400 + 20 * 60  # "161 days, 0 hour, 20 minutes"


@pytest.mark.parametrize("raw", _cases(NTC / "display_temperature"))
def test_temperature_matches_ntc_sample(raw: Path) -> None:
    rows = _parsed_sample(raw)
    sensors = vrp.parse_temperature(raw.read_text())["environment"].temperatures
    assert len(sensors) == len(rows)
    for sensor, row in zip(sensors, rows, strict=True):
        assert sensor.name.startswith(f"{row['slotid']} {row['pcb']} #")  # SLOTID + PCB
        assert sensor.celsius == float(row["temperature"])                # TEMPERATURE
        assert sensor.status == row["status"]                             # STATUS
        assert sensor.ok is (row["status"] == "NORMAL")


@pytest.mark.parametrize("raw", _cases(NTC / "display_interface"))
def test_interfaces_match_ntc_sample(raw: Path) -> None:
    rows = _parsed_sample(raw)
    interfaces = vrp.parse_interfaces(raw.read_text())["interfaces"]
    assert [i.name for i in interfaces] == [r["interface"] for r in rows]   # INTERFACE
    for intf, row in zip(interfaces, rows, strict=True):
        link, proto = row["link_status"].upper(), row["protocol_status"].upper()
        assert intf.admin_up is (not link.startswith("ADMINISTRATIVELY"))  # LINK_STATUS
        assert intf.oper_up is (link.startswith("UP") and proto.startswith("UP"))
        assert intf.description == (row["interface_description"] or None)


def test_interface_counters_from_capture() -> None:
    text = (NTC / "display_interface/huawei_vrp_display_interface_dhcp.raw").read_text()
    first = vrp.parse_interfaces(text)["interfaces"][0]
    assert first.name == "GigabitEthernet0/0/0"
    assert (first.rx_bytes, first.tx_bytes) == (4936, 1012)
    assert (first.rx_errors, first.tx_errors, first.rx_dropped, first.tx_dropped) == (0, 0, 0, 0)


@pytest.mark.parametrize("raw", _cases(NTC / "display_ntp_status"))
def test_ntp_matches_ntc_sample(raw: Path) -> None:
    row = _parsed_sample(raw)[0]
    synced = vrp.parse_ntp_status(raw.read_text())["time_synchronized"]
    assert synced is {"synchronized": True, "unsynchronized": False}[row["clock_status"]]


@pytest.mark.parametrize("raw", _cases(NTC / "display_bgp_peer"))
def test_bgp_matches_ntc_sample(raw: Path) -> None:
    rows = _parsed_sample(raw)
    peers = vrp.parse_bgp_peer(raw.read_text())["bgp_neighbors"]
    assert len(peers) == len(rows)
    for peer, row in zip(peers, rows, strict=True):
        assert peer.peer == row["peer"]                                  # PEER
        assert peer.remote_as == row["asn"]                              # ASN
        assert peer.state == row["state"]                                # STATE
        assert peer.established is (row["state"] == "Established")
        assert peer.prefixes_received == int(row["pref_rcvd"])           # PREF_RCVD


# -- own samples -------------------------------------------------------------------------------

OWN_PARSERS = {
    "display_cpu-usage": vrp.parse_cpu_usage,
    "display_memory-usage": vrp.parse_memory_usage,
    "display_temperature_all": vrp.parse_temperature,
    "display_fan": vrp.parse_fan,
    "display_power": vrp.parse_power,
    "display_esn": vrp.parse_esn,
    "display_ospf_peer_brief": vrp.parse_ospf_peer_brief,
    "display_logbuffer": vrp.parse_logbuffer,
    "display_clock": vrp.parse_clock,
}


@pytest.mark.parametrize(("command", "raw"), [
    pytest.param(cmd, raw, id=f"{cmd}/{raw.stem}")
    for cmd in OWN_PARSERS for raw in sorted((OWN / cmd).glob("*.raw"))
])
def test_own_sample(command: str, raw: Path) -> None:
    expected = yaml.safe_load(raw.with_suffix(".yml").read_text())["expected"]
    assert _facts(OWN_PARSERS[command](raw.read_text())) == expected


def test_every_own_folder_has_source_and_samples() -> None:
    for command in OWN_PARSERS:
        assert (OWN / command / "SOURCE.md").is_file(), command
        assert len(list((OWN / command).glob("*.raw"))) >= 2, command


def test_ospf_without_neighbours_is_empty_list() -> None:
    text = "\n\t OSPF Process 1 with Router ID 1.1.1.1\n\t\t  Peer Statistic Information\n"
    assert vrp.parse_ospf_peer_brief(text) == {"ospf_neighbors": []}


# -- bad input ---------------------------------------------------------------------------------

GARBAGE = "lorem ipsum dolor sit amet\nconsectetur adipiscing elit\n"
IOS_VERSION = ("Cisco IOS Software, C2960X Software (C2960X-UNIVERSALK9-M), Version 15.2(7)E4\n"
               "sw1 uptime is 1 year, 2 weeks, 3 days, 4 hours, 5 minutes\n")
COMWARE_CPU = "Slot 1 CPU 0 CPU usage:\n       6% in last 5 seconds\n      10% in last 1 minute\n"
COMWARE_MEMORY = ("Memory statistics are measured in KB:\nSlot 1:\n"
                  "     Total Used Free Shared Buffers Cached FreeRatio\n"
                  "Mem:  1031036 612184 418852 0 1420 142480 42.8%\n")
COMWARE_FAN = " Slot 1:\n Fan 1:\n State    : Normal\n"


@pytest.mark.parametrize("item", sorted(vrp.PARSERS))
@pytest.mark.parametrize("text", [GARBAGE, "\n  \n", "Info: No information."],
                         ids=["garbage", "blank", "info-line"])
def test_garbage_and_empty_raise(item: str, text: str) -> None:
    with pytest.raises(ParseError) as err:
        vrp.PARSERS[item](text)
    assert str(err.value)


@pytest.mark.parametrize(("item", "text", "needle"), [
    ("version", IOS_VERSION, "display version"),
    ("cpu_usage", COMWARE_CPU, "huawei_vrp_display_cpu-usage"),
    ("memory", COMWARE_MEMORY, "huawei_vrp_display_memory-usage"),
    ("fans", COMWARE_FAN, "huawei_vrp_display_fan"),
])
def test_other_vendor_output_raises(item: str, text: str, needle: str) -> None:
    with pytest.raises(ParseError, match=needle):
        vrp.PARSERS[item](text)


@pytest.mark.parametrize(("item", "path", "keep"), [
    ("fans", OWN / "display_fan/s5700_stack.raw", 1),
    ("power", OWN / "display_power/s5700_stack.raw", 2),
    ("version", NTC / "display_version/huawei_vrp_display_version.raw", 2),
    ("bgp", NTC / "display_bgp_peer/huawei_vrp_display_bgp_peer.raw", 6),
    ("memory", OWN / "display_memory-usage/s5700_stack.raw", 1),
])
def test_truncated_output_raises(item: str, path: Path, keep: int) -> None:
    """Only the first lines arrived (session dropped): headings but no data."""
    head = "\n".join(path.read_text().splitlines()[:keep]) + "\n"
    with pytest.raises(ParseError):
        vrp.PARSERS[item](head)


# -- pack and replay set -----------------------------------------------------------------------

def test_pack_items_have_parsers() -> None:
    pack = load_pack(PACK)
    ids = {item.id for item in pack.items}
    assert ids - {"running_config"} == set(vrp.PARSERS)
    assert "running_config" in ids


def test_replay_set_parses_without_item_errors() -> None:
    pack = load_pack(PACK)
    mapping = replay_commands("huawei_vrp")
    # the replay set also answers the example packs' commands (examples/packs/huawei-optics)
    assert set(mapping) >= {item.command for item in pack.items}
    outputs = replay_outputs("huawei_vrp")
    facts, errors = normalise(vrp.PARSERS, outputs)
    assert errors == {}
    assert facts.hardware is not None and facts.hardware.serial == "021HKT10F1000123"
    assert facts.environment is not None
    assert all(f.ok for f in facts.environment.fans or [])
    assert all(p.ok for p in facts.environment.power_supplies or [])
    assert all(n.established for n in facts.bgp_neighbors or [])
    assert all(n.healthy for n in facts.ospf_neighbors or [])
    assert facts.time_synchronized is True and facts.log_error_count == 0
    config = (REPLAY / mapping["display current-configuration"]).read_text()
    for secret in ("irreversible-cipher", "community read cipher", "shared-key cipher",
                   "password cipher", "!Last configuration was updated"):
        assert secret in config
