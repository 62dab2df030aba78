"""Junos item parsers against real captures (ntc-templates tests, genieparser tests), composed
samples, bad input and the netsim replay set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from support.replay import replay_commands, replay_outputs

from agent.errors import ParseError
from collectors.network import juniper_junos as junos
from collectors.network.parsing import cli_error, normalise
from collectors.pack import load_pack

ROOT = Path(__file__).resolve().parents[3]
NTC = ROOT / "tests/collectors/fixtures/ntc/juniper_junos"
OWN = ROOT / "tests/collectors/fixtures/own/juniper_junos"
REPLAY = ROOT / "tests/netsim/replay/juniper_junos"
PACK = ROOT / "collectors/packs/juniper_junos-standard.yaml"


def _samples(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.raw"))


def _parsed(raw: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(raw.with_suffix(".yml").read_text())
    return list(data["parsed_sample"])


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_none=True)
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value


# -- real captures from ntc-templates: compare with its .yml, field by mapped field -------------


@pytest.mark.parametrize("raw", _samples(NTC / "show_version"), ids=lambda p: p.name)
def test_version_matches_ntc(raw: Path) -> None:
    expected = _parsed(raw)[0]
    facts = junos.parse_version(raw.read_text())
    assert facts["hostname"] == expected["hostname"]
    assert facts["os_name"] == "Junos"
    assert facts["os_version"] == (expected["junos_version"] or None)
    assert facts["hardware"].model == expected["model"]
    assert facts["hardware"].serial == (expected["serial_number"] or None)
    assert facts["hardware"].vendor == "Juniper"


# ntc's Chassis row regex takes the first word of a multi-word description as the serial; these
# are the serials the devices printed (we read the Chassis row ourselves).
CHASSIS_SERIALS = {
    "juniper_junos_show_chassis_hardware.raw": ("A1111", "MX10-T"),
    # the capture itself was anonymised by ntc-templates: this is the serial it prints
    "juniper_junos_show_chassis_hardware1.raw": ("XXXXXXXX0000", "QFX5100-48S-6Q"),
    "juniper_junos_show_chassis_hardware3.raw": ("A0000", "JNP204 [MX204]"),
    "juniper_junos_show_chassis_hardware4.raw": ("JN1111111", "MX480"),
    "juniper_junos_show_chassis_hardware_dac_no_revision.raw": ("XH3123120000", "Virtual Chassis"),
}


@pytest.mark.parametrize("raw", _samples(NTC / "show_chassis_hardware"), ids=lambda p: p.name)
def test_inventory_matches_ntc(raw: Path) -> None:
    rows = _parsed(raw)
    facts = junos.parse_inventory(raw.read_text())
    modules = facts["modules"]
    serial, description = CHASSIS_SERIALS[raw.name]
    assert facts["hardware"].serial == serial
    assert modules[0].name == "Chassis"
    assert (modules[0].serial, modules[0].description) == (serial, description)
    # every part/serial/description ntc reports for an item kind is a module of ours
    ours = {(m.part, m.serial, m.description) for m in modules}
    for row in rows:
        for prefix in ("mid", "fpm", "re", "cb", "tfeb", "qxm", "fpc", "cpu", "mic", "pic",
                       "xcvr", "ps"):
            if row.get(f"{prefix}_serial_number"):
                item = (row[f"{prefix}_part"] or None, row[f"{prefix}_serial_number"],
                        row[f"{prefix}_description"] or None)
                assert item in ours, (prefix, item)
        if row.get("fan_description"):
            assert any(m.description == row["fan_description"] for m in modules)
    # nested items are named by their parents, so transceiver names are unique per path
    names = [m.name for m in modules]
    assert all(n.startswith("FPC ") for n in names if "Xcvr" in n)


@pytest.mark.parametrize("raw", _samples(NTC / "show_system_uptime"), ids=lambda p: p.name)
def test_uptime_matches_ntc(raw: Path) -> None:
    from datetime import datetime

    row = _parsed(raw)[0]
    now = datetime.strptime(f"{row['year']}-{row['month']}-{row['day']} {row['time']}",
                            "%Y-%m-%d %H:%M:%S")
    boot = datetime.strptime(
        f"{row['boot_year']}-{row['boot_month']}-{row['boot_day']} {row['boot_time']}",
        "%Y-%m-%d %H:%M:%S")
    assert junos.parse_uptime(raw.read_text()) == {
        "uptime_seconds": (now - boot).total_seconds()}


def test_uptime_values() -> None:
    facts = junos.parse_uptime((NTC / "show_system_uptime/juniper_junos_show_system_uptime.raw")
                               .read_text())
    # 2021-03-29 13:32:05 → 2021-08-31 08:48:11: 154 days 19:16:06 ("up 154 days, 19:16")
    assert facts["uptime_seconds"] == 154 * 86400 + 19 * 3600 + 16 * 60 + 6


def test_uptime_dual_re_uses_first_section() -> None:
    single = (NTC / "show_system_uptime/juniper_junos_show_system_uptime.raw").read_text()
    other = (NTC / "show_system_uptime/juniper_junos_show_system_uptime_2.raw").read_text()
    text = f"re0:\n{'-' * 74}\n{single}\n\nre1:\n{'-' * 74}\n{other}\n"
    assert junos.parse_uptime(text) == junos.parse_uptime(single)


@pytest.mark.parametrize("raw", _samples(NTC / "show_bgp_summary"), ids=lambda p: p.name)
def test_bgp_matches_ntc(raw: Path) -> None:
    rows = _parsed(raw)
    neighbors = junos.parse_bgp(raw.read_text())["bgp_neighbors"]
    # ntc: one row per peer and RIB; ours: one neighbour per peer, received summed over RIBs
    expected: dict[str, dict[str, Any]] = {}
    for row in rows:
        peer = expected.setdefault(row["peer_ip"], {"as": row["peer_as"], "state": row["state"],
                                                     "received": 0})
        peer["received"] += int(row["received"])
    assert len(neighbors) == len(expected) or len(neighbors) == len(rows)
    for n in neighbors:
        e = expected[n.peer]
        assert n.remote_as == e["as"]
        assert n.state == e["state"] == "Establ"
        assert n.established is True
    assert [n.prefixes_received for n in neighbors] == [int(r["received"]) for r in rows]


@pytest.mark.parametrize("raw", _samples(NTC / "show_ospf_neighbor"), ids=lambda p: p.name)
def test_ospf_matches_ntc(raw: Path) -> None:
    rows = _parsed(raw)
    neighbors = junos.parse_ospf(raw.read_text())["ospf_neighbors"]
    assert len(neighbors) == len(rows)
    for n, row in zip(neighbors, rows, strict=True):
        assert n.neighbor_id == row["neighbor_id"]
        assert n.address == row["ip_address"]
        assert n.interface == row["interface"]
        assert n.state == row["state"]
        assert n.healthy is (row["state"].lower() in {"full", "2way"})


# -- our own samples: each equals its .yml expectation ------------------------------------------

OWN_PARSERS = {
    "show_chassis_routing-engine": junos.parse_routing_engine,
    "show_chassis_environment": junos.parse_environment,
    "show_interfaces_extensive": junos.parse_interfaces,
    "show_ntp_status": junos.parse_ntp,
    "show_log_messages": junos.parse_log,
    "show_bgp_summary": junos.parse_bgp,
}
OWN_SAMPLES = [(cmd, raw) for cmd in OWN_PARSERS for raw in _samples(OWN / cmd)]


@pytest.mark.parametrize(("command", "raw"), OWN_SAMPLES,
                         ids=[f"{c}/{r.name}" for c, r in OWN_SAMPLES])
def test_own_samples(command: str, raw: Path) -> None:
    expected = yaml.safe_load(raw.with_suffix(".yml").read_text())["expected"]
    facts = OWN_PARSERS[command](raw.read_text())
    assert {k: _dump(v) for k, v in facts.items() if v is not None} == expected


def test_every_own_folder_has_a_source_note() -> None:
    for folder in OWN.iterdir():
        assert (folder / "SOURCE.md").is_file(), folder


def test_routing_engine_prefers_five_minute_average() -> None:
    text = (OWN / "show_chassis_routing-engine/genie_vmx_single_re.raw").read_text()
    text = text.replace("Idle                      98 percent", "Idle   {} percent")
    text = text.format(10, 20, 70, 40)  # 5 s, 1 min, 5 min, 15 min
    assert junos.parse_routing_engine(text)["cpu_used_ratio"] == pytest.approx(0.30)


def test_environment_status_mapping() -> None:
    assert junos.ENV_STATUS_OK == {"ok": True, "failed": False, "check": False, "absent": None,
                                   "testing": None, "present": None}
    env = junos.parse_environment(
        (OWN / "show_chassis_environment/genie_mx2020.raw").read_text())["environment"]
    by_name = {s.name: s for s in env.temperatures}
    assert by_name["PSM 4"].ok is False and by_name["PSM 4"].celsius is None
    assert by_name["FPC 0 Intake"].ok is None and by_name["FPC 0 Intake"].status == "Testing"
    assert by_name["FPC 0 XL 0 XR2 0 Chip"].celsius == 79.0
    assert env.power_supplies is None  # MX2020 lists PSMs only under Temp
    assert len(env.fans) == 24 and all(f.ok for f in env.fans)


def test_interfaces_crc_and_state() -> None:
    ifaces = junos.parse_interfaces(
        (OWN / "show_interfaces_extensive/composed_crc_errors.raw").read_text())["interfaces"]
    assert [(i.name, i.admin_up, i.oper_up, i.crc_errors, i.rx_errors) for i in ifaces] == [
        ("xe-0/0/0", True, True, 1539, 1542),
        ("xe-0/0/1", True, False, 0, 0),
        ("xe-0/0/2", False, False, 0, 0),
    ]


# -- bad input --------------------------------------------------------------------------------

GARBAGE = "lorem ipsum dolor sit amet\n\x00\x01 ~~~ 12345\n"
ARISTA_VERSION = (ROOT / "tests/collectors/fixtures/ntc/arista_eos/show_version"
                  / "arista_eos_show_version2.raw")


@pytest.mark.parametrize("parser", list(junos.PARSERS.values()),
                         ids=list(junos.PARSERS))
@pytest.mark.parametrize("text", [GARBAGE, "\n{master:0}\n"], ids=["garbage", "empty-ish"])
def test_bad_input_raises(parser: Any, text: str) -> None:
    with pytest.raises(ParseError) as info:
        parser(text)
    assert str(info.value)


@pytest.mark.parametrize(("parser", "other"), [
    (junos.parse_version, ARISTA_VERSION),
    (junos.parse_inventory, ROOT / "tests/collectors/fixtures/ntc/arista_eos/show_inventory"
     / "arista_eos_show_inventory.raw"),
    (junos.parse_bgp, ROOT / "tests/collectors/fixtures/ntc/arista_eos/show_ip_bgp_summary"
     / "arista_eos_show_ip_bgp_summary.raw"),
    (junos.parse_interfaces, ROOT / "tests/collectors/fixtures/ntc/arista_eos/show_interfaces"
     / "arista_eos_show_interfaces.raw"),
    (junos.parse_uptime, ROOT / "tests/collectors/fixtures/ntc/arista_eos/show_clock"
     / "arista_eos_show_clock.raw"),
    (junos.parse_ospf, ROOT / "tests/collectors/fixtures/own/arista_eos/show_ip_ospf_neighbor"
     / "ntc_templates_default_vrf.raw"),
    (junos.parse_ntp, ROOT / "tests/collectors/fixtures/own/arista_eos/show_ntp_status"
     / "composed_synchronised.raw"),
    (junos.parse_log, ROOT / "tests/collectors/fixtures/own/arista_eos/show_logging"
     / "composed_with_errors.raw"),
], ids=lambda v: getattr(v, "__name__", "") or Path(str(v)).name)
def test_other_vendor_output_raises(parser: Any, other: Path) -> None:
    with pytest.raises(ParseError, match=r"not|no "):
        parser(other.read_text())


def test_log_without_priority_says_how_to_fix() -> None:
    text = ("Aug 31 08:10:02  r1 rpd[2201]: RPD_BGP_NEIGHBOR_STATE_CHANGED: BGP peer 192.0.2.254 "
            "changed state from Established to Idle\n")
    with pytest.raises(ParseError, match="explicit-priority"):
        junos.parse_log(text)


def test_truncated_outputs_raise() -> None:
    re_text = (OWN / "show_chassis_routing-engine/genie_vmx_single_re.raw").read_text()
    with pytest.raises(ParseError, match="Idle"):
        junos.parse_routing_engine(re_text[: re_text.index("Idle")])
    hw = (NTC / "show_chassis_hardware/juniper_junos_show_chassis_hardware3.raw").read_text()
    with pytest.raises(ParseError):
        junos.parse_inventory(hw[:40])
    env = (OWN / "show_chassis_environment/genie_mx2020.raw").read_text()
    with pytest.raises(ParseError):
        junos.parse_environment(env[env.index("\n") + 1:][:20])


def test_cli_refusal_is_reported_by_normalise() -> None:
    refusal = "                      ^\nsyntax error, expecting <command>.\n"
    assert cli_error(refusal) is not None
    _, errors = normalise(junos.PARSERS, {"ntp": refusal})
    assert "refused" in errors["ntp"]


# -- replay set for the device simulator --------------------------------------------------------


def test_replay_covers_the_pack_and_parses_cleanly() -> None:
    pack = load_pack(PACK)
    assert {i.command for i in pack.items} == set(replay_commands("juniper_junos"))
    outputs = replay_outputs("juniper_junos")
    facts, errors = normalise(junos.PARSERS, outputs)
    assert errors == {}
    assert set(junos.PARSERS) | {"running_config"} == {i.id for i in pack.items}
    assert facts.hostname == "lab-mx204-1"
    assert facts.hardware is not None and facts.hardware.serial == "A0000"
    assert facts.environment is not None
    assert all(c.ok for c in facts.environment.fans or [])
    assert all(c.ok for c in facts.environment.power_supplies or [])
    assert all(s.ok for s in facts.environment.temperatures or [])
    assert facts.bgp_neighbors and all(n.established for n in facts.bgp_neighbors)
    assert facts.ospf_neighbors and all(n.healthy for n in facts.ospf_neighbors)
    assert facts.time_synchronized is True
    assert facts.log_error_count == 0


def test_replay_config_holds_secrets_and_oscillating_lines() -> None:
    config = (REPLAY / "show_configuration.txt").read_text()
    for marker in ("## Last commit:", "encrypted-password", "authentication-key", 'secret "$9$',
                   'community "'):
        assert marker in config
