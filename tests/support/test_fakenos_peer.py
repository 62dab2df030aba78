"""The fakenos harness: netmiko drives its cisco_ios and huawei_vrp hosts over real SSH.

fakenos runs from its own venv (see ``support/fakenos_peer.py``); the first run creates it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest
from netmiko import BaseConnection, ConnectHandler

from support.fakenos_peer import (
    DEVICE_PASSWORD,
    DEVICE_USERNAME,
    FAKENOS_VERSION,
    FakenosError,
    FakenosPeer,
    ensure_fakenos_venv,
    fakenos_version,
    load_replay_commands,
    native_outputs,
)

pytestmark = pytest.mark.fakenos

#: Replayed outputs written under tmp (never into tests/netsim/): one new command and one
#: override of a native command per platform, with non-ASCII text.
IOS_ENV = "SYSTEM TEMPERATURE is OK\n温度 正常 {base_prompt}\n  Inlet  27 Celsius\n"
IOS_CLOCK = "*10:00:00.000 UTC Mon Jan 1 2024\n"
VRP_DEVICE = "S5735-L48T4S-A's Device status:\nSlot  Type   Online  Power Register  Status\n"
VRP_STARTUP = "MainBoard:\n  Startup system software:   flash:/V200R019.cc\n"


def _normalise(text: str | None) -> str:
    return (text or "").replace("\r\n", "\n").strip()


@pytest.fixture(scope="module")
def replay_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("replay")
    ios = root / "cisco_ios"
    ios.mkdir()
    (ios / "show_environment_all.txt").write_text(IOS_ENV, encoding="utf-8")
    (ios / "show_clock.txt").write_text(IOS_CLOCK, encoding="utf-8")
    (ios / "commands.yaml").write_text(
        "show environment all: show_environment_all.txt\nshow clock: show_clock.txt\n",
        encoding="utf-8",
    )
    vrp = root / "huawei_vrp"
    vrp.mkdir()
    (vrp / "display_device.txt").write_text(VRP_DEVICE, encoding="utf-8")
    (vrp / "display_startup.txt").write_text(VRP_STARTUP, encoding="utf-8")
    (vrp / "commands.yaml").write_text(
        "commands:\n  display device: display_device.txt\n  display startup: display_startup.txt\n",
        encoding="utf-8",
    )
    return root


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory, replay_root: Path) -> Iterator[FakenosPeer]:
    """One cisco_ios and one huawei_vrp host, extended with the replayed commands."""
    workdir = tmp_path_factory.mktemp("fakenos")
    with FakenosPeer(workdir, {"cisco_ios": 1, "huawei_vrp": 1}, replay_root=replay_root) as p:
        yield p


@pytest.fixture(scope="module")
def native(peer: FakenosPeer) -> dict[str, dict[str, str | None]]:
    """What fakenos's NOS definitions themselves answer, rendered in the fakenos venv."""
    commands = {"cisco_ios": ["show version"], "huawei_vrp": ["display version"]}
    return native_outputs(commands, base_prompt={d.platform: d.name for d in peer.devices})


@pytest.fixture(scope="module")
def vrp_conn(peer: FakenosPeer) -> Iterator[BaseConnection]:
    """One netmiko session to vrp-001 for the module: netmiko's huawei_vrp disconnect alone
    takes 2.2 s (its check_config_mode waits for output with no pattern), on real VRP too."""
    with ConnectHandler(**peer.by_platform("huawei_vrp")[0].netmiko_params()) as conn:
        yield conn


def test_the_venv_has_the_pinned_fakenos() -> None:
    venv = ensure_fakenos_venv()
    assert fakenos_version(venv) == FAKENOS_VERSION


def test_hosts_are_exposed_with_distinct_ports(peer: FakenosPeer) -> None:
    ios, vrp = peer.devices
    assert (ios.name, ios.platform, ios.device_type, ios.prompt) == (
        "ios-001",
        "cisco_ios",
        "cisco_ios",
        "ios-001>",
    )
    assert (vrp.name, vrp.platform, vrp.prompt) == ("vrp-001", "huawei_vrp", "<vrp-001>")
    assert {ios.address, vrp.address} == {"127.0.0.1"}
    assert ios.port != vrp.port
    assert (ios.username, ios.password) == (DEVICE_USERNAME, DEVICE_PASSWORD)
    assert DEVICE_PASSWORD not in repr(ios)
    assert peer.by_platform("huawei_vrp") == [vrp]
    assert peer.device("ios-001") == ios
    assert peer.pid is not None
    assert peer.startup_seconds is not None


