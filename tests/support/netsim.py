"""A network-device replay simulator: SSH servers that talk like device CLIs, for netmiko tests.

One simulator **process** serves many devices, each on its own loopback ``address:port`` (the
same port on distinct addresses is fine).  Every device is a paramiko :class:`ServerInterface`
with password authentication, a pty and an interactive shell that behaves like the CLI of its
platform as far as netmiko 4.8 can tell:

=================  ====================  ===================================================
platform           prompt                session commands netmiko sends (and the replies)
=================  ====================  ===================================================
``cisco_ios``      ``NAME>`` / ``NAME#``  ``terminal width 511``, ``terminal length 0``
                                          (silent); ``enable`` → ``Password:``
``cisco_nxos``     ``NAME# ``             ``terminal width 511``, ``terminal length 0``
``arista_eos``     ``NAME>`` / ``NAME#``  ``terminal width 511`` → ``Width set to 511
                                          columns.``, ``terminal length 0`` → ``Pagination
                                          disabled.``; ``enable`` (``Password:`` if a secret)
``huawei_vrp``     ``<NAME>``             ``screen-length 0 temporary`` → ``Info: …``
``hp_comware``     ``<NAME>``             ``screen-length disable`` (silent)
``juniper_junos``  ``user@NAME> ``        ``set cli screen-width 511`` → ``Screen width set to
                                          511``, ``set cli complete-on-space off`` →
                                          ``Disabling complete-on-space``, ``set cli
                                          screen-length 0`` → ``Screen length set to 0``
=================  ====================  ===================================================

Disconnecting, netmiko sends ``exit`` (Cisco, Arista, Junos) or ``quit`` (Huawei, H3C); the
simulator then closes the session.

**Replay.**  A device answers commands from a replay folder (by default
``tests/netsim/replay/<platform>/``) whose ``commands.yaml`` maps an exact command string to a
file in that folder (``show version: show_version.txt``; a value may also be a mapping
``{file: NAME, delay: SECONDS}``).  The YAML and the file are read when the command arrives, so a
test can change a device's answers while it runs.  The file is sent verbatim (line ends turned
into CRLF) between the command echo and the next prompt; a missing final newline is added, so
netmiko's ``send_command`` returns the file's text without its last newline.  Unknown commands get
the platform's own error text (``% Invalid input detected at '^' marker.`` with the caret line on
IOS, ``Error: Unrecognized command found at '^' position.`` on VRP, ``syntax error, expecting
<command>.`` on Junos, …; see :data:`ERROR_TEXT`).

**Paging.**  Until the session turns paging off (``terminal length 0`` etc.), output longer than
a page (``page_lines``, 24 by default) stops at the platform's More prompt (:data:`MORE_PROMPT`)
and continues on space (a page) or Enter (a line); any other key ends the output.

**Log.**  Every line a device receives is appended to ``<log_dir>/<device>.jsonl`` as
``{"time", "device", "session", "kind", "line"}`` with ``kind`` one of ``replay`` (answered from
the replay set), ``session`` (a session command such as ``terminal length 0``), ``unknown``
(answered with the error text), ``empty`` (just Enter), ``error`` (the replay set names a file
that is missing; ``detail`` says which) and ``secret`` (the enable password - logged as ``***``,
never in clear).  ``kind: "event"`` records (``event``: ``login``, ``auth-failed``, ``shell``,
``exec``, ``closed``, ``truncated``, ``stalled``, ``flooding``) carry ``line: null``.

**Faults** (per device, for bad-input tests): ``unknown_prompt`` (the prompt is ``fault_prompt``,
``???`` by default, which netmiko cannot recognise), ``endless_paging`` (every command's output
is followed by More prompts forever, whatever the paging setting; only ``q`` ends it),
``truncate`` (closes the session halfway through the output of ``fault_command``, or of every
non-session command), ``stall`` (sends half of that output, then nothing, keeping the session
open), ``flood`` (sends that output, then numbered lines without end - never the prompt - until
the client goes away) and the vendor override ``vendor`` (the device answers with another
platform's prompt, commands and replay set than the ``platform`` the inventory claims).

Use :class:`NetSim` (a context manager) from tests: it writes the JSON config, runs
``python tests/support/netsim.py --config FILE`` in its own process group, waits until every port
accepts TCP, writes ``known_hosts`` and stops the process by PID.  The host key is an ed25519 key
generated once per :class:`NetSim`.  Nothing listens outside ``127.0.0.0/8``.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import ipaddress
import json
import logging
import os
import re
import resource
import secrets
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import paramiko
import yaml

try:
    from support import canaries
except ImportError:  # run as the simulator process: tests/support itself is sys.path[0]
    import canaries  # type: ignore[no-redef]

#: The replay sets of the test suite: ``<platform>/commands.yaml`` plus the output files.
REPLAY_ROOT = Path(__file__).resolve().parents[1] / "netsim" / "replay"
PLATFORMS = (
    "cisco_ios",
    "cisco_nxos",
    "huawei_vrp",
    "hp_comware",
    "juniper_junos",
    "arista_eos",
)
#: netmiko device types the simulator also accepts, and the platform they mean.
ALIASES = {"cisco_xe": "cisco_ios", "huawei": "huawei_vrp", "juniper": "juniper_junos"}
FAULTS = ("unknown_prompt", "endless_paging", "truncate", "stall", "flood")
#: the faults that apply to ``fault_command`` (or to every non-session command)
COMMAND_FAULTS = ("truncate", "stall", "flood")
#: ``flood``: what is sent per write after the real output (numbered 64-byte lines)
FLOOD_LINES_PER_WRITE = 1024
#: Log record kinds for received lines (``event`` records are not lines).
LINE_KINDS = ("replay", "session", "unknown", "empty", "error", "secret")
#: The kinds of lines that were commands (what tests usually want from the log).
COMMAND_KINDS = ("replay", "session", "unknown", "error")

MORE_PROMPT = {
    "cisco_ios": " --More-- ",
    "cisco_nxos": "--More--",
    "arista_eos": " --More-- ",
    "huawei_vrp": "  ---- More ----",
    "hp_comware": "  ---- More ----",
    "juniper_junos": "---(more)---",
}


def _caret(column: int) -> str:
    return " " * column + "^"


#: The platform's reply to an unknown command, given the caret's column (prompt included).
ERROR_TEXT: Mapping[str, Callable[[int], list[str]]] = {
    "cisco_ios": lambda col: [_caret(col), "% Invalid input detected at '^' marker.", ""],
    "cisco_nxos": lambda col: [_caret(col), "% Invalid command at '^' marker."],
    "arista_eos": lambda col: ["% Invalid input"],
    "huawei_vrp": lambda col: [_caret(col), "Error: Unrecognized command found at '^' position."],
    "hp_comware": lambda col: [_caret(col), " % Unrecognized command found at '^' position."],
    "juniper_junos": lambda col: [_caret(col), "syntax error, expecting <command>.", ""],
}

#: The suite's canary enable secret (support.canaries): never in logs or reports.
CANARY_SECRET = canaries.CANARY_ENABLE_SECRET
DEFAULT_FIRST_ADDRESS = "127.0.20.1"
DEFAULT_PAGE_LINES = 24
LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_POLL_INTERVAL = 0.02
_RECV_TIMEOUT = 0.5

log = logging.getLogger("netsim")


class NetSimError(RuntimeError):
    """The simulator could not start or stop; the message includes its stderr."""


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Device:
    """One simulated device (the JSON config holds a list of these, field for field)."""

    name: str
    platform: str
    """What the inventory says (the netmiko ``device_type`` to use)."""
    address: str = ""
    """Loopback address; :class:`NetSim` assigns one when empty."""
    port: int = 0
    """TCP port; :class:`NetSim` picks one (shared by all devices) when 0."""
    username: str = "admin"
    password: str = "admin"
    secret: str = ""
    """Enable secret (Cisco IOS, Arista); with one, ``enable`` asks ``Password:``."""
    privileged: bool | None = None
    """Start at ``#``?  Default: NX-OS yes, IOS and Arista no (they need ``enable``)."""
    replay_dir: str | None = None
    """Folder with ``commands.yaml``; default ``<replay_root>/<platform or vendor>``."""
    page_lines: int = DEFAULT_PAGE_LINES
    banner: str = ""
    """Text sent before the first prompt."""
    fault: str | None = None
    """One of :data:`FAULTS`, or ``None``."""
    fault_command: str | None = None
    """``truncate``/``stall``/``flood``: only this command (default: every non-session one)."""
    fault_prompt: str = "???"
    """``unknown_prompt``: the prompt shown instead of the real one."""
    vendor: str | None = None
    """Vendor override: behave as this platform although the inventory says ``platform``."""

    @property
    def behaves_as(self) -> str:
        """The platform whose CLI the device speaks (``vendor`` if set, else ``platform``)."""
        return _platform(self.vendor or self.platform)

    @property
    def known_hosts_name(self) -> str:
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"

    def validate(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"device name {self.name!r}: use letters, digits, '_', '.', '-'")
        _platform(self.platform)
        if self.vendor is not None:
            _platform(self.vendor)
        if self.fault is not None and self.fault not in FAULTS:
            raise ValueError(f"{self.name}: unknown fault {self.fault!r} (one of {FAULTS})")
        if self.fault_command is not None and self.fault not in COMMAND_FAULTS:
            raise ValueError(f"{self.name}: fault_command is for the {COMMAND_FAULTS} faults")
        if self.page_lines < 0:
            raise ValueError(f"{self.name}: page_lines must be >= 0")
        if self.address and ipaddress.IPv4Address(self.address) not in LOOPBACK:
            raise ValueError(f"{self.name}: {self.address} is not in 127.0.0.0/8")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Device:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown device keys {sorted(unknown)} in {dict(data)!r}")
        return cls(**data)


