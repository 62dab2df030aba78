"""``xunjian inspect`` against fakenos, an independent simulator (its own prompts, echo timing
and canned outputs, run from its own virtual environment): cisco_ios and huawei_vrp.

fakenos answers only some of the standard packs' commands natively. The first test inspects it
as it is: what it answers becomes normalised facts, what it does not know is UNKNOWN with the
device's own refusal, never OK. The second extends fakenos with the replay outputs for the
commands it lacks, so the whole pack runs through fakenos's session handling.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from support.fakenos_peer import DEVICE_PASSWORD, FakenosPeer
from support.netsim import REPLAY_ROOT

from agent.results import DeviceResult
from agent.runner import Inspector
from agent.store import Store
from checks.model import State
from config.loader import load_config

pytestmark = pytest.mark.fakenos

ENV = {"XJ_FAKENOS_PASSWORD": DEVICE_PASSWORD, "XJ_FAKENOS_SECRET": "unused-by-fakenos"}


def _inspect(tmp_path: Path, replay_root: Path | None) -> dict[str, DeviceResult]:
    with FakenosPeer(tmp_path / "fakenos", {"cisco_ios": 1, "huawei_vrp": 1},
                     replay_root=replay_root) as peer:
        config = {
            "version": 1,
            "ssh": {"known_hosts": str(peer.known_hosts), "command_timeout": 10},
            "credentials": {"net": {"username": peer.username,
                                    "password_env": "XJ_FAKENOS_PASSWORD",
                                    "secret_env": "XJ_FAKENOS_SECRET"}},
            "devices": [{"name": d.name, "address": d.address, "port": d.port,
                         "platform": d.platform, "credentials": "net"}
                        for d in peer.devices],
        }
        path = tmp_path / "xunjian.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        loaded = load_config(path)
        store = Store.open(None, tmp_path / "data")
        try:
            run = Inspector(loaded, store, data_dir=tmp_path / "data", env=ENV
                            ).run(loaded.devices)
        finally:
            store.close()
    return {r.platform: r for r in run.devices}


def _checks(result: DeviceResult) -> dict[str, State]:
    return {c.check: c.state for c in result.checks if c.item is None}


def test_fakenos_native_outputs(tmp_path: Path) -> None:
    results = _inspect(tmp_path, None)
    ios, vrp = results["cisco_ios"], results["huawei_vrp"]
    assert ios.reachable and vrp.reachable

    facts = ios.facts
    assert facts is not None
    assert facts.hostname == "ios-001" and facts.os_version == "17.03.01a"
    assert facts.uptime_seconds and facts.cpu_used_ratio is not None
    assert facts.memory_used_ratio is not None and facts.modules
    assert facts.interfaces and facts.bgp_neighbors and facts.ospf_neighbors
    assert facts.config_sha256 is not None
    # fakenos's canned BGP table has an administratively idle peer: a real finding
    idle = [c for c in ios.checks if c.check == "bgp_neighbors" and c.state is State.CRIT]
    assert [c.item for c in idle] == ["10.0.0.10"]
    # commands fakenos does not know are UNKNOWN with its refusal, never OK
    assert set(ios.item_errors) == {"fans", "ntp"}
    assert all("refused the command: % Invalid input" in e for e in ios.item_errors.values())
    assert _checks(ios)["fans"] is State.UNKNOWN

    facts = vrp.facts
    assert facts is not None
    assert facts.hostname == "vrp-001" and facts.os_name == "VRP"
    assert facts.os_version == "V300R003C10SPC500" and facts.uptime_seconds
    assert facts.hardware is not None and facts.hardware.model == "ATN 910C-B"
    assert facts.interfaces and any(i.oper_up for i in facts.interfaces)
    assert vrp.item_errors and all(e == "the device refused the command: Unknown command"
                                   for e in vrp.item_errors.values())
    assert "version" not in vrp.item_errors and "interfaces" not in vrp.item_errors
    assert vrp.state is State.UNKNOWN
    assert _checks(vrp)["cpu"] is State.UNKNOWN


def test_fakenos_with_the_replay_outputs_runs_the_whole_pack(tmp_path: Path) -> None:
    results = _inspect(tmp_path, REPLAY_ROOT)
    for platform in ("cisco_ios", "huawei_vrp"):
        result = results[platform]
        assert result.reachable, result.error
        assert result.item_errors == {}, result.item_errors
        assert result.state is State.OK, [(c.check, c.message) for c in result.checks
                                          if c.state is not State.OK]
        assert result.facts is not None and result.facts.config_sha256
