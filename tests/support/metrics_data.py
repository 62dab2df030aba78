"""A result store filled so that every metric family of ``/metrics`` has samples.

Used by the metrics tests (tests/service) and by the deploy-file tests (tests/deploy), which
compare the names used in docs/metrics.md, the alert rules and the Grafana dashboard with what
the collector actually renders from this store.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.incidents.model import MetricsSnapshot, SlaRemaining
from agent.results import DeviceResult
from agent.service.metrics import (
    XunjianCollector,
    build_registry,
    render,
)
from agent.service.state import PlanState
from agent.store import Store
from checks.model import CheckResult, State
from collectors.base import PackRef
from collectors.facts import (
    BgpNeighbor,
    Component,
    Environment,
    Filesystem,
    Hardware,
    HostFacts,
    NetInterface,
    OspfNeighbor,
    Sensor,
)
from config.inventory import Device, resolve_device
from config.models import DeviceConfig, InheritableFields

#: the inspection time of the populated store
WHEN = datetime(2025, 3, 1, 2, 0, tzinfo=UTC)
PACK = PackRef(name="linux-standard", version="1.0.0", content_hash="ab" * 32)


def device(name: str, platform: str = "linux", **fields: object) -> Device:
    config = DeviceConfig.model_validate({"name": name, "address": "127.0.1.1",
                                          "platform": platform, **fields})
    return resolve_device(config, {}, InheritableFields())


def linux_result(name: str, *, when: datetime = WHEN, cpu: float = 0.25,
                 used_ratio: float = 0.85, interfaces: int = 2,
                 extra_checks: int = 0) -> DeviceResult:
    facts = HostFacts(
        hostname=name, cpu_used_ratio=cpu, memory_used_ratio=0.5, load1=0.7,
        hardware=Hardware(vendor="Dell", model="R740", serial=f"SN-{name}"),
        filesystems=[
            Filesystem(mountpoint="/", device="/dev/vda1", fstype="ext4", size_bytes=10 << 30,
                       used_bytes=4 << 30, avail_bytes=6 << 30, used_ratio=0.4),
            Filesystem(mountpoint="/data", device="/dev/vdb", fstype="xfs", size_bytes=100 << 30,
                       used_bytes=int(used_ratio * (100 << 30)),
                       avail_bytes=int((1 - used_ratio) * (100 << 30)), used_ratio=used_ratio)],
        interfaces=[NetInterface(name=f"eth{i}", rx_errors=i, tx_errors=0, crc_errors=0,
                                 oper_up=True, admin_up=True) for i in range(interfaces)]
        + [NetInterface(name="veth9a1b2c", rx_errors=0, oper_up=True)],
    )
    checks = [
        CheckResult(check="cpu", state=State.OK, value=cpu * 100, unit="%", warn=80, crit=95,
                    message="cpu ok"),
        CheckResult(check="filesystem", item="/data",
                    state=State.WARN if used_ratio >= 0.8 else State.OK,
                    value=used_ratio * 100, unit="%", warn=80, crit=90, message="/data"),
        CheckResult(check="filesystem", item="/", state=State.OK, value=40.0, unit="%",
                    warn=80, crit=90, message="/"),
        *(CheckResult(check=f"extra_{i}", state=State.OK, message="ok")
          for i in range(extra_checks)),
    ]
    state = State.worst([c.state for c in checks])
    return DeviceResult(device=name, address="127.0.1.1", platform="linux", state=state,
                        reachable=True, started_at=when, finished_at=when + timedelta(seconds=2),
                        pack=PACK, facts=facts, checks=checks)


def network_result(name: str, *, when: datetime = WHEN) -> DeviceResult:
    facts = HostFacts(
        hostname=name, cpu_used_ratio=0.12, memory_used_ratio=0.6,
        hardware=Hardware(vendor="Huawei", model="S5735-L48T4X", serial="21980107133GJ7000257"),
        environment=Environment(
            fans=[Component(name="FAN1", ok=True, status="Normal"),
                  Component(name="FAN2", ok=False, status="Abnormal"),
                  Component(name="FAN3", ok=None, status="Absent")],
            power_supplies=[Component(name="PWR1", ok=True, status="Supply")],
            temperatures=[Sensor(name="CPU", celsius=51.0, ok=True)]),
        interfaces=[NetInterface(name="GigabitEthernet0/0/1", rx_errors=12, tx_errors=1,
                                 crc_errors=7, oper_up=True, admin_up=True),
                    NetInterface(name="GigabitEthernet0/0/2", rx_errors=0, tx_errors=0,
                                 crc_errors=0, oper_up=False, admin_up=False)],
        bgp_neighbors=[BgpNeighbor(peer="10.0.0.2", remote_as="65001", state="Established",
                                   established=True),
                       BgpNeighbor(peer="10.0.0.2", vrf="cust-a", state="Idle",
                                   established=False)],
        ospf_neighbors=[OspfNeighbor(neighbor_id="10.255.0.1", state="FULL/DR", healthy=True)],
    )
    checks = [
        CheckResult(check="fans", item="FAN2", state=State.CRIT, message="FAN2 Abnormal"),
        CheckResult(check="temperature", item="CPU", state=State.OK, value=51.0, unit="°C",
                    warn=70, crit=85, message="CPU 51 °C"),
        CheckResult(check="bgp_neighbors", item="10.0.0.2", state=State.CRIT,
                    message="10.0.0.2 Idle", waived=True, waiver_reason="decommissioning",
                    waiver_expires=(WHEN + timedelta(days=30)).date()),
    ]
    return DeviceResult(device=name, address="127.0.20.1", platform="huawei_vrp",
                        state=State.CRIT, reachable=True, started_at=when,
                        finished_at=when + timedelta(seconds=5), facts=facts, checks=checks)


def unreachable_result(name: str, *, when: datetime = WHEN) -> DeviceResult:
    return DeviceResult(
        device=name, address="127.0.1.9", platform="linux", state=State.UNKNOWN,
        reachable=False, error="connection refused", started_at=when,
        finished_at=when + timedelta(seconds=1),
        checks=[CheckResult(check="reachable", state=State.UNKNOWN,
                            message="connection refused")])


def populate(store: Store) -> None:
    """An older run and a newer run (the newer results must win), plus failed/aborted runs.

    Devices: web-01 (Linux, /data 85 %), core-sw-01 (Huawei: failed fan, BGP down in a VRF,
    a waived check), db-01 (unreachable)."""
    old = store.start_run("cli", 3, None)
    store.save_result(old, device("web-01", business_level=1, business_system="ERP",
                                  location="北京亦庄 A01"),
                      linux_result("web-01", when=WHEN - timedelta(days=1), cpu=0.9))
    store.finish_run(old, State.WARN)
    new = store.start_run("schedule", 3, None, plan="daily")
    store.save_result(new, device("web-01", business_level=1, business_system="ERP",
                                  location="北京亦庄 A01"), linux_result("web-01"))
    store.save_result(new, device("core-sw-01", "huawei_vrp", business_level=2,
                                  business_system="网络", location="上海 B2",
                                  serial="REGISTER-SN", model="REGISTER-MODEL"),
                      network_result("core-sw-01"))
    store.save_result(new, device("db-01", serial="DB-SN", model="PowerEdge R650"),
                      unreachable_result("db-01"))
    store.finish_run(new, State.CRIT)
    failed = store.start_run("api", 1, None)
    store.finish_run(failed, State.UNKNOWN, status="failed")


PLANS = [PlanState(name="daily", next_run=WHEN + timedelta(days=1), last_run=WHEN,
                   missed_total=1, runs_total=5),
         PlanState(name="monthly", next_run=None, last_run=None, missed_total=0,
                   runs_total=0)]

INCIDENTS = MetricsSnapshot(
    open_by_priority={"P1": 1, "P3": 2},
    sla=[SlaRemaining(incident_id=7, device="core-sw-01", check="fans", item="FAN2", priority="P1",
                      target="response", remaining_seconds=-120.0),
         SlaRemaining(incident_id=7, device="core-sw-01", check="fans", item="FAN2", priority="P1",
                      target="resolution", remaining_seconds=3600.0)])


def populated_collector(store: Store) -> XunjianCollector:
    return XunjianCollector(store, incidents=lambda: INCIDENTS, plans=lambda: list(PLANS),
                            version="0.1.0")


def populated_exposition(tmp_path: Path) -> str:
    store = Store.open(None, tmp_path / "metrics-data")
    try:
        populate(store)
        return render(build_registry(populated_collector(store))).decode()
    finally:
        store.close()


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{|\s)")


def sample_names(exposition: str) -> set[str]:
    """Names of the series that have at least one sample in the exposition."""
    return {m.group(1) for line in exposition.splitlines()
            if not line.startswith("#") and (m := _SAMPLE.match(line))}
