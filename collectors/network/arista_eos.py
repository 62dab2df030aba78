"""Arista EOS: item parsers for the ``arista_eos-standard`` pack.

Which command feeds which facts:

==========================================  ================================================
``version``: show version                   os_name "EOS", os_version, uptime_seconds,
                                            hardware.vendor/model/serial, memory_total_bytes,
                                            memory_available_bytes ("Free memory"),
                                            memory_used_ratio — ntc-templates. EOS prints no
                                            hostname here, so hostname is not collected.
``inventory``: show inventory               modules (chassis, power supplies, fan modules,
                                            transceivers, cards), hardware.serial/model — own
                                            template (ntc's rows do not say their section)
``cpu_usage``: show processes top once      cpu_used_ratio (100 - %idle of top's one
                                            snapshot) — ntc-templates
``temperature``: show environment temperature environment.temperatures — ntc-templates
``fans``: show environment cooling          environment.fans (fan and PSU fans) — ntc
``power``: show environment power           environment.power_supplies — ntc-templates
``interfaces``: show interfaces             interfaces: state and description (ntc-templates)
                                            joined with counters (own template)
``log_errors``: show logging                log_error_count: buffered messages whose
                                            ``%FACILITY-N-MNEMONIC`` severity N is 0-3 — regex
``clock``: show clock                       validated only (no fact is reliable enough)
``ntp``: show ntp status                    time_synchronized — regex
``bgp``: show ip bgp summary vrf all        bgp_neighbors (every VRF) — ntc-templates
``ospf``: show ip ospf neighbor vrf all     ospf_neighbors — ntc-templates
``running_config``: show running-config     not parsed here (config history)
==========================================  ================================================
"""

from __future__ import annotations

import re

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
from collectors.network.parsing import (
    ItemParser,
    Update,
    ntc,
    own,
    require,
    to_float,
    to_int,
    uptime_seconds,
)

PLATFORM = "arista_eos"
VENDOR = "Arista"

# -- mappings from the device's own words ------------------------------------------------------

#: fan / power-supply Status column of ``show environment cooling`` / ``power``
COMPONENT_STATUS_OK: dict[str, bool | None] = {
    "ok": True,
    "failed": False,
    "power loss": False,
    "powerloss": False,
    "not ok": False,
    "fault": False,
    "not inserted": None,
    "not installed": None,
    "not present": None,
    "unknown": None,
    "unsupported": None,
}

#: "System temperature status is: <word>" of ``show environment temperature``
TEMPERATURE_STATUS_OK: dict[str, bool | None] = {
    "ok": True,
    "overheating": False,
    "critical": False,
    "unknown": None,
}

#: BGP state column (``Estab`` in the State/PfxRcd layout); a bare number in the old
#: "State/PfxRcd" column means Established.
BGP_ESTABLISHED = {"estab", "established"}

#: OSPF state (``FULL/DR``, ``2WAY/DROTHER`` ...): the part before "/"
OSPF_HEALTHY = {"full", "2way", "2-way"}


def _component_ok(status: str) -> bool | None:
    return COMPONENT_STATUS_OK.get(status.strip().lower())


# -- version --------------------------------------------------------------------------------------


def parse_version(output: str) -> Update:
    require(output, r"^Software image version:", "EOS show version")
    row = ntc(PLATFORM, "show version", output)[0]
    total_kb = to_int(row.get("total_memory"))
    free_kb = to_int(row.get("free_memory"))
    update: Update = {
        "os_name": "EOS",
        "os_version": row.get("image") or None,
        "uptime_seconds": uptime_seconds(row["uptime"]) if row.get("uptime") else None,
        "hardware": Hardware(vendor=VENDOR, model=row.get("model") or None,
                             serial=row.get("serial_number") or None),
    }
    if total_kb:
        update["memory_total_bytes"] = total_kb * 1024
        if free_kb is not None:
            update["memory_available_bytes"] = free_kb * 1024
            update["memory_used_ratio"] = round((total_kb - free_kb) / total_kb, 4)
    return update


# -- inventory ------------------------------------------------------------------------------------

_SECTION_NAMES = {
    "power supply slots": "Power Supply",
    "fan modules": "Fan Module",
    "transceiver slots": "Transceiver",
    "card slots": "Card",
}


