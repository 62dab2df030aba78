"""Real OpenSSH servers on loopback, for integration tests and the benchmark.

:class:`SshdFleet` starts ``/usr/sbin/sshd`` processes that serve *N* "hosts", each a distinct
loopback address (``127.0.1.1``, ``127.0.1.2``, …) on one shared high port.  Nothing listens or
connects outside ``127.0.0.0/8``.

How it is laid out (all measured on the development machine):

* One ``sshd`` may listen on at most 16 addresses ("Too many listen sockets"), so a fleet runs
  ``ceil(N / 16)`` processes, each with up to 16 ``ListenAddress`` lines on the same port.
* **Every address served by one process shares that process's ed25519 host key.**  Tests that
  need a *changed* host key therefore do not restart anything: :meth:`SshdFleet.write_known_hosts`
  writes a known_hosts file in which chosen hosts carry a different (wrong) key.
* Per-address behaviour ("special" hosts) uses ``Match LocalAddress`` blocks with
  ``ForceCommand``; :data:`HANG_COMMAND`, :data:`DROP_COMMAND` and :data:`GARBAGE_COMMAND`
  simulate a hanging command, a connection dropped mid-run and garbage output.
* Authorised keys are served with ``AuthorizedKeysCommand /usr/bin/cat FILE`` run as root
  (``AuthorizedKeysFile none``): sshd opens an ``AuthorizedKeysFile`` *as the logging-in user*,
  and the unprivileged password user cannot traverse pytest's 0700 temporary directories.
* ``UsePAM yes`` so password authentication checks the real password (a wrong one costs about
  2.75 s of PAM delay).  ``MaxStartups 200:30:400`` and ``MaxSessions 50`` so load does not
  make sshd drop connections.
* bash sources ``~/.bashrc`` even for non-interactive commands run by sshd; root's here runs
  ``pyenv init`` (+90 ms per command).  With ``skip_shell_rc`` (default) sessions get
  ``SHLVL=1``, so bash believes it is nested and skips it: ~50 ms instead of ~140 ms per exec.
* Every session gets ``XUNJIAN_SSHD_FLEET=<token>`` (sshd ``SetEnv``).  :meth:`SshdFleet.stop`
  signals the sshd processes by PID, their descendants, and any orphaned session process that
  carries the token (a ``sleep 300`` outlives its connection) - never by process name.

Root is required (``/run/sshd``, ``PermitRootLogin``, PAM); :func:`sshd_unavailable_reason`
says why a fleet cannot run here, so fixtures can skip.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import psutil

from support import canaries

SSHD_PATH = Path("/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")
MAX_ADDRESSES_PER_SSHD = 16
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")

#: The unprivileged user for password authentication, created by :func:`ensure_password_user`.
PASSWORD_USER = "xjtest"
# Canary secrets (support.canaries): they must never appear in logs, reports or the store.
CANARY_PASSWORD = canaries.CANARY_PASSWORD
CANARY_PASSPHRASE = canaries.CANARY_PASSPHRASE

#: Environment variable sshd sets in every session of a fleet (value: the fleet's token).
FLEET_ENV_VAR = "XUNJIAN_SSHD_FLEET"

#: ForceCommand: never prints, never exits (until the fleet stops).
HANG_COMMAND = "sleep 300"
#: ForceCommand: prints :data:`DROP_PARTIAL_OUTPUT`, then SIGKILLs the session's sshd process,
#: so the client sees the connection close with no exit status and no channel close.
DROP_COMMAND = "exec /bin/sh -c 'echo partial-output; sleep 0.2; kill -9 $PPID'"
DROP_PARTIAL_OUTPUT = b"partial-output\n"
#: ForceCommand: whatever was asked, answers binary garbage (NUL, invalid UTF-8, escapes).
GARBAGE_COMMAND = r"printf '\377\376garbage\000\033[31m{not: valid\200\201 output\n'"
GARBAGE_OUTPUT = b"\xff\xfegarbage\x00\x1b[31m{not: valid\x80\x81 output\n"

#: Addresses of the standard special hosts (outside the 127.0.1.x/127.0.2.x host ranges).
HANG_ADDRESS = "127.0.3.1"
DROP_ADDRESS = "127.0.3.2"
GARBAGE_ADDRESS = "127.0.3.3"
STANDARD_SPECIAL: Mapping[str, str] = {
    HANG_ADDRESS: HANG_COMMAND,
    DROP_ADDRESS: DROP_COMMAND,
    GARBAGE_ADDRESS: GARBAGE_COMMAND,
}

_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./+-]+$")
_USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,30}$")
_POLL_INTERVAL = 0.02


class SshdError(RuntimeError):
    """The harness could not start or stop sshd; the message includes sshd's log."""


