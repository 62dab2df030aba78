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
from collectors.facts import Component, Hardware, HostFacts
from config.platforms import NETWORK_PLATFORMS


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
    #: what the asset register (the inventory) says the hardware is
    register: Hardware | None = None


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
    #: platforms whose pack reads the facts from other items (e.g. Arista memory: version)
    platform_evidence: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: False: low values breach (``value <= threshold``: days to expiry, optical power)
    higher_is_worse: bool = True

    def evidence_for(self, platform: str) -> tuple[str, ...]:
        if not self.platform_evidence:  # most checks: no dict built per device and check
            return self.evidence
        return dict(self.platform_evidence).get(platform, self.evidence)


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


# -- network devices (and any host whose facts carry the same fields) -----------------------


def _temperature(ctx: Context) -> list[Measurement] | None:
    env = ctx.facts.environment
    if env is None or not env.temperatures:
        return None
    out = []
    for sensor in env.temperatures:
        words = f" ({sensor.status})" if sensor.status else ""
        if sensor.ok is False:
            out.append(Measurement(sensor.name, sensor.celsius,
                                   f"{sensor.name}: the device raises an alarm{words}"
                                   + (f" at {sensor.celsius:g} °C" if sensor.celsius is not None
                                      else ""), State.CRIT))
        elif sensor.celsius is not None:
            out.append(Measurement(sensor.name, sensor.celsius,
                                   f"{sensor.name} {sensor.celsius:g} °C{words}"))
    return out or None


def _components(kind: str, parts: list[Component] | None) -> list[Measurement] | None:
    if parts is None:
        return None
    failed = [p for p in parts if p.ok is False]
    if failed:
        return [Measurement(p.name, p.status, f"{kind} {p.name} has failed: {p.status}",
                            State.CRIT) for p in failed]
    working = sum(1 for p in parts if p.ok)
    absent = len(parts) - working
    return [Measurement(None, working, f"{working} {kind}(s) working"
                        + (f", {absent} slot(s) empty or not reporting" if absent else ""),
                        State.OK)]


def _fans(ctx: Context) -> list[Measurement] | None:
    env = ctx.facts.environment
    return _components("fan", env.fans) if env else None


def _power(ctx: Context) -> list[Measurement] | None:
    env = ctx.facts.environment
    return _components("power supply", env.power_supplies) if env else None


def _interface_errors(ctx: Context) -> list[Measurement] | None:
    """Error counters that grew since the last inspection (counters are cumulative)."""
    now = ctx.facts.interfaces
    if now is None:
        return None
    before = ctx.previous.facts.interfaces if ctx.previous else None
    if before is None:
        return [Measurement(None, 0, "first inspection: interface error counters recorded as "
                            "the baseline", State.OK)]
    old = {i.name: i for i in before}
    grown = []
    for iface in now:
        prev = old.get(iface.name)
        if prev is None:
            continue
        deltas = {}
        for field, label in (("rx_errors", "input errors"), ("tx_errors", "output errors"),
                             ("crc_errors", "CRC")):
            a, b = getattr(iface, field), getattr(prev, field)
            if a is None or b is None:
                continue
            # A counter lower than before was cleared or the device restarted: count from zero.
            deltas[label] = a - b if a >= b else a
        total = deltas.get("input errors", deltas.get("CRC", 0)) + deltas.get("output errors", 0)
        if total > 0:
            detail = ", ".join(f"+{v} {k}" for k, v in deltas.items() if v)
            grown.append(Measurement(iface.name, total,
                                     f"{iface.name}: {detail} since the last inspection"))
    if not grown:
        return [Measurement(None, 0, f"no error counter grew on {len(now)} interface(s) since "
                            "the last inspection", State.OK)]
    return grown


def _interface_down(ctx: Context) -> list[Measurement] | None:
    now = ctx.facts.interfaces
    if now is None:
        return None
    before = ctx.previous.facts.interfaces if ctx.previous else None
    if before is None:
        return [Measurement(None, "baseline", "first inspection: interface states recorded",
                            State.OK)]
    was_up = {i.name for i in before if i.oper_up}
    went_down = [i for i in now if i.name in was_up and i.oper_up is False]
    if not went_down:
        return [Measurement(None, "none", "no interface went down since the last inspection",
                            State.OK)]
    out = []
    for iface in went_down:
        why = ("administratively shut down" if iface.admin_up is False
               else "link or protocol down")
        desc = f" ({iface.description})" if iface.description else ""
        out.append(Measurement(iface.name, "down", f"{iface.name}{desc} was up at the last "
                               f"inspection and is now down: {why}",
                               State.OK if iface.admin_up is False else State.WARN))
    return out


def _bgp(ctx: Context) -> list[Measurement] | None:
    peers = ctx.facts.bgp_neighbors
    if not peers:
        return None
    return [Measurement(
        f"{p.vrf}/{p.peer}" if p.vrf and p.vrf != "default" else p.peer, p.state,
        f"BGP neighbour {p.peer}" + (f" (AS {p.remote_as})" if p.remote_as else "")
        + (f" is established, {p.prefixes_received} prefixes received"
           if p.established and p.prefixes_received is not None
           else " is established" if p.established else f" is not established: {p.state}"),
        State.OK if p.established else State.CRIT) for p in peers]


