"""The simulated fleet: OpenSSH-backed hosts and replay-simulated network devices on loopback.

Reuses the test harness (tests/support/sshd.py and tests/support/netsim.py) rather than a copy:
``SshdFleet`` runs ceil(N/16) sshd processes on 127.0.1.x onwards (MaxStartups 200:30:400), and
the network devices are spread over several simulator processes (one Python process serves its
devices under one GIL; ``DEVICES_PER_SIMULATOR`` keeps it from being what the clients wait for).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "tests"))

from support.netsim import PLATFORMS, Device, NetSim  # noqa: E402
from support.prometheus import free_port  # noqa: E402
from support.sshd import SshdFleet, sshd_unavailable_reason, sshd_version  # noqa: E402

__all__ = ["PLATFORMS", "Fleet", "SshdFleet", "free_port", "netsim_devices",
           "sshd_unavailable_reason", "sshd_version", "start_fleet"]

#: measured here with Nornir on 200 devices: one process for all of them took 12.1 s and lost
#: a device (its sessions time out), 50 per process 11.1 s, 25 per process 10.7 s
DEVICES_PER_SIMULATOR = 25
NET_USERNAME = "admin"
NET_PASSWORD = "bench-net-pw"  # a benchmark's loopback simulators: not a secret
NET_SECRET = "bench-enable"
#: platforms whose sessions need ``enable`` (the simulator asks for the secret there)
ENABLE_PLATFORMS = ("cisco_ios", "arista_eos")


@dataclass
class Fleet:
    hosts: SshdFleet | None
    simulators: list[NetSim]
    #: every simulated device's known_hosts lines, merged
    device_known_hosts: Path

    @property
    def devices(self) -> list[Device]:
        return [d for sim in self.simulators for d in sim.devices.values()]


def netsim_devices(count: int) -> list[Device]:
    """``count`` devices, the six platforms in turn: ``cisco_ios-1``, ``cisco_nxos-1``, …"""
    devices = []
    for index in range(count):
        platform = PLATFORMS[index % len(PLATFORMS)]
        secret = NET_SECRET if platform in ENABLE_PLATFORMS else ""
        devices.append(Device(name=f"{platform}-{index // len(PLATFORMS) + 1}",
                              platform=platform, username=NET_USERNAME, password=NET_PASSWORD,
                              secret=secret))
    return devices


@contextlib.contextmanager
def start_fleet(workdir: Path, hosts: int, devices: int,
                per_simulator: int = DEVICES_PER_SIMULATOR) -> Iterator[Fleet]:
    """Start the hosts and the devices; stop everything (by PID) on the way out."""
    with contextlib.ExitStack() as stack:
        fleet_hosts = None
        if hosts:
            fleet_hosts = stack.enter_context(SshdFleet(workdir / "sshd", hosts))
        wanted = netsim_devices(devices)
        chunks = [wanted[i:i + per_simulator] for i in range(0, len(wanted), per_simulator)]
        simulators = []
        for index, chunk in enumerate(chunks):
            # one /24 per simulator, from 127.0.20.x (the SSH hosts use 127.0.1.x onwards)
            sim = NetSim(workdir / f"netsim-{index:02d}", chunk,
                         first_address=f"127.0.{20 + index}.1",
                         startup_timeout=max(20.0, 0.5 * len(chunk)))
            simulators.append(stack.enter_context(sim))
        known = workdir / "devices_known_hosts"
        known.write_text("".join(sim.known_hosts.read_text() for sim in simulators))
        yield Fleet(fleet_hosts, simulators, known)
