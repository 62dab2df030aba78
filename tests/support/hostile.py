"""Hostile input for the hardening tests (tests/hardening/test_hostile_*.py), and the checks
that prove it did no harm.

The payloads combine what an attacker (or a broken device) can put into inventory fields and
command output: shell syntax that would create a **marker file** if anything ran it, ANSI/OSC
terminal escapes, HTML/JS, invalid UTF-8 and very long lines.  The marker is an absolute path
under the test's own directory, so "nothing was executed" is simply "the file never appears" -
on the agent *and* on the inspected host (the test hosts are this machine).

The checks read artefacts back as their consumers do: :func:`html_injections` parses the HTML
report and lists every element or attribute an attacker could have smuggled in;
:func:`terminal_controls` lists the control characters a terminal would obey;
:func:`json_log_problems` reads a JSON log the way a log shipper does (one record per line).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

#: OSC "set window title", clear screen, a colour, and the 8-bit CSI (C1) form of clear screen
ANSI = ("\x1b]0;xj-pwned-title\x07", "\x1b[2J", "\x1b[31m", "\x9b2J")
#: element and attribute injections, each shown as text where it belongs; an element named
#: ``xj…`` anywhere in a parsed document was injected (no template uses such a name)
HTML = ("<script>alert(1)</script>", '"><img src=x onerror=alert(2)>',
        "'><svg onload=alert(3)><xjinjected>")
#: bytes that are not UTF-8 (a lone continuation byte, an overlong lead, 0xFF)
INVALID_UTF8 = b"\xff\xfe\xc3\x28\x80"
#: a line of this many bytes, with no newline, is the "very long line" case
LONG_LINE_BYTES = 1 << 20


def shell_payloads(marker: Path) -> tuple[str, ...]:
    """Each creates ``marker`` if a shell ever evaluates the string (or a command built from it).
    """
    return (f"$(touch {marker})", f"`touch {marker}`", f"; touch {marker};",
            f"| touch {marker} |", f"&& touch {marker}")


def hostile_text(marker: Path, *, newlines: bool = True) -> str:
    """One string with every kind of hostile content (text only; add bytes where bytes go)."""
    parts = [*shell_payloads(marker), *ANSI, *HTML, "back\\slash \"quoted\" 'single'", "\x00NUL"]
    if newlines:
        parts.append("line1\nline2\r\nfake: log record")
    return " ".join(parts)


def hostile_name(marker: Path) -> str:
    """A device name as hostile as the inventory allows (no whitespace, ``/`` or ``\\``)."""
    relative = marker.name  # names cannot hold '/': the marker is created in the cwd instead
    return (f"n;touch${{IFS}}{relative}|$(touch${{IFS}}{relative})`touch${{IFS}}{relative}`"
            f"\x1b]0;t\x07\x1b[2J\"><xjinjected>")


# -- checks -----------------------------------------------------------------------------------

#: what a terminal obeys: C0 controls except tab and newline, DEL, and C1 controls
_TERMINAL_CONTROLS = frozenset([*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F,
                                *range(0x80, 0xA0)])


def terminal_controls(text: str) -> list[str]:
    """The control characters in ``text`` a terminal would act on (``repr`` of each, deduped).
    A CR directly before LF is a line end, not an overwrite, and is allowed."""
    cleaned = text.replace("\r\n", "\n")
    return sorted({repr(c) for c in cleaned if ord(c) in _TERMINAL_CONTROLS})


@dataclass
class _HtmlScan(HTMLParser):
    tags: list[tuple[str, list[tuple[str, str | None]]]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@dataclass(frozen=True)
class HtmlScan:
    injections: list[str]
    """Every ``<script>`` or ``<xj…>`` element, event-handler attribute (``on…``),
    ``javascript:`` URL and ``<img src=x>`` found: each would be an injected element or
    attribute."""
    text: str
    """The document's text (entities decoded), to prove the hostile strings did arrive."""