def test_cisco_ios_show_version_via_netmiko(
    peer: FakenosPeer, native: dict[str, dict[str, str | None]]
) -> None:
    ios = peer.by_platform("cisco_ios")[0]
    with ConnectHandler(**ios.netmiko_params()) as conn:
        assert conn.find_prompt() == "ios-001>"
        assert conn.base_prompt == "ios-001"
        # fakenos answers show version only in privileged EXEC
        assert "% Invalid input" in conn.send_command("show version")
        assert ("ios-001", "show version", "prompt") in peer.unanswered_commands()
        conn.enable()
        assert conn.find_prompt() == "ios-001#"
        output = conn.send_command("show version")
    assert "Cisco IOS XE Software, Version 17.03.01a" in output
    assert "ios-001 uptime is 1 day, 17 hours, 32 minutes" in output
    assert _normalise(output) == _normalise(native["cisco_ios"]["show version"])


def test_huawei_vrp_display_version_via_netmiko(
    vrp_conn: BaseConnection, native: dict[str, dict[str, str | None]]
) -> None:
    assert vrp_conn.find_prompt() == "<vrp-001>"
    assert vrp_conn.base_prompt == "vrp-001"
    output = vrp_conn.send_command("display version")
    assert "Huawei Versatile Routing Platform Software" in output
    assert "VRP (R) software, Version 8.180" in output
    assert _normalise(output) == _normalise(native["huawei_vrp"]["display version"])


def test_replayed_commands_extend_and_override_the_platform(
    peer: FakenosPeer, vrp_conn: BaseConnection
) -> None:
    assert set(peer.replayed) == {"cisco_ios", "huawei_vrp"}
    ios = peer.devices[0]
    with ConnectHandler(**ios.netmiko_params()) as conn:
        # fakenos substitutes {base_prompt} in every output, replayed ones included
        assert conn.send_command("show environment all") == IOS_ENV.replace(
            "{base_prompt}", "ios-001"
        ).rstrip("\n")
        assert _normalise(conn.send_command("show clock")) == _normalise(IOS_CLOCK)
        assert "Interface" in conn.send_command("show ip interface brief")  # still native
        assert conn.send_command("show no-such-thing") == "% Invalid input detected at '^' marker."
    assert ("ios-001", "show no-such-thing", "unknown") in peer.unanswered_commands()
    assert _normalise(vrp_conn.send_command("display device")) == _normalise(VRP_DEVICE)
    assert _normalise(vrp_conn.send_command("display startup")) == _normalise(VRP_STARTUP)
    assert vrp_conn.send_command("display no-such-thing") == "Unknown command"
    assert ("vrp-001", "display no-such-thing", "unknown") in peer.unanswered_commands()


def test_known_hosts_lists_every_host_key(peer: FakenosPeer, tmp_path: Path) -> None:
    ios, vrp = peer.devices
    lines = peer.known_hosts.read_text().splitlines()
    assert lines == [ios.host_key_line, vrp.host_key_line]
    assert ios.host_key_line.startswith(f"[127.0.0.1]:{ios.port} ssh-rsa AAAA")
    assert set(peer.host_keys()) == {"ios-001", "vrp-001"}

    good = peer.write_known_hosts(tmp_path / "good")
    with ConnectHandler(
        **ios.netmiko_params(
            ssh_strict=True, system_host_keys=False, alt_host_keys=True, alt_key_file=str(good)
        )
    ) as conn:
        assert conn.find_prompt() == "ios-001>"

    wrong = peer.write_known_hosts(tmp_path / "wrong", wrong_key_for=["ios-001"], omit=["vrp-001"])
    assert len(wrong.read_text().splitlines()) == 1
    with paramiko.SSHClient() as client:
        client.load_host_keys(str(wrong))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        with pytest.raises(paramiko.BadHostKeyException):
            client.connect(
                ios.address,
                ios.port,
                ios.username,
                ios.password,
                look_for_keys=False,
                allow_agent=False,
            )


def test_load_replay_commands_validates(tmp_path: Path) -> None:
    assert load_replay_commands(tmp_path / "absent") == {}
    (tmp_path / "out.txt").write_text("x\n")
    (tmp_path / "commands.yaml").write_text("show x: ../out.txt\n")
    with pytest.raises(FakenosError, match="is not in"):
        load_replay_commands(tmp_path)
    (tmp_path / "commands.yaml").write_text("show x: missing.txt\n")
    with pytest.raises(FakenosError, match=r"missing\.txt"):
        load_replay_commands(tmp_path)
    (tmp_path / "commands.yaml").write_text("- show x\n")
    with pytest.raises(FakenosError, match="mapping"):
        load_replay_commands(tmp_path)
    (tmp_path / "commands.yaml").write_text("show x: out.txt\n")
    assert load_replay_commands(tmp_path) == {"show x": "x\n"}


def test_stop_ends_the_process_group(tmp_path: Path) -> None:
    peer = FakenosPeer(tmp_path, {"huawei_vrp": 1})
    with peer:
        pid = peer.pid
        port = peer.devices[0].port
    assert pid is not None
    assert peer.pid is None
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    with pytest.raises(FakenosError, match="not started"):
        _ = peer.devices
