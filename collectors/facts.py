"""The normalised fact schema for hosts (local and Linux over SSH).

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
    name: str
    rx_bytes: int
    tx_bytes: int
    rx_errors: int
    tx_errors: int
    rx_dropped: int
    tx_dropped: int


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
