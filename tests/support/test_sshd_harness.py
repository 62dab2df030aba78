"""The sshd harness really serves SSH the way the integration tests and the benchmark assume."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paramiko
import psutil
import pytest

from .sshd import (
    DROP_ADDRESS,
    DROP_PARTIAL_OUTPUT,
    GARBAGE_ADDRESS,
    GARBAGE_OUTPUT,
    HANG_ADDRESS,
    HANG_COMMAND,
    MAX_ADDRESSES_PER_SSHD,
    SshdFleet,
    SshHost,
    loopback_addresses,
    sshd_unavailable_reason,
)

LOADAVG = re.compile(rb"^\d+\.\d+ \d+\.\d+ \d+\.\d+ \d+/\d+ \d+\n$")


@contextmanager
def connect(
    fleet: SshdFleet, host: SshHost, known_hosts: Path | None = None, **auth: Any
) -> Iterator[paramiko.SSHClient]:
    """A paramiko client that trusts only the given known_hosts (RejectPolicy)."""
    client = paramiko.SSHClient()
    with client:
        client.load_host_keys(str(known_hosts or fleet.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(
            host.address,
            host.port,
            timeout=5,
            banner_timeout=5,
            auth_timeout=10,
            allow_agent=False,
            look_for_keys=False,
            **auth,
        )
        yield client


def run(client: paramiko.SSHClient, command: str, timeout: float = 10) -> tuple[int, bytes]:
    transport = client.get_transport()
    assert transport is not None
    channel = transport.open_session(timeout=timeout)
    channel.settimeout(timeout)
    channel.exec_command(command)
    output = b""
    while chunk := channel.recv(65536):
        output += chunk
    return channel.recv_exit_status(), output


def root_key(fleet: SshdFleet) -> dict[str, Any]:
    return {"username": "root", "key_filename": str(fleet.client_key)}


def alive(proc: psutil.Process) -> bool:
    """Still running as the same process (PID not reused) and not a zombie."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def processes(pids: list[int]) -> list[psutil.Process]:
    found = []
    for pid in pids:
        try:
            found.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    return found


def cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except psutil.Error:
        return []


# --------------------------------------------------------------------------- no sshd needed


def test_loopback_addresses_wrap_past_254() -> None:
    assert loopback_addresses("127.0.1.253", 4) == [
        "127.0.1.253",
        "127.0.1.254",
        "127.0.2.1",
        "127.0.2.2",
    ]
    with pytest.raises(ValueError, match=r"127\.0\.0\.0/8"):
        loopback_addresses("10.0.0.1", 1)


def test_special_address_must_not_be_a_regular_host(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="also a regular host"):
        SshdFleet(tmp_path, 3, special={"127.0.1.2": HANG_COMMAND})


# --------------------------------------------------------------------------- the session fleet


@pytest.mark.sshd
def test_fleet_layout(ssh_fleet: SshdFleet) -> None:
    hosts = ssh_fleet.hosts
    assert [h.name for h in hosts] == [f"host-{i:03d}" for i in range(1, 21)]
    assert [h.address for h in hosts] == [f"127.0.1.{i}" for i in range(1, 21)]
    assert {h.port for h in ssh_fleet.all_hosts} == {ssh_fleet.port}
    assert ssh_fleet.port not in (None, 22)
    assert set(ssh_fleet.special_hosts) == {HANG_ADDRESS, DROP_ADDRESS, GARBAGE_ADDRESS}
    # 23 addresses -> two sshd processes of at most 16 addresses each.
    assert len(ssh_fleet.pids) == 2
    assert [h.server for h in hosts] == [0] * MAX_ADDRESSES_PER_SSHD + [1] * 4
    # Hosts of one process share its host key; the two processes have different keys.
    key = {h.address: h.host_key_line.split(" ", 1)[1] for h in ssh_fleet.all_hosts}
    assert key["127.0.1.1"] == key["127.0.1.16"] != key["127.0.1.17"] == key[GARBAGE_ADDRESS]
    assert hosts[4].host_key_line.startswith(f"[127.0.1.5]:{ssh_fleet.port} ssh-ed25519 AAAA")
    lines = ssh_fleet.known_hosts.read_text().splitlines()
    assert lines == [h.host_key_line for h in ssh_fleet.all_hosts]


@pytest.mark.sshd
def test_key_auth_and_loadavg_on_several_hosts(ssh_fleet: SshdFleet) -> None:
    for host in (ssh_fleet.hosts[i] for i in (0, 7, 15, 16, 19)):  # both sshd processes
        with connect(ssh_fleet, host, **root_key(ssh_fleet)) as client:
            status, loadavg = run(client, "cat /proc/loadavg")
            assert status == 0
            assert LOADAVG.match(loadavg), loadavg
            # The server side of the connection is really this host's address.
            _, connection = run(client, 'echo "$SSH_CONNECTION"')
            assert connection.split()[2].decode() == host.address


@pytest.mark.sshd
def test_passphrase_protected_key(ssh_fleet: SshdFleet) -> None:
    with pytest.raises(paramiko.PasswordRequiredException):
        paramiko.Ed25519Key.from_private_key_file(str(ssh_fleet.client_key_passphrase))
    with connect(
        ssh_fleet,
        ssh_fleet.hosts[2],
        username="root",
        key_filename=str(ssh_fleet.client_key_passphrase),
        passphrase=ssh_fleet.passphrase,
    ) as client:
        assert run(client, "id -un") == (0, b"root\n")


