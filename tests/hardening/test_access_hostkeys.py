"""Host key verification is on by default: a device whose key is unknown or changed is refused
with a message that says what to do, and it never sees the password (the key is verified before
authentication). Against the replay simulator over real SSH; tests/agent/test_inspect_ssh.py
proves the same for Linux hosts on real OpenSSH, and the trust-on-first-use policy.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support.canaries import CANARY_ENABLE_SECRET, CANARY_PASSWORD
from support.netsim import Device, NetSim

from agent.results import DeviceResult
from agent.runner import Inspector
from agent.store import Store
from checks.model import State
from config.loader import load_config

pytestmark = pytest.mark.netsim

ENV = {"XJ_HK_PASSWORD": CANARY_PASSWORD, "XJ_HK_SECRET": CANARY_ENABLE_SECRET}
NAMES = ("known", "changed", "unknown")


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetSim]:
    devices = [Device(name, "cisco_ios", password=CANARY_PASSWORD, secret=CANARY_ENABLE_SECRET)
               for name in NAMES]
    with NetSim(tmp_path_factory.mktemp("hostkeys") / "sim", devices,
                first_address="127.0.27.1") as running:
        yield running


def _inspect(tmp_path: Path, sim: NetSim, ssh: dict[str, object]) -> dict[str, DeviceResult]:
    data: dict[str, object] = {
        "credentials": {"net": {"username": "admin", "password_env": "XJ_HK_PASSWORD",
                                "secret_env": "XJ_HK_SECRET"}},
        "devices": [{"name": d.name, "address": d.address, "port": d.port,
                     "platform": d.platform, "credentials": "net"}
                    for d in sim.devices.values()],
    }
    data["ssh"] = ssh
    path = tmp_path / "xunjian.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    loaded = load_config(path)
    store = Store.open(None, tmp_path / "data")
    try:
        run = Inspector(loaded, store, data_dir=tmp_path / "data", env=ENV).run(loaded.devices)
    finally:
        store.close()
    return {r.device: r for r in run.devices}


def _known_hosts(sim: NetSim, path: Path) -> Path:
    """The real key for ``known``; another key recorded for ``changed`` (what a man in the
    middle or a reinstalled device presents); nothing for ``unknown``."""
    impostor = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    lines = [f"{sim.devices['known'].known_hosts_name} {sim.host_key_line}",
             f"{sim.devices['changed'].known_hosts_name} {impostor}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def _logins(sim: NetSim, name: str) -> list[dict[str, object]]:
    return [r for r in sim.log(name) if r.get("event") in ("login", "auth-failed")]


@pytest.mark.parametrize("policy", [None, "strict", "tofu"])
def test_changed_and_unknown_keys(sim: NetSim, tmp_path: Path, policy: str | None) -> None:
    before = {name: len(_logins(sim, name)) for name in NAMES}
    ssh: dict[str, object] = {"known_hosts": str(_known_hosts(sim, tmp_path / "kh")),
                              "retries": 0, "command_timeout": 8}
    if policy:
        ssh["host_key_policy"] = policy
    results = _inspect(tmp_path, sim, ssh)

    assert results["known"].reachable, results["known"].error
    changed = results["changed"]
    assert not changed.reachable and changed.state is State.UNKNOWN
    error = changed.error or ""
    assert "HOST KEY CHANGED" in error and "man-in-the-middle" in error
    assert "ssh-keygen -R" in error
    # verified before authentication: the impostor never saw a login attempt, nor the password
    assert len(_logins(sim, "changed")) == before["changed"]
    unknown = results["unknown"]
    if policy == "tofu":
        assert unknown.reachable, unknown.error
    else:  # strict, the default
        assert not unknown.reachable
        assert "is not known" in (unknown.error or "") and "ssh-keyscan" in (unknown.error or "")
        assert "host_key_policy: tofu" in (unknown.error or "")
        assert len(_logins(sim, "unknown")) == before["unknown"]
