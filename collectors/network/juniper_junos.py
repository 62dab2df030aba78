"""Juniper Junos: item parsers for the ``juniper_junos-standard`` pack.

Which command feeds which facts:

========================================  ==================================================
``version``: show version                 hostname, os_name "Junos", os_version,
                                          hardware.vendor/model (and hardware.serial where
                                          printed, e.g. QFabric) — ntc-templates
``inventory``: show chassis hardware      modules (every item with a part or serial number),
                                          hardware.serial (the Chassis row) — ntc-templates
``cpu_usage``: show chassis routing-engine cpu_used_ratio (master RE: 100 - Idle of the 5 min
                                          window, else 1 min, else the single "CPU utilization"
                                          block, else 5 s) **and** memory_used_ratio and
                                          memory_total_bytes (DRAM) of the same RE; Junos has no
                                          separate memory command worth a second item — own
                                          template
``environment``: show chassis environment environment.temperatures (class Temp),
                                          environment.fans (class Fans),
                                          environment.power_supplies (class Power) — own
``interfaces``: show interfaces extensive interfaces (physical only): admin/oper state,
                                          description, bytes, errors, drops, CRC/Align — own
``log_errors``: show log messages         log_error_count: lines whose explicit priority
                                          (``%FACILITY-N-TAG``, needs ``explicit-priority`` on
                                          the messages file) has severity 0-3 — regex
``clock``: show system uptime             uptime_seconds (current time - "System booted") —
                                          ntc-templates
``ntp``: show ntp status                  time_synchronized (ntpd system status word) — regex
``bgp``: show bgp summary                 bgp_neighbors — own template (see its header: the
                                          ntc-templates one drops peers that are down)
``ospf``: show ospf neighbor              ospf_neighbors — ntc-templates
``running_config``: show configuration    not parsed here (config history)
========================================  ==================================================
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from agent.errors import ParseError
from collectors.facts import (
    BgpNeighbor,
    Component,
    Environment,
    Hardware,
    Module,
    NetInterface,
    OspfNeighbor,
    Sensor,
)
from collectors.network.parsing import ItemParser, Update, ntc, own, require, to_int

PLATFORM = "juniper_junos"
VENDOR = "Juniper"

# -- mappings from the device's own words ------------------------------------------------------

#: ``show chassis environment`` Status column → ok. "Check" is Junos asking for attention (a PEM
#: without input feed, a sensor it cannot read); "Absent" an empty slot; "Testing" power-on test.
ENV_STATUS_OK: dict[str, bool | None] = {
    "ok": True,
    "failed": False,
    "check": False,
    "absent": None,
    "testing": None,
    "present": None,
}

#: ``show interfaces`` "Physical interface: X, <admin>, Physical link is <link>"
ADMIN_UP = {"enabled": True, "disabled": False, "administratively down": False}
LINK_UP = {"up": True, "down": False}

#: BGP peer states Junos prints in ``show bgp summary`` (``Establ`` is Established).
BGP_ESTABLISHED = "establ"

#: OSPF adjacency states (``show ospf neighbor``) that are where an adjacency should settle.
OSPF_HEALTHY = {"full", "2way"}


def _env_ok(status: str) -> bool | None:
    return ENV_STATUS_OK.get(status.strip().lower())


# -- version --------------------------------------------------------------------------------------


def parse_version(output: str) -> Update:
    require(output, r"^Hostname:\s+\S+", "Junos show version")
    rows = ntc(PLATFORM, "show version", output)
    row = rows[0]
    # Some releases (e.g. NFX vmhost) print only the package list, no "Junos:" line: then the
    # release is not stated and os_version stays unset rather than guessed from a package.
    version = str(row.get("junos_version") or "").strip()
    hardware = Hardware(vendor=VENDOR, model=row.get("model") or None,
                        serial=row.get("serial_number") or None)
    return {
        "hostname": row["hostname"],
        "os_name": "Junos",
        "os_version": version or None,
        "hardware": hardware,
    }


# -- inventory ------------------------------------------------------------------------------------

# ntc's show chassis hardware rows: one prefix per item kind; FPC/CPU/MIC/PIC are filled down
# into the rows below them, the others belong to the row that recorded them.
_HW_KINDS: list[tuple[str, str, bool]] = [
    # (field prefix, name prefix, has a number field)
    ("mid", "Midplane", False),
    ("fpm", "FPM Board", False),
    ("re", "Routing Engine", True),
    ("cb", "CB", True),
    ("afeb", "AFEB", True),
    ("tfeb", "TFEB", True),
    ("qxm", "QXM", True),
    ("fpc", "FPC", True),
    ("cpu", "CPU", False),
    ("mic", "MIC", True),
    ("pic", "PIC", True),
    ("xcvr", "Xcvr", True),
    ("ps", "Power Supply", True),
    ("fan", "Fan Tray", True),
]


def _hw_module(row: dict[str, Any], prefix: str, label: str, numbered: bool,
               parent: str) -> Module | None:
    description = str(row.get(f"{prefix}_description") or "").strip()
    part = str(row.get(f"{prefix}_part") or "").strip()
    serial = str(row.get(f"{prefix}_serial_number") or "").strip()
    if not (description or part or serial):
        return None
    number = str(row.get(f"{prefix}_number") or "").strip() if numbered else ""
    name = f"{label} {number}".strip()
    if parent:
        name = f"{parent} {name}"
    return Module(name=name, description=description or None, part=part or None,
                  serial=serial or None)


# The ntc template reads the Chassis row with a greedy ".*" and takes the description's first
# word as the serial when the description has a space ("JNP204 [MX204]", "Virtual Chassis"), so
# the chassis row is read here: "Chassis" then serial then description (no version/part).
_CHASSIS_ROW = re.compile(r"^Chassis\s+(\S+)\s+(\S.*?)\s*$", re.MULTILINE)


def parse_inventory(output: str) -> Update:
    require(output, r"^\s*Item\s+Version\s+Part\s+number\s+Serial\s+number",
             "show chassis hardware")
    chassis = _CHASSIS_ROW.search(output)
    if chassis is None:
        raise ParseError("show chassis hardware: no Chassis row with a serial number")
    chassis_serial = chassis.group(1)
    rows = ntc(PLATFORM, "show chassis hardware", output)
    modules: list[Module] = [
        Module(name="Chassis", description=chassis.group(2), serial=chassis_serial)
    ]
    seen: set[tuple[str, str | None, str | None]] = set()
    for row in rows:
        if row.get("chassis_serial_number"):
            continue
        # FPC > MIC > PIC > Xcvr: name each by its parents so "Xcvr 0" stays unique
        path = ""
        for prefix, label, numbered in _HW_KINDS:
            found = _hw_module(row, prefix, label, numbered,
                               path if prefix in {"cpu", "mic", "pic", "xcvr"} else "")
            if found is None:
                continue
            if prefix in {"fpc", "mic", "pic"}:
                path = found.name
            key = (found.name, found.part, found.serial)
            if key not in seen:
                seen.add(key)
                modules.append(found)
    return {"modules": modules, "hardware": Hardware(vendor=VENDOR, serial=chassis_serial)}


# -- routing engine: CPU and memory ---------------------------------------------------------------


def parse_routing_engine(output: str) -> Update:
    require(output, r"^\s*Routing Engine status:", "show chassis routing-engine")
    rows = own("juniper_junos_show_chassis_routing-engine", output)
    # the master RE; a single-RE box prints no "Current state"
    master = next((r for r in rows if str(r["state"]).lower() == "master"), None)
    if master is None:
        if len(rows) != 1:
            raise ParseError("show chassis routing-engine: no Routing Engine in state Master")
        master = rows[0]
    idle = next((to_int(master[k]) for k in ("idle_5min", "idle_1min", "idle_now", "idle_5sec")
                 if to_int(master[k]) is not None), None)
    if idle is None:
        raise ParseError("show chassis routing-engine: no CPU 'Idle' figure for the master RE")
    update: Update = {"cpu_used_ratio": round((100 - idle) / 100, 4)}
    memory_util = to_int(master["memory_util"])
    if memory_util is not None:
        update["memory_used_ratio"] = memory_util / 100
    dram = to_int(master["dram_mb"])
    if dram is not None:
        update["memory_total_bytes"] = dram * 1024 * 1024
    return update


# -- environment ----------------------------------------------------------------------------------

_CELSIUS = re.compile(r"(-?\d+(?:\.\d+)?)\s+degrees\s+C\b")


def parse_environment(output: str) -> Update:
    require(output, r"^\s*Class\s+Item\s+Status\s+Measurement", "show chassis environment")
    rows = own("juniper_junos_show_chassis_environment", output)
    temperatures: list[Sensor] = []
    fans: list[Component] = []
    power: list[Component] = []
    for row in rows:
        item, status, klass = str(row["item"]), str(row["status"]), str(row["class"])
        ok = _env_ok(status)
        if klass == "Temp":
            match = _CELSIUS.search(str(row["measurement"]))
            temperatures.append(Sensor(name=item, celsius=float(match.group(1)) if match else None,
                                       ok=ok, status=status))
        elif klass == "Fans":
            fans.append(Component(name=item, ok=ok, status=status))
        elif klass in {"Power", "Pwr"}:
            power.append(Component(name=item, ok=ok, status=status))
    return {"environment": Environment(
        temperatures=temperatures or None, fans=fans or None, power_supplies=power or None)}


# -- interfaces -----------------------------------------------------------------------------------


def parse_interfaces(output: str) -> Update:
    require(output, r"^Physical interface:\s+\S+,", "show interfaces extensive")
    rows = own("juniper_junos_show_interfaces_extensive", output)
    interfaces = []
    for row in rows:
        admin = ADMIN_UP.get(str(row["admin"]).lower())
        link = LINK_UP.get(str(row["link"]).lower())
        interfaces.append(NetInterface(
            name=row["name"],
            admin_up=admin,
            oper_up=link,
            description=row["description"] or None,
            rx_bytes=to_int(row["in_bytes"]),
            tx_bytes=to_int(row["out_bytes"]),
            rx_errors=to_int(row["in_errors"]),
            tx_errors=to_int(row["out_errors"]),
            rx_dropped=to_int(row["in_drops"]),
            tx_dropped=to_int(row["out_drops"]),
            crc_errors=to_int(row["crc"]),
        ))
    return {"interfaces": interfaces}


# -- log ------------------------------------------------------------------------------------------

# "Mar 11 10:15:01  r1 rpd[1234]: %DAEMON-3-RPD_OSPF_NBRDOWN: ..." (explicit-priority);
# a message without a tag prints "%KERN-3: ...".
_LOG_LINE = re.compile(r"^(?:[A-Z][a-z]{2}\s+\d+|\d{4}-\d\d-\d\d)[ T]\d\d:\d\d:\d\d", re.MULTILINE)
_LOG_PRIORITY = re.compile(r":\s+%[A-Z0-9_]+-([0-7])(?:-[A-Z0-9_]+)?:")


def parse_log(output: str) -> Update:
    if re.search(r"^(?:Syslog logging:|Log Buffer:|Logging Buffer)", output, re.MULTILINE):
        raise ParseError("not the output of Junos show log messages (a 'show logging' buffer)")
    lines = [line for line in output.splitlines() if _LOG_LINE.match(line)]
    if not lines:
        raise ParseError("show log messages: no timestamped syslog lines in the output")
    severities = [int(m.group(1)) for line in lines if (m := _LOG_PRIORITY.search(line))]
    if not severities:
        raise ParseError(
            "show log messages: the lines carry no priority, so errors cannot be told from "
            "notices; configure 'set system syslog file messages explicit-priority'"
        )
    return {"log_error_count": sum(1 for s in severities if s <= 3)}


# -- clock / uptime -------------------------------------------------------------------------------


def parse_uptime(output: str) -> Update:
    require(output, r"^Current time:", "show system uptime")
    # dual-RE / VC boxes print one section per RE ("re0:" / "-----"); the first one is used
    section = re.split(r"^(?:re|fpc|node)\d+:\s*\n-+\s*$", output, flags=re.MULTILINE)
    text = next((s for s in section if "Current time:" in s), output)
    row = ntc(PLATFORM, "show system uptime", text.strip("\n") + "\n")[0]
    try:
        now = datetime.strptime(f"{row['year']}-{row['month']}-{row['day']} {row['time']}",
                                "%Y-%m-%d %H:%M:%S")
        boot = datetime.strptime(
            f"{row['boot_year']}-{row['boot_month']}-{row['boot_day']} {row['boot_time']}",
            "%Y-%m-%d %H:%M:%S")
    except (KeyError, ValueError) as exc:
        raise ParseError(f"show system uptime: no current/boot time ({exc})") from exc
    if row["timezone"] != row["boot_timezone"]:
        raise ParseError("show system uptime: current and boot time in different time zones")
    return {"uptime_seconds": (now - boot).total_seconds()}


# -- ntp ------------------------------------------------------------------------------------------

_NTP_STATUS = re.compile(r"^\s*status=[0-9a-f]+\s+(leap_\w+),\s*(sync_\w+)", re.MULTILINE)


def parse_ntp(output: str) -> Update:
    match = _NTP_STATUS.search(output)
    if not match:
        raise ParseError("show ntp status: no 'status=... leap_..., sync_...' line")
    leap, source = match.group(1), match.group(2)
    # ntpd system status: leap_alarm / sync_unspec mean the clock is not synchronised
    return {"time_synchronized": leap != "leap_alarm" and source != "sync_unspec"}


# -- bgp ------------------------------------------------------------------------------------------

_TUPLE = re.compile(r"\b\d+/(\d+)/\d+/\d+\b")


def parse_bgp(output: str) -> Update:
    require(output, r"^Peer\s+AS\s+InPkt\s+OutPkt", "Junos show bgp summary")
    rows = own("juniper_junos_show_bgp_summary", output)
    neighbors = []
    for row in rows:
        state = str(row["state"])
        received: int | None
        if _TUPLE.fullmatch(state):
            # one-line form: the peer is up and its counters sit where the state would be
            established = True
            counts = _TUPLE.findall(f"{state} {row['rest']}")
            received = sum(int(c) for c in counts)
            state = "Established"
        else:
            established = state.lower() == BGP_ESTABLISHED
            numbers = [int(n) for n in row["received"]]
            received = sum(numbers) if numbers else (0 if established else None)
        neighbors.append(BgpNeighbor(peer=row["peer"], remote_as=row["as"] or None, state=state,
                                     established=established, prefixes_received=received))
    return {"bgp_neighbors": neighbors}


# -- ospf -----------------------------------------------------------------------------------------


def parse_ospf(output: str) -> Update:
    require(output, r"^Address\s+Interface\s+State\s+ID\s+Pri\s+Dead", "show ospf neighbor")
    try:
        rows = ntc(PLATFORM, "show ospf neighbor", output)
    except ParseError:
        return {"ospf_neighbors": []}  # the header alone: OSPF runs, no neighbours
    neighbors = [
        OspfNeighbor(neighbor_id=r["neighbor_id"], address=r["ip_address"] or None,
                     interface=r["interface"] or None, state=r["state"],
                     healthy=str(r["state"]).lower() in OSPF_HEALTHY)
        for r in rows
    ]
    return {"ospf_neighbors": neighbors}


PARSERS: dict[str, ItemParser] = {
    "version": parse_version,
    "inventory": parse_inventory,
    "cpu_usage": parse_routing_engine,
    "environment": parse_environment,
    "interfaces": parse_interfaces,
    "log_errors": parse_log,
    "clock": parse_uptime,
    "ntp": parse_ntp,
    "bgp": parse_bgp,
    "ospf": parse_ospf,
}