@dataclass(frozen=True)
class SshHost:
    """One simulated host: an address served by one of the fleet's sshd processes."""

    name: str
    """``host-001`` … for regular hosts, ``special-127.0.3.1`` for special ones."""
    address: str
    port: int
    host_key_line: str
    """This host's known_hosts line: ``[127.0.1.K]:PORT ssh-ed25519 AAAA...``."""
    server: int
    """Index of the sshd process serving it; hosts of one process share its host key."""
    force_command: str | None = None
    """The ``ForceCommand`` for a special host, ``None`` for a regular one."""

    @property
    def known_hosts_name(self) -> str:
        """The name paramiko and OpenSSH look up in known_hosts for this host."""
        return _known_hosts_name(self.address, self.port)


@dataclass
class _Server:
    index: int
    addresses: list[str]
    directory: Path
    host_key: Path
    popen: subprocess.Popen[bytes] | None = None
    log_handle: IO[bytes] | None = field(default=None, repr=False)

    @property
    def config(self) -> Path:
        return self.directory / "sshd_config"

    @property
    def log(self) -> Path:
        return self.directory / "sshd.log"

    @property
    def pid_file(self) -> Path:
        return self.directory / "sshd.pid"

    def log_text(self, limit: int = 8000) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return text if len(text) <= limit else "…" + text[-limit:]


# --------------------------------------------------------------------------- helpers


def sshd_unavailable_reason(sshd_path: Path = SSHD_PATH) -> str | None:
    """Why a fleet cannot run on this machine, or ``None`` if it can."""
    if not sshd_path.is_file() or not os.access(sshd_path, os.X_OK):
        return f"{sshd_path} (OpenSSH server) is not installed"
    if shutil.which("ssh-keygen") is None:
        return "ssh-keygen (OpenSSH client tools) is not installed"
    if os.geteuid() != 0:
        return "starting sshd for tests needs root (/run/sshd, PermitRootLogin, PAM)"
    return None


def loopback_addresses(first: str, count: int) -> list[str]:
    """``count`` consecutive host addresses from ``first``, skipping ``.0`` and ``.255``.

    ``127.0.1.254`` is followed by ``127.0.2.1``.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, not {count}")
    start = ipaddress.IPv4Address(first)
    if start not in LOOPBACK:
        raise ValueError(f"{first} is not in 127.0.0.0/8")
    a, b, c, d = start.packed
    if not 1 <= d <= 254:
        raise ValueError(f"{first}: the last octet must be 1..254")
    result: list[str] = []
    while len(result) < count:
        result.append(f"{a}.{b}.{c}.{d}")
        d += 1
        if d > 254:
            d, c = 1, c + 1
            if c > 255:
                c, b = 0, b + 1
                if b > 255:
                    raise ValueError(f"{count} addresses from {first} leave 127.0.0.0/8")
    return result


def pick_free_port(addresses: Collection[str], attempts: int = 50) -> int:
    """A TCP port that is free on every one of ``addresses`` right now (never 22)."""
    probe = next(iter(addresses))
    for _ in range(attempts):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((probe, 0))
            port: int = sock.getsockname()[1]
        if port != 22 and all(_port_free(address, port) for address in addresses):
            return port
    raise SshdError(f"no port free on all of {len(addresses)} addresses after {attempts} tries")


def _port_free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def ensure_privsep_dir() -> None:
    """sshd refuses to start without its privilege-separation directory."""
    PRIVSEP_DIR.mkdir(parents=True, exist_ok=True)
    PRIVSEP_DIR.chmod(0o755)


def generate_ed25519_key(path: Path, passphrase: str = "", comment: str = "") -> str:
    """Create an ed25519 key pair at ``path`` (+ ``.pub``); return ``"ssh-ed25519 AAAA..."``.

    An existing key is kept.  The passphrase is on ssh-keygen's argv: it is a test canary.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        command = ["ssh-keygen", "-t", "ed25519", "-N", passphrase, "-q", "-f", str(path)]
        command += ["-C", comment or path.name]
        _run(command, what=f"ssh-keygen for {path}")
    kind, blob, *_ = path.with_name(path.name + ".pub").read_text().split()
    return f"{kind} {blob}"


