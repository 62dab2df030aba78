"""``xunjian inspect`` against network devices: the replay simulator (tests/support/netsim.py)
speaks each platform's CLI over real SSH and serves real captured outputs; netmiko drives it.

Proves: normalised facts and check results for all six platforms; config history with a diff
that shows only the change; refused commands never reach the device (from the simulator's own
log); secrets stay out of every stored artefact; and each bad-input case ends UNKNOWN with the
reason, never a crash or a silent OK.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from support.canaries import CANARY_ENABLE_SECRET, CANARY_PASSWORD
from support.netsim import REPLAY_ROOT, Device, NetSim
from support.replay import replay_file

from agent.cli import main
from agent.results import DeviceResult, RunResult
from agent.runner import Inspector
from agent.store import Store
from checks.model import State
from collectors.cli_policy import CHANGING_COMMANDS
from collectors.network.collector import SESSION_COMMANDS, NetmikoCollector
from collectors.pack import Pack, builtin_pack
from config.loader import LoadedConfig, load_config
from config.platforms import NETWORK_PLATFORMS

pytestmark = pytest.mark.netsim

PASSWORD = CANARY_PASSWORD
SECRET = CANARY_ENABLE_SECRET
ENV = {"XJ_NET_PASSWORD": PASSWORD, "XJ_NET_SECRET": SECRET}


def _name(platform: str, suffix: str = "") -> str:
    return platform.replace("_", "-") + suffix


def _device(platform: str, suffix: str = "", **kw: object) -> Device:
    secret = SECRET if platform in ("cisco_ios", "arista_eos") else ""
    return Device(_name(platform, suffix), platform, password=PASSWORD, secret=secret,
                  **kw)  # type: ignore[arg-type]


def _config(tmp: Path, sim: NetSim, names: list[str], **ssh: object) -> LoadedConfig:
    data = {
        "version": 1,
        "ssh": {"known_hosts": str(sim.known_hosts), "command_timeout": 8, "retries": 0,
                **ssh},
        "credentials": {"net": {"username": "admin", "password_env": "XJ_NET_PASSWORD",
                                "secret_env": "XJ_NET_SECRET"}},
        "devices": [{"name": d.name, "address": d.address, "port": d.port,
                     "platform": d.platform, "credentials": "net"}
                    for d in sim.devices.values() if d.name in names],
    }
    path = tmp / "xunjian.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_config(path)


def _inspect(tmp: Path, sim: NetSim, names: list[str], packs: dict[str, Pack] | None = None,
             **ssh: object) -> tuple[RunResult, Store]:
    loaded = _config(tmp, sim, names, **ssh)
    store = Store.open(None, tmp / "data")
    run = Inspector(loaded, store, data_dir=tmp / "data", env=ENV, packs=packs
                    ).run(loaded.devices)
    return run, store


def _quick_packs() -> dict[str, Pack]:
    """The standard packs with every item on the SSH settings' command_timeout (the faults
    below wait out a timeout; the packs' own generous timeouts would slow the suite)."""
    packs = {}
    for platform in NETWORK_PLATFORMS:
        pack = builtin_pack(f"{platform}-standard")
        packs[platform] = pack.model_copy(update={"items": [
            i.model_copy(update={"timeout": None}) for i in pack.items]})
    return packs


def by_name(run: RunResult) -> dict[str, DeviceResult]:
    return {r.device: r for r in run.devices}


# -- a healthy device of every platform, inspected once for the module ---------------------------

@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NetSim, RunResult, Path]]:
    tmp = tmp_path_factory.mktemp("net")
    with NetSim(tmp / "sim", [_device(p) for p in NETWORK_PLATFORMS]) as sim:
        run, store = _inspect(tmp, sim, [_name(p) for p in NETWORK_PLATFORMS])
        store.close()
        yield sim, run, tmp


