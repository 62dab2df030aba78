"""The normalised fact schema, one for every platform: Linux hosts and network devices alike.

The network part follows NAPALM's getters in spirit (``get_facts``, ``get_environment``,
``get_interfaces_counters``, ``get_bgp_neighbors``): the same field means the same thing whichever
vendor printed it, so one check (CPU, fans, BGP state) works across Cisco, Huawei, H3C, Juniper
and Arista.

Every field is optional: ``None`` means "not collected" (the command failed, its output was not
understood, or the host does not have the feature). The reason lives in
:attr:`collectors.base.CollectResult.item_errors`, keyed by pack item, so checks can tell
"not applicable" from "could not read". Units are base units: bytes, seconds, ratios 0–1.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class _Facts(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Filesystem(_Facts):
    mountpoint: str
    device: str
    fstype: str
    size_bytes: int
    used_bytes: int
    avail_bytes: int
    #: used / (used + avail), as df computes "Use%" (reserved blocks count as unavailable)
    used_ratio: float
    inodes_total: int | None = None
    inodes_used: int | None = None
    inodes_used_ratio: float | None = None
    read_only: bool = False


class NetInterface(_Facts):
    """Counters are since the device's last counter reset; ``None`` where not reported."""

    name: str
    rx_bytes: int | None = None
    tx_bytes: int | None = None
    rx_errors: int | None = None
    tx_errors: int | None = None
    rx_dropped: int | None = None
    tx_dropped: int | None = None
    #: CRC / FCS errors (a subset of rx_errors on most platforms)
    crc_errors: int | None = None
    #: administratively enabled (not "shutdown" / "disable")
    admin_up: bool | None = None
    #: link and line protocol up
    oper_up: bool | None = None
    description: str | None = None


class Module(_Facts):
    """One entry of the device's hardware inventory (chassis, card, PSU, fan tray, optic)."""

    name: str
    description: str | None = None
    #: product / part number (Cisco PID, Huawei BOM, Juniper part number)
    part: str | None = None
    serial: str | None = None


class Component(_Facts):
    """A fan or power supply as the device reports it."""

    name: str
    #: True: working; False: failed or faulty; None: absent or state not reported
    ok: bool | None
    #: the device's own words (``OK``, ``Normal``, ``Failed``, ``Not Present`` ...)
    status: str


class Sensor(_Facts):
    name: str
    celsius: float | None
    #: the device's own verdict: False when it flags the sensor (alarm, critical, shutdown)
    ok: bool | None = None
    status: str | None = None


class Environment(_Facts):
    fans: list[Component] | None = None
    power_supplies: list[Component] | None = None
    temperatures: list[Sensor] | None = None


class BgpNeighbor(_Facts):
    peer: str
    remote_as: str | None = None
    vrf: str | None = None
    #: the device's word for the session state (Established, Idle, Active, Connect ...)
    state: str
    established: bool
    prefixes_received: int | None = None


class OspfNeighbor(_Facts):
    neighbor_id: str
    address: str | None = None
    interface: str | None = None
    #: the device's word (FULL/DR, 2WAY/DROTHER, Init, ExStart ...)
    state: str
    #: True when the adjacency is where it should settle (FULL, or 2-Way between DROTHERs)
    healthy: bool


class ProcessInfo(_Facts):
    pid: int
    name: str
    user: str | None = None
    cpu_ratio: float | None = None
    memory_bytes: int | None = None


class Hardware(_Facts):
    vendor: str | None = None
    model: str | None = None
    serial: str | None = None


class HostFacts(_Facts):
    hostname: str | None = None
    os_name: str | None = None
    os_version: str | None = None
    kernel: str | None = None
    arch: str | None = None

    boot_time: datetime | None = None
    uptime_seconds: float | None = None

    cpu_count: int | None = None
    #: share of CPU time not idle over the sampling interval (0–1)
    cpu_used_ratio: float | None = None
    cpu_iowait_ratio: float | None = None
    load1: float | None = None
    load5: float | None = None
    load15: float | None = None

    memory_total_bytes: int | None = None
    memory_available_bytes: int | None = None
    memory_used_ratio: float | None = None
    swap_total_bytes: int | None = None
    swap_used_bytes: int | None = None
    swap_used_ratio: float | None = None

    filesystems: list[Filesystem] | None = None

    #: None: unknown; [] : systemd present and nothing failed
    failed_units: list[str] | None = None
    systemd_present: bool | None = None

    time_synchronized: bool | None = None
    #: host clock minus the agent's clock, seconds (positive: host is ahead)
    clock_offset_seconds: float | None = None

    zombie_count: int | None = None
    process_count: int | None = None
    #: error-or-worse log lines in the last 24 h
    log_error_count: int | None = None

    hardware: Hardware | None = None
    interfaces: list[NetInterface] | None = None
    top_processes: list[ProcessInfo] | None = None

    # -- network devices --------------------------------------------------------------------
    #: hardware inventory with every serial number (chassis first where the device says so)
    modules: list[Module] | None = None
    environment: Environment | None = None
    bgp_neighbors: list[BgpNeighbor] | None = None
    ospf_neighbors: list[OspfNeighbor] | None = None
    #: SHA-256 of the running configuration as stored (secrets masked, noise filtered)
    config_sha256: str | None = None
    config_lines: int | None = None
