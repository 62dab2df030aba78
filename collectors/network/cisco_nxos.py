"""Cisco NX-OS parsers (netmiko ``cisco_nxos``).

Pack ``cisco_nxos-standard``; which command feeds which facts:

=============== ================================== =============================================
item            command                            facts (parser)
=============== ================================== =============================================
version         show version                       hostname, os_name, os_version, uptime_seconds,
                                                   hardware (model, chassis serial) — ntc
inventory       show inventory                     modules; hardware model/serial of the
                                                   "Chassis" entry — ntc
cpu_usage       show processes cpu                 cpu_used_ratio: 5-minute average where printed
                                                   (ntc), else 100 % − idle of "CPU util" (regex)
memory          show system resources              memory_* — our template
environment     show environment                   environment (fans, power supplies,
                                                   temperatures) — our template (ntc's errors on
                                                   real N9K output and mashes the tables)
interfaces      show interface                     interfaces — ntc, plus byte counters by regex
log_errors      show logging last 200              log_error_count — regex
clock           show clock                         nothing (checked to be a clock reading) — ntc
ntp             show ntp peer-status               time_synchronized — regex ("*" = selected)
bgp             show ip bgp summary                bgp_neighbors — ntc
ospf            show ip ospf neighbors             ospf_neighbors — ntc
running_config  show running-config                not parsed (stored as config history)
=============== ================================== =============================================
"""

from __future__ import annotations

import re
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
from collectors.network import parsing
from collectors.network.parsing import ItemParser, Update

PLATFORM = "cisco_nxos"

_NXOS_BANNER = re.compile(r"Cisco Nexus Operating System|NX-OS|NXOS: version", re.IGNORECASE)


def _ntc(command: str, output: str) -> list[dict[str, Any]]:
    return parsing.ntc(PLATFORM, command, output)


# -- version / inventory ---------------------------------------------------------------------


def parse_version(output: str) -> Update:
    if not _NXOS_BANNER.search(output):
        raise ParseError("not Cisco NX-OS 'show version' output (no NX-OS banner)")
    rows = _ntc("show version", output)
    row = rows[0]
    version = parsing.text_or_none(row.get("os"))
    uptime_text = parsing.text_or_none(row.get("uptime"))
    if version is None or uptime_text is None:
        raise ParseError("'show version' output has no NXOS version or uptime line (truncated?)")
    uptime = parsing.uptime_seconds(uptime_text)
    if uptime is None:
        raise ParseError(f"uptime {uptime_text!r} not understood")
    return {
        "hostname": parsing.text_or_none(row.get("hostname")),
        "os_name": "NX-OS",
        # "10.3(6) [Maintenance Release]", "14.0(1h) [build 14.0(1h)]" → the version proper
        "os_version": version.split(" [", 1)[0].strip(),
        "uptime_seconds": uptime,
        "hardware": Hardware(
            vendor="Cisco",
            model=parsing.text_or_none(row.get("platform")),
            serial=parsing.text_or_none(row.get("serial")),
        ),
    }


def _serial(value: Any) -> str | None:
    text = parsing.text_or_none(value)
    return None if text is None or text.upper() == "N/A" else text


def parse_inventory(output: str) -> Update:
    rows = _ntc("show inventory", output)
    modules = [
        Module(
            name=row["name"],
            description=parsing.text_or_none(row.get("descr")),
            part=parsing.text_or_none(row.get("pid")),
            serial=_serial(row.get("sn")),
        )
        for row in rows
        if row.get("name")
    ]
    if not modules:
        raise ParseError("'show inventory' listed no NAME entries")
    update: Update = {"modules": modules}
    chassis = next((m for m in modules if m.name.lower() == "chassis"), None)
    if chassis is not None:
        update["hardware"] = Hardware(vendor="Cisco", model=chassis.part, serial=chassis.serial)
    return update


# -- CPU / memory ----------------------------------------------------------------------------

#: N9K: "CPU util  :    1.29% user,   20.34% kernel,   78.35% idle"
_CPU_UTIL = re.compile(
    r"^\s*CPU util\s*:\s*[\d.]+% user,\s*[\d.]+% kernel,\s*([\d.]+)% idle", re.MULTILINE
)


def parse_cpu(output: str) -> Update:
    try:
        rows = _ntc("show processes cpu", output)
    except ParseError:
        rows = []
    for key in ("cpu_5_min", "cpu_1_min", "cpu_5_sec"):
        value = parsing.to_float(parsing.first(rows, key))
        if value is not None:
            return {"cpu_used_ratio": value / 100}
    match = _CPU_UTIL.search(output)
    if match:
        return {"cpu_used_ratio": (100 - float(match.group(1))) / 100}
    raise ParseError(
        "no 'CPU utilization for five seconds' or 'CPU util' line in 'show processes cpu'"
    )


