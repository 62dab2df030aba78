"""The replay simulator (:mod:`support.netsim`) against netmiko's real drivers and raw paramiko.

Replay sets are built per test module under a temporary directory (``tests/netsim/replay`` is
not used here), so these tests check the simulator itself, not the project's captured outputs.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import paramiko
import pytest
import yaml
from netmiko import ConnectHandler
from netmiko.exceptions import NetmikoAuthenticationException, NetmikoTimeoutException, ReadTimeout

from support.netsim import (
    CANARY_SECRET,
    ERROR_TEXT,
    MORE_PROMPT,
    PLATFORMS,
    Device,
    NetSim,
    NetSimError,
    copy_replay,
    generate_host_key,
    standard_devices,
)

#: What netmiko 4.8 sends to set up a session, per platform (checked from the device logs).
SESSION_COMMANDS = {
    "cisco_ios": ["terminal width 511", "terminal length 0"],
    "cisco_nxos": ["terminal width 511", "terminal length 0"],
    "arista_eos": ["terminal width 511", "terminal length 0"],
    "huawei_vrp": ["screen-length 0 temporary"],
    "hp_comware": ["screen-length disable"],
    "juniper_junos": [
        "set cli screen-width 511",
        "set cli complete-on-space off",
        "set cli screen-length 0",
    ],
}
#: What netmiko sends when it disconnects.
LOGOUT = {p: "quit" if p in ("huawei_vrp", "hp_comware") else "exit" for p in PLATFORMS}
#: Platforms whose devices here start unprivileged and need ``enable`` + secret.
ENABLE = ("cisco_ios", "arista_eos")
SECRET = CANARY_SECRET
PROMPT = {
    "cisco_ios": "{name}#",
    "cisco_nxos": "{name}#",
    "arista_eos": "{name}#",
    "huawei_vrp": "<{name}>",
    "hp_comware": "<{name}>",
    "juniper_junos": "admin@{name}>",
}
LONG_ROWS = 60


def verb(platform: str) -> str:
    return "display" if platform in ("huawei_vrp", "hp_comware") else "show"


def version_text(platform: str) -> str:
    return (
        f"{platform} replay check\n"
        "\n"
        "  indented line with trailing spaces   \n"
        "unicode: 温度 正常 ✓\n"
        "columns\tseparated\tby tabs\n"
        "Uptime is 10 weeks, 2 days\n"
    )


def long_text() -> str:
    return "".join(f"row {n:03d} of the long output\n" for n in range(1, LONG_ROWS + 1))


def write_replay(folder: Path, platform: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "version.txt").write_text(version_text(platform), encoding="utf-8")
    (folder / "long.txt").write_text(long_text())
    (folder / "config.txt").write_text("hostname before\n")
    commands = {
        f"{verb(platform)} version": "version.txt",
        f"{verb(platform)} long": "long.txt",
        f"{verb(platform)} current-configuration": "config.txt",
        f"{verb(platform)} missing": "no-such-file.txt",
    }
    (folder / "commands.yaml").write_text(yaml.safe_dump(commands))


def expected(text: str) -> str:
    """What ``send_command`` returns for a replay file: its text minus the last newline."""
    return text.removesuffix("\n")


@pytest.fixture(scope="module")
def replay_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("replay")
    for platform in PLATFORMS:
        write_replay(root / platform, platform)
    return root


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory, replay_root: Path) -> Iterator[NetSim]:
    editable = copy_replay(
        "cisco_ios", tmp_path_factory.mktemp("edit") / "r", replay_root=replay_root
    )
    devices = [
        *standard_devices(PLATFORMS, secret=SECRET),
        Device("ios-edit", "cisco_ios", privileged=True, replay_dir=str(editable)),
        Device("ios-unknown-prompt", "cisco_ios", fault="unknown_prompt"),
        Device("vrp-unknown-prompt", "huawei_vrp", fault="unknown_prompt", fault_prompt="???"),
        Device("ios-endless", "cisco_ios", privileged=True, fault="endless_paging"),
        Device("ios-truncate", "cisco_ios", privileged=True, fault="truncate",
               fault_command="show long"),
        Device("vrp-truncate-all", "huawei_vrp", fault="truncate"),
        Device("ios-stall", "cisco_ios", privileged=True, fault="stall",
               fault_command="show version"),
        Device("ios-is-vrp", "cisco_ios", vendor="huawei_vrp"),
        Device("ios-flood", "cisco_ios", privileged=True, fault="flood",
               fault_command="show version"),
    ]  # fmt: skip
    with NetSim(tmp_path_factory.mktemp("netsim"), devices, replay_root=replay_root) as netsim:
        yield netsim
    crashes = [r for d in devices for r in netsim.log(d.name) if r.get("event") == "server-error"]
    assert not crashes, crashes[0]["detail"]


def not_detected(pattern: str) -> str:
    """A regex for netmiko's ReadTimeout message when ``pattern`` (a regex) never matched."""
    return re.escape(f"Pattern not detected: {pattern!r}")


