"""H3C / HPE Comware 7 parsers: pack ``hp_comware-standard``.

Which command feeds which facts:

- ``version``     ``display version`` (own template) → os_name "Comware", os_version
  (``7.1.070 Release 6635P07``), uptime_seconds, hardware vendor/model. Comware does not print
  the sysname here, so ``hostname`` is not set by this pack.
- ``inventory``   ``display device manuinfo`` (ntc-templates) → modules (every chassis, slot,
  subslot, fan and power entry with its serial) and hardware.serial/model of the chassis
  ("Chassis self", else the first slot, else the single entry of a box without slot headings).
- ``cpu_usage``   ``display cpu-usage`` (own template) → cpu_used_ratio: the five-minute
  average of the busiest CPU.
- ``memory``      ``display memory`` (own template; KB) → memory_total_bytes,
  memory_available_bytes (the "Free" column), memory_used_ratio (100 - FreeRatio) of the slot
  with the least free memory.
- ``temperature`` ``display environment`` (own template) → environment.temperatures.
- ``fans``        ``display fan`` (own template) → environment.fans.
- ``power``       ``display power`` (own template) → environment.power_supplies.
- ``interfaces``  ``display interface`` (ntc-templates for state/description, a regex pass over
  each interface block for the counters) → interfaces.
- ``log_errors``  ``display logbuffer`` (regex) → log_error_count (severity 0-3 messages).
- ``clock``       ``display clock`` (ntc-templates) → no facts (checked to be a clock reading).
- ``ntp``         ``display ntp-service status`` (own template) → time_synchronized.
- ``bgp``         ``display bgp peer ipv4`` (ntc-templates) → bgp_neighbors.
- ``ospf``        ``display ospf peer`` (own template) → ospf_neighbors.
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
from collectors.network.huawei_vrp import count_log_errors, ospf_healthy
from collectors.network.parsing import ItemParser, Update

PLATFORM = "hp_comware"

# -- device words → booleans (explicit; anything else is "unknown" = None) ---------------------
#: fan "State"/"Status" words
FAN_OK = frozenset({"normal"})
FAN_FAILED = frozenset({"fault", "faulty", "abnormal", "failed", "error", "stall", "stopped"})
#: power "State" words
POWER_OK = frozenset({"normal"})
POWER_FAILED = frozenset({"fault", "faulty", "abnormal", "failed", "error", "offline",
                          "input-fault", "output-fault"})
ABSENT = frozenset({"absent", "not-present", "notpresent", "not present"})
NTP_SYNCED = {"synchronized": True, "unsynchronized": False}


# -- version ---------------------------------------------------------------------------------

def parse_version(output: str) -> Update:
    rows = parsing.own("hp_comware_display_version", output)
    row = rows[0]
    if not row.get("software_version"):
        raise ParseError("display version: no 'Comware Software, Version ...' line "
                         "(not Comware output?)")
    model = str(row.get("model") or "").strip()
    vendor = str(row.get("vendor") or "") or None
    if vendor is None and model:
        vendor = "H3C"
    model = re.sub(r"^(?:H3C|HPE|HP)\s+", "", model)  # "H3C H3C S5560X-30C-EI"
    version = str(row["software_version"])
    if row.get("release"):
        version += f" Release {row['release']}"
    uptime = str(row.get("uptime") or "")
    return {
        "os_name": "Comware",
        "os_version": version,
        "uptime_seconds": parsing.uptime_seconds(uptime) if uptime else None,
        "hardware": Hardware(vendor=vendor, model=model or None),
    }


# -- inventory ---------------------------------------------------------------------------------

def _clean(value: Any) -> str | None:
    text = str(value or "").strip()
    return None if text.upper() in {"", "NONE", "NULL"} else text


def manuinfo_module(row: dict[str, Any]) -> Module | None:
    """One ``display device manuinfo`` entry as a Module; None when it has neither name nor
    serial (the device said "not supported" / "Failed to display" for it)."""
    description = _clean(row.get("device_name"))
    serial = _clean(row.get("device_serial_number"))
    if description is None and serial is None:
        return None
    kind = str(row.get("slot_type") or "").strip()
    unit = str(row.get("slot_id") or "").strip()
    name = f"{kind.capitalize()} {unit}".strip() or "Device"
    if row.get("chassis_id"):
        name = f"Chassis {row['chassis_id']} {name}"
    return Module(name=name, description=description, serial=serial)


def parse_manuinfo(output: str) -> Update:
    rows = parsing.ntc(PLATFORM, "display device manuinfo", output)
    modules = [m for m in (manuinfo_module(row) for row in rows) if m is not None]
    if not modules:
        raise ParseError("display device manuinfo: no entry with a name or serial number")
    chassis = next((m for m in modules if m.name.endswith("Chassis self")), None)
    if chassis is None:
        chassis = next((m for m in modules if " Slot " in f" {m.name} "), modules[0])
    return {"modules": modules,
            "hardware": Hardware(serial=chassis.serial, model=chassis.description)}


# -- cpu / memory ------------------------------------------------------------------------------

def parse_cpu_usage(output: str) -> Update:
    rows = parsing.own("hp_comware_display_cpu-usage", output)
    values = [v for v in (parsing.to_float(r.get("five_minutes")) for r in rows) if v is not None]
    if not values:
        raise ParseError("display cpu-usage: no '% in last 5 minutes' figure")
    return {"cpu_used_ratio": round(max(values) / 100, 4)}


def parse_memory(output: str) -> Update:
    rows = parsing.own("hp_comware_display_memory", output)
    best: tuple[float, Update] | None = None
    for row in rows:
        total = parsing.to_int(row.get("total"))
        free = parsing.to_int(row.get("free"))
        free_ratio = parsing.to_float(row.get("free_ratio"))
        if total is None or free_ratio is None:
            continue
        used_ratio = round(1 - free_ratio / 100, 4)
        update: Update = {
            "memory_total_bytes": total * 1024,
            "memory_available_bytes": None if free is None else free * 1024,
            "memory_used_ratio": used_ratio,
        }
        if best is None or used_ratio > best[0]:
            best = (used_ratio, update)
    if best is None:
        raise ParseError("display memory: no 'Mem:' line with a FreeRatio")
    return best[1]


# -- environment -------------------------------------------------------------------------------

def temperature_verdict(row: dict[str, Any]) -> tuple[bool | None, str]:
    """Comware prints limits, not a status word: judge the reading against the device's own
    WarningLimit / AlarmLimit columns (NA limits → unknown)."""
    temp = parsing.to_float(row.get("temperature"))
    warning = parsing.to_float(row.get("warning"))
    alarm = parsing.to_float(row.get("alarm"))
    if temp is None:
        return None, "no reading"
    if alarm is not None and temp >= alarm:
        return False, f"at or above AlarmLimit {row['alarm']}"
    if warning is not None and temp >= warning:
        return False, f"at or above WarningLimit {row['warning']}"
    if warning is None and alarm is None:
        return None, "no limits printed"
    return True, "below WarningLimit"


def parse_environment(output: str) -> Update:
    rows = parsing.own("hp_comware_display_environment", output)
    sensors: list[Sensor] = []
    for row in rows:
        where = " ".join(p for p in (
            f"Chassis {row['chassis']}" if row.get("chassis") else "",
            f"Slot {row['slot']}" if row.get("slot") and str(row["slot"]).isdigit()
            else str(row.get("slot") or ""),
        ) if p)
        ok, status = temperature_verdict(row)
        sensors.append(Sensor(name=f"{where} {row['sensor']}".strip(),
                              celsius=parsing.to_float(row.get("temperature")),
                              ok=ok, status=status))
    return {"environment": Environment(temperatures=sensors)}


def _component(slot: str, kind: str, unit: str, state: str, ok_words: frozenset[str],
               failed_words: frozenset[str]) -> Component:
    name = f"{slot} {kind} {unit}".strip()
    if not state.strip():
        raise ParseError(f"display {kind.lower()}: {name} has no State line (truncated output?)")
    if state.strip().lower() in ABSENT:
        return Component(name=name, ok=None, status=state)
    return Component(name=name, ok=parsing.word_state(state, ok_words, failed_words), status=state)


def parse_fan(output: str) -> Update:
    rows = parsing.own("hp_comware_display_fan", output)
    fans = [_component(str(r.get("slot") or ""), "Fan", str(r["fan"]), str(r.get("state") or ""),
                       FAN_OK, FAN_FAILED) for r in rows]
    return {"environment": Environment(fans=fans)}


def parse_power(output: str) -> Update:
    rows = parsing.own("hp_comware_display_power", output)
    supplies = [_component(str(r.get("slot") or ""), "Power", str(r["power"]),
                           str(r.get("state") or ""), POWER_OK, POWER_FAILED) for r in rows]
    return {"environment": Environment(power_supplies=supplies)}


# -- interfaces --------------------------------------------------------------------------------

_IF_START = re.compile(r"^(\S+)[ \t]*\r?\n\s*Current state\s*:", re.MULTILINE)
_IN_BYTES = re.compile(r"^\s*Input(?: \(total\))?\s*:\s*(\d+|-)\s+packets,\s*(\d+|-)\s+bytes",
                       re.MULTILINE)
_OUT_BYTES = re.compile(r"^\s*Output(?: \(total\))?\s*:\s*(\d+|-)\s+packets,\s*(\d+|-)\s+bytes",
                        re.MULTILINE)
_IN_DROPS = re.compile(r"^\s*Input\s*:[^\n]*?,\s*(\d+)\s+drops", re.MULTILINE)
_OUT_DROPS = re.compile(r"^\s*Output\s*:[^\n]*?,\s*(\d+)\s+drops", re.MULTILINE)
_IN_ERRORS = re.compile(r"(\d+)\s+input errors")
_OUT_ERRORS = re.compile(r"(\d+)\s+output errors")
_CRC = re.compile(r"(\d+)\s+CRC\b")


def _int_group(pattern: re.Pattern[str], text: str, group: int = 1) -> int | None:
    match = pattern.search(text)
    return parsing.to_int(match.group(group)) if match else None


def interface_counters(block: str) -> dict[str, int | None]:
    """Counters of one ``display interface`` block ("-" = not supported → None)."""
    return {
        "rx_bytes": _int_group(_IN_BYTES, block, 2),
        "tx_bytes": _int_group(_OUT_BYTES, block, 2),
        "rx_errors": _int_group(_IN_ERRORS, block),
        "tx_errors": _int_group(_OUT_ERRORS, block),
        "rx_dropped": _int_group(_IN_DROPS, block),
        "tx_dropped": _int_group(_OUT_DROPS, block),
        "crc_errors": _int_group(_CRC, block),
    }


def interface_state(line_status: str, protocol_status: str) -> tuple[bool | None, bool | None]:
    """(admin_up, oper_up): "Current state: UP | DOWN | Administratively DOWN | STP DOWN" and
    "Line protocol state: UP | UP(spoofing) | DOWN"."""
    line = line_status.strip().upper()
    if not line:
        return None, None
    admin_up = not line.startswith("ADMINISTRATIVELY")
    oper_up = line == "UP" and protocol_status.strip().upper().startswith("UP")
    return admin_up, oper_up


def parse_interfaces(output: str) -> Update:
    rows = parsing.ntc(PLATFORM, "display interface", output)
    blocks = parsing.split_blocks(_IF_START, output)
    interfaces: list[NetInterface] = []
    for row in rows:
        name = str(row["interface"])
        admin_up, oper_up = interface_state(str(row.get("line_status") or ""),
                                            str(row.get("protocol_status") or ""))
        interfaces.append(NetInterface(
            name=name, admin_up=admin_up, oper_up=oper_up,
            description=str(row.get("description") or "").strip() or None,
            **interface_counters(blocks.get(name, ""))))
    return {"interfaces": interfaces}


# -- logs, clock, ntp --------------------------------------------------------------------------

_LOGBUF_HEADER = re.compile(r"^\s*Log buffer\s*:", re.IGNORECASE | re.MULTILINE)
#: "%Jan  1 00:13:05:220 2013 H3C IFNET/3/PHY_UPDOWN: ..." → severity 3
_LOG_MESSAGE = re.compile(r"^\s*%?\w{3}\s+\d+\s[\d:]+\s+\d{4}\s+\S+\s+"
                          r"[A-Z][A-Z0-9_]*/(?P<sev>[0-7])/[A-Z0-9_]+", re.MULTILINE)


def parse_logbuffer(output: str) -> Update:
    return count_log_errors(output, _LOGBUF_HEADER, _LOG_MESSAGE, "display logbuffer")


#: "10:22:51.361 Beijing Sat 03/02/2024" (Comware 7 adds milliseconds, which the ntc-templates
#: template does not accept)
_CLOCK = re.compile(r"^\s*\d{1,2}:\d{2}:\d{2}(?:\.\d+)?\s+\S+\s+[A-Za-z]{3}\s+\d{2}/\d{2}/\d{4}",
                    re.MULTILINE)


def parse_clock(output: str) -> Update:
    """No fact (see huawei_vrp.parse_clock); checked to be a Comware clock reading."""
    if _CLOCK.search(output):
        return {}
    parsing.ntc(PLATFORM, "display clock", output)  # raises with the template's reason
    return {}


def parse_ntp_status(output: str) -> Update:
    rows = parsing.own("hp_comware_display_ntp-service_status", output)
    status = str(rows[0].get("status") or "").lower()
    if status not in NTP_SYNCED:
        raise ParseError(f"display ntp-service status: unknown clock status {status!r}")
    return {"time_synchronized": NTP_SYNCED[status]}


# -- routing -----------------------------------------------------------------------------------

def parse_bgp_peer(output: str) -> Update:
    rows = parsing.ntc(PLATFORM, "display bgp peer ipv4", output)
    return {"bgp_neighbors": [
        BgpNeighbor(
            peer=str(row["peer"]),
            remote_as=str(row.get("remote_asn") or "") or None,
            state=str(row.get("state") or ""),
            established=str(row.get("state") or "").lower() == "established",
            prefixes_received=parsing.to_int(row.get("prefixes_received")),
        )
        for row in rows
    ]}


def parse_ospf_peer(output: str) -> Update:
    try:
        rows = parsing.own("hp_comware_display_ospf_peer", output)
    except ParseError:
        if re.search(r"Neighbor Brief Information", output):
            return {"ospf_neighbors": []}  # OSPF runs, no neighbour listed
        raise
    return {"ospf_neighbors": [
        OspfNeighbor(neighbor_id=str(r["router_id"]), address=str(r["address"]) or None,
                     interface=str(r["interface"]) or None, state=str(r["state"]),
                     healthy=ospf_healthy(str(r["state"])))
        for r in rows
    ]}


PARSERS: dict[str, ItemParser] = {
    "version": parse_version,
    "inventory": parse_manuinfo,
    "cpu_usage": parse_cpu_usage,
    "memory": parse_memory,
    "temperature": parse_environment,
    "fans": parse_fan,
    "power": parse_power,
    "interfaces": parse_interfaces,
    "log_errors": parse_logbuffer,
    "clock": parse_clock,
    "ntp": parse_ntp_status,
    "bgp": parse_bgp_peer,
    "ospf": parse_ospf_peer,
}
