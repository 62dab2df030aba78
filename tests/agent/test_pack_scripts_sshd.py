"""Custom pack scripts run over real OpenSSH (tests/support/sshd.py) by the Linux collector:
a hang, a flood and a failing exit stay confined to their items; the transcript is the evidence
of exactly what ran; and the script never touches the host's disk.

The items come as the runner hands them over (``collectors.pack.combine``): the standard pack,
then a custom pack parsed with ``parse_pack``, its items renamed ``<pack>.<item>``.
"""

from __future__ import annotations

import os
import pwd
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from support.sshd import SshdFleet

from collectors.base import CollectResult
from collectors.hostkeys import KnownHosts
from collectors.linux import LinuxCollector
from collectors.pack import Pack, builtin_pack, combine, parse_pack
from collectors.ssh import AuthMaterial, Endpoint
from config.models import SshSettings
from config.secrets import Redactor, ResolvedCredential

pytestmark = pytest.mark.sshd

MARKER = f"xj-marker-{secrets.token_hex(8)}"
CANARY = "Script-Canary-Pw-4411"
FLOOD_CAP = 64 * 1024

CUSTOM = f"""
name: acme-db
version: "1.0"
platforms: [linux]
items:
  - id: hang
    read_only: true
    timeout: 2
    script: |
      # {MARKER}
      sleep 611
  - id: flood
    read_only: true
    max_bytes: {FLOOD_CAP}
    script: "yes"
  - id: connections
    read_only: true
    parser: {{type: kv}}
    script: |
      #!/bin/sh
      # {MARKER}: the evidence must show every line, secrets redacted
      PGPASSWORD='{CANARY}'
      printf 'active=%s\\n' "$(ps -e | wc -l)"
      echo "user=$(id -un)"
  - id: failing
    read_only: true
    parser: {{type: kv}}
    script: |
      echo "psql: error: connection to server failed" >&2
      exit 2
  - id: nothing_matched
    read_only: true
    parser: {{type: kv}}
    ok_exit_codes: [0, 1]
    script: "pgrep -x nosuch-{MARKER[-6:]}"
""".encode()


def combined_pack() -> Pack:
    return combine(builtin_pack("linux-standard"), [parse_pack(CUSTOM, "acme-db.yaml")])


def collector(fleet: SshdFleet, index: int, pack: Pack, tmp_path: Path) -> LinuxCollector:
    host = fleet.hosts[index]
    settings = SshSettings(known_hosts=fleet.known_hosts, connect_timeout=3, host_timeout=60,
                           retries=0, max_output_bytes=1024 * 1024)
    auth = AuthMaterial(ResolvedCredential(name="key", username="root", password=None,
                                           key_file=fleet.client_key, passphrase=None))
    known = KnownHosts([fleet.known_hosts], tmp_path / "known_hosts")
    assert fleet.port is not None
    return LinuxCollector(Endpoint(host.name, host.address, fleet.port), auth, known, settings,
                          pack, Redactor([CANARY]))


def listing(folder: Path) -> dict[str, int]:
    return {entry.name: entry.stat(follow_symlinks=False).st_mtime_ns
            for entry in os.scandir(folder)}


def holds_marker(path: Path) -> bool:
    """Whether a file under ``path`` (new or changed during the run) contains the marker."""
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()] \
        if path.is_dir() and not path.is_symlink() else []
    for file in files[:2000]:
        try:
            if file.stat().st_size < 4 * 1024 * 1024 and MARKER.encode() in file.read_bytes():
                return True
        except OSError:
            continue
    return False


@dataclass
class Run:
    result: CollectResult
    seconds: float
    #: entries of /tmp and the login user's home that appeared or changed during the run
    touched: list[Path]


