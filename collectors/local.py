"""The ``local`` collector: the agent's own host, read through psutil (no SSH).

Facts follow the same schema as the ``linux`` collector. Each reading is kept as a raw output
(the psutil values as text) so a finding on the local host has evidence like any other.
Systemd state, time synchronisation and the journal are read with the same approved pack
commands as over SSH, run without a shell, when those tools exist.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from collectors.base import CollectResult, PackRef, RawOutput
from collectors.facts import Filesystem, Hardware, HostFacts, NetInterface, ProcessInfo
from collectors.linux_parsers import ItemOutput, parse_outputs
from collectors.pack import Pack
from collectors.policy import check_command

_PSEUDO_FS = {"tmpfs", "devtmpfs", "overlay", "squashfs", "proc", "sysfs", "cgroup", "cgroup2",
              "devpts", "mqueue", "autofs", "nsfs", "tracefs", "debugfs", "securityfs",
              "pstore", "bpf", "configfs", "ramfs", "efivarfs", "hugetlbfs", "fuse.lxcfs"}
#: pack items that psutil cannot answer; run as commands (no shell) when the tool exists
_COMMAND_ITEMS = ("failed_units", "timesync", "log_errors")


def _dump(value: Any) -> str:
    return json.dumps(value, indent=1, default=str, ensure_ascii=False)


class LocalCollector:
    def __init__(
        self, pack: Pack | None = None, sample_seconds: float = 1.0,
        sys_root: Path = Path("/sys"), clock: Callable[[], float] = time.time,
    ) -> None:
        self.pack = pack
        self.sample_seconds = sample_seconds
        self.sys_root = sys_root
        self.clock = clock
        self.raw: list[RawOutput] = []

    def _keep(self, item: str, source: str, value: Any) -> None:
        self.raw.append(RawOutput(item=item, command=source, output=_dump(value), exit_code=0))

    def collect(self) -> CollectResult:
        started = datetime.now(UTC)
        self.raw = []
        facts: dict[str, Any] = {}
        facts.update(self._system())
        facts.update(self._cpu_and_processes())
        facts.update(self._memory())
        facts["filesystems"] = self._filesystems()
        facts["interfaces"] = self._interfaces()
        facts["hardware"] = self._hardware()
        command_facts, errors = self._commands()
        facts.update(command_facts)
        return CollectResult(
            facts=HostFacts(**facts), raw=self.raw, item_errors=errors,
            pack=(PackRef(name=self.pack.name, version=self.pack.version,
                          content_hash=self.pack.content_hash) if self.pack else None),
            started_at=started, finished_at=datetime.now(UTC),
        )

    def _system(self) -> dict[str, Any]:
        boot = psutil.boot_time()
        try:
            release = platform.freedesktop_os_release()
        except OSError:
            release = {}
        load = os.getloadavg()
        values = {
            "hostname": socket.gethostname(), "os_name": release.get("NAME"),
            "os_version": release.get("VERSION_ID") or release.get("VERSION"),
            "kernel": platform.release(), "arch": platform.machine(),
            "boot_time": datetime.fromtimestamp(boot, tz=UTC),
            "uptime_seconds": round(self.clock() - boot, 1),
            "cpu_count": psutil.cpu_count(),
            "load1": load[0], "load5": load[1], "load15": load[2],
        }
        self._keep("uptime", "psutil.boot_time()", boot)
        self._keep("loadavg", "os.getloadavg()", load)
        self._keep("os_release", "platform.freedesktop_os_release()", release)
        return values

    def _cpu_and_processes(self) -> dict[str, Any]:
        procs = list(psutil.process_iter(["pid", "name", "username", "status"]))
        for p in procs:
            try:
                p.cpu_percent(None)  # prime: the next call measures over the sample window
            except psutil.Error:
                continue
        times = psutil.cpu_times_percent(interval=self.sample_seconds)
        self._keep("cpu_usage", f"psutil.cpu_times_percent(interval={self.sample_seconds})",
                   times._asdict())
        rows = []
        zombies = 0
        for p in procs:
            try:
                if p.info["status"] == psutil.STATUS_ZOMBIE:
                    zombies += 1
                    continue
                rows.append(ProcessInfo(
                    pid=p.info["pid"], name=p.info["name"] or "?", user=p.info["username"],
                    cpu_ratio=round(p.cpu_percent(None) / 100, 4),
                    memory_bytes=p.memory_info().rss))
            except psutil.Error:
                continue  # the process ended while we looked
        top = sorted(rows, key=lambda r: r.cpu_ratio or 0, reverse=True)[:10]
        self._keep("processes", "psutil.process_iter()",
                   {"count": len(procs), "zombies": zombies,
                    "top": [r.model_dump() for r in top]})
        return {
            "cpu_used_ratio": round(1 - times.idle / 100, 4),
            "cpu_iowait_ratio": round(getattr(times, "iowait", 0.0) / 100, 4),
            "process_count": len(procs), "zombie_count": zombies, "top_processes": top,
        }

    def _memory(self) -> dict[str, Any]:
        vm, sw = psutil.virtual_memory(), psutil.swap_memory()
        self._keep("memory", "psutil.virtual_memory(); psutil.swap_memory()",
                   {"virtual": vm._asdict(), "swap": sw._asdict()})
        return {
            "memory_total_bytes": vm.total, "memory_available_bytes": vm.available,
            "memory_used_ratio": round(1 - vm.available / vm.total, 4) if vm.total else None,
            "swap_total_bytes": sw.total, "swap_used_bytes": sw.used,
            "swap_used_ratio": round(sw.used / sw.total, 4) if sw.total else 0.0,
        }

    def _filesystems(self) -> list[Filesystem]:
        out = []
        seen = set()
        for part in psutil.disk_partitions(all=False):
            if part.fstype in _PSEUDO_FS or part.mountpoint in seen:
                continue
            try:
                usage = psutil.disk_usage(part.mountpoint)
                st = os.statvfs(part.mountpoint)
            except OSError:
                continue
            seen.add(part.mountpoint)
            if usage.total == 0:
                continue
            inodes_used = st.f_files - st.f_ffree
            out.append(Filesystem(
                mountpoint=part.mountpoint, device=part.device, fstype=part.fstype,
                size_bytes=usage.total, used_bytes=usage.used, avail_bytes=usage.free,
                used_ratio=round(usage.used / (usage.used + usage.free), 4)
                if usage.used + usage.free else 0.0,
                inodes_total=st.f_files or None, inodes_used=inodes_used if st.f_files else None,
                inodes_used_ratio=round(inodes_used / st.f_files, 4) if st.f_files else None,
                read_only="ro" in part.opts.split(","),
            ))
        self._keep("filesystems", "psutil.disk_partitions(); psutil.disk_usage(); os.statvfs()",
                   [f.model_dump() for f in out])
        return out

    def _interfaces(self) -> list[NetInterface]:
        counters = psutil.net_io_counters(pernic=True)
        out = [NetInterface(name=name, rx_bytes=c.bytes_recv, tx_bytes=c.bytes_sent,
                            rx_errors=c.errin, tx_errors=c.errout, rx_dropped=c.dropin,
                            tx_dropped=c.dropout)
               for name, c in sorted(counters.items()) if name != "lo"]
        self._keep("net_dev", "psutil.net_io_counters(pernic=True)",
                   {n: c._asdict() for n, c in counters.items()})
        return out

    def _hardware(self) -> Hardware | None:
        def read(name: str) -> str | None:
            try:
                value = (self.sys_root / "class/dmi/id" / name).read_text().strip()
            except OSError:
                return None
            return value or None

        hw = Hardware(vendor=read("sys_vendor"), model=read("product_name"),
                      serial=read("product_serial"))
        self._keep("hardware", f"{self.sys_root}/class/dmi/id", hw.model_dump())
        return hw if any(hw.model_dump().values()) else None

    def _commands(self) -> tuple[dict[str, Any], dict[str, str]]:
        if self.pack is None:
            return {}, {}
        outputs: dict[str, ItemOutput] = {}
        for item_id in _COMMAND_ITEMS:
            try:
                item = self.pack.item(item_id)
            except KeyError:
                continue
            check_command("linux", item.command)
            argv = shlex.split(item.command)
            if shutil.which(argv[0]) is None:
                continue  # tool absent: not applicable here
            try:
                proc = subprocess.run(  # noqa: S603 - policy-checked argv, no shell
                    argv, capture_output=True, text=True, errors="replace",
                    timeout=item.timeout or 30, check=False, stdin=subprocess.DEVNULL,
                    env={**os.environ, "LC_ALL": "C"},
                )
                text, rc = proc.stdout + proc.stderr, proc.returncode
            except subprocess.TimeoutExpired:
                text, rc = "", 124
            if item.max_lines:
                text = "\n".join(text.splitlines()[: item.max_lines])
            outputs[item_id] = ItemOutput(item.command, text, rc, self.clock())
            self.raw.append(RawOutput(item=item_id, command=item.command, output=text,
                                      exit_code=rc))
        facts, errors = parse_outputs(outputs)
        return facts.model_dump(include={"failed_units", "systemd_present",
                                         "time_synchronized", "log_error_count"},
                                exclude_none=True), errors