def _value(text: str) -> str | None:
    text = text.strip()
    return None if text in {"", "N/A", "Unknown"} else text


def parse_inventory(output: str) -> Update:
    rows = own("arista_eos_show_inventory", output)
    modules: list[Module] = []
    chassis: Module | None = None
    for row in rows:
        if not (row["model"] or row["serial"]):
            continue
        section = row["section"]
        if not section:
            chassis = Module(name="Chassis", description=_value(row["description"]),
                             part=_value(row["model"]), serial=_value(row["serial"]))
            modules.append(chassis)
            continue
        name = f"{_SECTION_NAMES[section]} {row['slot']}"
        description = _value(row["description"]) if section == "transceiver slots" else None
        modules.append(Module(name=name, description=description, part=_value(row["model"]),
                              serial=_value(row["serial"])))
    if chassis is None:
        raise ParseError("show inventory: no chassis model/serial under 'System information'")
    return {"modules": modules,
            "hardware": Hardware(vendor=VENDOR, model=chassis.part, serial=chassis.serial)}


# -- cpu ------------------------------------------------------------------------------------------


def parse_cpu(output: str) -> Update:
    require(output, r"^%?Cpu\(s\):", "show processes top once")
    rows = ntc(PLATFORM, "show processes top once", output)
    idle = to_float(rows[0].get("global_cpu_percent_idle"))
    if idle is None:
        raise ParseError("show processes top once: no %Cpu(s) idle figure")
    return {"cpu_used_ratio": round((100 - idle) / 100, 4)}


# -- environment ----------------------------------------------------------------------------------

_TEMP_STATUS = re.compile(r"^System temperature status is:\s*(\S.*?)\s*$", re.MULTILINE)


def parse_temperature(output: str) -> Update:
    status_line = _TEMP_STATUS.search(output)
    if status_line is None:
        raise ParseError("not the output of show environment temperature (no status line)")
    system_status = status_line.group(1)
    sensors = [Sensor(name="System temperature status", celsius=None,
                      ok=TEMPERATURE_STATUS_OK.get(system_status.lower()), status=system_status)]
    try:
        rows = ntc(PLATFORM, "show environment temperature", output)
    except ParseError:
        rows = []  # e.g. vEOS: the status line and no sensors
    for row in rows:
        celsius = to_float(row["current_value"])
        alert = to_float(row["alert_limit"])
        # EOS prints no per-sensor verdict; it alarms at its own Alert limit, printed alongside
        ok = None if celsius is None or alert is None else celsius < alert
        where = f"{row['module']} sensor" if row.get("module") else "Sensor"
        sensors.append(Sensor(name=f"{where} {row['sensor']}: {row['description']}",
                              celsius=celsius, ok=ok, status=None))
    return {"environment": Environment(temperatures=sensors)}


def parse_fans(output: str) -> Update:
    require(output, r"^System cooling status is:", "show environment cooling")
    rows = ntc(PLATFORM, "show environment cooling", output)
    fans = [Component(name=r["fan"], ok=_component_ok(r["status"]), status=r["status"])
            for r in rows]
    return {"environment": Environment(fans=fans)}


def parse_power(output: str) -> Update:
    if "There seem to be no power supplies connected" in output:
        return {"environment": Environment(power_supplies=[])}  # virtual EOS
    require(output, r"^Supply\s+Model\s+Capacity", "show environment power")
    rows = ntc(PLATFORM, "show environment power", output)
    supplies = [
        Component(name=f"PowerSupply{r['power_supply_location']}",
                  ok=_component_ok(r["power_supply_status"]), status=r["power_supply_status"])
        for r in rows
    ]
    return {"environment": Environment(power_supplies=supplies)}


# -- interfaces -----------------------------------------------------------------------------------

#: "<name> is <link>, line protocol is <protocol> (<reason>)"
LINK_ADMIN_DOWN = "administratively down"


