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
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import psutil

from bench import measure as bench_measure
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


def run_measured(command: Sequence[str], *, env: Mapping[str, str], workdir: Path,
                 timeout: float = 120.0) -> Measured:
    """Run ``command`` with the benchmark's measurer (:func:`bench.measure.run_measured`): its
    stdout/stderr go through files (no pipe can fill up), and the peak RSS is the command's
    own, not the test process's (Linux carries a process's peak RSS across exec, so the
    measurer starts the command from a small launcher)."""
    began = time.monotonic()
    measured = bench_measure.run_measured(command, out_dir=workdir, name="command", env=env,
                                          timeout=timeout)
    if measured.timed_out:
        raise AssertionError(f"{list(command)[:3]} did not finish within {timeout} s")
    return Measured(measured.exit_code, measured.stdout.read_text(errors="replace"),
                    measured.stderr.read_text(errors="replace"),
                    measured.max_process_rss_bytes, time.monotonic() - began)


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
