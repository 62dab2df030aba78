"""The scale benchmark's history (bench/_scale_fleet.py) is what inspections store."""

from __future__ import annotations

from pathlib import Path

from agent.store import Store
from bench._scale_fleet import NETWORK_PLATFORMS, SWITCH_PORTS, History, make_fleet
from checks.model import State


def test_history_is_stored_like_inspections(tmp_path: Path) -> None:
    fleet = make_fleet(tmp_path, 40)
    assert {d.platform for d in fleet.devices} == {"linux", *NETWORK_PLATFORMS}
    store = Store.open(None, tmp_path / "data")
    try:
        history = History(fleet)
        for day in range(3):
            history.store_run(store, day)
        latest = {r.device: r for r in store.latest_results()}
        assert len(latest) == 40  # none is skipped below 200 devices
        assert store.counts()["device_results"] == 3 * 40
        for result in latest.values():
            assert result.reachable and result.facts is not None
            assert {c.check for c in result.checks} >= {"cpu", "memory"}
            if result.platform != "linux":
                assert len(result.facts.interfaces or []) >= SWITCH_PORTS
                assert store.config_versions(result.device)
        # real checks judged real facts: mostly OK, with the planted findings
        states = [r.state for r in latest.values()]
        assert states.count(State.OK) > len(states) // 2
        found = {c.check for r in latest.values() for c in r.findings}
        assert found >= {"memory", "hardware_register"}
    finally:
        store.close()