def scan_html(html: str) -> HtmlScan:
    parser = _HtmlScan()
    parser.feed(html)
    parser.close()
    found = []
    for tag, attrs in parser.tags:
        if tag == "script" or tag.startswith("xj"):
            found.append(f"<script> element {attrs}")
        for name, value in attrs:
            if name.startswith("on"):
                found.append(f"<{tag} {name}={value!r}>")
            if (value or "").strip().lower().startswith("javascript:"):
                found.append(f"<{tag} {name}={value!r}>")
        if tag == "img" and ("src", "x") in attrs:
            found.append(f"<img src=x> {attrs}")
    return HtmlScan(found, "".join(parser.text))


def json_log_problems(data: bytes) -> list[str]:
    """Lines of a JSON log (records split on ``\\n`` only, as log shippers do) that are not one
    JSON object each."""
    problems = []
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line:
            continue
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            problems.append(f"line {number}: {exc}: {line[:120]!r}")
            continue
        if not isinstance(record, dict) or "message" not in record:
            problems.append(f"line {number}: not a log record: {line[:120]!r}")
    return problems


# -- a hostile Linux host -------------------------------------------------------------------------

@dataclass(frozen=True)
class HostileHost:
    """Fake ``df``, ``grep``, ``uname`` and ``journalctl`` that answer hostile bytes, put first
    on PATH by the sshd ``ForceCommand`` :attr:`force_command` (which otherwise runs what the
    client asked, so the agent's framed batch still works and the payloads reach the parsers).
    """

    bin_dir: Path
    mountpoint: str
    """the hostile mountpoint ``df`` reports (95 % used: a CRIT finding with this item)"""
    serial: str
    """the hostile DMI serial number"""

    @property
    def force_command(self) -> str:
        return f'env PATH={self.bin_dir}:/usr/bin:/bin /bin/sh -c "$SSH_ORIGINAL_COMMAND"'


def _script(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def write_hostile_host(directory: Path, marker: Path) -> HostileHost:
    """Write the fake commands and their payload files under ``directory``."""
    bin_dir = directory / "bin"
    bin_dir.mkdir(parents=True)
    text = hostile_text(marker, newlines=False)
    mountpoint_bytes = b"/data/" + text.encode() + b" " + INVALID_UTF8
    mountpoint = mountpoint_bytes.decode("utf-8", errors="replace")
    (directory / "df-row").write_bytes(
        b"hostile-dev xfs 1000000000 950000000 50000000 95% " + mountpoint_bytes + b"\n")
    (directory / "df-row-i").write_bytes(
        b"hostile-dev xfs 1000 10 990 1% " + mountpoint_bytes + b"\n")
    serial = "SN" + text
    (directory / "dmi").write_bytes(
        b"/sys/class/dmi/id/sys_vendor:" + INVALID_UTF8 + b"<b>vendor</b>\n"
        b"/sys/class/dmi/id/product_name:" + HTML[1].encode() + b"\n"
        b"/sys/class/dmi/id/product_serial:" + serial.encode() + b"\n")
    # one journal line of LONG_LINE_BYTES with no newline at all, hostile bytes at both ends
    (directory / "journal").write_bytes(
        b"2026-12-07T10:00:00+0000 evil " + text.encode() + INVALID_UTF8
        + b"A" * LONG_LINE_BYTES + ANSI[0].encode())
    _script(bin_dir / "df",
            f'/bin/df "$@" || exit\ncase "$*" in *-i*) /bin/cat {directory}/df-row-i ;; '
            f'*) /bin/cat {directory}/df-row ;; esac\n')
    _script(bin_dir / "grep",
            f'case "$*" in *dmi*) exec /bin/cat {directory}/dmi ;; esac\n'
            'exec /usr/bin/grep "$@"\n')
    _script(bin_dir / "uname", "printf 'Linux 6.1<script>alert(5)</script>\\033[2J x86_64\\n'\n")
    _script(bin_dir / "journalctl", f"exec /bin/cat {directory}/journal\n")
    return HostileHost(bin_dir, mountpoint, serial)


def existing(markers: Iterable[Path]) -> list[Path]:
    """Those of ``markers`` that exist (a hardening test wants none)."""
    return [m for m in markers if os.path.lexists(m)]