@pytest.mark.parametrize("platform", NETWORK_PLATFORMS)
def test_every_platform_gives_normalised_facts_and_checks(healthy, platform: str) -> None:
    _, run, _ = healthy
    result = by_name(run)[_name(platform)]
    assert result.reachable, result.error
    assert result.item_errors == {}
    facts = result.facts
    assert facts is not None
    assert facts.hardware is not None and facts.hardware.model and facts.hardware.serial
    assert facts.hostname and facts.os_version and facts.uptime_seconds
    assert facts.boot_time is not None
    assert 0 <= (facts.cpu_used_ratio or -1) <= 1
    assert 0 <= (facts.memory_used_ratio or -1) <= 1
    assert facts.modules and all(m.name for m in facts.modules)
    assert facts.environment is not None
    assert facts.environment.fans and facts.environment.temperatures is not None
    assert facts.interfaces and any(i.oper_up for i in facts.interfaces)
    assert facts.log_error_count is not None
    assert facts.time_synchronized is True
    assert facts.bgp_neighbors and facts.ospf_neighbors is not None
    assert facts.config_sha256 and facts.config_lines
    checks = {c.check for c in result.checks}
    assert {"cpu", "memory", "fans", "temperature", "interface_errors", "bgp_neighbors",
            "time_sync", "log_errors", "config_changed", "reboot"} <= checks
    assert all(c.state is not State.UNKNOWN for c in result.checks), [
        (c.check, c.message) for c in result.checks if c.state is State.UNKNOWN]
    assert result.pack is not None
    assert result.pack.name == f"{platform}-standard"
    assert len(result.pack.content_hash) == 64


@pytest.mark.parametrize("platform", NETWORK_PLATFORMS)
def test_only_pack_and_session_commands_reached_the_device(healthy, platform: str) -> None:
    sim, _, _ = healthy
    sent = sim.commands(_name(platform))
    pack = [i.command for i in builtin_pack(f"{platform}-standard").items]
    allowed = set(pack) | set(SESSION_COMMANDS[platform]) | {"enable", "exit", "quit"}
    assert set(sent) <= allowed, set(sent) - allowed
    assert [c for c in sent if c in pack] == pack  # each pack command exactly once, in order


def test_evidence_chain_is_stored(healthy) -> None:
    _, _, tmp = healthy
    store = Store.open(None, tmp / "data")
    try:
        result = store.latest_result(_name("huawei_vrp"), with_raw=True)
        assert result is not None and result.transcript is not None
        cpu = next(c for c in result.checks if c.check == "cpu")
        assert cpu.evidence == ["cpu_usage"]
        raw = {r.item: r for r in result.raw}
        assert raw["cpu_usage"].command == "display cpu-usage"
        assert "CPU Usage" in raw["cpu_usage"].output
        assert "display cpu-usage" in result.transcript
        assert result.pack is not None and result.pack.version == "1.0.0"
    finally:
        store.close()


def test_secrets_never_reach_any_stored_artefact(healthy) -> None:
    _, _, tmp = healthy
    for artefact in (tmp / "data").rglob("*"):
        if artefact.is_file():
            data = artefact.read_bytes()
            assert PASSWORD.encode() not in data and SECRET.encode() not in data, artefact
    store = Store.open(None, tmp / "data")
    try:
        for platform in NETWORK_PLATFORMS:
            result = store.latest_result(_name(platform), with_raw=True)
            assert result is not None and result.transcript
            texts = [result.transcript, *(r.output for r in result.raw)]
            texts += [v.text for v in store.config_versions(_name(platform))]
            for text in texts:
                assert PASSWORD not in text and SECRET not in text
    finally:
        store.close()


def test_config_secrets_are_masked_in_storage(healthy) -> None:
    _, _, tmp = healthy
    store = Store.open(None, tmp / "data")
    try:
        (version,) = store.config_versions(_name("cisco_ios"))
        assert version.masked and "<masked>" in version.text
        assert "enable secret" in version.text
        assert "! Last configuration change" not in version.text
        result = store.latest_result(_name("cisco_ios"), with_raw=True)
        assert result is not None
        raw = {r.item: r.output for r in result.raw}["running_config"]
        original = replay_file("cisco_ios", "show running-config").read_text()
        secret_line = next(x for x in original.splitlines() if x.startswith("enable secret"))
        assert secret_line.split()[-1] not in raw
        assert secret_line.split()[-1] not in (result.transcript or "")
    finally:
        store.close()


# -- config history ----------------------------------------------------------------------------