def parse_memory(output: str) -> Update:
    rows = parsing.own("cisco_nxos_show_system_resources", output)
    total = parsing.to_int(parsing.first(rows, "memory_total_kb"))
    used = parsing.to_int(parsing.first(rows, "memory_used_kb"))
    free = parsing.to_int(parsing.first(rows, "memory_free_kb"))
    if not total or used is None or free is None:
        raise ParseError("no 'Memory usage: ...K total, ...K used, ...K free' line")
    return {
        "memory_total_bytes": total * 1024,
        "memory_available_bytes": free * 1024,
        "memory_used_ratio": used / total,
    }


# -- environment ------------------------------------------------------------------------------

#: fan and power-supply words printed by 'show environment' → Component.ok
_COMPONENT_OK: dict[str, bool | None] = {
    "OK": True,
    "ABSENT": None,
    "NONE": None,
    "NOTSUPPORTED": None,
    "FAILURE": False,
    "FAILED": False,
    "FAIL": False,
    "FAIL/SHUTDOWN": False,
    "SHUTDOWN": False,
    "POWERED-DN": False,
    "POWERED-DOWN": False,
    "NOT OK": False,
}

#: temperature sensor "Status" → Sensor.ok
_SENSOR_OK: dict[str, bool | None] = {
    "OK": True,
    "MINOR": False,
    "MAJOR": False,
    "ALARM": False,
    "CRITICAL": False,
    "FAILURE": False,
    "FAILED": False,
}


def component_ok(status: str) -> bool | None:
    """Explicit mapping of the device's word; unknown words give None (state not understood)."""
    return _COMPONENT_OK.get(re.sub(r"\s+", " ", status.strip()).upper())


def sensor_ok(status: str) -> bool | None:
    return _SENSOR_OK.get(status.strip().upper())


def parse_environment(output: str) -> Update:
    rows = parsing.own("cisco_nxos_show_environment", output)
    fans: list[Component] = []
    supplies: list[Component] = []
    sensors: list[Sensor] = []
    for row in rows:
        if row.get("psu"):
            status = str(row["psu_status"])
            supplies.append(Component(
                name=f"PS{row['psu']}", ok=component_ok(status), status=status
            ))
        elif row.get("fan"):
            status = str(row["fan_status"])
            fans.append(Component(name=row["fan"], ok=component_ok(status), status=status))
        elif row.get("temp_module"):
            status = str(row["temp_status"])
            sensor = re.sub(r"\s+", " ", str(row["temp_sensor"]))
            sensors.append(Sensor(
                name=f"Module {row['temp_module']} {sensor}",
                celsius=parsing.to_float(row.get("temp_current")),
                ok=sensor_ok(status),
                status=status,
            ))
    if not (fans or supplies or sensors):
        raise ParseError("'show environment' had no power supply, fan or temperature rows")
    return {"environment": Environment(
        fans=fans or None, power_supplies=supplies or None, temperatures=sensors or None
    )}


# -- interfaces ----------------------------------------------------------------------------

_IF_HEADER = re.compile(r"^(\S+) is (?:up|down|administratively|\S)", re.MULTILINE)
_ADMIN_STATE = re.compile(r"^\s*admin state is (up|down)", re.MULTILINE | re.IGNORECASE)
_SECTION = re.compile(r"^\s*(RX|TX|Rx|Tx)\s*$", re.MULTILINE)
_BYTES = re.compile(r"(\d+) bytes\b")


def _block_facts(output: str) -> dict[str, tuple[bool | None, int | None, int | None]]:
    """Per interface block: admin state line, RX bytes, TX bytes."""
    headers = list(_IF_HEADER.finditer(output))
    result: dict[str, tuple[bool | None, int | None, int | None]] = {}
    for index, header in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(output)
        block = output[header.start():end]
        admin = _ADMIN_STATE.search(block)
        counters: dict[str, int | None] = {"RX": None, "TX": None}
        sections = list(_SECTION.finditer(block))
        for number, section in enumerate(sections):
            stop = sections[number + 1].start() if number + 1 < len(sections) else len(block)
            found = _BYTES.search(block[section.end():stop])
            if found:
                counters[section.group(1).upper()] = int(found.group(1))
        result[header.group(1)] = (
            admin.group(1).lower() == "up" if admin else None, counters["RX"], counters["TX"]
        )
    return result


def parse_interfaces(output: str) -> Update:
    rows = _ntc("show interface", output)
    blocks = _block_facts(output)
    interfaces: list[NetInterface] = []
    for row in rows:
        name = row["interface"]
        link = str(row.get("link_status") or "").strip().lower()
        admin_line, rx_bytes, tx_bytes = blocks.get(name, (None, None, None))
        if admin_line is not None:
            admin_up: bool | None = admin_line
        elif link:
            # SVIs print no "admin state" line: "Vlan20 is down (Administratively down)"
            admin_up = "administratively down" not in link
        else:
            admin_up = None
        interfaces.append(NetInterface(
            name=name,
            admin_up=admin_up,
            oper_up=link == "up" if link else None,
            rx_errors=parsing.to_int(row.get("input_errors")),
            tx_errors=parsing.to_int(row.get("output_errors")),
            crc_errors=parsing.to_int(row.get("crc")),
            rx_dropped=parsing.to_int(row.get("input_discards")),
            tx_dropped=parsing.to_int(row.get("output_discards")),
            rx_bytes=rx_bytes,
            tx_bytes=tx_bytes,
            description=parsing.text_or_none(row.get("description")),
        ))
    return {"interfaces": interfaces}