def ensure_password_user(name: str, password: str) -> None:
    """Create local user ``name`` (``useradd -m -s /bin/sh``) if missing; set its password.

    The password goes to ``chpasswd`` on stdin, never on argv.  Needs root: raises
    :class:`PermissionError` otherwise (fixtures decide whether to skip).
    """
    if not _USER_NAME.match(name):
        raise ValueError(f"unsuitable user name {name!r}")
    if any(ch in password for ch in ":\n\r\0"):
        raise ValueError("the password must not contain ':', NUL or line breaks")
    if os.geteuid() != 0:
        raise PermissionError(f"creating user {name!r} and setting its password needs root")
    attempts = 5  # other test sessions may hold the passwd/shadow locks or add the user too
    for attempt in range(1, attempts + 1):
        try:
            if not _user_exists(name):
                _run(["useradd", "-m", "-s", "/bin/sh", name], what=f"useradd {name}")
            _run(["chpasswd"], what=f"chpasswd for {name}", stdin=f"{name}:{password}\n")
        except SshdError:
            if attempt == attempts:
                raise
            time.sleep(0.2 * attempt)
        else:
            return


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _run(command: list[str], *, what: str, stdin: str | None = None) -> None:
    try:
        subprocess.run(command, input=stdin, capture_output=True, text=True, check=True)
    except FileNotFoundError as exc:
        raise SshdError(f"{what}: {command[0]} not found") from exc
    except subprocess.CalledProcessError as exc:
        raise SshdError(f"{what} failed ({exc.returncode}): {exc.stderr.strip()}") from exc