def _platform(name: str) -> str:
    platform = ALIASES.get(name, name)
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {name!r} (one of {PLATFORMS})")
    return platform


# --------------------------------------------------------------------------- host key


def generate_host_key(path: Path) -> str:
    """Create an ed25519 host key at ``path`` (mode 0600) unless it exists; return its
    public half as ``"ssh-ed25519 AAAA..."``."""
    if not path.exists():
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
    key = paramiko.Ed25519Key(filename=str(path))
    return f"{key.get_name()} {key.get_base64()}"


# --------------------------------------------------------------------------- the log


class _DeviceLog:
    """Appends JSON lines to one device's log file; thread-safe, flushed per record."""

    def __init__(self, path: Path, device: str) -> None:
        self.device = device
        self._lock = threading.Lock()
        self._handle = path.open("a", encoding="utf-8")
        self._sessions = 0

    def next_session(self) -> int:
        with self._lock:
            self._sessions += 1
            return self._sessions

    def write(self, session: int, kind: str, line: str | None, **extra: Any) -> None:
        record = {
            "time": datetime.now(UTC).isoformat(timespec="microseconds"),
            "device": self.device,
            "session": session,
            "kind": kind,
            "line": line,
            **extra,
        }
        text = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            if not self._handle.closed:
                self._handle.write(text)
                self._handle.flush()

    def close(self) -> None:
        with self._lock:
            self._handle.close()


