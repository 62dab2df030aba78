"""Host key verification against known_hosts (collectors/hostkeys.py): the index must answer
exactly as paramiko.HostKeys and OpenSSH do, hashed names included."""

from __future__ import annotations

import time
from pathlib import Path

import paramiko
import pytest

from agent.errors import HostKeyError
from collectors.hostkeys import KnownHosts


def _key() -> paramiko.PKey:
    return paramiko.ECDSAKey.generate()


def _line(name: str, key: paramiko.PKey) -> str:
    return f"{name} {key.get_name()} {key.get_base64()}\n"


def test_plain_hashed_and_ported_names_are_found(tmp_path: Path) -> None:
    a, b, c = _key(), _key(), _key()
    hashed = paramiko.HostKeys.hash_host("[10.0.0.3]:2222")
    known = tmp_path / "known_hosts"
    known.write_text("# comment\n\n" + _line("db-01,10.0.0.1", a) + _line("[10.0.0.2]:2222", b)
                     + _line(hashed, c))
    hosts = KnownHosts([known], tmp_path / "tofu")
    hosts.verify("10.0.0.1", 22, a)
    hosts.verify("db-01", 22, a)
    hosts.verify("10.0.0.2", 2222, b)
    hosts.verify("10.0.0.3", 2222, c)
    with pytest.raises(HostKeyError, match=r"HOST KEY CHANGED for 10\.0\.0\.1"):
        hosts.verify("10.0.0.1", 22, b)
    with pytest.raises(HostKeyError, match="HOST KEY CHANGED"):
        hosts.verify("10.0.0.3", 2222, a)
    with pytest.raises(HostKeyError, match=r"host key for \[10.0.0.2\]:22 is not known|"
                                           r"host key for 10.0.0.2 is not known"):
        hosts.verify("10.0.0.2", 22, b)  # the port is part of the name


def test_the_earliest_line_wins_as_with_paramiko(tmp_path: Path) -> None:
    first, second = _key(), _key()
    known = tmp_path / "known_hosts"
    known.write_text(_line(paramiko.HostKeys.hash_host("h1"), first) + _line("h1", second)
                     + _line("h2", first) + _line(paramiko.HostKeys.hash_host("h2"), second))
    hosts = KnownHosts([known], tmp_path / "tofu")
    reference = paramiko.HostKeys(str(known))
    for name, expected in (("h1", first), ("h2", first)):
        assert hosts.lookup(name) == {"ecdsa-sha2-nistp256": expected}
        assert reference.lookup(name)["ecdsa-sha2-nistp256"] == expected  # type: ignore[index]
    assert hosts.lookup("h3") is None


def test_unreadable_lines_are_skipped_not_fatal(tmp_path: Path) -> None:
    good = _key()
    known = tmp_path / "known_hosts"
    known.write_text("broken-line\nh9 ecdsa-sha2-nistp256 !!!not-base64!!!\n" + _line("h1", good))
    hosts = KnownHosts([known], tmp_path / "tofu")
    hosts.verify("h1", 22, good)


def test_tofu_records_the_first_key_and_enforces_it_afterwards(tmp_path: Path) -> None:
    first, other = _key(), _key()
    tofu = tmp_path / "data" / "known_hosts"
    hosts = KnownHosts([], tofu, policy="tofu")
    hosts.verify("10.9.9.9", 2200, first)
    hosts.verify("10.9.9.9", 2200, first)
    with pytest.raises(HostKeyError, match="HOST KEY CHANGED"):
        hosts.verify("10.9.9.9", 2200, other)
    assert tofu.read_text() == _line("[10.9.9.9]:2200", first)
    again = KnownHosts([], tofu, policy="strict")
    again.verify("10.9.9.9", 2200, first)
    with pytest.raises(HostKeyError, match="HOST KEY CHANGED"):
        again.verify("10.9.9.9", 2200, other)


def test_a_fleet_sized_file_loads_in_linear_time(tmp_path: Path) -> None:
    # paramiko.HostKeys.load compares each line with all earlier ones; 4,000 lines took
    # seconds of CPU there. The index must stay proportional to the file.
    key = _key()
    known = tmp_path / "known_hosts"
    known.write_text("".join(_line(f"[127.0.{i // 250}.{i % 250 + 1}]:2222", key)
                             for i in range(4000)))
    began = time.process_time()
    hosts = KnownHosts([known], tmp_path / "tofu")
    for i in range(0, 4000, 7):
        hosts.verify(f"127.0.{i // 250}.{i % 250 + 1}", 2222, key)
    assert time.process_time() - began < 2.0
