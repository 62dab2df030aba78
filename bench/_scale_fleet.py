"""A month of inspection history for a fleet of N devices, stored the way inspections store it.

The fleet is 70 % Linux servers and 30 % network devices spread over the six network platforms.
Facts come from real captured output run through the product's own parsers (the Linux
fixtures in tests/collectors/fixtures/linux and the simulator's replay sets in
tests/netsim/replay), then vary per device and day (CPU, memory, filling filesystems, a failing
fan, a BGP session down, a configuration change, unreachable devices). Checks are judged by the
real check engine with the previous inspection's facts, and every run goes through
:meth:`agent.store.Store.save_results`, the same rows an inspection writes. History has no raw
outputs or transcripts: neither ``/metrics`` nor the report reads them.

Register (inventory) quirks so the report has something to say: a few serials differ from what
the devices report (replaced), a few devices have no register data, a few are never inspected.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import insert

from agent.results import DeviceResult
from agent.store import Store
from agent.store.schema import IncidentRow, ProblemRow
from checks.builtin import Previous
from checks.engine import apply_waivers, device_state, evaluate, unreachable
from checks.model import State
from collectors.base import CollectResult, PackRef
from collectors.facts import Filesystem, HostFacts, NetInterface
from collectors.linux_parsers import ItemOutput, parse_outputs
from collectors.network.configs import ConfigSnapshot, snapshot
from collectors.network.parsing import normalise
from collectors.network.platforms import RUNNING_CONFIG, parsers_for
from collectors.pack import builtin_pack
from config.inventory import Device
from config.loader import LoadedConfig, load_config
from config.platforms import NETWORK_PLATFORMS

ROOT = Path(__file__).resolve().parents[1]
LINUX_FIXTURES = ROOT / "tests" / "collectors" / "fixtures" / "linux"
REPLAY = ROOT / "tests" / "netsim" / "replay"
#: the report period: October 2026 in the customer's zone; one run a day at 02:00 UTC, from
#: the last day of September (the baseline) to 31 October, then one more run on 1 November
#: (the "full run just stored" of the /metrics measurement)
PERIOD = "2026-10"
FIRST_RUN = datetime(2026, 9, 30, 2, 0, tzinfo=UTC)
DAYS = 32
NEXT_RUN = FIRST_RUN + timedelta(days=DAYS)
#: access switches: the replayed devices have 4-8 interfaces; a real one has 48 ports
SWITCH_PORTS = 48
CUSTOMER = "acme"
SYSTEMS = ("核心账务", "网上银行", "ERP", "数据仓库", "办公自动化", "呼叫中心", "支付清算",
           "网络核心", "网络接入", "安全边界")
_LINUX_PICK = {"failed_units": "none", "timesync": "synced", "log_errors": "entries",
               "hardware": "dell_root", "net_dev": "server_bond"}


@dataclass(frozen=True)
class Fleet:
    size: int
    loaded: LoadedConfig
    config_path: Path

    @property
    def devices(self) -> list[Device]:
        return self.loaded.devices


def _platform(index: int, size: int) -> str:
    network = size * 3 // 10
    if index >= network:
        return "linux"
    return NETWORK_PLATFORMS[index % len(NETWORK_PLATFORMS)]


def device_configs(size: int) -> list[dict[str, Any]]:
    """The inventory: names, platforms, business systems, levels, locations, register data."""
    devices = []
    for i in range(size):
        platform = _platform(i, size)
        prefix = "srv" if platform == "linux" else platform.split("_")[0]
        name = f"{prefix}-{i:04d}"
        entry: dict[str, Any] = {
            "name": name, "address": f"10.{i // 250}.{i % 250}.10", "platform": platform,
            "groups": [CUSTOMER], "business_system": SYSTEMS[i % len(SYSTEMS)],
            "business_level": 1 + i % 4, "location": f"上海 张江 {'ABCD'[i % 4]}{i % 20:02d}",
        }
        if i % 50 != 7:  # 2 % are not in the register (unregistered)
            entry["serial"] = _serial(name) if i % 100 != 3 else f"OLD-{i:05d}"  # 1 % replaced
            entry["model"] = "PowerEdge R740" if platform == "linux" else None
            entry["warranty_end"] = (date(2026, 11, 15) if i % 40 == 5
                                     else date(2028, 6, 30)).isoformat()
        devices.append({k: v for k, v in entry.items() if v is not None})
    return devices


def _serial(name: str) -> str:
    return "SN" + name.upper().replace("-", "")


def write_config(directory: Path, size: int, *, port: int = 9735) -> Path:
    config = {
        "version": 1,
        "store": {"data_dir": str(directory / "data")},
        "credentials": {"ops": {"username": "ops", "password_env": "XJ_BENCH_UNUSED"}},
        "report": {"provider": {"name": "华信运维服务有限公司"}, "author": "张工",
                   "reviewer": "李经理", "timezone": "Asia/Shanghai", "language": "zh-CN"},
        "customers": {CUSTOMER: {"name": "某某银行股份有限公司", "groups": [CUSTOMER]}},
        "groups": {CUSTOMER: {"credentials": "ops"}},
        "waivers": [{"device": "srv-09*", "check": "filesystem", "item": "/data",
                     "reason": "归档迁移中（变更单 CHG-2048）", "expires": "2026-11-20",
                     "approved_by": "王总"}],
        "server": {"port": port},
        "devices": device_configs(size),
    }
    path = directory / "xunjian.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False),
                    encoding="utf-8")
    return path


def make_fleet(directory: Path, size: int, *, port: int = 9735) -> Fleet:
    path = write_config(directory, size, port=port)
    return Fleet(size, load_config(path), path)


# -- facts from real output -----------------------------------------------------------------

def _linux_base() -> HostFacts:
    outputs = {}
    for item in builtin_pack("linux-standard").items:
        text = (LINUX_FIXTURES / item.id / f"{_LINUX_PICK.get(item.id, 'debian12_vm')}.txt"
                ).read_text(encoding="utf-8")
        outputs[item.id] = ItemOutput(command=item.command or "", text=text, exit_code=0,
                                      received_at=time.time())
    facts, errors = parse_outputs(outputs)
    assert not errors, errors
    return facts


def _network_base(platform: str) -> tuple[HostFacts, str]:
    """Facts of the replayed device, its interfaces widened to an access switch's ports."""
    commands: dict[str, str] = yaml.safe_load(
        (REPLAY / platform / "commands.yaml").read_text(encoding="utf-8"))
    pack = builtin_pack(f"{platform}-standard")
    outputs = {i.id: (REPLAY / platform / commands[i.command or ""]).read_text(encoding="utf-8")
               for i in pack.items}
    facts, errors = normalise(parsers_for(platform), outputs)
    assert not errors, (platform, errors)
    template = (facts.interfaces or [NetInterface(name="port")])[0]
    ports = [template.model_copy(update={
        "name": f"{template.name.rstrip('0123456789')}{n}", "rx_errors": 0, "tx_errors": 0,
        "crc_errors": 0, "oper_up": n % 5 != 0, "admin_up": True}) for n in range(1, 49)]
    taken = {p.name for p in ports}
    others = [i for i in facts.interfaces or () if i.name not in taken]
    return (facts.model_copy(update={"interfaces": [*ports, *others]}),
            outputs.get(RUNNING_CONFIG, ""))