# --------------------------------------------------------------------------- the CLI


class _SessionClosedError(Exception):
    """The client went away (EOF) or the session must end."""


@dataclass
class _Answer:
    kind: str
    text: str = ""
    close: bool = False
    detail: str | None = None
    delay: float = 0.0


class _Session:
    """One interactive (or exec) session on one device."""

    def __init__(
        self,
        device: Device,
        replay_root: Path,
        channel: paramiko.Channel,
        device_log: _DeviceLog,
        session: int,
        username: str,
        stopping: threading.Event,
    ) -> None:
        self.device = device
        self.platform = device.behaves_as
        self.replay_dir = Path(device.replay_dir or replay_root / self.platform)
        self.chan = channel
        self.log = device_log
        self.session = session
        self.username = username
        self.stopping = stopping
        self.privileged = (
            device.privileged
            if device.privileged is not None
            else self.platform not in ("cisco_ios", "arista_eos")
        )
        self.page_lines = device.page_lines
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._echo: list[str] = []
        self._last_cr = False

    # -- output

    def send(self, text: str) -> None:
        if text:
            self.chan.sendall(text.encode("utf-8", "surrogateescape"))

    def prompt(self) -> str:
        if self.device.fault == "unknown_prompt":
            return self.device.fault_prompt
        name = self.device.name
        match self.platform:
            case "huawei_vrp" | "hp_comware":
                return f"<{name}>"
            case "juniper_junos":
                return f"{self.username}@{name}> "
            case "cisco_nxos":
                return f"{name}{'#' if self.privileged else '>'} "
            case _:
                return f"{name}{'#' if self.privileged else '>'}"

    # -- input

    def _next_char(self) -> str:
        while not self._pending:
            self._flush_echo()
            if self.stopping.is_set():
                raise _SessionClosedError
            try:
                data = self.chan.recv(4096)
            except TimeoutError:
                continue
            if not data:
                raise _SessionClosedError
            self._pending += self._decoder.decode(data)
        char, self._pending = self._pending[0], self._pending[1:]
        return char

    def _next_key(self) -> str:
        """One key press; the ``\\n`` of a ``\\r\\n`` pair is skipped."""
        while True:
            char = self._next_char()
            swallow = char == "\n" and self._last_cr
            self._last_cr = char == "\r"
            if not swallow:
                return char

    def _flush_echo(self) -> None:
        if self._echo:
            text, self._echo = "".join(self._echo), []
            self.send(text)

    def read_line(self, *, echo: bool = True) -> str:
        chars: list[str] = []
        while True:
            char = self._next_key()
            if char in "\r\n":
                if echo:
                    self._echo.append("\r\n")
                self._flush_echo()
                return "".join(chars)
            if char in "\x7f\x08":
                if chars:
                    chars.pop()
                    if echo:
                        self._echo.append("\b \b")
            elif char == "\x03":  # Ctrl-C abandons the line
                if echo:
                    self._echo.append("^C\r\n")
                chars = []
                self._flush_echo()
                return ""
            elif char >= " " or char == "\t":
                chars.append(char)
                if echo:
                    self._echo.append(char)

    # -- the shell

    def run_shell(self) -> None:
        self.log.write(self.session, "event", None, event="shell", username=self.username)
        try:
            self.send(_crlf(self.device.banner) if self.device.banner else "")
            self.send("\r\n" + self.prompt())
            while True:
                line = self.read_line()
                answer = self.answer(line)
                if answer.kind == "enable":
                    self._enable()
                    continue
                self._log_line(line, answer)
                if answer.close:
                    break
                if self._faulted(line, answer):
                    return
                if answer.delay:
                    time.sleep(answer.delay)
                self._page(answer.text, endless=self._endless(answer))
                self.send(self.prompt())
        except (_SessionClosedError, OSError, EOFError):
            pass
        finally:
            self.log.write(self.session, "event", None, event="closed")
            with contextlib.suppress(Exception):
                self.chan.close()

    def run_exec(self, command: str) -> None:
        """``ssh device 'show version'``: one answer, no paging, then exit status."""
        self.log.write(self.session, "event", None, event="exec", username=self.username)
        try:
            answer = self.answer(command)
            self._log_line(command, answer)
            if answer.kind != "enable" and not self._faulted(command, answer):
                if answer.delay:
                    time.sleep(answer.delay)
                self.send(answer.text)
                self.chan.send_exit_status(0 if answer.kind in ("replay", "session") else 1)
        except (_SessionClosedError, OSError, EOFError):
            pass
        finally:
            self.log.write(self.session, "event", None, event="closed")
            with contextlib.suppress(Exception):
                self.chan.close()

    def _log_line(self, line: str, answer: _Answer) -> None:
        extra = {"detail": answer.detail} if answer.detail else {}
        self.log.write(self.session, answer.kind, line, **extra)

    def _endless(self, answer: _Answer) -> bool:
        return self.device.fault == "endless_paging" and answer.kind not in ("session", "empty")

    def _faulted(self, line: str, answer: _Answer) -> bool:
        """Apply the truncate/stall/flood fault if it covers this command; True if it did."""
        fault = self.device.fault
        if fault not in COMMAND_FAULTS or answer.kind in ("session", "empty", "secret"):
            return False
        wanted = self.device.fault_command
        if wanted is not None and _normal(line) != _normal(wanted):
            return False
        if fault == "flood":
            self._flood(answer.text)
        half = answer.text[: len(answer.text) // 2]
        self.send(half)
        if fault == "truncate":
            self.log.write(self.session, "event", None, event="truncated", sent=len(half))
            with contextlib.suppress(Exception):
                self.chan.shutdown_write()
                self.chan.close()
                time.sleep(0.05)
                transport = self.chan.get_transport()
                if transport is not None:
                    transport.close()
            raise _SessionClosedError
        self.log.write(self.session, "event", None, event="stalled", sent=len(half))
        while True:  # keep the session open, answer nothing, until the client goes
            self._next_char()

    def _flood(self, text: str) -> None:
        """Send ``text``, then numbered lines for ever; sending fails once the client goes."""
        self.send(text)
        self.log.write(self.session, "event", None, event="flooding")
        number = 0
        while not self.stopping.is_set():
            lines = [f"flood line {n:>12} {'x' * 38}\r\n"
                     for n in range(number, number + FLOOD_LINES_PER_WRITE)]
            number += FLOOD_LINES_PER_WRITE
            self.send("".join(lines))
        raise _SessionClosedError

    def _page(self, text: str, *, endless: bool) -> None:
        """Send ``text`` with More prompts as the session's paging asks.

        At a More prompt, space shows the next page, Enter the next line, any other key ends
        the output (with ``endless``, only ``q`` or Ctrl-C do)."""
        if not endless and (self.page_lines <= 0 or not text):
            self.send(text)
            return
        lines = text.splitlines(keepends=True)
        height = max(1, (self.page_lines or DEFAULT_PAGE_LINES) - 1)
        more = MORE_PROMPT[self.platform]
        erase = _erase(self.platform, more)
        position, step = 0, height
        while True:
            chunk = lines[position : position + step]
            position += len(chunk)
            self.send("".join(chunk))
            if position >= len(lines) and not endless:
                return
            self.send(more)
            key = self._next_key()
            self.send(erase)
            if key == " ":
                step = height
            elif key in "\r\n":
                step = 1
            elif endless and key not in "qQ\x03":
                step = height
            else:
                return

    # -- answers

    def answer(self, raw: str) -> _Answer:
        line = raw.strip()
        if not line:
            return _Answer("empty", "")
        session = self._session_command(line)
        if session is not None:
            return session
        return self._replay(raw, line)

    def _session_command(self, line: str) -> _Answer | None:  # noqa: PLR0911, PLR0912
        words = _normal(line)
        platform = self.platform
        if platform in ("cisco_ios", "cisco_nxos", "arista_eos"):
            if words in ("exit", "quit", "logout"):
                return _Answer("session", close=True)
            if m := re.fullmatch(r"term(?:i|in|ina|inal)? len(?:g|gt|gth)? (\d+)", words):
                self.page_lines = int(m[1])
                if platform == "arista_eos":
                    n = int(m[1])
                    reply = "Pagination disabled." if n == 0 else f"Pagination set to {n} lines."
                    return _Answer("session", _crlf(reply))
                return _Answer("session")
            if m := re.fullmatch(r"term(?:i|in|ina|inal)? wid(?:t|th)? (\d+)", words):
                if platform == "arista_eos":
                    return _Answer("session", _crlf(f"Width set to {m[1]} columns."))
                return _Answer("session")
            if words in ("en", "ena", "enab", "enabl", "enable"):
                return _Answer("enable")
            if words in ("disable", "disa", "disab", "disabl") and platform != "cisco_nxos":
                self.privileged = False
                return _Answer("session")
            return None
        if platform in ("huawei_vrp", "hp_comware"):
            if words in ("quit", "q", "qu", "qui"):
                return _Answer("session", close=True)
            if platform == "huawei_vrp" and (
                m := re.fullmatch(r"screen-length (\d+) temporary", words)
            ):
                self.page_lines = int(m[1])
                return _Answer(
                    "session",
                    _crlf(
                        "Info: The configuration takes effect on the current user terminal "
                        "interface only."
                    ),
                )
            if platform == "hp_comware":
                if words == "screen-length disable":
                    self.page_lines = 0
                    return _Answer("session")
                if words == "undo screen-length disable":
                    self.page_lines = self.device.page_lines or DEFAULT_PAGE_LINES
                    return _Answer("session")
            return None
        # juniper_junos
        if words in ("exit", "quit"):
            return _Answer("session", close=True)
        if words == "cli":
            return _Answer("session")
        if m := re.fullmatch(r"set cli screen-length (\d+)", words):
            self.page_lines = int(m[1])
            return _Answer("session", _crlf(f"Screen length set to {m[1]}"))
        if m := re.fullmatch(r"set cli screen-width (\d+)", words):
            return _Answer("session", _crlf(f"Screen width set to {m[1]}"))
        if m := re.fullmatch(r"set cli complete-on-space (on|off)", words):
            verb = "Enabling" if m[1] == "on" else "Disabling"
            return _Answer("session", _crlf(f"{verb} complete-on-space"))
        return None

    def _enable(self) -> None:
        """``enable``: ask for the secret where the device has one."""
        line = "enable"
        if self.privileged:
            self.log.write(self.session, "session", line)
            self.send(self.prompt())
            return
        if not self.device.secret:
            self.log.write(self.session, "session", line)
            if self.platform == "cisco_ios":
                self.send(_crlf("% No password set"))
            else:
                self.privileged = True
            self.send(self.prompt())
            return
        self.log.write(self.session, "session", line)
        self.send("Password: ")
        given = self.read_line(echo=False)
        ok = secrets.compare_digest(given.encode(), self.device.secret.encode())
        self.log.write(self.session, "secret", "***", accepted=ok)
        self.send("\r\n")
        if ok:
            self.privileged = True
        else:
            self.send(_crlf("% Access denied"))
        self.send(self.prompt())

    def _replay(self, raw: str, line: str) -> _Answer:
        commands = self._commands()
        entry = commands.get(line)
        if entry is None:
            entry = {_normal(k): v for k, v in commands.items()}.get(_normal(line))
        if entry is None:
            return _Answer("unknown", self._error(raw, commands))
        if isinstance(entry, Mapping):
            name, delay = str(entry.get("file", "")), float(entry.get("delay", 0))
        else:
            name, delay = str(entry), 0.0
        path = self.replay_dir / name
        try:
            if not name or path.resolve().parent != self.replay_dir.resolve():
                raise FileNotFoundError(name)
            data = path.read_bytes()
        except OSError as exc:
            detail = f"replay file {path} for {line!r} cannot be read: {exc}"
            return _Answer("error", self._error(raw, commands), detail=detail)
        return _Answer("replay", _crlf(data.decode("utf-8", "surrogateescape")), delay=delay)

    def _commands(self) -> dict[str, Any]:
        path = self.replay_dir / "commands.yaml"
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        if isinstance(loaded, Mapping) and isinstance(loaded.get("commands"), Mapping):
            loaded = loaded["commands"]
        if not isinstance(loaded, Mapping):
            return {}
        return {str(k).strip(): v for k, v in loaded.items()}

    def _error(self, raw: str, commands: Mapping[str, Any]) -> str:
        """The platform's error text, the caret under the first word no command has there."""
        known = [_normal(c).split() for c in commands]
        known += [s.split() for s in _SESSION_VOCABULARY[self.platform]]
        spans = [(m.start(), m.group()) for m in re.finditer(r"\S+", raw)]
        column = len(raw.rstrip())
        for index, (start, _) in enumerate(spans):
            prefix = [w for _, w in spans[: index + 1]]
            if not any(k[: index + 1] == prefix for k in known):
                column = start
                break
        lines = ERROR_TEXT[self.platform](len(self.prompt()) + column)
        return "".join(f"{text}\r\n" for text in lines)


_SESSION_VOCABULARY: Mapping[str, tuple[str, ...]] = {
    "cisco_ios": ("terminal length", "terminal width", "enable", "disable", "exit", "logout"),
    "cisco_nxos": ("terminal length", "terminal width", "enable", "exit"),
    "arista_eos": ("terminal length", "terminal width", "enable", "disable", "exit", "logout"),
    "huawei_vrp": ("screen-length", "quit"),
    "hp_comware": ("screen-length disable", "undo screen-length disable", "quit"),
    "juniper_junos": (
        "set cli screen-length",
        "set cli screen-width",
        "set cli complete-on-space",
        "exit",
        "quit",
    ),
}


def _normal(command: str) -> str:
    return " ".join(command.split())


def _crlf(text: str) -> str:
    """Line ends as CRLF, with a final one."""
    text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    return text if text.endswith("\r\n") else text + "\r\n"


def _erase(platform: str, more: str) -> str:
    """What the platform sends to wipe its More prompt after a key press."""
    n = len(more)
    if platform in ("huawei_vrp", "hp_comware"):
        return f"\x1b[{n}D" + " " * n + f"\x1b[{n}D"
    if platform == "juniper_junos":
        return "\r" + " " * n + "\r"
    return "\b" * n + " " * n + "\b" * n


# --------------------------------------------------------------------------- SSH server


class _SshServer(paramiko.ServerInterface):
    def __init__(self, device: Device, device_log: _DeviceLog) -> None:
        self.device = device
        self.log = device_log
        self.session = 0
        self.username = ""
        self.ready = threading.Event()
        self.exec_command: str | None = None

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_auth_password(self, username: str, password: str) -> int:
        ok = secrets.compare_digest(username.encode(), self.device.username.encode())
        ok = secrets.compare_digest(password.encode(), self.device.password.encode()) and ok
        if ok:
            self.username = username
            self.session = self.log.next_session()
            self.log.write(self.session, "event", None, event="login", username=username)
            return paramiko.AUTH_SUCCESSFUL
        self.log.write(0, "event", None, event="auth-failed", username=username)
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_pty_request(self, *args: Any, **kwargs: Any) -> bool:
        return True

    def check_channel_window_change_request(self, *args: Any, **kwargs: Any) -> bool:
        return True

    def check_channel_shell_request(self, channel: paramiko.Channel) -> bool:
        self.ready.set()
        return True

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        self.exec_command = command.decode("utf-8", "replace")
        self.ready.set()
        return True


class Simulator:
    """The in-process server: binds every device, then serves until :meth:`shutdown`."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.devices = [Device.from_json(d) for d in config["devices"]]
        names = [d.name for d in self.devices]
        if len(set(names)) != len(names):
            raise ValueError("device names must be unique")
        for device in self.devices:
            device.validate()
            if not device.address or not device.port:
                raise ValueError(f"{device.name}: the config needs its address and port")
        self.replay_root = Path(config.get("replay_root") or REPLAY_ROOT)
        self.log_dir = Path(config["log_dir"])
        self.log_dir.mkdir(parents=True, exist_ok=True)
        key_path = Path(config["host_key"])
        generate_host_key(key_path)
        self.host_key = paramiko.Ed25519Key(filename=str(key_path))
        self.logs = {
            d.name: _DeviceLog(self.log_dir / f"{d.name}.jsonl", d.name) for d in self.devices
        }
        self.stopping = threading.Event()
        self._selector = selectors.DefaultSelector()
        self._listeners: list[socket.socket] = []
        self._transports: set[paramiko.Transport] = set()
        self._lock = threading.Lock()

    def bind(self) -> None:
        """Listen on every device's address:port; raise OSError naming the one that fails."""
        for device in self.devices:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((device.address, device.port))
                sock.listen(128)
            except OSError as exc:
                sock.close()
                raise OSError(
                    exc.errno,
                    f"cannot bind {device.address}:{device.port} ({device.name}): {exc.strerror}",
                ) from exc
            sock.setblocking(False)
            self._listeners.append(sock)
            self._selector.register(sock, selectors.EVENT_READ, device)

    def serve(self) -> None:
        """Accept connections until :attr:`stopping` is set (one thread per connection)."""
        while not self.stopping.is_set():
            for key, _ in self._selector.select(timeout=0.2):
                listener: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    conn, _peer = listener.accept()
                except (BlockingIOError, InterruptedError):
                    continue
                conn.setblocking(True)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                threading.Thread(
                    target=self._connection,
                    args=(conn, key.data),
                    daemon=True,
                    name=f"netsim-{key.data.name}",
                ).start()

    def shutdown(self) -> None:
        self.stopping.set()
        for sock in self._listeners:
            with contextlib.suppress(OSError):
                sock.close()
        with self._lock:
            transports = list(self._transports)
        for transport in transports:
            with contextlib.suppress(Exception):
                transport.close()
        for device_log in self.logs.values():
            device_log.close()

    def _connection(self, conn: socket.socket, device: Device) -> None:
        device_log = self.logs[device.name]
        transport = paramiko.Transport(conn)
        transport.add_server_key(self.host_key)
        server = _SshServer(device, device_log)
        with self._lock:
            self._transports.add(transport)
        try:
            try:
                transport.start_server(server=server)
            except (paramiko.SSHException, EOFError, OSError):
                return  # a TCP probe, or a client that gave up
            channel = transport.accept(timeout=30)
            if channel is None or not server.ready.wait(15):
                return
            channel.settimeout(_RECV_TIMEOUT)
            session = _Session(
                device,
                self.replay_root,
                channel,
                device_log,
                server.session,
                server.username,
                self.stopping,
            )
            if server.exec_command is not None:
                session.run_exec(server.exec_command)
            else:
                session.run_shell()
            # Let the client close the connection first (as after a device's logout): closing
            # it here while the client still talks makes the client see a TCP reset.
            deadline = time.monotonic() + 1.0
            while transport.is_active() and time.monotonic() < deadline:
                if self.stopping.wait(_POLL_INTERVAL):
                    break
        except Exception:
            device_log.write(
                server.session, "event", None, event="server-error", detail=traceback.format_exc()
            )
        finally:
            with self._lock:
                self._transports.discard(transport)
            transport.close()


def serve_config(config_path: Path) -> int:
    """The subprocess's main: bind, announce readiness, serve until SIGTERM/SIGINT."""
    config = json.loads(config_path.read_text(encoding="utf-8"))
    # Two descriptors per device (listener, log) plus two per session: raise the soft limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    simulator = Simulator(config)
    try:
        simulator.bind()
    except OSError as exc:
        print(f"netsim: {exc.strerror or exc}", file=sys.stderr, flush=True)
        return 3

    def _stop(signum: int, frame: object) -> None:
        simulator.stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    ready = config.get("ready_file")
    if ready:
        temporary = Path(f"{ready}.tmp")
        temporary.write_text(json.dumps({"pid": os.getpid(), "devices": len(simulator.devices)}))
        temporary.replace(ready)
    print(f"netsim: serving {len(simulator.devices)} devices", file=sys.stderr, flush=True)
    simulator.serve()
    simulator.shutdown()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Network-device replay simulator (tests).")
    parser.add_argument("--config", required=True, type=Path, help="the JSON configuration")
    parser.add_argument("--debug", action="store_true", help="paramiko's log on stderr")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(asctime)s %(threadName)s %(name)s: %(message)s",
    )
    if not args.debug:
        # TCP readiness probes and clients that give up make paramiko log tracebacks.
        logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    code = serve_config(args.config)
    sys.stderr.flush()
    os._exit(code)  # do not wait for sessions that are still open (a stalled one, say)