def parse_interfaces(output: str) -> Update:
    require(output, r"^\S+ is .*, line protocol is ", "EOS show interfaces")
    rows = ntc(PLATFORM, "show interfaces", output)
    counters = {r["name"]: r for r in own("arista_eos_show_interfaces", output)}
    interfaces = []
    for row in rows:
        link = str(row["link_status"]).strip().lower()
        protocol = str(row["protocol_status"]).strip().lower()
        c = counters.get(row["interface"], {})
        interfaces.append(NetInterface(
            name=row["interface"],
            admin_up=link != LINK_ADMIN_DOWN,
            oper_up=link == "up" and protocol.split(" ")[0] == "up",
            description=row["description"] or None,
            rx_bytes=to_int(c.get("in_bytes")),
            tx_bytes=to_int(c.get("out_bytes")),
            rx_errors=to_int(c.get("in_errors")),
            tx_errors=to_int(c.get("out_errors")),
            rx_dropped=to_int(c.get("in_discards")),
            tx_dropped=to_int(c.get("out_discards")),
            crc_errors=to_int(c.get("crc")),
        ))
    return {"interfaces": interfaces}


# -- log ------------------------------------------------------------------------------------------

_LOG_SEVERITY = re.compile(r"%[A-Z0-9_]+-([0-7])-[A-Z0-9_]+:")


def parse_log(output: str) -> Update:
    # EOS prints its logging settings before the buffer; a bare list of syslog lines (a Junos
    # messages file, a server's log) is not this command's output
    require(output, r"^Syslog logging:", "EOS show logging")
    severities = [int(m.group(1)) for m in _LOG_SEVERITY.finditer(output)]
    return {"log_error_count": sum(1 for s in severities if s <= 3)}


# -- clock / ntp ----------------------------------------------------------------------------------


def parse_clock(output: str) -> Update:
    ntc(PLATFORM, "show clock", output)  # validates: raises when it is not EOS's show clock
    return {}


_NTP_STATE = re.compile(r"^\s*(synchronised|synchronized|unsynchronised|unsynchronized)\b",
                        re.MULTILINE | re.IGNORECASE)


def parse_ntp(output: str) -> Update:
    match = _NTP_STATE.search(output)
    if match is None:
        raise ParseError("show ntp status: no 'synchronised ...' / 'unsynchronised' line")
    return {"time_synchronized": match.group(1).lower().startswith("synchroni")}


# -- routing --------------------------------------------------------------------------------------


def parse_bgp(output: str) -> Update:
    require(output, r"^\s*Neighbor\s+V\s+AS\s+MsgRcvd", "EOS show ip bgp summary")
    rows = ntc(PLATFORM, "show ip bgp summary", output)
    neighbors = []
    for row in rows:
        state = str(row["state"]).strip()
        received = to_int(row["state_pfxrcd"])
        if not state and received is not None:
            state, established = "Established", True  # old layout: the count means Established
        else:
            established = state.lower() in BGP_ESTABLISHED
        neighbors.append(BgpNeighbor(
            peer=row["bgp_neigh"], remote_as=row["neigh_as"] or None,
            vrf=row["vrf"] or "default", state=state or "unknown", established=established,
            prefixes_received=received))
    return {"bgp_neighbors": neighbors}


def parse_ospf(output: str) -> Update:
    require(output, r"^\s*Neighbor ID\s+(?:Instance\s+)?VRF\s+Pri\s+State",
             "EOS show ip ospf neighbor")
    try:
        rows = ntc(PLATFORM, "show ip ospf neighbor", output)
    except ParseError:
        return {"ospf_neighbors": []}  # the header alone: OSPF runs, no neighbours
    neighbors = [
        OspfNeighbor(neighbor_id=r["neighbor_id"], address=r["ip_address"] or None,
                     interface=r["interface"] or None, state=r["state"],
                     healthy=str(r["state"]).split("/")[0].lower() in OSPF_HEALTHY)
        for r in rows
    ]
    return {"ospf_neighbors": neighbors}


PARSERS: dict[str, ItemParser] = {
    "version": parse_version,
    "inventory": parse_inventory,
    "cpu_usage": parse_cpu,
    "temperature": parse_temperature,
    "fans": parse_fans,
    "power": parse_power,
    "interfaces": parse_interfaces,
    "log_errors": parse_log,
    "clock": parse_clock,
    "ntp": parse_ntp,
    "bgp": parse_bgp,
    "ospf": parse_ospf,
}
