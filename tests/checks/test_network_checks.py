"""Checks over normalised network facts: environment, interfaces between inspections, routing
neighbours, configuration changes and the asset register."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from checks.builtin import Previous
from checks.engine import evaluate
from checks.model import CheckResult, State
from collectors.base import CollectResult, RawOutput
from collectors.facts import (
    BgpNeighbor,
    Component,
    Environment,
    Hardware,
    HostFacts,
    NetInterface,
    OspfNeighbor,
    Sensor,
)
from config.inventory import Device, resolve_device
from config.models import DeviceConfig, InheritableFields

NOW = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
BEFORE = datetime(2026, 10, 1, 2, 0, tzinfo=UTC)


def switch(**fields: Any) -> Device:
    return resolve_device(DeviceConfig.model_validate(
        {"name": "core-sw", "address": "10.0.0.1", "platform": "huawei_vrp",
         "credentials": "net", **fields}), {}, InheritableFields())


def judge(facts: HostFacts, previous: HostFacts | None = None, device: Device | None = None,
          items: tuple[str, ...] = (), errors: dict[str, str] | None = None,
          ) -> list[CheckResult]:
    raw = [RawOutput(item=i, command=f"display {i}", output="x", exit_code=None) for i in items]
    collected = CollectResult(facts=facts, raw=raw, item_errors=errors or {},
                              started_at=NOW, finished_at=NOW)
    prev = Previous(previous, BEFORE) if previous is not None else None
    return evaluate(device or switch(), collected, prev, NOW)


def of(results: list[CheckResult], check: str) -> list[CheckResult]:
    return [r for r in results if r.check == check]


def iface(name: str, *, up: bool = True, admin: bool = True, rx: int = 0, tx: int = 0,
          crc: int = 0) -> NetInterface:
    return NetInterface(name=name, oper_up=up, admin_up=admin, rx_errors=rx, tx_errors=tx,
                        crc_errors=crc)


# -- environment -------------------------------------------------------------------------------

def test_temperature_thresholds_and_device_alarms() -> None:
    env = Environment(temperatures=[
        Sensor(name="inlet", celsius=31, ok=True, status="NORMAL"),
        Sensor(name="cpu", celsius=78, ok=True),
        Sensor(name="asic", celsius=60, ok=False, status="Major"),
    ])
    results = {r.item: r for r in of(judge(HostFacts(environment=env)), "temperature")}
    assert results["inlet"].state is State.OK
    assert (results["inlet"].value, results["inlet"].unit) == (31, "°C")
    assert results["cpu"].state is State.WARN
    assert (results["cpu"].warn, results["cpu"].crit) == (70, 85)
    assert results["asic"].state is State.CRIT
    assert results["asic"].message == "asic: the device raises an alarm (Major) at 60 °C"


def test_temperature_thresholds_can_be_overridden_per_sensor() -> None:
    env = Environment(temperatures=[Sensor(name="cpu", celsius=78, ok=True)])
    dev = switch(checks={"temperature": {"items": {"cp*": {"warn": 80}}}})
    (r,) = of(judge(HostFacts(environment=env), device=dev), "temperature")
    assert r.state is State.OK


def test_failed_fan_and_psu_are_critical_and_absent_slots_are_not() -> None:
    env = Environment(
        fans=[Component(name="FAN1", ok=True, status="Normal"),
              Component(name="FAN2", ok=False, status="Abnormal")],
        power_supplies=[Component(name="PWR1", ok=True, status="Supply"),
                        Component(name="PWR2", ok=None, status="Absent")])
    results = judge(HostFacts(environment=env))
    (fan,) = of(results, "fans")
    assert (fan.state, fan.item, fan.message) == (
        State.CRIT, "FAN2", "fan FAN2 has failed: Abnormal")
    (psu,) = of(results, "power_supplies")
    assert psu.state is State.OK
    assert psu.message == "1 power supply(s) working, 1 slot(s) empty or not reporting"


def test_environment_item_error_makes_the_checks_unknown() -> None:
    results = judge(HostFacts(), items=("fans", "power"),
                    errors={"fans": "template matched nothing", "power": "empty output"})
    (fan,) = of(results, "fans")
    assert fan.state is State.UNKNOWN
    assert fan.message == "could not evaluate: fans: template matched nothing"
    assert fan.evidence == ["fans"]
    assert of(results, "power_supplies")[0].evidence == ["power"]


# -- interfaces between inspections ---------------------------------------------------------------

def test_interface_error_growth_between_inspections() -> None:
    before = HostFacts(interfaces=[iface("Gi0/1", rx=100, crc=40), iface("Gi0/2", rx=5),
                                   iface("Gi0/3", rx=900, tx=3)])
    now = HostFacts(interfaces=[iface("Gi0/1", rx=160, crc=90), iface("Gi0/2", rx=5),
                                iface("Gi0/3", rx=2, tx=0)])  # Gi0/3 counters were cleared
    results = {r.item: r for r in of(judge(now, before), "interface_errors")}
    assert set(results) == {"Gi0/1", "Gi0/3"}
    assert (results["Gi0/1"].state, results["Gi0/1"].value) == (State.WARN, 60)
    assert results["Gi0/1"].message == ("Gi0/1: +60 input errors, +50 CRC since the last "
                                        "inspection")
    assert (results["Gi0/3"].state, results["Gi0/3"].value) == (State.OK, 2)


def test_interface_errors_first_inspection_and_no_growth() -> None:
    (first,) = of(judge(HostFacts(interfaces=[iface("Gi0/1", rx=5)])), "interface_errors")
    assert first.state is State.OK
    assert "baseline" in first.message
    same = HostFacts(interfaces=[iface("Gi0/1", rx=5)])
    (r,) = of(judge(same, same), "interface_errors")
    assert (r.state, r.message) == (
        State.OK, "no error counter grew on 1 interface(s) since the last inspection")


def test_interface_down_that_was_up_last_time() -> None:
    before = HostFacts(interfaces=[iface("Gi0/1"), iface("Gi0/2"), iface("Gi0/3", up=False),
                                   iface("Gi0/4")])
    now = HostFacts(interfaces=[
        iface("Gi0/1", up=False), iface("Gi0/2"), iface("Gi0/3", up=False),
        iface("Gi0/4", up=False, admin=False)])
    results = {r.item: r for r in of(judge(now, before), "interface_down")}
    assert set(results) == {"Gi0/1", "Gi0/4"}
    assert results["Gi0/1"].state is State.WARN
    assert "link or protocol down" in results["Gi0/1"].message
    assert results["Gi0/4"].state is State.OK  # shut down on purpose
    assert "administratively shut down" in results["Gi0/4"].message


# -- routing neighbours --------------------------------------------------------------------------

def test_bgp_and_ospf_neighbours_not_established_are_critical() -> None:
    facts = HostFacts(
        bgp_neighbors=[
            BgpNeighbor(peer="10.0.0.2", remote_as="65002", state="Established",
                        established=True, prefixes_received=120),
            BgpNeighbor(peer="10.0.0.3", remote_as="65003", state="Active", established=False),
            BgpNeighbor(peer="10.9.0.1", vrf="CUST-A", state="Idle", established=False)],
        ospf_neighbors=[
            OspfNeighbor(neighbor_id="1.1.1.1", state="FULL/DR", healthy=True,
                         interface="Vlan10"),
            OspfNeighbor(neighbor_id="2.2.2.2", state="EXSTART/BDR", healthy=False)])
    results = judge(facts)
    bgp = {r.item: r for r in of(results, "bgp_neighbors")}
    assert bgp["10.0.0.2"].state is State.OK
    assert bgp["10.0.0.2"].message == ("BGP neighbour 10.0.0.2 (AS 65002) is established, 120 "
                                       "prefixes received")
    assert bgp["10.0.0.3"].state is State.CRIT
    assert bgp["CUST-A/10.9.0.1"].message == "BGP neighbour 10.9.0.1 is not established: Idle"
    ospf = {r.item: r for r in of(results, "ospf_neighbors")}
    assert ospf["1.1.1.1"].state is State.OK
    assert ospf["2.2.2.2"].state is State.CRIT
    assert ospf["2.2.2.2"].message == "OSPF neighbour 2.2.2.2 is stuck in EXSTART/BDR (not FULL)"


def test_no_neighbours_configured_gives_no_result() -> None:
    assert of(judge(HostFacts(bgp_neighbors=[], ospf_neighbors=[])), "bgp_neighbors") == []


# -- configuration and register ------------------------------------------------------------------

def test_config_change_is_informational() -> None:
    first = HostFacts(config_sha256="a" * 64, config_lines=120)
    (r,) = of(judge(first), "config_changed")
    assert (r.state, r.value) == (State.OK, "recorded")
    (r,) = of(judge(first, first), "config_changed")
    assert (r.state, r.value) == (State.OK, "unchanged")
    (r,) = of(judge(HostFacts(config_sha256="b" * 64), first), "config_changed")
    assert (r.state, r.value) == (State.OK, "changed")
    assert "xunjian configs diff" in r.message


def test_serial_and_model_against_the_register() -> None:
    facts = HostFacts(hardware=Hardware(model="CE6881-48S6CQ", serial="2102351234NEW"))
    dev = switch(serial="2102351234", model="ce6881-48s6cq")
    results = {r.item: r for r in of(judge(facts, device=dev), "hardware_register")}
    assert results["model"].state is State.OK
    assert results["serial"].state is State.WARN
    assert results["serial"].message == ("serial is 2102351234NEW, but the register says "
                                         "2102351234 (hardware replaced, or the register is out "
                                         "of date)")
    assert of(judge(facts), "hardware_register") == []  # nothing registered: nothing to compare


def test_network_evidence_is_the_items_the_pack_ran() -> None:
    facts = HostFacts(time_synchronized=False, uptime_seconds=10)
    results = judge(facts, items=("version", "ntp", "clock"))
    (sync,) = of(results, "time_sync")
    assert (sync.state, sync.evidence) == (State.WARN, ["ntp"])