# -- logging / time ----------------------------------------------------------------------------

#: "2019 May 22 16:20:45 switch %ETHPORT-5-IF_UP: ..." (the hostname is optional)
_LOG_LINE = re.compile(r"^\d{4} [A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2}", re.MULTILINE)
_LOG_SEVERITY = re.compile(r"%[A-Z0-9_]+(?:-[A-Z0-9_]+)*-([0-7])-[A-Z0-9_]+:")


def parse_logging(output: str) -> Update:
    lines = [line for line in output.splitlines() if _LOG_LINE.match(line)]
    if not lines:
        raise ParseError("no 'YYYY Mon DD hh:mm:ss' NX-OS log lines in the output")
    count = 0
    for line in lines:
        match = _LOG_SEVERITY.search(line)
        if match and int(match.group(1)) <= 3:
            count += 1
    return {"log_error_count": count}


def parse_clock(output: str) -> Update:
    rows = _ntc("show clock", output)
    if not parsing.first(rows, "year"):
        raise ParseError("'show clock' printed no date")
    return {}  # the clock is read, not trusted: clock_offset_seconds stays None


_NTP_TOTAL = re.compile(r"^\s*Total peers\s*:\s*(\d+)", re.MULTILINE)
#: a peer row; "*" in front marks the peer the clock is synchronised to
_NTP_PEER = re.compile(r"^\s*([*+=-])?\s*(\d+\.\d+\.\d+\.\d+|[0-9a-fA-F:]+:[0-9a-fA-F:]*)\s",
                       re.MULTILINE)


def parse_ntp(output: str) -> Update:
    if not _NTP_TOTAL.search(output):
        raise ParseError("not 'show ntp peer-status' output (no 'Total peers' line)")
    synced = any(match.group(1) == "*" for match in _NTP_PEER.finditer(output))
    return {"time_synchronized": synced}


# -- routing ------------------------------------------------------------------------------------


def parse_bgp(output: str) -> Update:
    rows = _ntc("show ip bgp summary", output)
    neighbors: list[BgpNeighbor] = []
    for row in rows:
        word = str(row.get("state_pfxrcd") or "").strip()
        if not row.get("bgp_neigh") or not word:
            continue
        prefixes = parsing.to_int(word)
        neighbors.append(BgpNeighbor(
            peer=row["bgp_neigh"],
            remote_as=parsing.text_or_none(row.get("neigh_as")),
            vrf=parsing.text_or_none(row.get("vrf")),
            state="Established" if prefixes is not None else word,
            established=prefixes is not None,
            prefixes_received=prefixes,
        ))
    if not neighbors:
        raise ParseError("'show ip bgp summary' listed no neighbors")
    return {"bgp_neighbors": neighbors}


def ospf_state(state: str) -> tuple[str, bool]:
    """``"FULL/ -"`` → (``"FULL/-"``, True); healthy: FULL, or 2WAY with a DROTHER."""
    word = re.sub(r"\s+", "", state)
    adjacency, _, role = word.partition("/")
    adjacency = adjacency.upper().replace("-", "")
    healthy = adjacency == "FULL" or (adjacency == "2WAY" and role.upper() == "DROTHER")
    return word, healthy


_OSPF_NONE = re.compile(r"Total number of neighbors:\s*0\b")


def parse_ospf(output: str) -> Update:
    try:
        rows = _ntc("show ip ospf neighbors", output)
    except ParseError:
        if _OSPF_NONE.search(output):
            return {"ospf_neighbors": []}
        raise
    neighbors: list[OspfNeighbor] = []
    for row in rows:
        state, healthy = ospf_state(str(row.get("state") or ""))
        neighbors.append(OspfNeighbor(
            neighbor_id=row["neighbor_id"],
            address=parsing.text_or_none(row.get("ip_address")),
            interface=parsing.text_or_none(row.get("interface")),
            state=state,
            healthy=healthy,
        ))
    return {"ospf_neighbors": neighbors}


PARSERS: dict[str, ItemParser] = {
    "version": parse_version,
    "inventory": parse_inventory,
    "cpu_usage": parse_cpu,
    "memory": parse_memory,
    "environment": parse_environment,
    "interfaces": parse_interfaces,
    "log_errors": parse_logging,
    "clock": parse_clock,
    "ntp": parse_ntp,
    "bgp": parse_bgp,
    "ospf": parse_ospf,
}