def test_a_config_change_between_inspections_gives_a_diff_of_only_that_change(
    tmp_path: Path,
) -> None:
    replay = tmp_path / "cisco_ios"
    shutil.copytree(REPLAY_ROOT / "cisco_ios", replay)
    config_file = replay_file("cisco_ios", "show running-config", tmp_path)
    device = _device("cisco_ios", replay_dir=str(replay))
    with NetSim(tmp_path / "sim", [device]) as sim:
        _, store = _inspect(tmp_path, sim, [device.name])
        store.close()
        text = config_file.read_text()
        # The change under test, plus noise that must not show up in the diff.
        changed = text.replace("hostname bj-core-sw01", "hostname bj-core-sw01\n"
                               "logging host 10.9.9.9", 1)
        changed = "\n".join(
            "! Last configuration change at 03:04:05 UTC Sun Nov 1 2026 by netops"
            if line.startswith("! Last configuration change") else line
            for line in changed.splitlines()) + "\n"
        assert changed != text
        config_file.write_text(changed)
        second, store = _inspect(tmp_path, sim, [device.name])
    try:
        versions = store.config_versions(device.name)
        assert len(versions) == 2
        diff = versions[0].diff or ""
        body = [x for x in diff.splitlines() if x[:1] in "+-" and x[:3] not in ("+++", "---")]
        assert body == ["+logging host 10.9.9.9"]
        assert (versions[0].added, versions[0].removed) == (1, 0)
        (changed_check,) = [c for c in second.devices[0].checks if c.check == "config_changed"]
        assert changed_check.value == "changed"
        assert changed_check.state is State.OK  # informational
    finally:
        store.close()
    # The same, as an engineer sees it.
    cli = CliRunner()
    env = {"XUNJIAN_DATA_DIR": str(tmp_path / "data")}
    config = ["--config", str(tmp_path / "xunjian.yaml")]
    shown = cli.invoke(main, ["configs", "diff", *config, device.name], env=env)
    assert shown.exit_code == 0, shown.output
    assert "+logging host 10.9.9.9" in shown.output
    listed = cli.invoke(main, ["configs", "list", *config, device.name], env=env)
    assert listed.exit_code == 0 and "+1 -0" in listed.output and "first" in listed.output
    first = cli.invoke(main, ["configs", "diff", *config, device.name, "--version",
                              str(versions[1].id)], env=env)
    assert first.exit_code == 3 and "nothing to compare with" in first.output
    evidence = cli.invoke(main, ["evidence", *config, device.name, "config_changed"], env=env)
    assert evidence.exit_code == 0, evidence.output
    assert "pack: cisco_ios-standard 1.0.0 sha256:" in evidence.output
    assert "$ show running-config    [running_config]" in evidence.output
    assert "logging host 10.9.9.9" in evidence.output
    assert f"xunjian transcript {device.name}" in evidence.output


# -- read-only by construction ---------------------------------------------------------------------

def test_a_refused_command_never_reaches_the_device(tmp_path: Path) -> None:
    """Even a pack tampered with after loading cannot send a changing command: the collector's
    last gate refuses it, and the simulator's own log shows it never arrived."""
    device = _device("cisco_ios")
    with NetSim(tmp_path / "sim", [device]) as sim:
        loaded = _config(tmp_path, sim, [device.name])
        pack = builtin_pack("cisco_ios-standard")
        items = list(pack.items)
        items[1] = items[1].model_copy(update={"command": "reload"})
        items.insert(2, items[2].model_copy(update={"id": "sneaky", "command": "conf t"}))
        tampered = pack.model_copy(update={"items": items})
        store = Store.open(None, tmp_path / "data")
        try:
            inspector = Inspector(loaded, store, data_dir=tmp_path / "data", env=ENV,
                                  packs={"cisco_ios": tampered})
            collector = inspector.collector_for(loaded.devices[0])
            assert isinstance(collector, NetmikoCollector)
            result = collector.collect()
        finally:
            store.close()
        sent = sim.commands(device.name)
    assert "reload" not in sent and "conf t" not in sent
    session = {*SESSION_COMMANDS["cisco_ios"], "enable", "exit"}
    assert not [c for c in sent if c not in session and c.split()[0] in CHANGING_COMMANDS]
    assert set(sent) <= {i.command for i in pack.items} | session
    assert result.item_errors[items[1].id].startswith("not sent: refused 'reload': reload ")
    assert "'conf' abbreviates 'configure'" in result.item_errors["sneaky"]
    assert items[0].command in sent and "show inventory" in sent  # the others still ran


# -- bad input: each case is UNKNOWN with the reason, raw output kept -----------------------------