def _fs(mount: str, size: int, ratio: float) -> Filesystem:
    return Filesystem(mountpoint=mount, device="/dev/vdb", fstype="xfs", size_bytes=size,
                      used_bytes=int(size * ratio), avail_bytes=int(size * (1 - ratio)),
                      used_ratio=ratio, inodes_total=6_553_600, inodes_used=120_000,
                      inodes_used_ratio=120_000 / 6_553_600)


class _Facts:
    """Day-by-day facts of every device: the same real base, varied deterministically."""

    def __init__(self) -> None:
        self.linux = _linux_base()
        self.network = {p: _network_base(p) for p in NETWORK_PLATFORMS}
        self.boot = FIRST_RUN - timedelta(days=90)

    def facts(self, device: Device, index: int, day: int) -> tuple[HostFacts,
                                                                    ConfigSnapshot | None]:
        if device.platform == "linux":
            return self._linux(device, index, day), None
        return self._network(device, index, day)

    def _linux(self, device: Device, index: int, day: int) -> HostFacts:
        base = self.linux
        # /data fills up on one host in 25 (a capacity forecast, WARN then CRIT at the end)
        grows = index % 25 == 0
        data = min(0.55 + 0.013 * day, 0.97) if grows else 0.30 + (index % 7) * 0.05
        root = base.filesystems[0] if base.filesystems else _fs("/", 50 << 30, 0.2)
        mem = 0.47 + (index % 9) * 0.05 + (day % 5) * 0.01  # one host in nine above 85 %
        when = FIRST_RUN + timedelta(days=day)
        return base.model_copy(update={
            "hostname": device.name,
            "boot_time": self.boot, "uptime_seconds": (when - self.boot).total_seconds(),
            "cpu_used_ratio": 0.10 + (index % 10) * 0.05 + (day % 7) * 0.01,
            "memory_used_ratio": mem,
            "memory_available_bytes": int((base.memory_total_bytes or 0) * (1 - mem)),
            "filesystems": [root, _fs("/data", 500 << 30, data),
                            _fs("/var", 100 << 30, 0.35 + (index % 4) * 0.05)],
            "failed_units": ["backup.service"] if index % 60 == 11 else [],
            "time_synchronized": index % 90 != 13,
            # the fixture's clock reading is from the day it was captured
            "clock_offset_seconds": 0.004 * (index % 10),
            "hardware": (base.hardware.model_copy(update={"serial": _serial(device.name)})
                         if base.hardware else None),
        })

    def _network(self, device: Device, index: int, day: int) -> tuple[HostFacts,
                                                                       ConfigSnapshot]:
        base, running = self.network[device.platform]
        update: dict[str, Any] = {
            "hostname": device.name,
            "cpu_used_ratio": 0.08 + (index % 6) * 0.03 + (day % 4) * 0.01,
            "hardware": (base.hardware.model_copy(update={"serial": _serial(device.name)})
                         if base.hardware else None),
        }
        env = base.environment
        if env is not None and env.fans and index % 30 == 1 and day >= 15:
            fans = list(env.fans)
            fans[0] = fans[0].model_copy(update={"ok": False, "status": "Abnormal"})
            update["environment"] = env.model_copy(update={"fans": fans})
        if base.bgp_neighbors and index % 45 == 2 and day >= 20:
            peers = list(base.bgp_neighbors)
            peers[0] = peers[0].model_copy(update={"state": "Idle", "established": False})
            update["bgp_neighbors"] = peers
        # one device in ten changes its configuration once, mid-month
        text = running + (f"\n! vlan {index}\n" if index % 10 == 4 and day >= 12 else "")
        config = snapshot(text)
        update |= {"config_sha256": config.sha256, "config_lines": config.lines}
        return base.model_copy(update=update), config


