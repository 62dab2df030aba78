"""support.faults.run_measured: the peak RSS it reports is the command's own. Linux carries a
process's peak RSS across exec, so a command started straight from a large pytest process used
to report pytest's size (444 MiB for a ~130 MiB agent, late in a full run)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from support.faults import run_measured

MIB = 1 << 20


def test_the_peak_is_the_commands_own_not_the_test_processs(tmp_path: Path) -> None:
    held = bytearray(256 * MIB)
    held[::4096] = b"x" * len(range(0, len(held), 4096))  # resident, not just reserved
    small = run_measured([sys.executable, "-c", "pass"], env=os.environ, workdir=tmp_path)
    assert small.returncode == 0
    assert small.peak_rss < 64 * MIB, f"{small.peak_rss // MIB} MiB"
    del held


def test_the_commands_memory_and_exit_status_are_measured(tmp_path: Path) -> None:
    hold = ("b = bytearray(96 << 20); b[::4096] = b'x' * len(range(0, len(b), 4096)); "
            "raise SystemExit(3)")
    big = run_measured([sys.executable, "-c", hold], env=os.environ, workdir=tmp_path)
    assert big.returncode == 3
    assert big.peak_rss >= 96 * MIB
    killed = run_measured([sys.executable, "-c", "import os; os.kill(os.getpid(), 9)"],
                          env=os.environ, workdir=tmp_path)
    assert killed.returncode == -9
