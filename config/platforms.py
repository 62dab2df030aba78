"""The platforms xunjian inspects (network ones use netmiko's device_type names)."""

from __future__ import annotations

from typing import Literal

NETWORK_PLATFORMS = (
    "cisco_ios", "cisco_nxos", "huawei_vrp", "hp_comware", "juniper_junos", "arista_eos")
PLATFORMS = ("linux", "local", *NETWORK_PLATFORMS)
Platform = Literal[
    "linux", "local",
    "cisco_ios", "cisco_nxos", "huawei_vrp", "hp_comware", "juniper_junos", "arista_eos",
]