# --------------------------------------------------------------------------- the harness


def loopback_addresses(first: str, count: int) -> list[str]:
    """``count`` consecutive loopback host addresses from ``first`` (skipping .0 and .255)."""
    start = ipaddress.IPv4Address(first)
    if start not in LOOPBACK:
        raise ValueError(f"{first} is not in 127.0.0.0/8")
    result: list[str] = []
    value = int(start)
    while len(result) < count:
        address = ipaddress.IPv4Address(value)
        if address not in LOOPBACK:
            raise ValueError(f"{count} addresses from {first} leave 127.0.0.0/8")
        if address.packed[3] not in (0, 255):
            result.append(str(address))
        value += 1
    return result


def pick_free_port(addresses: Iterable[str], attempts: int = 50) -> int:
    """A TCP port free on every one of ``addresses`` right now (never below 1024)."""
    unique = sorted(set(addresses))
    for _ in range(attempts):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((unique[0], 0))
            port: int = sock.getsockname()[1]
        if port >= 1024 and all(_port_free(a, port) for a in unique):
            return port
    raise NetSimError(f"no port free on all of {len(unique)} addresses after {attempts} tries")


def _port_free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def copy_replay(platform: str, destination: Path, *, replay_root: Path = REPLAY_ROOT) -> Path:
    """Copy a platform's replay folder to ``destination`` (a test may then edit it) and
    return ``destination``; give it to a device as ``replay_dir``."""
    shutil.copytree(replay_root / _platform(platform), destination)
    return destination


