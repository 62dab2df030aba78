"""Parsers for the ``linux-standard`` pack: each item's output in, :class:`HostFacts` out.

One small private function per pack item, registered in :data:`_PARSERS`; a final step combines
the items that feed one fact (filesystems: ``df`` sizes + ``df -i`` inodes + ``/proc/mounts``
read-only flags). Parsers raise :class:`ParseError` when an output cannot be turned into facts;
:func:`parse_outputs` turns that into an item error and never raises itself.

"Not applicable" is not an error: no systemd, no journal, no ``vmstat``, no readable DMI data
leave the fact ``None`` (``systemd_present=False`` for the units item) and record no item error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter

from agent.errors import ParseError
from collectors.facts import Filesystem, Hardware, HostFacts, NetInterface, ProcessInfo

__all__ = ["ItemOutput", "parse_outputs"]


@dataclass(frozen=True)
class ItemOutput:
    """What one pack item printed, as the SSH collector received it."""

    command: str
    #: stdout+stderr merged, as the host printed it
    text: str
    #: None if unknown; 124 = killed by ``timeout``; 127 = command not found
    exit_code: int | None
    #: the agent's ``time.time()`` when this item's output finished arriving
    received_at: float


class _GarbledError(ParseError):
    """The output was not understood. The message is the detail; the command is added later."""


@dataclass(frozen=True)
class _DfRow:
    device: str
    fstype: str
    size: int
    used: int
    avail: int
    mountpoint: str


@dataclass(frozen=True)
class _InodeRow:
    total: int
    used: int
    free: int


@dataclass
class _State:
    """Facts filled so far, plus the pieces of facts that several items feed."""

    facts: HostFacts = field(default_factory=HostFacts)
    df_rows: list[_DfRow] | None = None
    inodes: dict[str, _InodeRow] | None = None
    read_only: dict[str, bool] | None = None


_Parser = Callable[[ItemOutput, _State], None]

_TIMED_OUT = 124
_NOT_FOUND = 127
#: items whose non-zero exit is a problem in itself (the others may be "not applicable")
_ESSENTIAL = frozenset({
    "clock", "hostname", "os_release", "kernel", "uptime", "loadavg", "cpu_count", "memory",
    "filesystems", "inodes", "mounts", "processes", "net_dev",
})
#: essential items that print what they could before failing (df on a hung/denied mount)
_PARTIAL_OK = frozenset({"filesystems", "inodes"})

_INT_RE = re.compile(r"[0-9]{1,20}")
_DEC_RE = re.compile(r"[0-9]{1,20}(?:\.[0-9]{1,20})?")
_PERCENT_RE = re.compile(r"[0-9]{1,3}%|-")
_KV_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)")
_CLOCK_RE = re.compile(r"([0-9]{1,15})(?:\.([0-9]{1,9}|%?N))?")
_MEMINFO_RE = re.compile(r"([A-Za-z0-9_()]+):\s+([0-9]{1,20})(?:\s+kB)?")
_UNIT_RE = re.compile(
    r"[^\s/]+\.(?:service|socket|device|mount|automount|swap|target|path|timer|slice|scope)"
)
_JOURNAL_TS_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}")
_DMI_RE = re.compile(r"/sys/class/dmi/id/([a-z_]+):(.*)")
_OCTAL_RE = re.compile(r"\\([0-7]{3})")

_NO_SYSTEMD = (
    "System has not been booted with systemd",
    "Failed to connect to bus",
    "Failed to create bus connection",
    "Failed to get D-Bus connection",
)
_NO_JOURNAL = ("No journal files were found",)
_PSEUDO_FS = frozenset({
    "tmpfs", "devtmpfs", "overlay", "squashfs", "proc", "sysfs", "cgroup", "cgroup2", "devpts",
    "mqueue", "autofs", "fuse.lxcfs", "nsfs", "tracefs", "debugfs", "securityfs", "pstore", "bpf",
    "configfs", "ramfs", "efivarfs", "hugetlbfs",
})
_PLACEHOLDERS = frozenset({
    "", "to be filled by o.e.m.", "not specified", "none", "0", "default string",
})
_TOP_PROCESSES = 10


# --- helpers -------------------------------------------------------------------------------


def _printable(text: str, limit: int = 200) -> str:
    return "".join(c if c.isprintable() else "?" for c in text.strip()[:limit])


def _snip(text: str, limit: int = 60) -> str:
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _int(token: str, what: str) -> int:
    if token.isdigit() and token.isascii() and len(token) <= 20:  # the usual case, no regex
        return int(token)
    if not _INT_RE.fullmatch(token):
        raise _GarbledError(f"{what} is not a whole number: {_snip(token)}")
    return int(token)


def _dec(token: str, what: str) -> float:
    if not _DEC_RE.fullmatch(token):
        raise _GarbledError(f"{what} is not a number: {_snip(token)}")
    return float(token)


def _succeeded(out: ItemOutput) -> bool:
    return out.exit_code in (0, None)


def _failed(out: ItemOutput, detail: str | None = None) -> ParseError:
    lines = _lines(out.text)
    first = _printable(detail if detail is not None else (lines[0] if lines else ""))
    return ParseError(f"`{out.command}` failed (exit {out.exit_code}): {first or 'no output'}")


def _command_missing(out: ItemOutput) -> bool:
    """Exit 127, or the shell's "not found" as the only line (exit status lost in a pipe)."""
    if out.exit_code == _NOT_FOUND:
        return True
    words = out.command.split()
    lines = _lines(out.text)
    if not words or len(lines) != 1:
        return False
    program = re.escape(words[0].rsplit("/", 1)[-1])
    return re.search(rf"(?:^|: ){program}: (?:command )?not found$", lines[0].strip()) is not None


