"""H3C Comware parsers against real ntc-templates captures, our own samples and bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from support.replay import replay_commands, replay_outputs

from agent.errors import ParseError
from collectors.facts import HostFacts
from collectors.network import hp_comware as cw
from collectors.network.parsing import normalise
from collectors.pack import load_pack

ROOT = Path(__file__).resolve().parents[3]
NTC = ROOT / "tests/collectors/fixtures/ntc/hp_comware"
OWN = ROOT / "tests/collectors/fixtures/own/hp_comware"
REPLAY = ROOT / "tests/netsim/replay/hp_comware"
PACK = ROOT / "collectors/packs/hp_comware-standard.yaml"


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

@pytest.mark.parametrize("raw", _cases(NTC / "display_device_manuinfo"))
def test_manuinfo_matches_ntc_sample(raw: Path) -> None:
    rows = _parsed_sample(raw)
    facts = cw.parse_manuinfo(raw.read_text())
    # mapping: one Module per yml row that has a DEVICE_NAME or DEVICE_SERIAL_NUMBER;
    # name = [Chassis CHASSIS_ID] SLOT_TYPE SLOT_ID, description = DEVICE_NAME,
    # serial = DEVICE_SERIAL_NUMBER
    expected = [m for m in (cw.manuinfo_module(r) for r in rows) if m is not None]
    assert facts["modules"] == expected
    kept = [r for r in rows if (r["device_name"] or r["device_serial_number"]).strip()]
    for module, row in zip(facts["modules"], kept, strict=True):
        assert module.description == (row["device_name"].strip() or None)
        assert module.serial == (row["device_serial_number"] or None)
        assert module.name.endswith(f"{row['slot_type'].capitalize()} {row['slot_id']}".strip()
                                    or "Device")
    chassis = next((r for r in kept if r["slot_type"] == "Chassis"), None) or next(
        (r for r in kept if r["slot_type"].lower() == "slot"), kept[0])
    assert facts["hardware"].serial == chassis["device_serial_number"]
    assert facts["hardware"].model == chassis["device_name"]


@pytest.mark.parametrize("raw", _cases(NTC / "display_interface"))
def test_interfaces_match_ntc_sample(raw: Path) -> None:
    rows = _parsed_sample(raw)
    interfaces = cw.parse_interfaces(raw.read_text())["interfaces"]
    assert [i.name for i in interfaces] == [r["interface"] for r in rows]   # INTERFACE
    for intf, row in zip(interfaces, rows, strict=True):
        line = row["line_status"].upper()
        assert intf.admin_up is (not line.startswith("ADMINISTRATIVELY"))  # LINE_STATUS
        assert intf.oper_up is (line == "UP" and row["protocol_status"].upper().startswith("UP"))
        assert intf.description == (row["description"] or None)          # DESCRIPTION


def test_interface_counters_from_capture() -> None:
    text = (NTC / "display_interface/hp_comware_display_interface.raw").read_text()
    by_name = {i.name: i for i in cw.parse_interfaces(text)["interfaces"]}
    vlan = by_name["Vlan-interface2000"]
    assert (vlan.rx_bytes, vlan.tx_bytes, vlan.rx_dropped, vlan.tx_dropped) == (
        611444, 1143610, 0, 0)
    agg = by_name["Bridge-Aggregation20"]
    assert (agg.rx_bytes, agg.tx_bytes) == (24384580165, 90115617821)
    assert (agg.rx_errors, agg.tx_errors, agg.crc_errors) == (0, 0, 0)


@pytest.mark.parametrize("raw", _cases(NTC / "display_clock"))
def test_clock_parses(raw: Path) -> None:
    assert cw.parse_clock(raw.read_text()) == {}


@pytest.mark.parametrize("raw", _cases(NTC / "display_bgp_peer_ipv4"))
def test_bgp_matches_ntc_sample(raw: Path) -> None:
    rows = _parsed_sample(raw)
    peers = cw.parse_bgp_peer(raw.read_text())["bgp_neighbors"]
    assert len(peers) == len(rows)
    for peer, row in zip(peers, rows, strict=True):
        assert peer.peer == row["peer"]                                  # PEER
        assert peer.remote_as == row["remote_asn"]                       # REMOTE_ASN
        assert peer.state == row["state"]                                # STATE
        assert peer.established is (row["state"] == "Established")
        assert peer.prefixes_received == int(row["prefixes_received"])   # PREFIXES_RECEIVED


# -- own samples -------------------------------------------------------------------------------

OWN_PARSERS = {
    "display_version": cw.parse_version,
    "display_cpu-usage": cw.parse_cpu_usage,
    "display_memory": cw.parse_memory,
    "display_environment": cw.parse_environment,
    "display_fan": cw.parse_fan,
    "display_power": cw.parse_power,
    "display_ntp-service_status": cw.parse_ntp_status,
    "display_ospf_peer": cw.parse_ospf_peer,
    "display_logbuffer": cw.parse_logbuffer,
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


def test_clock_with_milliseconds() -> None:
    assert cw.parse_clock("10:22:51.361 Beijing Sat 03/02/2024\n") == {}


def test_ospf_without_neighbours_is_empty_list() -> None:
    text = "\n   OSPF Process 1 with Router ID 1.1.1.1\n         Neighbor Brief Information\n"
    assert cw.parse_ospf_peer(text) == {"ospf_neighbors": []}


# -- bad input ---------------------------------------------------------------------------------

GARBAGE = "lorem ipsum dolor sit amet\nconsectetur adipiscing elit\n"
HUAWEI_VERSION = (ROOT / "tests/collectors/fixtures/ntc/huawei_vrp/display_version/"
                  "huawei_vrp_display_version.raw")
HUAWEI_CPU = ("CPU Usage Stat. Cycle: 60 (Second)\nCPU Usage            : 28% Max: 87%\n"
              "CPU utilization for five seconds: 28%: one minute: 28%: five minutes: 20%\n")
HUAWEI_MEMORY = ("System Total Memory Is: 1598029824 bytes\nTotal Memory Used Is: 188593436 bytes\n"
                 "Memory Using Percentage Is: 11%\n")
HUAWEI_FAN = (" Slot  FanID   Online    Status    Speed     Mode     Airflow\n"
              " 0     1       Present   Normal    55%       Auto     Side-to-Back\n")
HUAWEI_NTP = " clock status: synchronized\n clock stratum: 2\n"


@pytest.mark.parametrize("item", sorted(cw.PARSERS))
@pytest.mark.parametrize("text", [GARBAGE, "\n  \n", "Info: No information."],
                         ids=["garbage", "blank", "info-line"])
def test_garbage_and_empty_raise(item: str, text: str) -> None:
    with pytest.raises(ParseError) as err:
        cw.PARSERS[item](text)
    assert str(err.value)


@pytest.mark.parametrize(("item", "text", "needle"), [
    ("version", HUAWEI_VERSION.read_text(), "hp_comware_display_version"),
    ("cpu_usage", HUAWEI_CPU, "hp_comware_display_cpu-usage"),
    ("memory", HUAWEI_MEMORY, "hp_comware_display_memory"),
    ("fans", HUAWEI_FAN, "hp_comware_display_fan"),
])
def test_other_vendor_output_raises(item: str, text: str, needle: str) -> None:
    with pytest.raises(ParseError, match=needle):
        cw.PARSERS[item](text)


def test_huawei_ntp_wording_is_not_comware() -> None:
    """Huawei's `display ntp-service status` is lower case ("clock status"); Comware's is not."""
    assert cw.parse_ntp_status(" Clock status: synchronized\n") == {"time_synchronized": True}
    with pytest.raises(ParseError):
        cw.parse_ntp_status(HUAWEI_NTP)


@pytest.mark.parametrize(("item", "path", "keep"), [
    ("cpu_usage", OWN / "display_cpu-usage/two_slots_reference.raw", 3),
    ("memory", OWN / "display_memory/single_composed.raw", 3),
    ("fans", OWN / "display_fan/s5130_fault_composed.raw", 2),
    ("power", OWN / "display_power/table_absent_composed.raw", 2),
    ("temperature", OWN / "display_environment/reference_hotspot_warning.raw", 3),
    ("bgp", NTC / "display_bgp_peer_ipv4/hp_comware_display_bgp_peer_ipv4.raw", 7),
])
def test_truncated_output_raises(item: str, path: Path, keep: int) -> None:
    """Only the first lines arrived (session dropped): headings but no data."""
    head = "\n".join(path.read_text().splitlines()[:keep]) + "\n"
    with pytest.raises(ParseError):
        cw.PARSERS[item](head)


# -- pack and replay set -----------------------------------------------------------------------

def test_pack_items_have_parsers() -> None:
    pack = load_pack(PACK)
    ids = {item.id for item in pack.items}
    assert ids - {"running_config"} == set(cw.PARSERS)
    assert "running_config" in ids


def test_replay_set_parses_without_item_errors() -> None:
    pack = load_pack(PACK)
    mapping = replay_commands("hp_comware")
    assert set(mapping) == {item.command for item in pack.items}
    outputs = replay_outputs("hp_comware")
    facts, errors = normalise(cw.PARSERS, outputs)
    assert errors == {}
    assert facts.hardware is not None and facts.hardware.serial == "219801A2YF8213Q00081"
    assert facts.environment is not None
    assert all(f.ok for f in facts.environment.fans or [])
    assert all(p.ok for p in facts.environment.power_supplies or [])
    assert all(t.ok for t in facts.environment.temperatures or [])
    assert all(n.established for n in facts.bgp_neighbors or [])
    assert all(n.healthy for n in facts.ospf_neighbors or [])
    assert facts.time_synchronized is True and facts.log_error_count == 0
    config = (REPLAY / mapping["display current-configuration"]).read_text()
    for secret in ("password hash $h$", "community read cipher", "key authentication cipher",
                   "password cipher $c$"):
        assert secret in config
