"""The runner with custom packs, on the agent's own host (platform ``local``, no SSH): a real
script item runs through the local shell, its checks are judged with config overrides on top,
a pack's thresholds for built-in checks apply under the config's, a pack that is broken or not
approved is refused per device while the rest of the inspection runs, and an approval of one
customer does not cover another customer's device."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from agent.packs.approval import ALL, approval_content
from agent.results import DeviceResult
from agent.runner import Inspector
from agent.store import Store
from checks.model import State
from config.loader import load_config

PACK = """\
name: host-extra
version: "1.0.0"
platforms: [linux]
thresholds:
  filesystem:
    items:
      "/": {warn: 0.001, crit: 0.002}
items:
  - id: answer
    read_only: true
    script: |
      # prints what a real probe would
      echo "answer=42"
      echo "queue=17"
    parser: {type: kv}
    checks:
      - {id: answer_is_42, field: answer, equals: 42}
      - {id: queue_depth, field: queue, warn: 10, crit: 20}
"""


def write(tmp_path: Path, devices: list[dict[str, Any]], customers: dict[str, Any]) -> Path:
    packs = tmp_path / "packs"
    packs.mkdir(exist_ok=True)
    (packs / "host-extra.yaml").write_text(PACK)
    (packs / "broken.yaml").write_text("name: broken\nversion: '1'\nplatforms: [linux]\n"
                                       "items:\n  - id: a\n    script: rm -rf /tmp/x\n"
                                       "    read_only: true\n")
    config = {"store": {"data_dir": str(tmp_path / "data")}, "packs": {"paths": ["packs"]},
              "devices": devices, "customers": customers,
              "groups": {"acme": {}, "beta": {}}}
    path = tmp_path / "xunjian.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run(path: Path, tmp_path: Path, approve_for: list[str]) -> dict[str, DeviceResult]:
    loaded = load_config(path)
    store = Store.open(None, tmp_path / "data")
    try:
        pack = loaded.library.get("host-extra")
        for scope in approve_for:
            store.approve_pack(pack_name=pack.name, pack_version=pack.version,
                               content_hash=pack.content_hash, scope=scope,
                               approved_by="reviewer", content=approval_content(pack))
        inspector = Inspector(loaded, store, data_dir=tmp_path / "data", trigger="schedule")
        return {r.device: r for r in inspector.run(loaded.devices).devices}
    finally:
        store.close()


def checks(result: DeviceResult) -> dict[tuple[str, str | None], Any]:
    return {(c.check, c.item): c for c in result.checks}


def test_custom_pack_on_the_local_host(tmp_path: Path) -> None:
    local = {"address": "localhost", "platform": "local", "packs": ["host-extra"]}
    path = write(tmp_path, [
        {"name": "acme-host", "groups": ["acme"], **local,
         # the config wins over the pack's own threshold (10) and over its filesystem one
         "checks": {"host-extra.queue_depth": {"warn": 15}}},
        {"name": "beta-host", "groups": ["beta"], **local},
        {"name": "both-host", "groups": ["acme"], "address": "localhost", "platform": "local",
         "packs": ["host-extra", "broken"]},
    ], {"acme": {"name": "ACME", "groups": ["acme"]},
        "beta": {"name": "Beta", "groups": ["beta"]}})
    results = run(path, tmp_path, approve_for=["acme"])

    acme = checks(results["acme-host"])
    assert acme[("host-extra.answer_is_42", None)].state is State.OK
    queue = acme[("host-extra.queue_depth", None)]
    assert (queue.state, queue.value, queue.warn, queue.crit) == (State.WARN, 17, 15, 20)
    assert queue.evidence == ["host-extra.answer"] and queue.title == "queue_depth"
    root = acme[("filesystem", "/")]
    assert (root.warn, root.crit, root.state) == (0.001, 0.002, State.CRIT)
    assert [(p.name, p.approval) for p in results["acme-host"].packs] == [
        ("linux-standard", "not-required"), ("host-extra", "approved")]
    raw = {r.item: r for r in results["acme-host"].raw}
    assert raw["host-extra.answer"].output.splitlines() == ["answer=42", "queue=17"]

    # acme's approval does not cover beta's device: refused, nothing of it ran there
    beta = checks(results["beta-host"])
    refused = beta[("pack", "host-extra")]
    assert refused.state is State.UNKNOWN
    assert "is not approved for customer beta" in refused.message
    assert "--customer beta" in refused.message
    assert not any(name.startswith("host-extra.") for name, _ in beta)
    assert "host-extra.answer" not in {r.item for r in results["beta-host"].raw}
    assert beta[("filesystem", "/")].crit != 0.002  # the pack's thresholds did not apply

    # a broken pack is refused on its own; the device's other packs run
    both = checks(results["both-host"])
    assert "refused the script" in both[("pack", "broken")].message
    assert both[("host-extra.answer_is_42", None)].state is State.OK
    assert results["both-host"].state is State.CRIT  # the filesystem threshold, not a failure


def test_an_approval_for_every_device_covers_them_all(tmp_path: Path) -> None:
    path = write(tmp_path, [{"name": "h", "address": "localhost", "platform": "local",
                             "packs": ["host-extra"]}], {})
    results = run(path, tmp_path, approve_for=[ALL])
    assert checks(results["h"])[("host-extra.answer_is_42", None)].state is State.OK
    # and the edited pack is refused until approved again
    text = (tmp_path / "packs" / "host-extra.yaml").read_text().replace("crit: 20", "crit: 30")
    (tmp_path / "packs" / "host-extra.yaml").write_text(text)
    again = run(path, tmp_path, approve_for=[])
    refused = checks(again["h"])[("pack", "host-extra")]
    assert "changed since reviewer approved 1.0.0" in refused.message
    assert "check answer.queue_depth: crit 20 → 30" in refused.message


SWAP = """\
name: my-linux
version: "2.0.0"
platforms: [linux]
items:
  - id: answer
    read_only: true
    script: echo answer=41
    parser: {type: kv}
    checks:
      - {id: answer_is_42, field: answer, equals: 42}
"""


def test_a_plan_may_swap_in_a_custom_standard_pack(tmp_path: Path) -> None:
    path = write(tmp_path, [{"name": "h", "address": "localhost", "platform": "local"}], {})
    (tmp_path / "packs" / "my-linux.yaml").write_text(SWAP)
    loaded = load_config(path)
    swap = loaded.library.get("my-linux")
    store = Store.open(None, tmp_path / "data")
    try:
        refused = Inspector(loaded, store, data_dir=tmp_path / "data", trigger="schedule",
                            packs={"local": swap}).run(loaded.devices).devices[0]
        # not approved: nothing at all is sent to the device, and the result says why
        assert [c.check for c in refused.checks] == ["pack"] and refused.packs == []
        assert refused.checks[0].item == "my-linux"
        assert refused.checks[0].message.startswith("nothing was sent: pack my-linux 2.0.0")
        store.approve_pack(pack_name=swap.name, pack_version=swap.version,
                           content_hash=swap.content_hash, scope=ALL, approved_by="r",
                           content=approval_content(swap))
        ran = Inspector(loaded, store, data_dir=tmp_path / "data", trigger="schedule",
                        packs={"local": swap}).run(loaded.devices).devices[0]
        # its own checks are judged like any custom pack's (item ids stay plain)
        [answer] = [c for c in ran.checks if c.check == "my-linux.answer_is_42"]
        assert answer.state is State.CRIT and answer.evidence == ["answer"]
        assert [(p.name, p.approval) for p in ran.packs] == [("my-linux", "approved")]
    finally:
        store.close()