def connect(sim: NetSim, name: str, **extra: Any) -> Any:
    return ConnectHandler(**sim.netmiko_params(name, **{"conn_timeout": 5, **extra}))


def last_session(sim: NetSim, name: str) -> int:
    return max(r["session"] for r in sim.log(name))


def wait_closed(sim: NetSim, name: str, session: int) -> None:
    sim.wait_for_log(name, lambda r: r["session"] == session and r.get("event") == "closed")


def shell(sim: NetSim, name: str) -> tuple[paramiko.SSHClient, paramiko.Channel]:
    """A raw interactive shell on device ``name`` (host key checked against known_hosts)."""
    device = sim.device(name)
    client = paramiko.SSHClient()
    client.load_host_keys(str(sim.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        device.address,
        device.port,
        username=device.username,
        password=device.password,
        look_for_keys=False,
        allow_agent=False,
        timeout=5,
    )
    channel = client.invoke_shell(term="vt100", width=80, height=24)
    channel.settimeout(0.2)
    return client, channel


def read_until(channel: paramiko.Channel, pattern: str, timeout: float = 5.0) -> str:
    """Everything received until ``pattern`` (a regex) matches the tail; raise on timeout."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = data.decode("utf-8", "replace")
        if re.search(pattern, text):
            return text
        try:
            chunk = channel.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            break
        data += chunk
    raise AssertionError(f"{pattern!r} not seen within {timeout} s; got {data[-400:]!r}")


def read_all(channel: paramiko.Channel, timeout: float = 5.0) -> bytes:
    """Everything until the server closes the channel."""
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = channel.recv(65536)
        except TimeoutError:
            continue
        if not chunk:
            return data
        data += chunk
    raise AssertionError(f"channel still open after {timeout} s; got {data[-400:]!r}")


# --------------------------------------------------------------------------- netmiko, per platform


@pytest.mark.parametrize("platform", PLATFORMS)
def test_netmiko_connects_and_gets_the_replay_file(sim: NetSim, platform: str) -> None:
    name = f"{platform}-1"
    command = f"{verb(platform)} version"
    conn = connect(sim, name)
    try:
        if platform in ENABLE:
            assert conn.find_prompt() == f"{name}>"
            conn.enable()
        assert conn.find_prompt() == PROMPT[platform].format(name=name)
        assert conn.send_command(command) == expected(version_text(platform))
        assert conn.send_command(f"{verb(platform)} long") == expected(long_text())
    finally:
        conn.disconnect()
    session = last_session(sim, name)
    wait_closed(sim, name, session)
    records = [r for r in sim.log(name) if r["session"] == session]
    assert all(r["device"] == name and r["time"] for r in records)
    sent = [r["line"] for r in records if r["kind"] in ("session", "replay", "unknown")]
    enable = ["enable"] if platform in ENABLE else []
    long_command = f"{verb(platform)} long"
    assert sent == [*SESSION_COMMANDS[platform], *enable, command, long_command, LOGOUT[platform]]
    kinds = {r["line"]: r["kind"] for r in records if r["line"]}
    assert kinds[command] == kinds[long_command] == "replay"
    assert {kinds[c] for c in SESSION_COMMANDS[platform]} == {"session"}
    if platform in ENABLE:
        secret = [r for r in records if r["kind"] == "secret"]
        assert [(r["line"], r["accepted"]) for r in secret] == [("***", True)]
    assert SECRET not in sim.log_path(name).read_text()


@pytest.mark.parametrize("platform", PLATFORMS)
def test_unknown_command_gets_the_vendor_error(sim: NetSim, platform: str) -> None:
    name = f"{platform}-1"
    conn = connect(sim, name)
    try:
        prompt_width = len(conn.find_prompt()) + (platform in ("cisco_nxos", "juniper_junos"))
        output = conn.send_command(f"{verb(platform)} bogus thing")
        first_word = conn.send_command("frobnicate")
    finally:
        conn.disconnect()
    caret = prompt_width + len(verb(platform)) + 1  # under "bogus"
    # The device sends these lines, then the prompt (which netmiko strips).
    assert output == "\n".join(ERROR_TEXT[platform](caret))
    assert first_word == "\n".join(ERROR_TEXT[platform](prompt_width))
    marker = {
        "cisco_ios": "% Invalid input detected at '^' marker.",
        "cisco_nxos": "% Invalid command at '^' marker.",
        "arista_eos": "% Invalid input",
        "huawei_vrp": "Error: Unrecognized command found at '^' position.",
        "hp_comware": "% Unrecognized command found at '^' position.",
        "juniper_junos": "syntax error, expecting <command>.",
    }[platform]
    assert marker in output
    if platform != "arista_eos":
        assert output.splitlines()[0] == " " * caret + "^"
    session = last_session(sim, name)
    unknown = [
        r["line"] for r in sim.log(name) if r["session"] == session and r["kind"] == "unknown"
    ]
    assert unknown == [f"{verb(platform)} bogus thing", "frobnicate"]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_output_is_paged_until_paging_is_disabled(sim: NetSim, platform: str) -> None:
    name = f"{platform}-1"
    more = MORE_PROMPT[platform]
    prompt = re.escape(PROMPT[platform].format(name=name).replace("#", ">")[:-1]) + r"[>#] ?$"
    client, channel = shell(sim, name)
    try:
        read_until(channel, prompt)
        channel.send(f"{verb(platform)} long\n")
        pages = [read_until(channel, re.escape(more) + "$")]
        channel.send(" ")  # next page
        pages.append(read_until(channel, re.escape(more) + "$"))
        channel.send("\r")  # next line
        pages.append(read_until(channel, re.escape(more) + "$"))
        channel.send(" ")
        pages.append(read_until(channel, prompt))
        rows = [re.findall(r"row (\d+)", page) for page in pages]
        assert [len(r) for r in rows] == [23, 23, 1, LONG_ROWS - 47]
        assert [int(n) for r in rows for n in r] == list(range(1, LONG_ROWS + 1))
        assert more not in pages[-1]

        channel.send(SESSION_COMMANDS[platform][-1] + "\n")
        read_until(channel, prompt)
        channel.send(f"{verb(platform)} long\n")
        whole = read_until(channel, prompt)
        assert more not in whole
        assert len(re.findall(r"row \d+", whole)) == LONG_ROWS
    finally:
        client.close()


# --------------------------------------------------------------------------- sessions and the log


def test_wrong_enable_secret_is_refused_and_never_logged(sim: NetSim) -> None:
    name = "cisco_ios-1"
    conn = connect(sim, name, secret="not-the-secret")
    try:
        with pytest.raises(ValueError, match="Failed to enter enable mode"):
            conn.enable()
        assert conn.find_prompt() == f"{name}>"
    finally:
        conn.disconnect()
    records = [r for r in sim.log(name) if r["session"] == last_session(sim, name)]
    assert [(r["line"], r["accepted"]) for r in records if r["kind"] == "secret"] == [
        ("***", False)
    ]
    assert "not-the-secret" not in sim.log_path(name).read_text()


def test_wrong_password_is_an_authentication_error(sim: NetSim) -> None:
    with pytest.raises(NetmikoAuthenticationException):
        connect(sim, "cisco_nxos-1", password="wrong")
    record = sim.wait_for_log("cisco_nxos-1", lambda r: r.get("event") == "auth-failed")
    assert record["username"] == "admin"
    assert "wrong" not in sim.log_path("cisco_nxos-1").read_text()


def test_known_hosts_lists_every_device_and_is_checked(sim: NetSim, tmp_path: Path) -> None:
    lines = sim.known_hosts.read_text().splitlines()
    assert len(lines) == len(sim.devices)
    for line, device in zip(lines, sim.devices.values(), strict=True):
        assert line == f"[{device.address}]:{device.port} {sim.host_key_line}"
        assert re.fullmatch(r"\[127\.0\.\d+\.\d+\]:\d+ ssh-ed25519 AAAA\S+", line)
    other = NetSim(tmp_path)
    other.host_key_line = generate_host_key(tmp_path / "other_key")
    other.devices = sim.devices
    wrong = other.write_known_hosts(tmp_path / "wrong_known_hosts")
    with pytest.raises(NetmikoTimeoutException, match=r"Host key for server .* does not match"):
        connect(sim, "cisco_nxos-1", alt_key_file=str(wrong))


def test_replay_files_are_read_when_the_command_arrives(sim: NetSim) -> None:
    name = "ios-edit"
    folder = Path(sim.device(name).replay_dir or "")
    conn = connect(sim, name)
    try:
        assert conn.send_command("show current-configuration") == "hostname before"
        (folder / "config.txt").write_text("hostname after\ninterface Gi0/1\n")
        assert conn.send_command("show current-configuration") == "hostname after\ninterface Gi0/1"
        assert "Invalid input" in conn.send_command("show clock")
        commands = yaml.safe_load((folder / "commands.yaml").read_text())
        (folder / "clock.txt").write_text("12:00:00.000 UTC Mon Jan 1 2024\n")
        commands["show clock"] = "clock.txt"
        (folder / "commands.yaml").write_text(yaml.safe_dump(commands))
        assert conn.send_command("show clock") == "12:00:00.000 UTC Mon Jan 1 2024"
        # A replay entry whose file is missing: the device errors, the log says why.
        assert "Invalid input" in conn.send_command("show missing")
    finally:
        conn.disconnect()
    errors = [r for r in sim.log(name) if r["kind"] == "error"]
    assert errors
    assert errors[-1]["line"] == "show missing"
    assert "no-such-file.txt" in errors[-1]["detail"]


def test_exec_request_answers_from_the_replay_set(sim: NetSim) -> None:
    device = sim.device("cisco_nxos-1")
    client = paramiko.SSHClient()
    client.load_host_keys(str(sim.known_hosts))
    try:
        client.connect(device.address, device.port, username="admin", password="admin",
                       look_for_keys=False, allow_agent=False, timeout=5)  # fmt: skip
        _, stdout, _ = client.exec_command("show version", timeout=5)
        assert stdout.read().decode() == version_text("cisco_nxos").replace("\n", "\r\n")
        assert stdout.channel.recv_exit_status() == 0
    finally:
        client.close()


# --------------------------------------------------------------------------- faults


def test_unknown_prompt_makes_netmiko_time_out_finding_the_prompt(sim: NetSim) -> None:
    begun = time.monotonic()
    with pytest.raises(ReadTimeout, match=not_detected(r"(?:\#|>)")):
        connect(sim, "ios-unknown-prompt", read_timeout_override=1)
    with pytest.raises(ReadTimeout, match=not_detected(r"(?:Change now|Please choose|[\]>])")):
        connect(sim, "vrp-unknown-prompt", read_timeout_override=1)
    assert time.monotonic() - begun < 10
    client, channel = shell(sim, "ios-unknown-prompt")
    try:
        assert read_until(channel, r"\?\?\?$").strip() == "???"
    finally:
        client.close()


def test_endless_paging_never_returns_to_the_prompt(sim: NetSim) -> None:
    name = "ios-endless"
    conn = connect(sim, name)
    try:
        with pytest.raises(ReadTimeout, match=not_detected(re.escape(f"{name}#"))):
            conn.send_command("show version", read_timeout=1.5)
    finally:
        conn.paramiko_cleanup()  # disconnect() would wait for a prompt that never comes
    more = re.escape(MORE_PROMPT["cisco_ios"]) + "$"
    client, channel = shell(sim, name)
    try:
        read_until(channel, f"{name}#$")
        channel.send("terminal length 0\n")  # no help: the device pages anyway
        read_until(channel, f"{name}#$")
        channel.send("show version\n")
        first = read_until(channel, more)
        assert "Uptime is 10 weeks" in first
        for _ in range(3):
            channel.send(" ")
            assert read_until(channel, more)
        channel.send("q")  # only q (or Ctrl-C) ends it
        read_until(channel, f"{name}#$")
    finally:
        client.close()


def test_truncate_closes_the_session_halfway_through_the_named_command(sim: NetSim) -> None:
    name = "ios-truncate"
    conn = connect(sim, name)
    try:
        assert conn.send_command("show version") == expected(version_text("cisco_ios"))
        with pytest.raises(ReadTimeout, match=not_detected(re.escape(f"{name}#"))):
            conn.send_command("show long", read_timeout=1.5)
        # netmiko does not notice the close while reading; writing fails.
        assert conn.remote_conn.closed
        with pytest.raises(OSError, match="Socket is closed"):
            conn.send_command("show version")
    finally:
        conn.disconnect()
    assert sim.wait_for_log(name, lambda r: r.get("event") == "truncated")

    client, channel = shell(sim, name)
    try:
        read_until(channel, f"{name}#$")
        channel.send("show long\n")
        data = read_all(channel).decode()
    finally:
        client.close()
    body = long_text().replace("\n", "\r\n")
    assert data == "show long\r\n" + body[: len(body) // 2]


def test_truncate_without_a_command_cuts_every_command_but_not_the_login(sim: NetSim) -> None:
    name = "vrp-truncate-all"
    conn = connect(sim, name)
    try:
        with pytest.raises(ReadTimeout):
            conn.send_command("display version", read_timeout=1.5)
    finally:
        conn.disconnect()
    session = last_session(sim, name)
    wait_closed(sim, name, session)
    records = [r for r in sim.log(name) if r["session"] == session]
    assert [r["line"] for r in records if r["kind"] in ("session", "replay")] == [
        "screen-length 0 temporary",
        "display version",
    ]
    assert [r["event"] for r in records if r["kind"] == "event"][-2:] == ["truncated", "closed"]


def test_stall_stops_mid_output_and_keeps_the_session_open(sim: NetSim) -> None:
    name = "ios-stall"
    conn = connect(sim, name)
    try:
        assert conn.send_command("show long") == expected(long_text())
        with pytest.raises(ReadTimeout, match=not_detected(re.escape(f"{name}#"))):
            conn.send_command("show version", read_timeout=1.5)
        transport = conn.remote_conn.get_transport()
        assert transport.is_active()
        assert not conn.remote_conn.closed
        session = last_session(sim, name)
        stalled = [r for r in sim.log(name) if r["session"] == session and r["kind"] == "event"]
        assert stalled[-1]["event"] == "stalled"
    finally:
        conn.paramiko_cleanup()  # disconnect() would wait ~10 s for a prompt
    wait_closed(sim, name, session)


def test_flood_sends_lines_without_end_and_never_the_prompt(sim: NetSim) -> None:
    name = "ios-flood"
    conn = connect(sim, name)
    try:
        assert conn.send_command("show long") == expected(long_text())
        conn.write_channel("show version\n")
        received, deadline = "", time.monotonic() + 10
        while len(received) < 1_000_000 and time.monotonic() < deadline:
            received += conn.read_channel()
        assert len(received) >= 1_000_000  # a megabyte and still going
        assert expected(version_text("cisco_ios")) in received
        assert f"{name}#" not in received.split("flood line", 1)[1]
        session = last_session(sim, name)
        assert sim.wait_for_log(name, lambda r: r.get("event") == "flooding")
    finally:
        conn.paramiko_cleanup()
    wait_closed(sim, name, session)


def test_vendor_override_answers_as_the_other_platform(sim: NetSim) -> None:
    name = "ios-is-vrp"  # the inventory says cisco_ios; the device is a Huawei
    conn = connect(sim, name)
    try:
        assert conn.find_prompt() == f"<{name}>"
        refused = conn.send_command("show version")
        assert "Error: Unrecognized command found at '^' position." in refused
        assert conn.send_command("display version") == expected(version_text("huawei_vrp"))
    finally:
        conn.disconnect()
    session = last_session(sim, name)
    wait_closed(sim, name, session)
    records = [r for r in sim.log(name) if r["session"] == session]
    assert [(r["kind"], r["line"]) for r in records if r["kind"] in ("unknown", "replay")] == [
        ("unknown", "terminal width 511"),  # netmiko's cisco_ios session preparation
        ("unknown", "terminal length 0"),
        ("unknown", "show version"),
        ("replay", "display version"),
        ("unknown", "exit"),
    ]


# --------------------------------------------------------------------------- scale and lifecycle


def test_two_hundred_devices_fifty_concurrent_sessions(tmp_path: Path, replay_root: Path) -> None:
    devices = standard_devices(PLATFORMS, copies=34)[:200]
    sim = NetSim(tmp_path, devices, replay_root=replay_root)
    with sim:
        assert len(sim.devices) == 200
        assert len({(d.address, d.port) for d in sim.devices.values()}) == 200
        assert sim.startup_seconds < 10
        assert len(sim.known_hosts.read_text().splitlines()) == 200
        chosen = list(sim.devices.values())[::4][:50]

        def inspect(device: Device) -> tuple[str, float]:
            begun = time.monotonic()
            conn = connect(sim, device.name, conn_timeout=20, banner_timeout=20)
            try:
                output = conn.send_command(f"{verb(device.platform)} version", read_timeout=20)
            finally:
                conn.disconnect()
            assert output == expected(version_text(device.platform))
            return device.name, time.monotonic() - begun

        begun = time.monotonic()
        with ThreadPoolExecutor(max_workers=50) as pool:
            results = dict(pool.map(inspect, chosen))
        elapsed = time.monotonic() - begun
        assert len(results) == 50
        assert elapsed < 30, f"50 concurrent sessions took {elapsed:.1f} s"
        print(
            f"200 devices up in {sim.startup_seconds:.2f} s; 50 concurrent netmiko sessions "
            f"in {elapsed:.2f} s (slowest {max(results.values()):.2f} s)"
        )
        for device in chosen:
            assert f"{verb(device.platform)} version" in sim.commands(device.name)
        pid = sim.pid
        assert pid is not None
    assert sim.pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    first = chosen[0]
    with pytest.raises(OSError), socket.create_connection((first.address, first.port), 1):
        pass


def test_config_file_and_startup_errors(tmp_path: Path, replay_root: Path) -> None:
    holder = socket.socket()
    holder.bind(("127.0.21.1", 0))
    holder.listen()
    try:
        port = holder.getsockname()[1]
        sim = NetSim(tmp_path, [Device("r1", "cisco_ios", address="127.0.21.1", port=port)])
        refused = r"cannot bind 127\.0\.21\.1:\d+ \(r1\): Address already in use"
        with pytest.raises(NetSimError, match=refused):
            sim.start()
        assert sim.pid is None
    finally:
        holder.close()
    config = json.loads(sim.config.read_text())
    assert config["devices"][0]["name"] == "r1"
    assert oct(sim.config.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(ValueError, match="unknown fault"):
        NetSim(tmp_path, [Device("r1", "cisco_ios", fault="explode")]).start()
    with pytest.raises(ValueError, match=re.escape("10.0.0.1 is not in 127.0.0.0/8")):
        NetSim(tmp_path, [Device("r1", "cisco_ios", address="10.0.0.1")]).start()