@pytest.fixture(scope="module")
def run(ssh_fleet: SshdFleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    home = Path(pwd.getpwnam("root").pw_dir)
    before = {folder: listing(folder) for folder in (Path("/tmp"), home)}
    started = time.monotonic()
    result = collector(ssh_fleet, 18, combined_pack(), tmp_path_factory.mktemp("scripts")
                       ).collect()
    seconds = time.monotonic() - started
    touched = [folder / name for folder, old in before.items()
               for name, mtime in listing(folder).items() if old.get(name) != mtime]
    yield Run(result, seconds, touched)


def test_a_hanging_script_times_out_alone(run: Run) -> None:
    errors = run.result.item_errors
    assert errors["acme-db.hang"] == "`script: sleep 611` timed out after 2 s (timeout)"
    raw = {r.item: r for r in run.result.raw}
    assert raw["acme-db.hang"].exit_code == 124
    # the items after it still ran, and the host as a whole did not fail
    assert raw["acme-db.connections"].output.startswith("active=")
    assert run.result.facts.memory_total_bytes and run.result.facts.filesystems
    assert not {"memory", "filesystems", "cpu_usage"} & set(errors)
    assert run.seconds < 30
    assert not [p for p in psutil.process_iter(["cmdline"])
                if p.info["cmdline"] == ["sleep", "611"]]


def test_a_flooding_script_is_cut_at_its_cap_on_the_host(run: Run) -> None:
    flood = {r.item: r for r in run.result.raw}["acme-db.flood"]
    assert flood.truncated and len(flood.output) == FLOOD_CAP
    assert flood.output.startswith("y\ny\n")
    assert run.result.item_errors["acme-db.flood"] == (
        f"output exceeded the item's cap of {FLOOD_CAP} bytes (max_bytes); the first "
        f"{FLOOD_CAP} bytes are kept")
    # Bounded: `yes` was stopped by head at once (no timeout: flood has the 30 s default),
    # and the 1 MiB channel cap of these settings was never reached.
    transcript = run.result.transcript or ""
    assert "output cap of 1048576 bytes reached" not in transcript
    assert "[acme-db.flood: exit 141 (SIGPIPE: stopped at the item's output limit)" in transcript
    assert transcript.count("\ny") < FLOOD_CAP // 2 + 100
    assert {"acme-db.connections", "acme-db.failing", "net_dev"} <= {
        r.item for r in run.result.raw}


def test_the_transcript_shows_the_script_that_ran_redacted(run: Run) -> None:
    transcript = run.result.transcript or ""
    assert "$ sh -c <script, 5 lines>    [acme-db.connections: exit 0, +" in transcript
    assert ("> #!/bin/sh\n"
            f"> # {MARKER}: the evidence must show every line, secrets redacted\n"
            "> PGPASSWORD='********'\n"
            "> printf 'active=%s\\n' \"$(ps -e | wc -l)\"\n"
            "> echo \"user=$(id -un)\"\n"
            "active=") in transcript
    assert CANARY not in transcript
    assert "user=root\n" in transcript
    raw = {r.item: r for r in run.result.raw}
    assert raw["acme-db.connections"].command == "script: PGPASSWORD='********' …"
    assert "$ cat /proc/meminfo    [memory: exit 0" in transcript  # commands as before


def test_an_exit_status_outside_ok_exit_codes_is_an_item_error(run: Run) -> None:
    errors = run.result.item_errors
    assert errors["acme-db.failing"] == (
        '`script: echo "psql: error: connection to server failed" >&2 …` exited 2: '
        "psql: error: connection to server failed")
    assert "acme-db.nothing_matched" not in errors  # pgrep's 1 is in ok_exit_codes
    assert {r.item: r.exit_code for r in run.result.raw}["acme-db.nothing_matched"] == 1
    assert "acme-db.connections" not in errors


def test_the_script_is_never_written_to_the_host(run: Run) -> None:
    """Compared: /tmp and root's home before and after. Other tests may run at the same time,
    so what appeared is searched for this run's marker rather than required to be empty."""
    assert not [p for p in run.touched if MARKER in p.name or holds_marker(p)]