def standard_devices(
    platforms: Iterable[str] = PLATFORMS, *, copies: int = 1, **settings: Any
) -> list[Device]:
    """``copies`` devices per platform, named ``<platform>-<n>`` (``cisco_ios-1``, …).

    ``settings`` are :class:`Device` fields for all of them (e.g. ``secret``)."""
    return [
        Device(name=f"{platform}-{n}", platform=platform, **settings)
        for platform in platforms
        for n in range(1, copies + 1)
    ]


class NetSim:
    """A simulator subprocess serving ``devices``; a context manager.

    Usage::

        with NetSim(tmp_path, [Device("r1", "cisco_ios", secret="en")]) as sim:
            conn = ConnectHandler(**sim.netmiko_params("r1"))
            conn.enable()
            conn.send_command("show version")
            assert sim.commands("r1") == ["terminal width 511", "terminal length 0",
                                          "enable", "show version"]

    Devices without an address get consecutive ones from ``first_address``; devices without a
    port share one port (``port``, or one free on all their addresses).  The ed25519 host key
    is generated on the first :meth:`start` and kept across restarts; :attr:`known_hosts` lists
    every device.  Logs are ``<workdir>/logs/<device>.jsonl``.
    """

    def __init__(
        self,
        workdir: Path,
        devices: Iterable[Device] = (),
        *,
        replay_root: Path = REPLAY_ROOT,
        first_address: str = DEFAULT_FIRST_ADDRESS,
        port: int | None = None,
        startup_timeout: float = 20.0,
        python: str = sys.executable,
        debug: bool = False,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.requested = list(devices)
        self.replay_root = Path(replay_root)
        self.first_address = first_address
        self.requested_port = port
        self.startup_timeout = startup_timeout
        self.python = python
        self.debug = debug
        self.host_key = self.workdir / "host_ed25519"
        self.known_hosts = self.workdir / "known_hosts"
        self.config = self.workdir / "netsim.json"
        self.log_dir = self.workdir / "logs"
        self.stderr_log = self.workdir / "netsim.stderr.log"
        self.ready_file = self.workdir / "netsim.ready"
        self.host_key_line = ""
        self.devices: dict[str, Device] = {}
        self.port: int | None = None
        self.startup_seconds = 0.0
        self._popen: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- lifecycle

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    def start(self, devices: Iterable[Device] | None = None) -> None:
        """Start the simulator for ``devices`` (default: those given to the constructor)."""
        if self._popen is not None:
            raise NetSimError("already started; stop() first")
        if devices is not None:
            self.requested = list(devices)
        if not self.requested:
            raise ValueError("no devices to simulate")
        began = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(exist_ok=True)
        self.host_key_line = generate_host_key(self.host_key)
        need = sum(1 for d in self.requested if not d.address)
        free = iter(
            a
            for a in loopback_addresses(self.first_address, need + len(self.requested))
            if a not in {d.address for d in self.requested}
        )
        placed = [d if d.address else replace(d, address=next(free)) for d in self.requested]
        placed = [  # the simulator's working directory is not the caller's
            replace(d, replay_dir=str(Path(d.replay_dir).resolve())) if d.replay_dir else d
            for d in placed
        ]
        for device in placed:
            device.validate()
        if len({d.name for d in placed}) != len(placed):
            raise ValueError("device names must be unique")
        attempts = 1 if self.requested_port or all(d.port for d in placed) else 5
        for attempt in range(1, attempts + 1):
            shared = [d.address for d in placed if not d.port]
            port = self.requested_port or (pick_free_port(shared) if shared else 0)
            resolved = [d if d.port else replace(d, port=port) for d in placed]
            try:
                self._launch(resolved)
                self._wait_ready(resolved)
            except NetSimError as exc:
                self.stop()
                if attempt < attempts and "Address already in use" in str(exc):
                    continue
                raise
            except BaseException:
                self.stop()
                raise
            break
        self.port = port or None
        self.devices = {d.name: d for d in resolved}
        self.write_known_hosts()
        self.startup_seconds = time.monotonic() - began

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the simulator's process group, SIGKILL it after ``timeout``.  Idempotent."""
        popen, self._popen = self._popen, None
        if popen is None:
            return
        if popen.poll() is None:  # not reaped yet: its PID (= process group) is still ours
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGTERM)
            try:
                popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(popen.pid, signal.SIGKILL)
                popen.wait(timeout=timeout)

    def _launch(self, devices: list[Device]) -> None:
        self.ready_file.unlink(missing_ok=True)
        config = {
            "host_key": str(self.host_key),
            "log_dir": str(self.log_dir),
            "replay_root": str(self.replay_root.resolve()),
            "ready_file": str(self.ready_file),
            "devices": [d.to_json() for d in devices],
        }
        canaries.mark_device_side(self.workdir, "netsim: the simulated devices' passwords and "
                                                "enable secrets (netsim.json)")
        self.config.write_text(json.dumps(config, indent=1))
        self.config.chmod(0o600)  # holds the device passwords
        command = [self.python, str(Path(__file__).resolve()), "--config", str(self.config)]
        if self.debug:
            command.append("--debug")
        with self.stderr_log.open("ab") as stderr:
            self._popen = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )

    def _wait_ready(self, devices: list[Device]) -> None:
        assert self._popen is not None
        deadline = time.monotonic() + self.startup_timeout
        while not self.ready_file.exists():
            code = self._popen.poll()
            if code is not None:
                raise NetSimError(
                    f"the simulator exited with status {code} while starting:\n"
                    + self.stderr_text()
                )
            if time.monotonic() > deadline:
                raise NetSimError(
                    f"the simulator was not ready within {self.startup_timeout} s:"
                    f"\n{self.stderr_text()}"
                )
            time.sleep(_POLL_INTERVAL)
        for device in devices:
            while True:
                try:
                    with socket.create_connection((device.address, device.port), timeout=1.0):
                        break
                except OSError as exc:
                    if time.monotonic() > deadline:
                        raise NetSimError(
                            f"{device.name} at {device.address}:{device.port} "
                            f"does not accept TCP: {exc}"
                        ) from exc
                    time.sleep(_POLL_INTERVAL)

    def stderr_text(self, limit: int = 8000) -> str:
        try:
            text = self.stderr_log.read_text(errors="replace")
        except OSError:
            return "(no stderr)"
        return text if len(text) <= limit else "…" + text[-limit:]

    # -- what tests use

    def device(self, name: str) -> Device:
        """The running device ``name`` (with its address and port)."""
        return self.devices[name]

    def write_known_hosts(self, path: Path | None = None) -> Path:
        """A known_hosts file with every device (``[127.0.x.y]:port ssh-ed25519 AAAA…``)."""
        path = path or self.known_hosts
        path.write_text(
            "".join(f"{d.known_hosts_name} {self.host_key_line}\n" for d in self.devices.values())
        )
        return path

    def netmiko_params(self, name: str, **extra: Any) -> dict[str, Any]:
        """Keyword arguments for ``netmiko.ConnectHandler`` to reach device ``name``.

        The ``device_type`` is the device's claimed ``platform``; host keys are checked
        against :attr:`known_hosts`.  ``extra`` overrides or adds to them."""
        device = self.devices[name]
        params: dict[str, Any] = {
            "device_type": device.platform,
            "host": device.address,
            "port": device.port,
            "username": device.username,
            "password": device.password,
            "secret": device.secret,
            "use_keys": False,
            "allow_agent": False,
            "ssh_strict": True,
            "system_host_keys": False,
            "alt_host_keys": True,
            "alt_key_file": str(self.known_hosts),
        }
        params.update(extra)
        return params

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.jsonl"

    def log(self, name: str) -> list[dict[str, Any]]:
        """Every record the device has logged so far."""
        try:
            text = self.log_path(name).read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def commands(
        self, name: str, kinds: Iterable[str] = COMMAND_KINDS, *, session: int | None = None
    ) -> list[str]:
        """The lines the device received as commands (of ``kinds``), in order."""
        wanted = set(kinds)
        return [
            r["line"]
            for r in self.log(name)
            if r["kind"] in wanted and (session is None or r["session"] == session)
        ]

    def wait_for_log(
        self, name: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0
    ) -> dict[str, Any]:
        """The first log record of ``name`` that satisfies ``predicate``, waiting for it."""
        deadline = time.monotonic() + timeout
        while True:
            for record in self.log(name):
                if predicate(record):
                    return record
            if time.monotonic() > deadline:
                raise TimeoutError(f"no matching log record for {name} within {timeout} s")
            time.sleep(_POLL_INTERVAL)


if __name__ == "__main__":
    raise SystemExit(main())
