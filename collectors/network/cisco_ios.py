"""Cisco IOS / IOS-XE parsers (netmiko ``cisco_ios``).

Pack ``cisco_ios-standard``; which command feeds which facts:

=============== ================================== =============================================
item            command                            facts (parser)
=============== ================================== =============================================
version         show version                       hostname, os_name, os_version, uptime_seconds,
                                                   hardware (model, chassis serial) — ntc
inventory       show inventory                     modules — ntc
cpu_usage       show processes cpu                 cpu_used_ratio (5-minute average) — ntc
memory          show processes memory sorted       memory_* of the Processor pool — ntc
temperature     show environment temperature       environment.temperatures — ntc, else our
                                                   template (sensors ntc does not know, e.g.
                                                   Outlet)
fans            show environment fan               environment.fans — our template
power           show environment power all         environment.power_supplies — ntc
interfaces      show interfaces                    interfaces — ntc, plus byte counters by regex
                                                   (the ntc template has no byte columns)
log_errors      show logging                       log_error_count — regex over the Log Buffer
clock           show clock                         nothing (checked to be a clock reading) — ntc
ntp             show ntp status                    time_synchronized — regex
bgp             show ip bgp summary                bgp_neighbors — ntc
ospf            show ip ospf neighbor              ospf_neighbors — ntc
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

PLATFORM = "cisco_ios"

_IOS_BANNER = re.compile(
    r"Cisco IOS|IOS \(tm\)|Cisco Internetwork Operating System", re.IGNORECASE
)
_IOS_XE = re.compile(r"IOS[ -]XE", re.IGNORECASE)
_VERSION_LINE = re.compile(r"^Cisco IOS[ -]?(?:XE )?Software.*?, Version ([^\s,]+)", re.MULTILINE)
_UPTIME_LINE = re.compile(r"^(\S+) uptime is (.+)$", re.MULTILINE)


def _ntc(command: str, output: str) -> list[dict[str, Any]]:
    return parsing.ntc(PLATFORM, command, output)


# -- version / inventory ---------------------------------------------------------------------


def parse_version(output: str) -> Update:
    if not _IOS_BANNER.search(output):
        raise ParseError("not Cisco IOS 'show version' output (no 'Cisco IOS' banner)")
    rows = _ntc("show version", output)
    row = rows[0]
    version = parsing.text_or_none(row.get("version"))
    uptime_text = parsing.text_or_none(row.get("uptime"))
    if version is None and (banner := _VERSION_LINE.search(output)):
        # a banner wrapped onto two lines defeats the ntc template; the XE line still says it
        version = banner.group(1)
    if uptime_text is None and (up := _UPTIME_LINE.search(output)):
        row = {**row, "hostname": row.get("hostname") or up.group(1)}
        uptime_text = up.group(2)
    if version is None or uptime_text is None:
        raise ParseError("'show version' output has no version or uptime line (truncated?)")
    uptime = parsing.uptime_seconds(uptime_text)
    if uptime is None:
        raise ParseError(f"uptime {uptime_text!r} not understood")
    return {
        "hostname": parsing.text_or_none(row.get("hostname")),
        "os_name": "IOS-XE" if _IOS_XE.search(output) else "IOS",
        "os_version": version,
        "uptime_seconds": uptime,
        "hardware": Hardware(
            vendor="Cisco",
            model=parsing.text_or_none(parsing.first(rows, "hardware")),
            serial=parsing.text_or_none(parsing.first(rows, "serial")),
        ),
    }


def parse_inventory(output: str) -> Update:
    rows = _ntc("show inventory", output)
    modules = [
        Module(
            name=row["name"],
            description=parsing.text_or_none(row.get("descr")),
            part=parsing.text_or_none(row.get("pid")),
            serial=parsing.text_or_none(row.get("sn")),
        )
        for row in rows
        if row.get("name")
    ]
    if not modules:
        raise ParseError("'show inventory' listed no NAME entries")
    return {"modules": modules}


# -- CPU / memory ----------------------------------------------------------------------------


def parse_cpu(output: str) -> Update:
    rows = _ntc("show processes cpu", output)
    for key in ("cpu_usage_5_min", "cpu_usage_1_min", "cpu_usage_5_sec"):
        value = parsing.to_float(parsing.first(rows, key))
        if value is not None:
            return {"cpu_used_ratio": value / 100}
    raise ParseError("no 'CPU utilization for five seconds' line in 'show processes cpu'")


def parse_memory(output: str) -> Update:
    rows = _ntc("show processes memory sorted", output)
    total = parsing.to_int(parsing.first(rows, "memory_total"))
    used = parsing.to_int(parsing.first(rows, "memory_used"))
    free = parsing.to_int(parsing.first(rows, "memory_free"))
    if not total or used is None or free is None:
        raise ParseError("no 'Processor Pool Total: ... Used: ... Free: ...' line")
    return {
        "memory_total_bytes": total,
        "memory_available_bytes": free,
        "memory_used_ratio": used / total,
    }


# -- environment ------------------------------------------------------------------------------

#: "Temperature State" of Catalyst 3850/9300 sensors
_TEMP_STATE_OK = {"GREEN": True, "YELLOW": False, "RED": False}


def temperature_state_ok(state: str) -> bool | None:
    return _TEMP_STATE_OK.get(state.strip().upper())


def parse_temperature(output: str) -> Update:
    sensors: list[Sensor] = []
    try:
        rows = _ntc("show environment temperature", output)
    except ParseError:
        rows = []
    if rows:
        for row in rows:
            prefix = f"Switch {row['switch']} " if row.get("switch") else ""
            for kind in ("inlet", "hotspot"):
                celsius = parsing.to_float(row.get(f"{kind}_temperature_value"))
                state = str(row.get(f"{kind}_temperature_state") or "")
                if celsius is None and not state:
                    continue
                sensors.append(Sensor(
                    name=f"{prefix}{kind.capitalize()}",
                    celsius=celsius,
                    ok=temperature_state_ok(state) if state else None,
                    status=state or None,
                ))
    else:
        # ntc's template stops at sensors it does not know (e.g. "Outlet"); ours reads any
        for row in parsing.own("cisco_ios_show_environment_temperature", output):
            prefix = f"Switch {row['switch']} " if row.get("switch") else ""
            state = str(row.get("state") or "")
            sensors.append(Sensor(
                name=f"{prefix}{row['sensor']}",
                celsius=parsing.to_float(row.get("celsius")),
                ok=temperature_state_ok(state) if state else None,
                status=state or None,
            ))
    if not sensors:
        raise ParseError("no temperature readings in 'show environment temperature'")
    return {"environment": Environment(temperatures=sensors)}


#: fan / power-supply words printed by Catalyst switches → Component.ok
_COMPONENT_OK: dict[str, bool | None] = {
    "OK": True,
    "GOOD": True,
    "NOT PRESENT": None,
    "NOT OK": False,
    "BAD": False,
    "FAULTY": False,
    "FAIL": False,
    "FAILED": False,
    "FAILURE": False,
    "NOT FUNCTIONING": False,
    "NO INPUT POWER": False,
    "NOT RESPONDING": False,
    "DISABLED": False,
}


def component_ok(status: str) -> bool | None:
    """Explicit mapping of the device's word; unknown words give None (state not understood)."""
    return _COMPONENT_OK.get(re.sub(r"\s+", " ", status.strip()).upper())