@pytest.mark.sshd
@pytest.mark.root
def test_password_auth(ssh_fleet: SshdFleet, password_user: tuple[str, str]) -> None:
    user, password = password_user
    for host in (ssh_fleet.hosts[1], ssh_fleet.hosts[18]):
        with connect(ssh_fleet, host, username=user, password=password) as client:
            assert run(client, "id -un") == (0, f"{user}\n".encode())
            status, loadavg = run(client, "cat /proc/loadavg")
            assert status == 0
            assert LOADAVG.match(loadavg)


@pytest.mark.sshd
@pytest.mark.root
def test_keys_are_authorised_for_the_password_user(
    ssh_fleet: SshdFleet, password_user: tuple[str, str]
) -> None:
    user, _ = password_user
    with connect(
        ssh_fleet, ssh_fleet.hosts[3], username=user, key_filename=str(ssh_fleet.client_key)
    ) as client:
        assert run(client, "id -un") == (0, f"{user}\n".encode())


@pytest.mark.sshd
@pytest.mark.root
def test_wrong_password_is_rejected(ssh_fleet: SshdFleet, password_user: tuple[str, str]) -> None:
    """The one wrong-password attempt of the suite (PAM makes it cost about 2.75 s)."""
    user, password = password_user
    with (
        pytest.raises(paramiko.AuthenticationException),
        connect(ssh_fleet, ssh_fleet.hosts[5], username=user, password=password + "-wrong"),
    ):
        pass


@pytest.mark.sshd
def test_changed_and_unknown_host_keys_are_rejected(ssh_fleet: SshdFleet, tmp_path: Path) -> None:
    good, changed, unknown = ssh_fleet.hosts[0], ssh_fleet.hosts[1], ssh_fleet.hosts[2]
    known_hosts = ssh_fleet.write_known_hosts(
        tmp_path / "known_hosts", wrong_key_for=[changed.address], omit=[unknown.address]
    )
    with connect(ssh_fleet, good, known_hosts, **root_key(ssh_fleet)) as client:
        assert run(client, "true") == (0, b"")
    with (
        pytest.raises(paramiko.BadHostKeyException),
        connect(ssh_fleet, changed, known_hosts, **root_key(ssh_fleet)),
    ):
        pass
    with (
        pytest.raises(paramiko.SSHException, match="not found in known_hosts"),
        connect(ssh_fleet, unknown, known_hosts, **root_key(ssh_fleet)),
    ):
        pass


@pytest.mark.sshd
def test_match_local_address_applies_per_address(ssh_fleet: SshdFleet) -> None:
    """A special host and regular hosts served by the same sshd process behave differently."""
    garbage = ssh_fleet.host(GARBAGE_ADDRESS)
    neighbour = ssh_fleet.hosts[16]
    assert garbage.server == neighbour.server
    with connect(ssh_fleet, garbage, **root_key(ssh_fleet)) as client:
        assert run(client, "cat /proc/loadavg") == (0, GARBAGE_OUTPUT)
    with connect(ssh_fleet, neighbour, **root_key(ssh_fleet)) as client:
        assert run(client, "echo regular") == (0, b"regular\n")


@pytest.mark.sshd
def test_hang_address_never_answers(ssh_fleet: SshdFleet) -> None:
    with connect(ssh_fleet, ssh_fleet.host(HANG_ADDRESS), **root_key(ssh_fleet)) as client:
        transport = client.get_transport()
        assert transport is not None
        channel = transport.open_session(timeout=5)
        channel.settimeout(1.0)
        channel.exec_command("cat /proc/loadavg")
        began = time.monotonic()
        with pytest.raises(TimeoutError):  # socket.timeout
            channel.recv(1024)
        assert time.monotonic() - began >= 0.9
        assert not channel.exit_status_ready()
        assert transport.is_active()


@pytest.mark.sshd
def test_drop_address_kills_the_connection_mid_run(ssh_fleet: SshdFleet) -> None:
    with connect(ssh_fleet, ssh_fleet.host(DROP_ADDRESS), **root_key(ssh_fleet)) as client:
        transport = client.get_transport()
        assert transport is not None
        channel = transport.open_session(timeout=5)
        channel.settimeout(10)
        channel.exec_command("cat /proc/loadavg")
        output = b""
        while chunk := channel.recv(1024):
            output += chunk
        assert output == DROP_PARTIAL_OUTPUT
        # Not a normal end: the whole transport goes away, with no exit status.
        deadline = time.monotonic() + 5
        while transport.is_active() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not transport.is_active()
        assert channel.recv_exit_status() == -1  # paramiko: closed without exit-status


@pytest.mark.sshd
def test_stop_leaves_no_process_behind(tmp_path: Path) -> None:
    reason = sshd_unavailable_reason()
    if reason:
        pytest.skip(f"no test sshd: {reason}")
    fleet = SshdFleet(tmp_path, 2, special={HANG_ADDRESS: HANG_COMMAND})
    fleet.start()
    try:
        listeners = fleet.pids
        hang = fleet.host(HANG_ADDRESS)
        # One hanging session left open, one closed (its `sleep` is orphaned on the server).
        with connect(fleet, hang, **root_key(fleet)) as closed:
            closed.exec_command("x")
        with connect(fleet, hang, **root_key(fleet)) as client:
            client.exec_command("x")
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                procs = processes(fleet.process_tree_pids())
                sleeps = [p for p in procs if cmdline(p) == HANG_COMMAND.split()]
                if len(sleeps) == 2:
                    break
                time.sleep(0.05)
            assert len(sleeps) == 2, [cmdline(p) for p in procs]
            assert set(listeners) < {p.pid for p in procs}
            fleet.stop()
    finally:
        fleet.stop()
    assert fleet.pids == []
    assert [p.pid for p in procs if alive(p)] == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((hang.address, hang.port), timeout=2).close()