def sshd_version(sshd_path: Path = SSHD_PATH) -> tuple[int, int] | None:
    """OpenSSH's (major, minor) from ``sshd -V``, or ``None`` if it cannot be told."""
    try:
        done = subprocess.run(
            [str(sshd_path), "-V"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"OpenSSH_(\d+)\.(\d+)", done.stdout + done.stderr)
    return (int(found[1]), int(found[2])) if found else None


def _known_hosts_name(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


def _banner(address: str, port: int, timeout: float) -> bytes:
    """The first line the server sends, or ``b""`` if it cannot be had (yet)."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            data = b""
            while b"\n" not in data and len(data) < 512:
                chunk = sock.recv(512)
                if not chunk:
                    break
                data += chunk
            return data
    except OSError:
        return b""


# --------------------------------------------------------------------------- the fleet


class SshdFleet:
    """``count`` regular hosts plus optional special hosts, served by real sshd processes.

    Usage::

        with SshdFleet(tmp_path, 20, special=STANDARD_SPECIAL) as fleet:
            host = fleet.hosts[0]
            client.load_host_keys(str(fleet.known_hosts))
            client.connect(host.address, host.port, username="root",
                           key_filename=str(fleet.client_key))

    ``special`` maps extra addresses (not among the regular hosts) to a ``ForceCommand``.
    Keys are generated on the first :meth:`start` and kept across restarts; the port is
    picked on every start unless given.  ``allow_users`` becomes sshd's ``AllowUsers``;
    :attr:`client_key` and :attr:`client_key_passphrase` are authorised for all of them.
    ``skip_shell_rc=False`` lets bash source ``~/.bashrc`` as on a real server (slower).
    """

    def __init__(
        self,
        workdir: Path,
        count: int,
        *,
        first_address: str = "127.0.1.1",
        port: int | None = None,
        special: Mapping[str, str] | None = None,
        allow_users: Iterable[str] = ("root", PASSWORD_USER),
        startup_timeout: float = 15.0,
        skip_shell_rc: bool = True,
        sshd_path: Path = SSHD_PATH,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.count = count
        self.requested_port = port
        self.allow_users = tuple(allow_users)
        self.startup_timeout = startup_timeout
        self.skip_shell_rc = skip_shell_rc
        self.sshd_path = sshd_path
        self.passphrase = CANARY_PASSPHRASE
        self.client_key = self.workdir / "client_ed25519"
        self.client_key_passphrase = self.workdir / "client_ed25519_passphrase"
        self.authorized_keys = self.workdir / "authorized_keys"
        self.known_hosts = self.workdir / "known_hosts"
        self.token = secrets.token_hex(8)

        if not _SAFE_PATH.match(str(self.workdir)):
            raise ValueError(f"workdir {self.workdir} has characters sshd_config cannot take")
        if port is not None and not 1024 <= port <= 65535:
            raise ValueError(f"port {port}: use a free high port (never 22)")
        if not self.allow_users or not all(_USER_NAME.match(u) for u in self.allow_users):
            raise ValueError(f"unsuitable allow_users {self.allow_users!r}")
        self._regular = loopback_addresses(first_address, count)
        self._special: dict[str, str] = {}
        for address, command in (special or {}).items():
            if ipaddress.IPv4Address(address) not in LOOPBACK:
                raise ValueError(f"special address {address} is not in 127.0.0.0/8")
            if address in self._regular:
                raise ValueError(f"special address {address} is also a regular host")
            if not command.strip() or "\n" in command:
                raise ValueError(f"special command for {address} must be one non-empty line")
            self._special[address] = command
        addresses = self._regular + list(self._special)
        if not addresses:
            raise ValueError("a fleet needs at least one host")
        per = MAX_ADDRESSES_PER_SSHD
        self._servers = [
            _Server(
                index=i,
                addresses=addresses[i * per : (i + 1) * per],
                directory=self.workdir / f"sshd-{i:02d}",
                host_key=self.workdir / f"sshd-{i:02d}" / "ssh_host_ed25519_key",
            )
            for i in range(math.ceil(len(addresses) / per))
        ]
        self._hosts: dict[str, SshHost] = {}
        self.port: int | None = None
        self.startup_seconds: float | None = None

    # -- context manager

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what tests use

    @property
    def hosts(self) -> list[SshHost]:
        """The ``count`` regular hosts, in address order."""
        return [self._host(address) for address in self._regular]

    @property
    def special_hosts(self) -> dict[str, SshHost]:
        """Special hosts by address."""
        return {address: self._host(address) for address in self._special}

    @property
    def all_hosts(self) -> list[SshHost]:
        return self.hosts + list(self.special_hosts.values())

    def host(self, address: str) -> SshHost:
        """The host (regular or special) at ``address``."""
        if address not in self._regular and address not in self._special:
            raise KeyError(f"{address} is not part of this fleet")
        return self._host(address)

    def _host(self, address: str) -> SshHost:
        if not self._hosts:
            raise SshdError("the fleet is not started")
        return self._hosts[address]

    @property
    def pids(self) -> list[int]:
        """PIDs of the running sshd listener processes."""
        return [s.popen.pid for s in self._servers if s.popen and s.popen.poll() is None]

    def process_tree_pids(self) -> list[int]:
        """Listener PIDs, all their descendants, and orphaned session processes of the fleet."""
        return sorted({p.pid for p in self._our_processes()})

    def log_text(self) -> str:
        """Every sshd process's log, for failure messages."""
        return "\n".join(f"--- sshd #{s.index} ({s.log})\n{s.log_text()}" for s in self._servers)

    def write_known_hosts(
        self,
        path: Path,
        *,
        wrong_key_for: Collection[str] = (),
        omit: Collection[str] = (),
    ) -> Path:
        """Write a known_hosts file for every host, for "changed/unknown host key" tests.

        Hosts whose address is in ``wrong_key_for`` get a different ed25519 key (as if the
        server's key had changed); those in ``omit`` are left out (unknown host).
        """
        for address in (*wrong_key_for, *omit):
            self.host(address)
        wrong = generate_ed25519_key(self.workdir / "wrong_host_ed25519_key", comment="wrong")
        lines = []
        for host in self.all_hosts:
            if host.address in omit:
                continue
            if host.address in wrong_key_for:
                lines.append(f"{host.known_hosts_name} {wrong}")
            else:
                lines.append(host.host_key_line)
        path.write_text("\n".join(lines) + "\n")
        return path

    # -- start / stop

    def start(self) -> None:
        """Generate keys (first time), write configs, start every sshd, wait for banners."""
        if any(s.popen is not None for s in self._servers):
            raise SshdError("the fleet is already started")
        reason = sshd_unavailable_reason(self.sshd_path)
        if reason:
            raise SshdError(reason)
        began = time.monotonic()
        ensure_privsep_dir()
        self.workdir.mkdir(parents=True, exist_ok=True)
        client = generate_ed25519_key(self.client_key, comment="xunjian-test")
        protected = generate_ed25519_key(
            self.client_key_passphrase, self.passphrase, comment="xunjian-test-passphrase"
        )
        self.authorized_keys.write_text(f"{client}\n{protected}\n")
        host_keys = {
            s.index: generate_ed25519_key(s.host_key, comment=f"xunjian-test-sshd-{s.index}")
            for s in self._servers
        }
        version = sshd_version(self.sshd_path)
        attempts = 1 if self.requested_port is not None else 3
        for attempt in range(1, attempts + 1):
            everything = [a for s in self._servers for a in s.addresses]
            port = self.requested_port or pick_free_port(everything)
            try:
                self._launch(port, version)
                self._wait_ready(port)
            except SshdError as exc:
                self.stop()
                if attempt < attempts and "Address already in use" in str(exc):
                    continue
                raise
            except BaseException:
                self.stop()
                raise
            break
        self.port = port
        self._hosts = {}
        names = {address: f"host-{i:03d}" for i, address in enumerate(self._regular, 1)}
        for server in self._servers:
            for address in server.addresses:
                line = f"{_known_hosts_name(address, port)} {host_keys[server.index]}"
                self._hosts[address] = SshHost(
                    name=names.get(address, f"special-{address}"),
                    address=address,
                    port=port,
                    host_key_line=line,
                    server=server.index,
                    force_command=self._special.get(address),
                )
        self.known_hosts.write_text("".join(h.host_key_line + "\n" for h in self.all_hosts))
        self.startup_seconds = time.monotonic() - began

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every sshd by PID: SIGTERM, then SIGKILL what is left after ``timeout``.

        The listeners are frozen (SIGSTOP) first so that the process tree collected - their
        descendants (connections, sessions) plus orphaned session processes carrying the
        fleet's token - is complete before anything is signalled.  Idempotent.
        """
        listeners = [s.popen for s in self._servers if s.popen and s.popen.poll() is None]
        for popen in listeners:
            _signal(popen.pid, signal.SIGSTOP)
        victims = self._our_processes()
        for proc in victims:
            _signal_proc(proc, signal.SIGTERM)
        for popen in listeners:
            _signal(popen.pid, signal.SIGCONT)
        deadline = time.monotonic() + timeout
        survivors = _wait_gone(victims, deadline)
        for proc in survivors:
            _signal_proc(proc, signal.SIGKILL)
        survivors = _wait_gone(survivors, time.monotonic() + timeout)
        for server in self._servers:
            if server.popen is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    server.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
                server.popen = None
            if server.log_handle is not None:
                server.log_handle.close()
                server.log_handle = None
        self._hosts = {}
        if survivors:
            raise SshdError(f"processes survived SIGKILL: {[p.pid for p in survivors]}")

    # -- internals

    def _config(self, server: _Server, port: int, version: tuple[int, int] | None) -> str:
        lines = [
            "# Written by tests/support/sshd.py for one test fleet; loopback only.",
            f"Port {port}",
            "AddressFamily inet",
            *(f"ListenAddress {address}" for address in server.addresses),
            f"HostKey {server.host_key}",
            f"PidFile {server.pid_file}",
            "StrictModes no",
            "UsePAM yes",
            "PubkeyAuthentication yes",
            "PasswordAuthentication yes",
            "KbdInteractiveAuthentication no",
            "PermitEmptyPasswords no",
            "PermitRootLogin yes",
            f"AllowUsers {' '.join(self.allow_users)}",
            "AuthorizedKeysFile none",
            f"AuthorizedKeysCommand /usr/bin/cat {self.authorized_keys}",
            "AuthorizedKeysCommandUser root",
            "MaxStartups 200:30:400",
            "MaxSessions 50",
            "MaxAuthTries 6",
            "LoginGraceTime 30",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "PermitUserEnvironment no",
            "PermitUserRC no",
            "X11Forwarding no",
            "AllowTcpForwarding local",  # jump-host (ProxyJump) tests open direct-tcpip channels
            "AllowStreamLocalForwarding no",
            "AllowAgentForwarding no",
            "PermitTunnel no",
            "GatewayPorts no",
            # Only the first SetEnv line counts, so everything goes on this one.
            f"SetEnv {FLEET_ENV_VAR}={self.token}" + (" SHLVL=1" if self.skip_shell_rc else ""),
            "Subsystem sftp internal-sftp",
            "LogLevel INFO",
        ]
        if version is not None and version >= (9, 8):
            # Newer sshd penalises sources that fail auth or crash sessions (the drop host
            # does); every client here is loopback, so that would block the whole suite.
            lines.append("PerSourcePenalties no")
        for address in server.addresses:
            if address in self._special:
                lines += [
                    f"Match LocalAddress {address}",
                    f"    ForceCommand {self._special[address]}",
                ]
        return "\n".join(lines) + "\n"

    def _launch(self, port: int, version: tuple[int, int] | None) -> None:
        for server in self._servers:
            server.directory.mkdir(parents=True, exist_ok=True)
            server.config.write_text(self._config(server, port, version))
            server.log_handle = server.log.open("wb")  # a restart starts a fresh log
            server.popen = subprocess.Popen(
                [str(self.sshd_path), "-D", "-e", "-f", str(server.config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=server.log_handle,
                start_new_session=True,
            )

    def _wait_ready(self, port: int) -> None:
        deadline = time.monotonic() + self.startup_timeout
        pending = list(self._servers)
        while pending:
            for server in list(pending):
                assert server.popen is not None
                code = server.popen.poll()
                if code is not None:
                    raise SshdError(
                        f"sshd #{server.index} exited with status {code} while starting "
                        f"(port {port}):\n{server.log_text()}"
                    )
                ready = _banner(server.addresses[0], port, timeout=1.0).startswith(b"SSH-")
                # sshd logs every failed bind before it accepts: once ready, the log is complete.
                log = server.log_text()
                if "Bind to port" in log or "Cannot bind" in log:
                    raise SshdError(f"sshd #{server.index} could not bind every address:\n{log}")
                if ready:
                    pending.remove(server)
            if pending:
                if time.monotonic() > deadline:
                    raise SshdError(
                        f"no SSH banner from sshd #{pending[0].index} at "
                        f"{pending[0].addresses[0]}:{port} within {self.startup_timeout} s:\n"
                        + pending[0].log_text()
                    )
                time.sleep(_POLL_INTERVAL)

    def _our_processes(self) -> list[psutil.Process]:
        found: dict[int, psutil.Process] = {}
        for server in self._servers:
            if server.popen is None or server.popen.poll() is not None:
                continue
            try:
                root = psutil.Process(server.popen.pid)
                found[root.pid] = root
                found.update((p.pid, p) for p in root.children(recursive=True))
            except psutil.Error:
                continue
        marker = f"{FLEET_ENV_VAR}={self.token}"
        for proc in psutil.process_iter():
            if proc.pid in found:
                continue
            try:
                environ = proc.environ()
            except psutil.Error:
                continue
            if f"{FLEET_ENV_VAR}={environ.get(FLEET_ENV_VAR)}" == marker:
                found[proc.pid] = proc
        return list(found.values())


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _signal_proc(proc: psutil.Process, signum: signal.Signals) -> None:
    with contextlib.suppress(psutil.Error):
        proc.send_signal(signum)  # checks the PID was not reused


def _gone(proc: psutil.Process) -> bool:
    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


def _wait_gone(procs: list[psutil.Process], deadline: float) -> list[psutil.Process]:
    """Wait until ``procs`` are gone (zombies count as gone); return those still alive."""
    alive = list(procs)
    while alive:
        alive = [p for p in alive if not _gone(p)]
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(_POLL_INTERVAL)
    return alive
