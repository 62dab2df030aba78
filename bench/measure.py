"""Run one client as its own process and measure it: wall time, CPU time of its whole process
tree, peak RSS.

CPU comes from ``os.wait4`` on the client's PID: the kernel sums user+system time of the client
and every descendant it waited for (Ansible's forks, for one), so the figure holds nothing of the
benchmark's own process or of the sshd/simulator processes it started. Peak RSS is measured two
ways: ``ru_maxrss`` of ``wait4`` (the largest single process of the tree) and the sum of the
tree's RSS sampled every 0.1 s with psutil (what a forking client really holds at once).

The client is started by a small launcher (:data:`_LAUNCHER`), which waits for it and reports
its ``wait4``: Linux carries a process's peak RSS across exec, so a client started straight from
the benchmark's process would report the benchmark's own peak as its ``ru_maxrss``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

SAMPLE_INTERVAL = 0.1


@dataclass(frozen=True)
class Measurement:
    command: list[str]
    exit_code: int
    wall_seconds: float
    user_seconds: float
    system_seconds: float
    #: largest single process of the tree (ru_maxrss of wait4)
    max_process_rss_bytes: int
    #: peak of the tree's summed RSS, sampled
    peak_tree_rss_bytes: int
    timed_out: bool
    stdout: Path
    stderr: Path

    @property
    def cpu_seconds(self) -> float:
        return self.user_seconds + self.system_seconds

    @property
    def peak_rss_bytes(self) -> int:
        return max(self.max_process_rss_bytes, self.peak_tree_rss_bytes)


#: Runs the client (argv[2:]), waits for it and writes its wait status, user and system CPU
#: seconds and ru_maxrss (KiB) to argv[1]; the client starts from this interpreter's ~10 MiB.
_LAUNCHER = """
import os, sys
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as report:
    report.write(f"{status} {usage.ru_utime!r} {usage.ru_stime!r} {usage.ru_maxrss}")
"""


class _TreeSampler(threading.Thread):
    """Samples the summed RSS of a process's descendants (the launcher itself left out) until
    stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True, name=f"rss-{pid}")
        self._pid = pid
        self._halt = threading.Event()
        self.peak = 0

    def run(self) -> None:
        try:
            root = psutil.Process(self._pid)
        except psutil.Error:
            return
        while not self._halt.is_set():
            total = 0
            try:
                tree = root.children(recursive=True)
            except psutil.Error:
                break
            for proc in tree:
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_info().rss
            self.peak = max(self.peak, total)
            self._halt.wait(SAMPLE_INTERVAL)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


def run_measured(
    command: Sequence[str], *, out_dir: Path, name: str, env: Mapping[str, str] | None = None,
    timeout: float = 1800.0, cwd: Path | None = None,
) -> Measurement:
    """Run ``command`` (stdout/stderr to ``out_dir/NAME.stdout|stderr``) and measure it.

    The client runs in its own process group; past ``timeout`` the group is killed and the
    measurement says ``timed_out``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stdout, stderr = out_dir / f"{name}.stdout", out_dir / f"{name}.stderr"
    report = out_dir / f"{name}.rusage"
    report.unlink(missing_ok=True)
    with stdout.open("wb") as out, stderr.open("wb") as err:
        began = time.perf_counter()
        # -I -S: the launcher imports nothing it does not need, so it stays small
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(report), *command],
            stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True,
        )
        sampler = _TreeSampler(proc.pid)
        sampler.start()
        killed = threading.Event()
        timer = threading.Timer(timeout, _kill_group, args=(proc.pid, killed))
        timer.start()
        try:
            proc.wait()
        finally:
            timer.cancel()
            sampler.stop()
        wall = time.perf_counter() - began
    if report.exists():
        words = report.read_text().split()
        exit_code = os.waitstatus_to_exitcode(int(words[0]))
        user, system, max_rss = float(words[1]), float(words[2]), int(words[3]) * 1024
    else:  # the launcher was killed (timeout) before its client ended
        exit_code, user, system, max_rss = proc.returncode, 0.0, 0.0, 0
    return Measurement(
        command=list(command), exit_code=exit_code, wall_seconds=wall,
        user_seconds=user, system_seconds=system,
        max_process_rss_bytes=max_rss, peak_tree_rss_bytes=sampler.peak,
        timed_out=killed.is_set(),
        stdout=stdout, stderr=stderr,
    )


def _kill_group(pid: int, killed: threading.Event) -> None:
    killed.set()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