def parse_fans(output: str) -> Update:
    fans: list[Component] = []
    for row in parsing.own("cisco_ios_show_environment_fan", output):
        switch, fan = row.get("switch") or "", row.get("fan") or ""
        if switch and fan:
            name = f"Switch {switch} Fan {fan}"
        elif switch:
            name = f"Switch {switch} Fan"
        elif fan.upper() == "SYSTEM":
            name = "System Fan"
        elif fan:
            name = f"Fan {fan}"
        else:
            name = "Fan"
        status = str(row["status"]).strip()
        fans.append(Component(name=name, ok=component_ok(status), status=status))
    return {"environment": Environment(fans=fans)}


def parse_power(output: str) -> Update:
    rows = _ntc("show environment power all", output)
    supplies: list[Component] = []
    for row in rows:
        status = str(row.get("status") or "").strip()
        sys_pwr = str(row.get("sys_pwr") or "").strip()
        pid = str(row.get("pid") or "").strip()
        if not status and not sys_pwr and pid.upper() == "NOT PRESENT":
            status = pid  # "1B  Not Present"
        word = status or sys_pwr
        if not word:
            raise ParseError(f"power supply {row.get('ps_module')!r} has no status")
        ok = component_ok(word)
        if ok is True and sys_pwr and component_ok(sys_pwr) is False:
            ok = False  # "OK" supply whose system power is "Bad"
        supplies.append(Component(name=f"PS{row['ps_module']}", ok=ok, status=word))
    return {"environment": Environment(power_supplies=supplies)}


# -- interfaces ----------------------------------------------------------------------------

_IF_HEADER = re.compile(r"^(\S+) is .*?, line protocol is ", re.MULTILINE)
_RX_BYTES = re.compile(r"^\s*\d+ packets input, (\d+) bytes", re.MULTILINE)
_TX_BYTES = re.compile(r"^\s*\d+ packets output, (\d+) bytes", re.MULTILINE)

#: first word(s) of "<if> is <link_status>, line protocol is ..." → administratively enabled
_ADMIN_UP = {"up": True, "down": True, "reset": True, "testing": True,
             "administratively down": False, "deleted": False}


def _byte_counters(output: str) -> dict[str, tuple[int | None, int | None]]:
    headers = list(_IF_HEADER.finditer(output))
    result: dict[str, tuple[int | None, int | None]] = {}
    for index, header in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(output)
        block = output[header.start():end]
        rx, tx = _RX_BYTES.search(block), _TX_BYTES.search(block)
        result[header.group(1)] = (
            int(rx.group(1)) if rx else None, int(tx.group(1)) if tx else None
        )
    return result


