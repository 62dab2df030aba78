"""A store with 45 days of inspection history and a config with a customer, for report tests.

The results are evaluated by the real check engine from typed facts (``checks.engine.evaluate``
and ``apply_waivers``), so states, values, thresholds and evidence are what an inspection would
store. The fleet (customer ``acme``):

* ``web-01`` (Linux, ERP, level 1): healthy; its registered serial matches.
* ``db-01`` (Linux, level 1): ``/data`` grows 1 point a day from 40 % to 84 % (WARN at the end,
  a capacity forecast); the register says serial ``OLD-SN``, so it reads as *replaced*. Its
  business system is hostile text (``<script>…``).
* ``core-sw-01`` (Huawei VRP, level 2): a fan fails halfway through; its running configuration
  changes once in the period; a temperature sensor.
* ``edge-02`` (Linux): in the register, never inspected (*missing*, *skipped*).
* ``lab-01`` (Linux, group ``lab``, not acme's): unreachable at the end.

Incidents: a P2 (fan) acknowledged in 10 minutes and resolved in 2 h, a P1 acknowledged after
an hour (response missed), and an open problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import insert

from agent.results import DeviceResult
from agent.store import Store
from agent.store.schema import IncidentRow, ProblemRow
from checks.builtin import Previous
from checks.engine import apply_waivers, device_state, evaluate, unreachable
from checks.model import State
from collectors.base import CollectResult, PackRef
from collectors.facts import (
    Component,
    Environment,
    Filesystem,
    Hardware,
    HostFacts,
    Sensor,
)
from collectors.network.configs import snapshot
from config.loader import LoadedConfig, load_config

#: the report period of the fixture: October 2026 (UTC); history starts 45 days before its end
PERIOD = "2026-10"
END = datetime(2026, 10, 31, 2, 0, tzinfo=UTC)
DAYS = 45
HOSTILE = '<script>alert("xss")</script> & <b>ERP</b>'
LINUX_PACK = PackRef(name="linux-standard", version="1.2.0", content_hash="ab" * 32)
VRP_PACK = PackRef(name="huawei_vrp-standard", version="1.1.0", content_hash="cd" * 32)

CONFIG = {
    "credentials": {"ops": {"username": "ops", "password_env": "XJ_REPORT_TEST_PW"}},
    "report": {"provider": {"name": "华信运维服务有限公司"}, "author": "张工",
               "reviewer": "李经理", "timezone": "UTC"},
    "customers": {"acme": {"name": "某某银行股份有限公司", "groups": ["acme"],
                           "contacts": ["ops@acme.example"]}},
    "groups": {"acme": {"credentials": "ops"}, "lab": {"credentials": "ops"}},
    "devices": [
        {"name": "web-01", "address": "127.0.1.1", "groups": ["acme"], "business_level": 1,
         "business_system": "ERP", "location": "北京亦庄 A01", "serial": "SN-web-01",
         "model": "R740", "warranty_end": "2026-12-15"},
        {"name": "db-01", "address": "127.0.1.2", "groups": ["acme"], "business_level": 1,
         "business_system": HOSTILE, "location": "北京亦庄 A02", "serial": "OLD-SN",
         "model": "R740"},
        {"name": "core-sw-01", "address": "127.0.20.1", "platform": "huawei_vrp",
         "groups": ["acme"], "business_level": 2, "business_system": "核心网络",
         "location": "上海 B2", "serial": "21980107133GJ7000257", "model": "S5735-L48T4X"},
        {"name": "edge-02", "address": "127.0.1.4", "groups": ["acme"], "serial": "EDGE-SN"},
        {"name": "lab-01", "address": "127.0.1.5", "groups": ["lab"]},
    ],
    "waivers": [{"device": "web-01", "check": "swap", "reason": "批处理窗口使用交换分区",
                 "expires": "2026-11-20", "approved_by": "王总"}],
}


def write_config(directory: Path, **overrides: object) -> Path:
    path = directory / "xunjian.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, **overrides}, allow_unicode=True,
                                   sort_keys=False), encoding="utf-8")
    return path


def _fs(mount: str, ratio: float) -> Filesystem:
    size = 100 << 30
    return Filesystem(mountpoint=mount, device="/dev/vdb", fstype="xfs", size_bytes=size,
                      used_bytes=int(size * ratio), avail_bytes=int(size * (1 - ratio)),
                      used_ratio=ratio)


def _linux_facts(name: str, day: int, boot: datetime) -> HostFacts:
    data = 0.40 + day * 0.01 if name == "db-01" else 0.30
    return HostFacts(
        hostname=name, os_name="Debian GNU/Linux", os_version="12", kernel="6.1.0",
        boot_time=boot, uptime_seconds=(END - boot).total_seconds(), cpu_count=8,
        cpu_used_ratio=0.20 + 0.01 * (day % 7), memory_total_bytes=32 << 30,
        memory_available_bytes=16 << 30, memory_used_ratio=0.5 + 0.002 * day,
        swap_total_bytes=4 << 30, swap_used_bytes=0, swap_used_ratio=0.0,
        filesystems=[_fs("/", 0.35), _fs("/data", data)], failed_units=[],
        systemd_present=True, time_synchronized=True, clock_offset_seconds=0.01,
        zombie_count=0, process_count=180, log_error_count=3,
        hardware=Hardware(vendor="Dell", model="R740", serial=f"SN-{name}"))


def _vrp_facts(day: int) -> HostFacts:
    fan_ok = day < DAYS // 2
    return HostFacts(
        hostname="core-sw-01", os_name="VRP", os_version="V200R021C00SPC100",
        cpu_used_ratio=0.12, memory_used_ratio=0.61,
        hardware=Hardware(vendor="Huawei", model="S5735-L48T4X",
                          serial="21980107133GJ7000257"),
        environment=Environment(
            fans=[Component(name="FAN1", ok=True, status="Normal"),
                  Component(name="FAN2", ok=fan_ok, status="Normal" if fan_ok else "Abnormal")],
            power_supplies=[Component(name="PWR1", ok=True, status="Supply")],
            temperatures=[Sensor(name="CPU", celsius=48.0 + (day % 5), ok=True)]),
        config_sha256=None)


@dataclass(frozen=True)
class History:
    loaded: LoadedConfig
    store: Store
    end: datetime = END


def populate(store: Store, loaded: LoadedConfig, days: int = DAYS) -> None:
    """One inspection run per day for ``days`` days, ending at :data:`END`."""
    boot = END - timedelta(days=days + 30)
    previous: dict[str, Previous] = {}
    for day in range(days + 1):
        when = END - timedelta(days=days - day)
        run = store.start_run("schedule", 4, None, plan="daily")
        for device in loaded.devices:
            if device.name == "edge-02":
                continue
            if device.name == "lab-01" and day == days:
                checks = [unreachable("connection refused (127.0.1.5:22)")]
                result = DeviceResult(device=device.name, address=device.address,
                                      platform=device.platform, state=State.UNKNOWN,
                                      reachable=False, error="connection refused",
                                      started_at=when, finished_at=when, checks=checks)
                store.save_result(run, device, result)
                continue
            if device.platform == "huawei_vrp":
                facts, pack = _vrp_facts(day), VRP_PACK
                text = "sysname core-sw-01\n" + ("vlan 10\n" if day < days - 5 else
                                                  "vlan 10\nvlan 20\n")
                config = snapshot(text)
                facts = facts.model_copy(update={"config_sha256": config.sha256,
                                                 "config_lines": config.lines})
            else:
                facts, pack, config = _linux_facts(device.name, day, boot), LINUX_PACK, None
            checks = apply_waivers(device.name, evaluate(
                device, CollectResult(facts=facts, started_at=when, finished_at=when),
                previous.get(device.name), when),
                loaded.config.waivers, when.date())
            result = DeviceResult(
                device=device.name, address=device.address, platform=device.platform,
                state=device_state(checks), reachable=True, started_at=when,
                finished_at=when + timedelta(seconds=3), pack=pack, facts=facts,
                checks=checks, config=config)
            store.save_result(run, device, result)
            previous[device.name] = Previous(facts, when)
        store.finish_run(run, State.WARN)
    _incidents(store)


def _incidents(store: Store) -> None:
    opened = END - timedelta(days=10)
    common = dict(impact=1, urgency=1, assignee_group="noc", flapping=False, silenced=False,
                  notified=True, escalations={}, breach_count=3)
    with store.reading("seeding incidents") as s, s.begin():
        problem = s.execute(insert(ProblemRow).returning(ProblemRow.id), [dict(
            key="dc:core-sw-01/fans", title="风扇反复故障", status="open", device="core-sw-01",
            check="fans", item=None, created_at=opened, updated_at=opened, incident_count=3,
            known_error=None)]).scalar_one()
        s.execute(insert(IncidentRow), [
            dict(fingerprint="f1" * 32, device="core-sw-01", check="fans", item="FAN2",
                 title="core-sw-01 风扇 FAN2 故障", message="FAN2 Abnormal", severity="CRIT",
                 priority="P2", status="resolved", opened_at=opened,
                 acknowledged_at=opened + timedelta(minutes=10),
                 resolved_at=opened + timedelta(hours=2), last_seen_at=opened,
                 problem_id=problem, **common),
            dict(fingerprint="f2" * 32, device="db-01", check="filesystem", item="/data",
                 title="db-01 /data 使用率过高", message="/data 84 %", severity="CRIT",
                 priority="P1", status="acknowledged", opened_at=opened + timedelta(days=2),
                 acknowledged_at=opened + timedelta(days=2, hours=1), resolved_at=None,
                 last_seen_at=opened + timedelta(days=2), **common),
        ])


def history(tmp_path: Path, store: Store, days: int = DAYS) -> History:
    loaded = load_config(write_config(tmp_path))
    populate(store, loaded, days)
    return History(loaded, store)


def period_dates() -> tuple[date, date]:
    return date(2026, 10, 1), date(2026, 10, 31)
