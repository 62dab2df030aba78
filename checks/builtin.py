"""The built-in server checks: what each measures, its unit, default thresholds and evidence.

A check's ``measure`` turns facts into measurements (one per item, e.g. per mountpoint). A
measurement with a ``state`` is final (boolean checks such as read-only filesystems); one
without is compared with the warn/crit thresholds (``value >= threshold``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from checks.model import State
from collectors.facts import HostFacts


@dataclass(frozen=True)
class Measurement:
    item: str | None
    value: float | str | None
    message: str
    state: State | None = None


@dataclass(frozen=True)
class Previous:
    """What the last inspection of the same device saw (for reboot and change checks)."""

    facts: HostFacts
    collected_at: datetime


@dataclass(frozen=True)
class Context:
    facts: HostFacts
    previous: Previous | None
    now: datetime


Measure = Callable[[Context], list[Measurement] | None]


@dataclass(frozen=True)
class CheckSpec:
    name: str
    title: str
    #: pack items whose output this check reads (the evidence chain)
    evidence: tuple[str, ...]
    measure: Measure
    unit: str | None = None
    warn: float | None = None
    crit: float | None = None


def _pct(ratio: float) -> float:
    return round(ratio * 100, 1)


def _cpu(ctx: Context) -> list[Measurement] | None:
    r = ctx.facts.cpu_used_ratio
    return None if r is None else [Measurement(None, _pct(r), f"CPU {_pct(r)} % busy")]


def _load(ctx: Context) -> list[Measurement] | None:
    f = ctx.facts
    if f.load5 is None or not f.cpu_count:
        return None
    per_core = round(f.load5 / f.cpu_count, 2)
    return [Measurement(None, per_core,
                        f"5-min load {f.load5:.2f} on {f.cpu_count} cores = {per_core:g} per core")]


def _memory(ctx: Context) -> list[Measurement] | None:
    r = ctx.facts.memory_used_ratio
    return None if r is None else [Measurement(None, _pct(r), f"memory {_pct(r)} % used")]


def _swap(ctx: Context) -> list[Measurement] | None:
    f = ctx.facts
    if f.swap_used_ratio is None or not f.swap_total_bytes:
        return None  # no swap configured: nothing to judge
    return [Measurement(None, _pct(f.swap_used_ratio), f"swap {_pct(f.swap_used_ratio)} % used")]


def _filesystems(ctx: Context) -> list[Measurement] | None:
    if ctx.facts.filesystems is None:
        return None
    return [
        Measurement(fs.mountpoint, _pct(fs.used_ratio),
                    f"{fs.mountpoint} {_pct(fs.used_ratio)} % used "
                    f"({fs.avail_bytes / 2**30:.1f} GiB free of {fs.size_bytes / 2**30:.1f} GiB)")
        for fs in ctx.facts.filesystems
    ]


def _inodes(ctx: Context) -> list[Measurement] | None:
    if ctx.facts.filesystems is None:
        return None
    return [
        Measurement(fs.mountpoint, _pct(fs.inodes_used_ratio),
                    f"{fs.mountpoint} {_pct(fs.inodes_used_ratio)} % of inodes used")
        for fs in ctx.facts.filesystems if fs.inodes_used_ratio is not None
    ]


def _read_only(ctx: Context) -> list[Measurement] | None:
    if ctx.facts.filesystems is None:
        return None
    ro = [fs.mountpoint for fs in ctx.facts.filesystems if fs.read_only]
    if not ro:
        return [Measurement(None, "none", "no filesystem is mounted read-only", State.OK)]
    return [Measurement(m, "read-only", f"{m} is mounted read-only (I/O errors or a full "
                        "journal remount a filesystem read-only)", State.CRIT) for m in ro]


def _failed_units(ctx: Context) -> list[Measurement] | None:
    units = ctx.facts.failed_units
    if units is None:
        return None
    names = ", ".join(units[:10]) + (" …" if len(units) > 10 else "")
    return [Measurement(None, len(units),
                        f"{len(units)} failed systemd unit(s): {names}" if units
                        else "no failed systemd units")]


def _time_sync(ctx: Context) -> list[Measurement] | None:
    synced = ctx.facts.time_synchronized
    if synced is None:
        return None
    if synced:
        return [Measurement(None, "synchronised", "system clock is NTP-synchronised", State.OK)]
    return [Measurement(None, "not synchronised",
                        "system clock is not NTP-synchronised (check chronyd/ntpd/timesyncd)",
                        State.WARN)]


def _clock_offset(ctx: Context) -> list[Measurement] | None:
    offset = ctx.facts.clock_offset_seconds
    if offset is None:
        return None
    return [Measurement(None, round(abs(offset), 3),
                        f"clock is {abs(offset):.3f} s {'ahead of' if offset >= 0 else 'behind'} "
                        "the agent's clock")]


def _zombies(ctx: Context) -> list[Measurement] | None:
    z = ctx.facts.zombie_count
    return None if z is None else [Measurement(None, z, f"{z} zombie process(es)")]


def _log_errors(ctx: Context) -> list[Measurement] | None:
    n = ctx.facts.log_error_count
    return None if n is None else [Measurement(None, n, f"{n} error-level log line(s) in 24 h")]


def _reboot(ctx: Context) -> list[Measurement] | None:
    boot = ctx.facts.boot_time
    if boot is None:
        return None
    if ctx.previous is None or ctx.previous.facts.boot_time is None:
        return [Measurement(None, boot.isoformat(), f"up since {boot:%Y-%m-%d %H:%M} UTC "
                            "(no earlier inspection to compare)", State.OK)]
    before = ctx.previous.facts.boot_time
    # Boot times computed from uptime jitter by a second or two between inspections.
    if boot - before > timedelta(seconds=60):
        return [Measurement(None, boot.isoformat(),
                            f"rebooted at about {boot:%Y-%m-%d %H:%M} UTC, after the last "
                            f"inspection at {ctx.previous.collected_at:%Y-%m-%d %H:%M} UTC",
                            State.WARN)]
    return [Measurement(None, boot.isoformat(), f"no reboot since the last inspection "
                        f"(up since {boot:%Y-%m-%d %H:%M} UTC)", State.OK)]


BUILTIN_CHECKS: dict[str, CheckSpec] = {spec.name: spec for spec in (
    CheckSpec("cpu", "CPU usage", ("cpu_usage",), _cpu, "%", 80, 95),
    CheckSpec("load", "Load per core", ("loadavg", "cpu_count"), _load, None, 1.5, 3.0),
    CheckSpec("memory", "Memory usage", ("memory",), _memory, "%", 85, 95),
    CheckSpec("swap", "Swap usage", ("memory",), _swap, "%", 50, 80),
    CheckSpec("filesystem", "Filesystem usage", ("filesystems",), _filesystems, "%", 80, 90),
    CheckSpec("inodes", "Inode usage", ("inodes",), _inodes, "%", 80, 90),
    CheckSpec("readonly_fs", "Read-only filesystems", ("mounts",), _read_only),
    CheckSpec("failed_units", "Failed systemd units", ("failed_units",), _failed_units,
              None, 1, None),
    CheckSpec("time_sync", "Time synchronisation", ("timesync",), _time_sync),
    CheckSpec("clock_offset", "Clock offset", ("clock",), _clock_offset, "s", 1.0, 5.0),
    CheckSpec("zombies", "Zombie processes", ("processes",), _zombies, None, 5, 20),
    CheckSpec("log_errors", "Error log lines (24 h)", ("log_errors",), _log_errors,
              None, 50, 500),
    CheckSpec("reboot", "Unexpected reboot", ("uptime",), _reboot),
)}

#: produced by the runner, not by facts: a device that could not be inspected
UNREACHABLE = "reachable"
CHECK_NAMES = (*BUILTIN_CHECKS, UNREACHABLE)
