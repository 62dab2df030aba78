"""Batch a pack's commands into one POSIX shell script run over a single SSH exec channel
(``collectors.linux`` splits what comes back into per-item outputs).

Each command runs under ``timeout`` (when the host has it) with stdin from /dev/null and stderr
merged. Outputs are framed by marker lines carrying a per-run random token, so a device's output
cannot forge a frame.
"""

from __future__ import annotations

import math
import secrets
import shlex
from dataclasses import dataclass

from collectors.pack import PackItem

_PRELUDE = (
    "LC_ALL=C; export LC_ALL; "
    "if command -v timeout >/dev/null 2>&1; then "
    "xj_run() { xj_t=$1; shift; timeout -k 2 \"$xj_t\" \"$@\"; }; "
    "else xj_run() { shift; \"$@\"; }; fi\n"
)


@dataclass(frozen=True)
class Batch:
    token: str
    script: str
    items: tuple[PackItem, ...]


def build_batch(items: tuple[PackItem, ...], default_timeout: float) -> Batch:
    token = secrets.token_hex(8)
    lines = [_PRELUDE]
    for item in items:
        timeout = max(1, math.ceil(item.timeout or default_timeout))
        run = f"xj_run {timeout} sh -c {shlex.quote(item.command)} </dev/null 2>&1"
        if item.max_lines:
            run += f" | head -n {int(item.max_lines)}"
        lines.append(
            f"printf '@@XJ-{token} BEGIN %s\\n' {item.id}; {run}; xj_rc=$?; "
            f"printf '\\n@@XJ-{token} END %s %s\\n' {item.id} \"$xj_rc\"\n"
        )
    return Batch(token, "".join(lines), items)