@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NetSim, RunResult]]:
    tmp = tmp_path_factory.mktemp("faulty")
    garbage = tmp / "huawei_vrp"
    shutil.copytree(REPLAY_ROOT / "huawei_vrp", garbage)
    cpu_file = replay_file("huawei_vrp", "display cpu-usage", tmp)
    cpu_file.write_text("%%%% 0xDEADBEEF unexpected\n\x1b[31mnothing like a CPU table\n")
    devices = [
        _device("cisco_ios", "-prompt", fault="unknown_prompt"),
        _device("huawei_vrp", "-paging", fault="endless_paging"),
        _device("cisco_nxos", "-truncated", fault="truncate", fault_command="show interface"),
        _device("arista_eos", "-stall", fault="stall", fault_command="show logging"),
        _device("cisco_ios", "-vendor", vendor="huawei_vrp"),
        _device("huawei_vrp", "-garbage", replay_dir=str(garbage)),
        Device("cisco-ios-enable", "cisco_ios", password=PASSWORD, secret="Another-Secret-9"),
    ]
    with NetSim(tmp / "sim", devices) as sim:
        run, store = _inspect(tmp, sim, [d.name for d in devices], _quick_packs(),
                              command_timeout=3, host_timeout=40)
        store.close()
        yield sim, run


def test_unknown_prompt_is_unknown_with_the_reason_and_transcript(faulty) -> None:
    _, run = faulty
    r = by_name(run)["cisco-ios-prompt"]
    assert (r.reachable, r.state) == (False, State.UNKNOWN)
    assert "the CLI did not respond as a cisco_ios device does" in (r.error or "")
    assert "???" in (r.transcript or "")


def test_endless_paging_times_out_the_item_and_abandons_the_session(faulty) -> None:
    _, run = faulty
    r = by_name(run)["huawei-vrp-paging"]
    assert r.reachable and r.state is State.UNKNOWN
    first = builtin_pack("huawei_vrp-standard").items[0].id
    assert "did not return to the prompt within 3 s" in r.item_errors[first]
    assert all(v.startswith("not run: the session was abandoned")
               for k, v in r.item_errors.items() if k != first)
    assert "---- More ----" in (r.transcript or "")
    assert not [c for c in r.checks if c.state is State.OK and c.check in ("cpu", "memory")]


def test_truncated_output_keeps_what_came_before(faulty) -> None:
    _, run = faulty
    r = by_name(run)["cisco-nxos-truncated"]
    assert r.state is State.UNKNOWN
    assert r.item_errors["interfaces"].startswith(
        "the connection was closed by the device during `show interface`")
    assert {x.item for x in r.raw} >= {"version", "cpu_usage"}
    assert r.facts is not None and r.facts.hardware is not None
    errors = [c for c in r.checks if c.check == "interface_errors"]
    assert errors and errors[0].state is State.UNKNOWN


def test_a_stalled_command_is_unknown_after_its_timeout(faulty) -> None:
    _, run = faulty
    r = by_name(run)["arista-eos-stall"]
    assert r.state is State.UNKNOWN
    assert "`show logging` did not return to the prompt within 3 s" in r.item_errors["log_errors"]
    (log_check,) = [c for c in r.checks if c.check == "log_errors"]
    assert log_check.state is State.UNKNOWN


def test_another_vendor_than_the_inventory_says_is_unknown(faulty) -> None:
    _, run = faulty
    r = by_name(run)["cisco-ios-vendor"]
    assert r.state is State.UNKNOWN
    assert any("Unrecognized command" in e for e in r.item_errors.values()) or r.error
    assert not [c for c in r.checks if c.state is State.OK and c.check in ("cpu", "memory")]


def test_output_no_template_matches_is_unknown_and_the_raw_output_kept(faulty) -> None:
    _, run = faulty
    r = by_name(run)["huawei-vrp-garbage"]
    assert r.reachable
    assert "cpu_usage" in r.item_errors
    (cpu,) = [c for c in r.checks if c.check == "cpu"]
    assert cpu.state is State.UNKNOWN
    assert cpu.message.startswith("could not evaluate: cpu_usage: ")
    raw = {x.item: x.output for x in r.raw}
    assert "nothing like a CPU table" in raw["cpu_usage"]
    assert r.state is State.UNKNOWN


def test_a_wrong_enable_secret_is_named(faulty) -> None:
    _, run = faulty
    r = by_name(run)["cisco-ios-enable"]
    assert (r.reachable, r.state) == (False, State.UNKNOWN)
    assert "`enable` failed" in (r.error or "")
    assert "check the enable secret of credential set 'net'" in (r.error or "")


def test_no_secret_in_the_results_of_faulty_devices(faulty) -> None:
    _, run = faulty
    for r in run.devices:
        for text in (r.transcript or "", r.error or "", *(x.output for x in r.raw)):
            assert PASSWORD not in text and SECRET not in text