def _ospf(ctx: Context) -> list[Measurement] | None:
    peers = ctx.facts.ospf_neighbors
    if not peers:
        return None
    return [Measurement(
        p.neighbor_id, p.state,
        f"OSPF neighbour {p.neighbor_id}" + (f" on {p.interface}" if p.interface else "")
        + (f" is {p.state}" if p.healthy else f" is stuck in {p.state} (not FULL)"),
        State.OK if p.healthy else State.CRIT) for p in peers]


def _config_changed(ctx: Context) -> list[Measurement] | None:
    """Informational: a change is reported, never judged (it may well be planned)."""
    sha = ctx.facts.config_sha256
    if sha is None:
        return None
    before = ctx.previous.facts.config_sha256 if ctx.previous else None
    if before is None:
        return [Measurement(None, "recorded", f"running configuration recorded "
                            f"({ctx.facts.config_lines} lines); later changes will be shown",
                            State.OK)]
    if before == sha:
        return [Measurement(None, "unchanged", "running configuration unchanged since the last "
                            "inspection", State.OK)]
    return [Measurement(None, "changed", "running configuration changed since the last "
                        "inspection (see `xunjian configs diff`)", State.OK)]


def _register(ctx: Context) -> list[Measurement] | None:
    """Serial and model as collected, against the asset register (the inventory)."""
    reg, hw = ctx.register, ctx.facts.hardware
    if reg is None:
        return []  # nothing registered to compare with
    if hw is None:
        return None
    out = []
    for field in ("serial", "model"):
        expected, actual = getattr(reg, field), getattr(hw, field)
        if not expected or not actual:
            continue
        if expected.strip().casefold() == actual.strip().casefold():
            out.append(Measurement(field, actual, f"{field} {actual} matches the register",
                                   State.OK))
        else:
            out.append(Measurement(field, actual, f"{field} is {actual}, but the register says "
                                   f"{expected} (hardware replaced, or the register is out of "
                                   "date)", State.WARN))
    return out or None


def _on_network(*items: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The same evidence items on every network platform."""
    return tuple((platform, items) for platform in NETWORK_PLATFORMS)


BUILTIN_CHECKS: dict[str, CheckSpec] = {spec.name: spec for spec in (
    CheckSpec("cpu", "CPU usage", ("cpu_usage",), _cpu, "%", 80, 95),
    CheckSpec("load", "Load per core", ("loadavg", "cpu_count"), _load, None, 1.5, 3.0),
    CheckSpec("memory", "Memory usage", ("memory",), _memory, "%", 85, 95,
              platform_evidence=(("arista_eos", ("version",)),
                                 ("juniper_junos", ("cpu_usage",)))),
    CheckSpec("swap", "Swap usage", ("memory",), _swap, "%", 50, 80),
    CheckSpec("filesystem", "Filesystem usage", ("filesystems",), _filesystems, "%", 80, 90),
    CheckSpec("inodes", "Inode usage", ("inodes",), _inodes, "%", 80, 90),
    CheckSpec("readonly_fs", "Read-only filesystems", ("mounts",), _read_only),
    CheckSpec("failed_units", "Failed systemd units", ("failed_units",), _failed_units,
              None, 1, None),
    CheckSpec("time_sync", "Time synchronisation", ("timesync",), _time_sync,
              platform_evidence=_on_network("ntp")),
    CheckSpec("clock_offset", "Clock offset", ("clock",), _clock_offset, "s", 1.0, 5.0),
    CheckSpec("zombies", "Zombie processes", ("processes",), _zombies, None, 5, 20),
    CheckSpec("log_errors", "Error log lines (24 h)", ("log_errors",), _log_errors,
              None, 50, 500),
    CheckSpec("reboot", "Unexpected reboot", ("uptime",), _reboot,
              platform_evidence=_on_network("version")),
    CheckSpec("temperature", "Temperature and alarms", ("temperature", "environment"),
              _temperature, "°C", 70, 85),
    CheckSpec("fans", "Fans", ("fans", "environment"), _fans),
    CheckSpec("power_supplies", "Power supplies", ("power", "environment"), _power),
    CheckSpec("interface_errors", "Interface error growth", ("interfaces",), _interface_errors,
              None, 10, 1000),
    CheckSpec("interface_down", "Interface down since last inspection", ("interfaces",),
              _interface_down),
    CheckSpec("bgp_neighbors", "BGP neighbours", ("bgp",), _bgp),
    CheckSpec("ospf_neighbors", "OSPF neighbours", ("ospf",), _ospf),
    CheckSpec("config_changed", "Configuration changed (informational)", ("running_config",),
              _config_changed),
    CheckSpec("hardware_register", "Serial and model against the register",
              ("version", "inventory", "hardware"), _register),
)}

#: produced by the runner, not by facts: a device that could not be inspected
UNREACHABLE = "reachable"
CHECK_NAMES = (*BUILTIN_CHECKS, UNREACHABLE)
