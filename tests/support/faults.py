"""Fault injection for the hardening suite (tests/hardening/test_faults_*.py).

* :class:`SilentListener`: a TCP listener that accepts connections and never sends a byte (a
  host whose port is open but whose SSH server never sends its banner).
* :class:`CommandWatch`: acts (e.g. :func:`kill_all`: SIGKILL the listening sshd, each
  connection's sshd and the session's commands) as soon as a chosen command runs in a session
  of an :class:`~support.sshd.SshdFleet`: the fault strikes mid-session, not before or after.
* :func:`run_measured`: runs a command and returns its exit status, output and peak RSS (from
  ``wait4``'s rusage in a small launcher, so the peak is the command's own - not sampled, and
  not the test process's).
* :class:`TmpfsMount`: a small tmpfs (needs root), for "the store's disk is full".
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import psutil

from support.sshd import SshdFleet

_POLL = 0.01


class SilentListener:
    """Accepts TCP connections on ``address`` (a free port) and never answers; a context
    manager. Accepted sockets are held open until :meth:`close`."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._sock = socket.socket()
        self._sock.bind((address, 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.port: int = self._sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self.accepted:
            conn.close()
        self._sock.close()


class CommandWatch:
    """Watches ``fleet``'s processes; when a process named ``trigger`` (a command of the
    inspection) runs in one of its sessions, calls ``action`` once with the fleet's PIDs - in
    the middle of an inspection, not before or after it. A context manager: the watcher stops
    on exit; :attr:`fired` says whether the trigger ran."""

    def __init__(self, fleet: SshdFleet, trigger: str, action: Callable[[list[int]], None],
                 timeout: float = 300.0) -> None:
        self.fleet = fleet
        self.trigger = trigger
        self.action = action
        self.timeout = timeout
        self.fired = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(10)

    def _watch(self) -> None:
        deadline = time.monotonic() + self.timeout
        while not self._stop.is_set() and time.monotonic() < deadline:
            pids = self.fleet.process_tree_pids()
            if any(_name(pid) == self.trigger for pid in pids):
                self.action(pids)
                self.fired = True
                return
            time.sleep(_POLL)


def kill_all(pids: list[int]) -> None:
    """SIGKILL each of ``pids`` (a fleet's own processes: listener, connections, sessions)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _name(pid: int) -> str:
    try:
        return psutil.Process(pid).name()
    except psutil.Error:
        return ""


@dataclass(frozen=True)
class Measured:
    returncode: int
    stdout: str
    stderr: str
    #: the process's peak resident set size, bytes
    peak_rss: int
    seconds: float


#: Runs the command (argv[2:]) as its own child, waits for it and writes the child's raw wait
#: status and ru_maxrss (KiB) to argv[1]. Linux carries a process's peak RSS across exec (the
#: old address space's high-water mark goes into the new program's ru_maxrss), so a command
#: started straight from pytest reports pytest's own peak - hundreds of MiB late in a full run -
#: as its own. Started from this small interpreter, the command inherits this one's ~10 MiB.
_LAUNCHER = """
import os, sys
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as report:
    report.write(f"{status} {usage.ru_maxrss}")
"""


def run_measured(command: Sequence[str], *, env: Mapping[str, str], workdir: Path,
                 timeout: float = 120.0) -> Measured:
    """Run ``command``; its stdout/stderr go through files (no pipe can fill up). The peak RSS
    is the command's own (with its waited-for children), not the test process's: see
    :data:`_LAUNCHER`."""
    out, err, report = workdir / "stdout.txt", workdir / "stderr.txt", workdir / "rusage.txt"
    report.unlink(missing_ok=True)
    began = time.monotonic()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        # -I -S: the launcher imports nothing it does not need, so it stays small
        proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", _LAUNCHER, str(report),
                                 *command], stdout=stdout, stderr=stderr, env=dict(env),
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the launcher and the command
        proc.wait()
        raise AssertionError(f"{command[:3]} did not finish within {timeout} s") from None
    if proc.returncode != 0 or not report.exists():
        raise AssertionError(f"the measuring launcher failed ({proc.returncode}): "
                             f"{err.read_text(errors='replace')[-2000:]}")
    status, max_rss_kib = (int(word) for word in report.read_text().split())
    return Measured(os.waitstatus_to_exitcode(status), out.read_text(errors="replace"),
                    err.read_text(errors="replace"), max_rss_kib * 1024,
                    time.monotonic() - began)


class TmpfsMount:
    """A tmpfs of ``size_bytes`` mounted at ``path`` (root only); unmounted on exit."""

    def __init__(self, path: Path, size_bytes: int) -> None:
        self.path = path
        self.size_bytes = size_bytes

    def __enter__(self) -> Self:
        self.path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size_bytes},mode=0700",
                        "xunjian-faults", str(self.path)], check=True, capture_output=True)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False, capture_output=True)

    def fill(self) -> int:
        """Fill the filesystem to the last byte; returns how many bytes were written."""
        written = 0
        with (self.path / "filler").open("wb", buffering=0) as handle:
            for size in (1 << 20, 4096, 1):  # big writes, then the last partial blocks
                with contextlib.suppress(OSError):  # ENOSPC ends each size
                    while True:
                        written += handle.write(b"\0" * size) or 0
        return written

    def free(self) -> None:
        (self.path / "filler").unlink(missing_ok=True)


def mount_unavailable_reason() -> str | None:
    """Why a tmpfs cannot be mounted here, or None."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    return None