def _starts_with_any(text: str, markers: tuple[str, ...]) -> bool:
    return any(line.strip().startswith(markers) for line in text.splitlines())


def _key_values(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in _lines(text):
        stripped = line.strip()
        if stripped.startswith("#"):
            continue
        match = _KV_RE.fullmatch(stripped)
        if match is None:
            raise _GarbledError(f"expected KEY=value lines, got {_snip(stripped)}")
        values[match[1]] = _unquote(match[2])
    if not values:
        raise _GarbledError("no KEY=value lines")
    return values


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        quote, value = value[0], value[1:-1]
        if quote == '"':
            value = re.sub(r"\\([\\\"$`])", r"\1", value)
    return value


def _single_line(out: ItemOutput, what: str) -> str:
    lines = _lines(out.text)
    if len(lines) != 1:
        raise _GarbledError(f"expected one line with {what}, got {len(lines)} lines")
    return lines[0].strip()


def _finite(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise ParseError(f"no usable {what} (got {value})")
    return value


# --- one parser per item -------------------------------------------------------------------


def _clock(out: ItemOutput, st: _State) -> None:
    text = _single_line(out, "seconds since the epoch")
    match = _CLOCK_RE.fullmatch(text)
    if match is None:
        raise _GarbledError(f"expected seconds.nanoseconds, got {_snip(text)}")
    seconds, fraction = match.groups()
    digits = fraction if fraction is not None and fraction.isdigit() else "0"
    # whole seconds first: a float near 1.7e9 only holds ~0.2 µs, so do not add the fraction early
    offset = int(seconds) - _finite(out.received_at, "receipt time")
    st.facts.clock_offset_seconds = offset + float(f"0.{digits}")


def _hostname(out: ItemOutput, st: _State) -> None:
    name = _single_line(out, "the host name")
    if len(name) > 253 or any(c.isspace() or not c.isprintable() for c in name):
        raise _GarbledError(f"not a host name: {_snip(name)}")
    st.facts.hostname = name


def _os_release(out: ItemOutput, st: _State) -> None:
    values = _key_values(out.text)
    st.facts.os_name = values.get("NAME") or None
    st.facts.os_version = values.get("VERSION_ID") or values.get("VERSION") or None


def _kernel(out: ItemOutput, st: _State) -> None:
    tokens = _single_line(out, "`uname -srm`").split()
    if len(tokens) != 3:
        raise _GarbledError(f"expected 'SYSTEM RELEASE MACHINE', got {_snip(' '.join(tokens))}")
    st.facts.kernel, st.facts.arch = tokens[1], tokens[2]


def _uptime(out: ItemOutput, st: _State) -> None:
    tokens = _single_line(out, "uptime and idle seconds").split()
    if len(tokens) != 2:
        raise _GarbledError(f"expected 'UPTIME IDLE', got {_snip(' '.join(tokens))}")
    uptime = _dec(tokens[0], "uptime")
    _dec(tokens[1], "idle time")
    boot = _finite(out.received_at, "receipt time") - uptime
    try:
        boot_time = datetime.fromtimestamp(boot, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise _GarbledError(f"uptime {tokens[0]} s gives no valid boot time") from exc
    st.facts.uptime_seconds, st.facts.boot_time = uptime, boot_time


def _loadavg(out: ItemOutput, st: _State) -> None:
    tokens = _single_line(out, "load averages").split()
    if len(tokens) < 3:
        raise _GarbledError(f"expected three load averages, got {_snip(' '.join(tokens))}")
    load1, load5, load15 = (_dec(t, "load average") for t in tokens[:3])
    st.facts.load1, st.facts.load5, st.facts.load15 = load1, load5, load15


def _cpu_count(out: ItemOutput, st: _State) -> None:
    count = _int(_single_line(out, "the CPU count"), "CPU count")
    if count < 1:
        raise _GarbledError("CPU count is 0")
    st.facts.cpu_count = count


def _cpu_usage(out: ItemOutput, st: _State) -> None:
    if _command_missing(out):
        return
    if not _succeeded(out):
        raise _failed(out)
    header: list[str] | None = None
    last: list[str] | None = None
    for line in _lines(out.text):
        tokens = line.split()
        if "us" in tokens and "id" in tokens:
            header = tokens
        elif tokens[0] == "procs" or tokens[0].startswith("-"):
            continue
        elif header is not None and all(_INT_RE.fullmatch(t) for t in tokens):
            if len(tokens) != len(header):
                raise _GarbledError(f"{len(tokens)} values under {len(header)} column headings")
            last = tokens
        else:
            raise _GarbledError(f"unexpected line {_snip(line)}")
    if header is None or last is None:
        raise _GarbledError("no column header with `us` and `id`, or no sample under it")
    columns = dict(zip(header, last, strict=True))
    idle = int(columns["id"])
    iowait = int(columns["wa"]) if "wa" in columns else None
    if idle > 100 or (iowait is not None and iowait > 100):
        raise _GarbledError(f"CPU percentages over 100: {_snip(' '.join(last))}")
    st.facts.cpu_used_ratio = (100 - idle) / 100
    st.facts.cpu_iowait_ratio = iowait / 100 if iowait is not None else None


def _memory(out: ItemOutput, st: _State) -> None:
    kib: dict[str, int] = {}
    for line in _lines(out.text):
        match = _MEMINFO_RE.fullmatch(line.strip())
        if match is None:
            raise _GarbledError(f"unexpected line {_snip(line)}")
        kib[match[1]] = int(match[2])
    total = kib.get("MemTotal")
    if not total:
        raise _GarbledError("no MemTotal")
    avail = kib.get("MemAvailable")
    if avail is None:
        old_style = [kib.get(k) for k in ("MemFree", "Buffers", "Cached")]
        if None in old_style:
            raise _GarbledError("neither MemAvailable nor MemFree, Buffers and Cached")
        avail = sum(v for v in old_style if v is not None)
    avail = min(avail, total)
    st.facts.memory_total_bytes = total * 1024
    st.facts.memory_available_bytes = avail * 1024
    st.facts.memory_used_ratio = 1 - avail / total
    swap_total, swap_free = kib.get("SwapTotal"), kib.get("SwapFree")
    if swap_total is not None and swap_free is not None:
        swap_used = max(0, swap_total - swap_free)
        st.facts.swap_total_bytes = swap_total * 1024
        st.facts.swap_used_bytes = swap_used * 1024
        st.facts.swap_used_ratio = swap_used / swap_total if swap_total else 0.0


def _df_table(out: ItemOutput) -> tuple[list[list[str]], list[str]]:
    """df -P rows split into 6 columns + mountpoint (which may hold spaces), and df's complaints."""
    rows: list[list[str]] = []
    problems: list[str] = []
    seen_header = False
    for line in _lines(out.text):
        if line.startswith("Filesystem"):
            seen_header = True
        elif line.startswith("df: "):
            problems.append(line.strip())
        else:
            parts = line.split(maxsplit=6)
            if len(parts) != 7 or not _PERCENT_RE.fullmatch(parts[5]):
                if not _succeeded(out):  # not df's table at all: df (or the shell) failed
                    raise _failed(out)
                raise _GarbledError(f"unexpected line {_snip(line)}")
            rows.append(parts)
    if not seen_header and not rows and _succeeded(out):
        raise _GarbledError("no header and no filesystems")
    return rows, problems


def _df_problem(out: ItemOutput, problems: list[str]) -> None:
    """df printed what it could; now report why it could not print the rest."""
    if not _succeeded(out):
        raise _failed(out, problems[0] if problems else None)
    if problems:
        raise ParseError(f"`{out.command}` reported: {_printable(problems[0])}")


def _filesystems(out: ItemOutput, st: _State) -> None:
    rows, problems = _df_table(out)
    parsed: list[_DfRow] = []
    for device, fstype, size, used, avail, _pct, mountpoint in rows:
        if "-" in (size, used, avail):
            continue
        row = _DfRow(device, fstype, _int(size, "size"), _int(used, "used"),
                     _int(avail, "available"), mountpoint)
        if row.fstype not in _PSEUDO_FS and row.size > 0:
            parsed.append(row)
    if rows or _succeeded(out):
        st.df_rows = parsed
    _df_problem(out, problems)


def _inodes(out: ItemOutput, st: _State) -> None:
    rows, problems = _df_table(out)
    parsed: dict[str, _InodeRow] = {}
    for _device, _fstype, total, used, free, _pct, mountpoint in rows:
        if "-" in (total, used, free):
            continue
        row = _InodeRow(_int(total, "inodes"), _int(used, "used inodes"), _int(free, "free inodes"))
        if row.total > 0:
            parsed[mountpoint] = row
    if rows or _succeeded(out):
        st.inodes = parsed
    _df_problem(out, problems)


def _mounts(out: ItemOutput, st: _State) -> None:
    read_only: dict[str, bool] = {}
    for line in _lines(out.text):
        parts = line.split()
        if len(parts) != 6 or not (_INT_RE.fullmatch(parts[4]) and _INT_RE.fullmatch(parts[5])):
            raise _GarbledError(f"expected 'DEVICE MOUNTPOINT TYPE OPTIONS 0 0', got {_snip(line)}")
        mountpoint = _OCTAL_RE.sub(lambda m: chr(int(m[1], 8)), parts[1])
        read_only[mountpoint] = "ro" in parts[3].split(",")  # the last mount over a path wins
    if not read_only:
        raise _GarbledError("no mounts listed")
    st.read_only = read_only


def _systemd_absent(out: ItemOutput) -> bool:
    return _command_missing(out) or (
        out.exit_code != 0 and _starts_with_any(out.text, _NO_SYSTEMD)
    )


def _failed_units(out: ItemOutput, st: _State) -> None:
    if _systemd_absent(out):
        st.facts.systemd_present, st.facts.failed_units = False, None
        return
    if not _succeeded(out):
        raise _failed(out)
    units: list[str] = []
    for line in _lines(out.text):
        tokens = line.split()
        if tokens[0] in ("●", "*", "×"):
            tokens = tokens[1:]
        if len(tokens) < 4 or not _UNIT_RE.fullmatch(tokens[0]) or tokens[2] != "failed":
            raise _GarbledError(f"expected 'UNIT LOAD failed SUB DESCRIPTION', got {_snip(line)}")
        units.append(tokens[0])
    st.facts.systemd_present, st.facts.failed_units = True, units


def _timesync(out: ItemOutput, st: _State) -> None:
    if _systemd_absent(out):
        return
    if not _succeeded(out):
        raise _failed(out)
    synced = _key_values(out.text).get("NTPSynchronized")
    if synced not in ("yes", "no"):
        raise _GarbledError("no NTPSynchronized=yes|no line")
    st.facts.time_synchronized = synced == "yes"


#: a ``ps`` row: (%CPU as a ratio, pid, name, user, RSS in KiB), pid and RSS as printed
_PsRow = tuple[float, str, str, str, str]


def _ps_row(line: str) -> tuple[_PsRow, str]:
    """One ``ps`` row and its STAT, every field checked: the error names what is wrong."""
    parts = line.split(maxsplit=5)
    if len(parts) != 6:
        raise _GarbledError(f"expected 'PID USER %CPU RSS STAT COMMAND', got {_snip(line)}")
    pid, user, pcpu, rss, stat, name = parts
    cpu = _dec(pcpu, "%CPU") / 100
    _int(pid, "pid")
    _int(rss, "RSS")
    return (cpu, pid, name, user, rss), stat


def _processes(out: ItemOutput, st: _State) -> None:
    # Every row is validated, but only the top few become models: a busy host lists
    # hundreds of processes, and a pydantic model per row was most of this parser's cost.
    # A plainly valid row is checked inline (what _int and _dec accept, without their
    # calls: 0.4 -> 0.3 ms of CPU per host of ~300 processes); the others go to _ps_row,
    # which gives the same values or the error. pid and RSS become ints for the top only.
    rows: list[_PsRow] = []
    zombies = 0
    dec = _DEC_RE.fullmatch
    for line in _lines(out.text):
        parts = line.split(maxsplit=5)
        if len(parts) == 6:
            pid, user, pcpu, rss, stat, name = parts
            digits = pid + rss
            if (digits.isdigit() and digits.isascii() and len(pid) <= 20 and len(rss) <= 20
                    and dec(pcpu)):
                rows.append((float(pcpu) / 100, pid, name, user, rss))
                zombies += stat.startswith("Z")
                continue
        row, stat = _ps_row(line)
        rows.append(row)
        zombies += stat.startswith("Z")
    if not rows:
        raise _GarbledError("no processes listed")
    rows.sort(key=itemgetter(0), reverse=True)  # stable: ps order among equals
    top = [ProcessInfo(pid=int(pid), name=name, user=user, cpu_ratio=cpu,
                       memory_bytes=int(rss) * 1024)
           for cpu, pid, name, user, rss in rows[:_TOP_PROCESSES]]
    st.facts.process_count, st.facts.zombie_count, st.facts.top_processes = len(rows), zombies, top


def _log_errors(out: ItemOutput, st: _State) -> None:
    if _command_missing(out) or _starts_with_any(out.text, _NO_JOURNAL):
        return
    if not _succeeded(out):
        raise _failed(out)
    entries = [line for line in _lines(out.text) if not line.startswith("-- ")]
    if entries and not any(_JOURNAL_TS_RE.match(line) for line in entries):
        raise _GarbledError(f"no timestamped journal lines, starts with {_snip(entries[0])}")
    st.facts.log_error_count = len(entries)


def _real_value(value: str | None) -> str | None:
    if value is None or value.strip().lower() in _PLACEHOLDERS:
        return None
    return value.strip()


def _hardware(out: ItemOutput, st: _State) -> None:
    if _command_missing(out):
        return
    if out.exit_code not in (0, 1, 2, None):  # grep: 1 = nothing matched, 2 = unreadable file
        raise _failed(out)
    values: dict[str, str] = {}
    for line in _lines(out.text):
        if line.startswith("grep: "):
            continue
        match = _DMI_RE.fullmatch(line)
        if match is None:
            raise _GarbledError(f"expected '/sys/class/dmi/id/FILE:VALUE', got {_snip(line)}")
        values.setdefault(match[1], match[2])
    hardware = Hardware(
        vendor=_real_value(values.get("sys_vendor")),
        model=_real_value(values.get("product_name")),
        serial=_real_value(values.get("product_serial")),
    )
    has_any = any(v is not None for v in (hardware.vendor, hardware.model, hardware.serial))
    st.facts.hardware = hardware if has_any else None


def _net_dev(out: ItemOutput, st: _State) -> None:
    interfaces: list[NetInterface] = []
    seen = False
    for line in _lines(out.text):
        if "|" in line:
            continue
        name, colon, rest = line.partition(":")
        name, fields = name.strip(), rest.split()
        if not colon or not name or " " in name or len(fields) != 16:
            raise _GarbledError(f"expected 'IFACE: 16 counters', got {_snip(line)}")
        joined = "".join(fields)
        if joined.isdigit() and joined.isascii() and max(map(len, fields)) <= 20:
            n = list(map(int, fields))  # what _int gives each of them, in one go
        else:
            n = [_int(f, "counter") for f in fields]
        seen = True
        if name != "lo":
            interfaces.append(NetInterface(
                name=name, rx_bytes=n[0], rx_errors=n[2], rx_dropped=n[3],
                tx_bytes=n[8], tx_errors=n[10], tx_dropped=n[11],
            ))
    if not seen:
        raise _GarbledError("no interfaces listed")
    st.facts.interfaces = interfaces


_PARSERS: dict[str, _Parser] = {
    "clock": _clock,
    "hostname": _hostname,
    "os_release": _os_release,
    "kernel": _kernel,
    "uptime": _uptime,
    "loadavg": _loadavg,
    "cpu_count": _cpu_count,
    "cpu_usage": _cpu_usage,
    "memory": _memory,
    "filesystems": _filesystems,
    "inodes": _inodes,
    "mounts": _mounts,
    "failed_units": _failed_units,
    "timesync": _timesync,
    "processes": _processes,
    "log_errors": _log_errors,
    "hardware": _hardware,
    "net_dev": _net_dev,
}


# --- combining -----------------------------------------------------------------------------


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _filesystem(row: _DfRow, inodes: _InodeRow | None, read_only: bool) -> Filesystem:
    return Filesystem(
        mountpoint=row.mountpoint, device=row.device, fstype=row.fstype, size_bytes=row.size,
        used_bytes=row.used, avail_bytes=row.avail,
        used_ratio=_ratio(row.used, row.used + row.avail),
        inodes_total=inodes.total if inodes else None,
        inodes_used=inodes.used if inodes else None,
        inodes_used_ratio=_ratio(inodes.used, inodes.used + inodes.free) if inodes else None,
        read_only=read_only,
    )


def _combine_filesystems(st: _State) -> None:
    if st.df_rows is None:
        return
    inodes, read_only = st.inodes or {}, st.read_only or {}
    st.facts.filesystems = [
        _filesystem(row, inodes.get(row.mountpoint), read_only.get(row.mountpoint, False))
        for row in st.df_rows
    ]


# --- entry point ---------------------------------------------------------------------------


def _parse_item(item: str, out: ItemOutput, parser: _Parser, st: _State) -> None:
    if out.exit_code == _TIMED_OUT:
        raise ParseError(f"timed out (command `{out.command}`)")
    if item in _ESSENTIAL and item not in _PARTIAL_OK and not _succeeded(out):
        raise _failed(out)
    parser(out, st)


def _internal_error(command: str, exc: Exception) -> str:
    return f"could not understand the output of `{command}`: parser error ({type(exc).__name__})"


def parse_outputs(outputs: Mapping[str, ItemOutput]) -> tuple[HostFacts, dict[str, str]]:
    """Keyed by pack item id. Returns facts and item_errors (item id -> human reason).

    Items missing from ``outputs`` leave their facts ``None``; unknown item ids are ignored.
    Never raises: a parser failure becomes that item's error and the other items still count.
    """
    st = _State()
    errors: dict[str, str] = {}
    for item, out in outputs.items():
        parser = _PARSERS.get(item)
        if parser is None:
            continue
        try:
            _parse_item(item, out, parser, st)
        except _GarbledError as exc:
            errors[item] = f"could not understand the output of `{out.command}`: {exc}"
        except ParseError as exc:
            errors[item] = str(exc)
        except Exception as exc:  # a parser bug must not cost the host all its other facts
            errors[item] = _internal_error(out.command, exc)
    try:
        _combine_filesystems(st)
    except Exception as exc:
        errors.setdefault("filesystems", _internal_error("df", exc))
    return st.facts, errors
