"""The ``local`` collector: the agent's own host, read through psutil (no SSH).

Facts follow the same schema as the ``linux`` collector. Each reading is kept as a raw output
(the psutil values as text) so a finding on the local host has evidence like any other.
Systemd state, time synchronisation and the journal are read with the same approved pack
commands as over SSH, run without a shell, when those tools exist. Any other item (the custom
packs' ``<pack>.<item>``, commands or scripts) runs through the same batch script as over SSH
(``collectors.batch``), with ``sh -c`` in a new session: same framing, limits and item errors.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import selectors
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from agent.errors import PolicyError
from collectors.base import CollectResult, PackRef, RawOutput
from collectors.batch import (
    Batch,
    build_batch,
    item_error,
    item_result,
    partial_tail,
    split_frames,
    transcript_block,
)
from collectors.facts import Filesystem, Hardware, HostFacts, NetInterface, ProcessInfo
from collectors.linux_parsers import ItemOutput, parse_outputs
from collectors.pack import Pack, PackItem
from collectors.policy import check_command
from collectors.script_guard import check_script
from config.models import SshSettings
from config.secrets import Redactor

_PSEUDO_FS = {"tmpfs", "devtmpfs", "overlay", "squashfs", "proc", "sysfs", "cgroup", "cgroup2",
              "devpts", "mqueue", "autofs", "nsfs", "tracefs", "debugfs", "securityfs",
              "pstore", "bpf", "configfs", "ramfs", "efivarfs", "hugetlbfs", "fuse.lxcfs"}
#: pack items that psutil cannot answer; run as commands (no shell) when the tool exists
_COMMAND_ITEMS = ("failed_units", "timesync", "log_errors")
#: the standard pack's items, all answered natively (psutil or _COMMAND_ITEMS); any other item
#: runs through the batch script
_NATIVE_ITEMS = frozenset({
    "clock", "hostname", "os_release", "kernel", "uptime", "loadavg", "cpu_count", "cpu_usage",
    "memory", "filesystems", "inodes", "mounts", "processes", "hardware", "net_dev",
    *_COMMAND_ITEMS,
})


def _dump(value: Any) -> str:
    return json.dumps(value, indent=1, default=str, ensure_ascii=False)


class LocalCollector:
    def __init__(
        self, pack: Pack | None = None, sample_seconds: float = 1.0,
        sys_root: Path = Path("/sys"), clock: Callable[[], float] = time.time,
        settings: SshSettings | None = None, redactor: Redactor | None = None,
    ) -> None:
        self.pack = pack
        self.sample_seconds = sample_seconds
        self.sys_root = sys_root
        self.clock = clock
        #: command_timeout, host_timeout and max_output_bytes apply to the batched items
        self.settings = settings or SshSettings()
        self.redact = redactor or Redactor()
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
        transcript = self._batch(errors)
        return CollectResult(
            facts=HostFacts(**facts), raw=self.raw, item_errors=errors, transcript=transcript,
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
            if item.command is None:
                continue  # the standard items are commands; a script here runs in the batch
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

    # -- any other item: the batch script, as over SSH ---------------------------------------

    def _batch(self, errors: dict[str, str]) -> str | None:
        """Run the items psutil does not answer (errors go into ``errors``); the transcript of
        the run, or None when there was nothing to run."""
        if self.pack is None:
            return None
        items: list[PackItem] = []
        for item in self.pack.items:
            if item.id in _NATIVE_ITEMS:
                continue
            try:
                self._guard(self.pack, item)
            except PolicyError as exc:
                errors[item.id] = f"not run: {exc}"
                continue
            items.append(item)
        if not items:
            return None
        started, t0 = datetime.now(UTC), self.clock()
        batch = build_batch(self.pack, self.settings.command_timeout, items)
        data, failure = self._run(batch)
        frames = split_frames(batch, data)
        for item in items:
            label = self.redact(batch.label(item))
            if item.id not in frames:
                errors[item.id] = f"`{label}` produced no result: {failure or 'sh ended early'}"
                continue
            result = item_result(item, frames[item.id])
            text = self.redact(result.text)
            self.raw.append(RawOutput(item=item.id, command=label, output=text,
                                      exit_code=result.effective_exit_code,
                                      truncated=result.truncated))
            if reason := item_error(batch, item, replace(result, text=text), label):
                errors[item.id] = reason
        lines = [
            "# xunjian local transcript",
            f"# device: local host {socket.gethostname()} uid: {os.getuid()}",
            f"# pack: {self.pack.name} {self.pack.version} sha256:{self.pack.content_hash}",
            f"# started: {started.isoformat()}",
        ]
        for item in items:
            if item.id in frames:
                lines.extend(transcript_block(item, batch, item_result(item, frames[item.id])))
        running, partial = partial_tail(batch, data)
        if running:
            lines.append(f"$ ... [{running}: incomplete]")
            lines.extend(f"> {ln}" for ln in batch.texts[running].rstrip("\n").splitlines())
            lines.append(partial.rstrip("\n"))
        lines.append(f"# finished: {datetime.now(UTC).isoformat()} ({self.clock() - t0:.2f} s) "
                     f"{failure or 'completed'}")
        return self.redact("\n".join(lines) + "\n")

    @staticmethod
    def _guard(pack: Pack, item: PackItem) -> None:
        """The last gate, as for network devices: the read-only policy or the script guard."""
        script = pack.script_text(item)
        if script is not None:
            check_script(script)
        else:
            check_command("linux", item.command or "")

    def _run(self, batch: Batch) -> tuple[bytes, str | None]:
        """What the batch script printed (at most ssh.max_output_bytes), and why it was stopped
        early, if it was. It runs in a session of its own, killed as a whole at the end, so a
        child it left behind cannot outlive the inspection."""
        limit, budget = self.settings.max_output_bytes, self.settings.host_timeout
        deadline = time.monotonic() + budget
        proc = subprocess.Popen(  # noqa: S603 - every item passed the policy or the guard
            ["/bin/sh", "-c", batch.script], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True)
        assert proc.stdout is not None
        buffer, failure = bytearray(), None
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    failure = f"the items did not finish within {budget:g} s (ssh.host_timeout)"
                    break
                if not selector.select(min(remaining, 0.25)):
                    continue
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                buffer += chunk
                if len(buffer) > limit:
                    del buffer[limit:]
                    failure = f"output cap of {limit} bytes reached (ssh.max_output_bytes)"
                    break
        _kill_session(proc.pid)  # before reaping sh: its pid is the session id
        proc.stdout.close()
        proc.wait()
        return bytes(buffer), failure


def _kill_session(sid: int) -> None:
    """Kill every process of the batch's session and wait (briefly) until they are gone. A
    process group is not enough: ``timeout`` puts each item in a group of its own."""
    killed = []
    for process in psutil.process_iter():
        with contextlib.suppress(OSError, psutil.Error):
            if process.pid != sid and os.getsid(process.pid) == sid:
                process.send_signal(signal.SIGKILL)
                killed.append(process)
    with contextlib.suppress(OSError, psutil.Error):
        os.kill(sid, signal.SIGKILL)  # sh itself: reaped by the caller
    psutil.wait_procs(killed, timeout=2)