_PACKS = {p: PackRef(name=f"{p}-standard", version="1.0.0", content_hash=f"{i:02x}" * 32)
          for i, p in enumerate(("linux", *NETWORK_PLATFORMS))}


class History:
    """Builds each run's results; keeps the previous facts the next day's checks compare to."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.facts = _Facts()
        self.previous: dict[str, Previous] = {}
        self.waivers = fleet.loaded.config.waivers

    def results(self, day: int) -> Iterator[tuple[Device, DeviceResult]]:
        when = FIRST_RUN + timedelta(days=day)
        for index, device in enumerate(self.fleet.devices):
            if index % 200 == 199:
                continue  # never inspected: skipped in the report
            start = when + timedelta(seconds=index % 600)
            if index % 100 == 42 and day >= DAYS - 2:
                yield device, DeviceResult(
                    device=device.name, address=device.address, platform=device.platform,
                    state=State.UNKNOWN, reachable=False, error="connection timed out",
                    started_at=start, finished_at=start + timedelta(seconds=10),
                    checks=[unreachable(f"connection to {device.address}:22 timed out")])
                continue
            facts, config = self.facts.facts(device, index, day)
            collected = CollectResult(facts=facts, started_at=start, finished_at=start)
            checks = apply_waivers(device.name, evaluate(
                device, collected, self.previous.get(device.name), start),
                self.waivers, start.date())
            self.previous[device.name] = Previous(facts, start)
            yield device, DeviceResult(
                device=device.name, address=device.address, platform=device.platform,
                state=device_state(checks), reachable=True, started_at=start,
                finished_at=start + timedelta(seconds=3 if device.platform == "linux" else 8),
                pack=_PACKS[device.platform],
                facts=facts, checks=checks, config=config)

    def store_run(self, store: Store, day: int, *, batch: int = 500,
                  pace: float | None = None) -> int:
        """One run of the whole fleet, stored in batches of ``batch`` devices; with ``pace``
        (devices a second) batches of 25 are stored at that rate, as a real run stores its
        results while devices finish."""
        if pace is not None:
            batch = 25
        run = store.start_run("schedule", self.fleet.size, None, plan="daily")
        start = time.monotonic()
        stored = 0
        pending: list[tuple[Device, DeviceResult]] = []
        states = []
        for item in self.results(day):
            pending.append(item)
            states.append(item[1].state)
            if len(pending) >= batch:
                if pace is not None:  # wait until these devices would have finished
                    time.sleep(max(0.0, (stored + len(pending)) / pace
                                   - (time.monotonic() - start)))
                store.save_results(run, pending)
                stored += len(pending)
                pending = []
        store.save_results(run, pending)
        store.finish_run(run, State.worst(states))
        return run


def fill(store: Store, fleet: Fleet) -> History:
    """The month of history (``DAYS`` daily runs) plus incidents and problems."""
    history = History(fleet)
    for day in range(DAYS):
        history.store_run(store, day)
    _incidents(store, fleet)
    return history


def _incidents(store: Store, fleet: Fleet) -> None:
    """A few incidents (one in fifty devices) and open problems, as the incident engine
    leaves them."""
    common = dict(impact=2, urgency=2, assignee_group="noc", flapping=False, silenced=False,
                  notified=True, escalations={}, breach_count=3)
    opened = FIRST_RUN + timedelta(days=10)
    names = [d.name for d in fleet.devices][::50]
    with store.reading("seeding incidents") as s, s.begin():
        problem = s.execute(insert(ProblemRow).returning(ProblemRow.id), [dict(
            key=f"dc:{names[0]}/fans", title="风扇反复故障", status="open", device=names[0],
            check="fans", item=None, created_at=opened, updated_at=opened, incident_count=3,
            known_error=None)]).scalar_one()
        s.execute(insert(IncidentRow), [dict(
            fingerprint=f"{i:064x}", device=name, check="filesystem", item="/data",
            title=f"{name} /data 使用率过高", message="/data 88 %", severity="CRIT",
            priority=("P1", "P2", "P3")[i % 3],
            status=("resolved", "acknowledged", "open", "closed")[i % 4],
            opened_at=opened + timedelta(hours=i), acknowledged_at=opened + timedelta(hours=i,
                                                                                     minutes=20),
            resolved_at=opened + timedelta(hours=i + 3) if i % 4 in (0, 3) else None,
            last_seen_at=opened + timedelta(hours=i), problem_id=problem if i == 0 else None,
            **common) for i, name in enumerate(names)])
