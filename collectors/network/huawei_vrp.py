"""Huawei VRP (S/CE/AR/NE series) parsers: pack ``huawei_vrp-standard``.

Which command feeds which facts:

- ``version``     ``display version`` (ntc-templates) → os_name "VRP", os_version (the product
  version, e.g. ``V800R011C00SPC200``), uptime_seconds, hardware vendor/model.
  VRP does not print the sysname here, so ``hostname`` is not set by this pack.
- ``inventory``   ``display esn`` (regex) → hardware.serial (the ESN of the master / device /
  first slot) and modules (one entry per ESN line).
- ``cpu_usage``   ``display cpu-usage`` (own template) → cpu_used_ratio: the five-minute average
  where printed, else the current ("CPU Usage : 12%") figure.
- ``memory``      ``display memory-usage`` (own template) → memory_total_bytes,
  memory_available_bytes (total - used), memory_used_ratio.
- ``temperature`` ``display temperature all`` (own template, S series layout) or the NE/CX
  ``display temperature`` layout (ntc-templates) → environment.temperatures.
- ``fans``        ``display fan`` (own template) → environment.fans.
- ``power``       ``display power`` (own template) → environment.power_supplies.
- ``interfaces``  ``display interface`` (ntc-templates for state/description, a regex pass over
  each interface block for the byte/error/discard/CRC counters) → interfaces.
- ``log_errors``  ``display logbuffer`` (regex) → log_error_count (severity 0-3 messages).
- ``clock``       ``display clock`` → no facts (checked to be a clock reading only).
- ``ntp``         ``display ntp-service status`` (VRP5; VRP8 calls it ``display ntp status``;
  both print the same lines, parsed with the ntc-templates ``display ntp status`` template)
  → time_synchronized.
- ``bgp``         ``display bgp peer`` (ntc-templates) → bgp_neighbors.
- ``ospf``        ``display ospf peer brief`` (own template) → ospf_neighbors.
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

PLATFORM = "huawei_vrp"

# -- device words → booleans (explicit; anything else is "unknown" = None) ---------------------
#: fan "Status" column (display fan / display device fan)
FAN_OK = frozenset({"normal"})
FAN_FAILED = frozenset({"abnormal", "fault", "faulty", "failed", "error", "block", "stall"})
#: power "State" column (display power / display device power)
POWER_OK = frozenset({"supply", "normal"})
POWER_FAILED = frozenset({"notsupply", "no-supply", "nosupply", "abnormal", "fault", "faulty",
                          "failed", "error", "offline"})
#: "Online"/"Present" column words meaning the slot is empty
ABSENT = frozenset({"absent", "no", "not-present", "notpresent"})
#: temperature "Status" column (display temperature)
TEMP_OK = frozenset({"normal"})
TEMP_FAILED = frozenset({"minor", "major", "fatal", "abnormal", "alarm", "high", "critical"})
#: OSPF adjacency states that are where a neighbour should settle
OSPF_HEALTHY = frozenset({"full", "2-way", "2way"})


def _ratio(percent: Any) -> float | None:
    value = parsing.to_float(percent)
    return None if value is None else round(value / 100, 4)


# -- version ---------------------------------------------------------------------------------

def model_name(text: str) -> str:
    """"S5720-52X-SI-AC Routing Switch" → "S5720-52X-SI-AC" (the uptime line's suffix)."""
    return re.sub(r"\s+(?:Routing Switch|Router|Switch)\s*$", "", text.strip())


def parse_version(output: str) -> Update:
    rows = parsing.ntc(PLATFORM, "display version", output)
    row = rows[0]
    if not row.get("vrp_version") or not row.get("model"):
        raise ParseError("display version: no 'VRP (R) software, Version' or '<model> uptime is' "
                         "line (not Huawei VRP output?)")
    product = str(row.get("product_version") or "").split()
    os_version = product[-1] if product and product[-1].upper().startswith("V") else None
    return {
        "os_name": "VRP",
        "os_version": os_version or str(row["vrp_version"]),
        "uptime_seconds": parsing.uptime_seconds(str(row.get("uptime") or "")),
        "hardware": Hardware(vendor="Huawei", model=model_name(str(row["model"]))),
    }


# -- inventory (display esn) -------------------------------------------------------------------

_ESN = re.compile(r"^\s*ESN\s+of\s+(?P<who>[^:]+?)\s*:\s*(?P<esn>\S+)\s*$", re.MULTILINE)


def parse_esn(output: str) -> Update:
    found = [(m.group("who"), m.group("esn")) for m in _ESN.finditer(output)]
    if not found:
        raise ParseError("display esn: no 'ESN of ...: <serial>' line in the output")
    chassis = next((esn for who, esn in found if who.lower() in {"master", "device"}), found[0][1])
    modules = [Module(name=f"ESN of {who}", serial=esn) for who, esn in found]
    return {"hardware": Hardware(vendor="Huawei", serial=chassis), "modules": modules}


# -- cpu / memory ------------------------------------------------------------------------------

def parse_cpu_usage(output: str) -> Update:
    rows = parsing.own("huawei_vrp_display_cpu-usage", output)
    five_min = parsing.first(rows, "five_minutes")
    value = five_min if five_min is not None else parsing.first(rows, "one_minute")
    if value is None:
        value = parsing.first(rows, "current")
    ratio = _ratio(value)
    if ratio is None:
        raise ParseError("display cpu-usage: no CPU utilisation figure found")
    return {"cpu_used_ratio": ratio}


_MEM_UNITS = {"bytes": 1, "kbytes": 1024, "kb": 1024, "mbytes": 1024**2, "mb": 1024**2}


def _mem_bytes(number: Any, unit: Any) -> int | None:
    value = parsing.to_int(number)
    factor = _MEM_UNITS.get(str(unit or "").replace(" ", "").lower())
    return None if value is None or factor is None else value * factor


def parse_memory_usage(output: str) -> Update:
    rows = parsing.own("huawei_vrp_display_memory-usage", output)
    row = rows[0]
    total = _mem_bytes(row.get("total"), row.get("total_unit"))
    used = _mem_bytes(row.get("used"), row.get("used_unit"))
    percent = _ratio(row.get("percent"))
    if total is None and percent is None:
        raise ParseError("display memory-usage: neither 'System Total Memory' nor "
                         "'Memory Using Percentage' found")
    update: Update = {"memory_total_bytes": total}
    if total and used is not None:
        update["memory_available_bytes"] = total - used
        update["memory_used_ratio"] = round(used / total, 4)
    else:
        update["memory_used_ratio"] = percent
    return update


# -- environment -------------------------------------------------------------------------------

def _temperature_all(output: str) -> list[Sensor]:
    """S series ``display temperature all``: Slot Card Sensor Status Current(C) ... Upper(C)."""
    rows = parsing.own("huawei_vrp_display_temperature_all", output)
    sensors: list[Sensor] = []
    for row in rows:
        parts = [f"Slot {row['slot']}"] + [str(row[k]) for k in ("card", "sensor")
                                           if str(row.get(k) or "NA").upper() != "NA"]
        status = str(row["status"])
        sensors.append(Sensor(name=" ".join(parts), celsius=parsing.to_float(row.get("current")),
                              ok=parsing.word_state(status, TEMP_OK, TEMP_FAILED), status=status))
    return sensors


def _temperature_boards(output: str) -> list[Sensor]:
    """NE/CX ``display temperature``: per "SlotIDn :" a table of PCB ... Status ... Temp."""
    rows = parsing.ntc(PLATFORM, "display temperature", output)
    sensors: list[Sensor] = []
    seen: dict[str, int] = {}
    for row in rows:
        status = str(row.get("status") or "")
        base = f"{row.get('slotid') or ''} {row.get('pcb') or ''}".strip()
        seen[base] = seen.get(base, 0) + 1
        sensors.append(Sensor(
            name=f"{base} #{seen[base]}",
            celsius=parsing.to_float(row.get("temperature")),
            ok=parsing.word_state(status, TEMP_OK, TEMP_FAILED),
            status=status or None,
        ))
    return sensors


def parse_temperature(output: str) -> Update:
    """``display temperature all`` (S series) or ``display temperature`` (NE/CX) layouts."""
    try:
        sensors = _temperature_all(output)
    except ParseError:
        sensors = _temperature_boards(output)
    return {"environment": Environment(temperatures=sensors)}


def _slot_name(slot: str, unit: str, kind: str) -> str:
    unit = unit.strip()
    label = unit if not unit.isdigit() else f"{kind} {unit}"
    return f"Slot {slot} {label}" if slot else label


def parse_fan(output: str) -> Update:
    rows = parsing.own("huawei_vrp_display_fan", output)
    fans: list[Component] = []
    for row in rows:
        online = str(row.get("online") or "")
        status = str(row.get("status") or "")
        if online.lower() in ABSENT:
            ok, words = None, online
        else:
            ok, words = parsing.word_state(status, FAN_OK, FAN_FAILED), status
        fans.append(Component(name=_slot_name(str(row.get("slot") or ""), str(row["fan"]), "Fan"),
                              ok=ok, status=words))
    return {"environment": Environment(fans=fans)}


def parse_power(output: str) -> Update:
    rows = parsing.own("huawei_vrp_display_power", output)
    supplies: list[Component] = []
    for row in rows:
        online = str(row.get("online") or "")
        state = str(row.get("state") or "")
        if online.lower() in ABSENT:
            ok, words = None, online
        else:
            ok, words = parsing.word_state(state, POWER_OK, POWER_FAILED), state
        supplies.append(Component(
            name=_slot_name(str(row.get("slot") or ""), str(row["power"]), "PWR"),
            ok=ok, status=words))
    return {"environment": Environment(power_supplies=supplies)}


# -- interfaces --------------------------------------------------------------------------------

_IF_START = re.compile(r"^(?!Line protocol)(\S+) current state\s*:", re.MULTILINE)
_BYTES = re.compile(r"(\d+)\s+packets?\s*,\s*(\d+)\s+bytes", re.IGNORECASE)
_PKT_BYTES = re.compile(r"packets?\s*:\s*\d+\s*,\s*(\d+)\s+bytes", re.IGNORECASE)
_TOTAL_ERR = re.compile(r"Total Error\s*:\s*(\d+)", re.IGNORECASE)
_N_ERRORS = re.compile(r"\b(\d+)\s+(?:input |output )?errors\b", re.IGNORECASE)
_DISCARD = re.compile(r"\bDiscards?\s*:\s*(\d+)", re.IGNORECASE)
_CRC = re.compile(r"\b(?:CRC|FCS)\s*(?:error packets)?\s*:\s*(\d+)", re.IGNORECASE)
#: "Input:  24 packets, 4936 bytes" / "Input: 0 packets,0 bytes" / "Input packets:396, 39552 bytes"
#: (not "Input peak rate ..." nor "Input bandwidth utilization ...")
_INPUT_LINE = re.compile(r"^\s*Input(?:\s*:|\s+packets)", re.IGNORECASE | re.MULTILINE)
_OUTPUT_LINE = re.compile(r"^\s*Output(?:\s*:|\s+packets)", re.IGNORECASE | re.MULTILINE)


def _first_int(pattern: re.Pattern[str], text: str, group: int = 1) -> int | None:
    match = pattern.search(text)
    return int(match.group(group)) if match else None


def _counters(block: str) -> dict[str, int | None]:
    """Best-effort counters from one interface block; None where the block does not show them."""
    inp = _INPUT_LINE.search(block)
    out = _OUTPUT_LINE.search(block, inp.end()) if inp else None
    in_part = block[inp.start(): out.start() if out else None] if inp else ""
    out_part = block[out.start():] if out else ""
    rx_bytes = _first_int(_BYTES, in_part, 2)
    tx_bytes = _first_int(_BYTES, out_part, 2)
    if rx_bytes is None:  # dialer layout: "Input packets:396,  39552 bytes"
        rx_bytes = _first_int(_PKT_BYTES, in_part)
    if tx_bytes is None:
        tx_bytes = _first_int(_PKT_BYTES, out_part)
    rx_errors = _first_int(_TOTAL_ERR, in_part)
    tx_errors = _first_int(_TOTAL_ERR, out_part)
    return {
        "rx_bytes": rx_bytes,
        "tx_bytes": tx_bytes,
        "rx_errors": rx_errors if rx_errors is not None else _first_int(_N_ERRORS, in_part),
        "tx_errors": tx_errors if tx_errors is not None else _first_int(_N_ERRORS, out_part),
        "rx_dropped": _first_int(_DISCARD, in_part),
        "tx_dropped": _first_int(_DISCARD, out_part),
        "crc_errors": _first_int(_CRC, in_part),
    }


def interface_state(link_status: str, protocol_status: str) -> tuple[bool | None, bool | None]:
    """(admin_up, oper_up) from "<if> current state : X" and "Line protocol current state : Y".

    VRP prints ``Administratively DOWN`` for a shut interface, ``UP``/``DOWN`` otherwise
    (protocol may carry a suffix, ``UP (spoofing)``)."""
    link = link_status.strip().upper()
    proto = protocol_status.strip().upper()
    if not link:
        return None, None
    admin_up = not link.startswith("ADMINISTRATIVELY")
    oper_up = link.startswith("UP") and proto.startswith("UP")
    return admin_up, oper_up


def parse_interfaces(output: str) -> Update:
    rows = parsing.ntc(PLATFORM, "display interface", output)
    blocks = parsing.split_blocks(_IF_START, output)
    interfaces: list[NetInterface] = []
    for row in rows:
        name = str(row["interface"])
        admin_up, oper_up = interface_state(str(row.get("link_status") or ""),
                                            str(row.get("protocol_status") or ""))
        description = str(row.get("interface_description") or "").strip() or None
        interfaces.append(NetInterface(name=name, admin_up=admin_up, oper_up=oper_up,
                                       description=description,
                                       **_counters(blocks.get(name, ""))))
    return {"interfaces": interfaces}


# -- logs, clock, ntp --------------------------------------------------------------------------

_LOGBUF_HEADER = re.compile(r"Logging buffer configuration and contents", re.IGNORECASE)
#: "Dec 29 2020 10:09:19+08:00 HUAWEI %%01IFNET/4/LINK_STATE(l)[3]:..." → severity 4
_LOG_MESSAGE = re.compile(r"%%\d*[A-Z][A-Z0-9_]*/(?P<sev>[0-7])/[A-Za-z0-9_]+")


def count_log_errors(output: str, header: re.Pattern[str], message: re.Pattern[str],
                     what: str) -> Update:
    if not header.search(output):
        raise ParseError(f"{what}: no log buffer header in the output")
    severities = [int(m.group("sev")) for m in message.finditer(output)]
    return {"log_error_count": sum(1 for sev in severities if sev <= 3)}


def parse_logbuffer(output: str) -> Update:
    return count_log_errors(output, _LOGBUF_HEADER, _LOG_MESSAGE, "display logbuffer")


_CLOCK = re.compile(r"^\s*\d{4}-\d{2}-\d{2}\s+\d{1,2}:\d{2}:\d{2}", re.MULTILINE)


def parse_clock(output: str) -> Update:
    """No fact: the device's wall clock cannot be compared reliably with the agent's clock over
    a CLI session (the offset would include the session latency). Checked for shape only."""
    if not _CLOCK.search(output):
        raise ParseError("display clock: no 'YYYY-MM-DD HH:MM:SS' line in the output")
    return {}


#: "clock status: synchronized" / "unsynchronized"
NTP_SYNCED = {"synchronized": True, "unsynchronized": False}


def parse_ntp_status(output: str) -> Update:
    rows = parsing.ntc(PLATFORM, "display ntp status", output)
    status = str(rows[0].get("clock_status") or "").lower()
    if status not in NTP_SYNCED:
        raise ParseError(f"display ntp-service status: unknown clock status {status!r}")
    return {"time_synchronized": NTP_SYNCED[status]}


# -- routing -----------------------------------------------------------------------------------

def parse_bgp_peer(output: str) -> Update:
    rows = parsing.ntc(PLATFORM, "display bgp peer", output)
    neighbors = [
        BgpNeighbor(
            peer=str(row["peer"]),
            remote_as=str(row.get("asn") or "") or None,
            state=str(row.get("state") or ""),
            established=str(row.get("state") or "").lower() == "established",
            prefixes_received=parsing.to_int(row.get("pref_rcvd")),
        )
        for row in rows
    ]
    return {"bgp_neighbors": neighbors}


def ospf_healthy(state: str) -> bool:
    """FULL (any role suffix) or 2-Way (normal between DROthers)."""
    return state.split("/", maxsplit=1)[0].strip().lower() in OSPF_HEALTHY


def parse_ospf_peer_brief(output: str) -> Update:
    try:
        rows = parsing.own("huawei_vrp_display_ospf_peer_brief", output)
    except ParseError:
        if re.search(r"Peer Statistic Information", output):
            return {"ospf_neighbors": []}  # OSPF runs, no neighbour listed
        raise
    neighbors = [
        OspfNeighbor(neighbor_id=str(row["neighbor_id"]), interface=str(row["interface"]) or None,
                     state=str(row["state"]), healthy=ospf_healthy(str(row["state"])))
        for row in rows
    ]
    return {"ospf_neighbors": neighbors}


PARSERS: dict[str, ItemParser] = {
    "version": parse_version,
    "inventory": parse_esn,
    "cpu_usage": parse_cpu_usage,
    "memory": parse_memory_usage,
    "temperature": parse_temperature,
    "fans": parse_fan,
    "power": parse_power,
    "interfaces": parse_interfaces,
    "log_errors": parse_logbuffer,
    "clock": parse_clock,
    "ntp": parse_ntp_status,
    "bgp": parse_bgp_peer,
    "ospf": parse_ospf_peer_brief,
}