def parse_interfaces(output: str) -> Update:
    rows = _ntc("show interfaces", output)
    counters = _byte_counters(output)
    interfaces: list[NetInterface] = []
    for row in rows:
        name = row["interface"]
        link = str(row.get("link_status") or "").strip().lower()
        protocol = str(row.get("protocol_status") or "").strip().lower()
        rx_bytes, tx_bytes = counters.get(name, (None, None))
        interfaces.append(NetInterface(
            name=name,
            admin_up=_ADMIN_UP.get(link),
            oper_up=(link == "up" and protocol.startswith("up")) if link else None,
            rx_errors=parsing.to_int(row.get("input_errors")),
            tx_errors=parsing.to_int(row.get("output_errors")),
            crc_errors=parsing.to_int(row.get("crc")),
            rx_dropped=parsing.to_int(row.get("queue_drops")),
            tx_dropped=parsing.to_int(row.get("queue_output_drops")),
            rx_bytes=rx_bytes,
            tx_bytes=tx_bytes,
            description=parsing.text_or_none(row.get("description")),
        ))
    return {"interfaces": interfaces}


# -- logging / time ----------------------------------------------------------------------------

_LOG_HEADER = re.compile(r"^Syslog logging:", re.MULTILINE)
_LOG_BUFFER = re.compile(r"^Log Buffer \(\d+ bytes\):\s*$", re.MULTILINE)
#: "%LINK-3-UPDOWN:" — facility, severity digit, mnemonic
_LOG_SEVERITY = re.compile(r"%[A-Z0-9_]+(?:-[A-Z0-9_]+)*-([0-7])-[A-Z0-9_]+:")


def count_severe(lines: str) -> int:
    """Messages of severity 0 (emergencies) to 3 (errors); one message per line."""
    count = 0
    for line in lines.splitlines():
        match = _LOG_SEVERITY.search(line)
        if match and int(match.group(1)) <= 3:
            count += 1
    return count


def parse_logging(output: str) -> Update:
    if not _LOG_HEADER.search(output):
        raise ParseError("not IOS 'show logging' output (no 'Syslog logging:' line)")
    buffer = _LOG_BUFFER.search(output)
    if buffer is None:
        raise ParseError("'show logging' shows no Log Buffer (buffer logging disabled?)")
    return {"log_error_count": count_severe(output[buffer.end():])}


def parse_clock(output: str) -> Update:
    rows = _ntc("show clock", output)
    if not parsing.first(rows, "year"):
        raise ParseError("'show clock' printed no date")
    return {}  # the clock is read, not trusted: clock_offset_seconds stays None


_NTP_STATUS = re.compile(r"^\s*Clock is (synchronized|unsynchronized)\b", re.MULTILINE)


def parse_ntp(output: str) -> Update:
    match = _NTP_STATUS.search(output)
    if match is None:
        raise ParseError("no 'Clock is synchronized/unsynchronized' line in 'show ntp status'")
    return {"time_synchronized": match.group(1) == "synchronized"}


# -- routing ------------------------------------------------------------------------------------


def parse_bgp(output: str) -> Update:
    rows = _ntc("show ip bgp summary", output)
    neighbors: list[BgpNeighbor] = []
    for row in rows:
        word = str(row.get("state_or_prefixes_received") or "").strip()
        if not row.get("bgp_neighbor") or not word:
            continue
        prefixes = parsing.to_int(word)
        neighbors.append(BgpNeighbor(
            peer=row["bgp_neighbor"],
            remote_as=parsing.text_or_none(row.get("neighbor_as")),
            vrf=None,  # 'show ip bgp summary' does not print it
            state="Established" if prefixes is not None else word,
            established=prefixes is not None,
            prefixes_received=prefixes,
        ))
    if not neighbors:
        raise ParseError("'show ip bgp summary' listed no neighbors")
    return {"bgp_neighbors": neighbors}


def ospf_state(state: str) -> tuple[str, bool]:
    """``"FULL/  -"`` → (``"FULL/-"``, True); healthy: FULL, or 2WAY with a DROTHER."""
    word = re.sub(r"\s+", "", state)
    adjacency, _, role = word.partition("/")
    adjacency = adjacency.upper().replace("-", "")
    healthy = adjacency == "FULL" or (adjacency == "2WAY" and role.upper() == "DROTHER")
    return word, healthy


_OSPF_HEADER = re.compile(r"^\s*Neighbor ID\s+Pri\s+State", re.MULTILINE)


def parse_ospf(output: str) -> Update:
    try:
        rows = _ntc("show ip ospf neighbor", output)
    except ParseError:
        if _OSPF_HEADER.search(output) and not re.search(r"\d+\.\d+\.\d+\.\d+", output):
            return {"ospf_neighbors": []}  # the header alone: no neighbors
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
    "temperature": parse_temperature,
    "fans": parse_fans,
    "power": parse_power,
    "interfaces": parse_interfaces,
    "log_errors": parse_logging,
    "clock": parse_clock,
    "ntp": parse_ntp,
    "bgp": parse_bgp,
    "ospf": parse_ospf,
}
