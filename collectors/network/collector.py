"""The network collector: one netmiko session per device, the pack's commands one by one.

The SSH connection itself is opened by :mod:`collectors.ssh` — the same code as for Linux hosts,
so retries with backoff, host key verification (strict or TOFU), jump hosts and error messages
are identical — and handed to netmiko, which then only does what it is good at: prompts, enable,
paging and reading each command's output.

Every command is checked against the approved pack *and* the read-only policy immediately before
it is written to the device. The transcript (netmiko's session log) and the raw outputs have
secrets redacted and configuration secrets masked before they leave this module.
"""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import paramiko
from netmiko import BaseConnection, ConnectHandler
from netmiko.channel import SSHChannel
from netmiko.exceptions import NetmikoBaseException, ReadTimeout

from agent.errors import CollectionError, PolicyError, SessionDroppedError
from collectors.base import CollectResult, PackRef, RawOutput
from collectors.batch import truncation_error
from collectors.hostkeys import KnownHosts
from collectors.network.configs import ConfigSnapshot, mask_secrets, snapshot
from collectors.network.parsing import normalise
from collectors.network.platforms import RUNNING_CONFIG, parsers_for
from collectors.pack import Pack, PackItem
from collectors.policy import check_command
from collectors.ssh import AuthMaterial, Endpoint, open_transport
from config.models import SshSettings
from config.secrets import Redactor

log = logging.getLogger(__name__)
Clock = Callable[[], float]

# What netmiko's drivers send on their own during session preparation (documented for the
# read-only guarantee: these change only the session's terminal, never the device).
SESSION_COMMANDS = {
    "cisco_ios": ("terminal width 511", "terminal length 0"),
    "cisco_nxos": ("terminal width 511", "terminal length 0"),
    "arista_eos": ("terminal width 511", "terminal length 0"),
    "huawei_vrp": ("screen-length 0 temporary",),
    "hp_comware": ("screen-length disable",),
    "juniper_junos": ("set cli screen-width 511", "set cli screen-length 0",
                      "set cli complete-on-space off"),
}


# Platforms with a privileged "enable" mode that the enable secret unlocks.
_ENABLE_PLATFORMS = frozenset({"cisco_ios", "cisco_nxos", "arista_eos"})


#: read beyond ssh.max_output_bytes before a command counts as flooding: its echo and the
#: prompt (the output itself is cut to the cap exactly afterwards)
_ECHO_AND_PROMPT_BYTES = 4096


class _OutputCapReachedError(Exception):
    """A command printed more than the read limit; ``kept`` is what was read (the limit plus at
    most one read)."""

    def __init__(self, kept: str) -> None:
        super().__init__("output cap reached")
        self.kept = kept


class _CappedChannel(SSHChannel):
    """netmiko's channel, reading at most a limit per command. netmiko keeps a command's whole
    output (and the session log) in memory until the prompt returns, so without a limit a
    device that floods fills the agent's memory until the command times out."""

    def __init__(self, conn: paramiko.Channel, encoding: str) -> None:
        super().__init__(conn, encoding)
        self._limit: int | None = None
        self._kept: list[str] = []
        self._size = 0

    def limit(self, limit: int | None) -> None:
        """Start counting a new command's output against ``limit`` (None: no limit)."""
        self._limit, self._kept, self._size = limit, [], 0

    def read_buffer(self) -> str:
        text = super().read_buffer()
        if self._limit is not None and text:
            self._kept.append(text)
            self._size += len(text)
            if self._size > self._limit:
                raise _OutputCapReachedError("".join(self._kept))
        return text


class _Preconnected(paramiko.SSHClient):
    """Hands netmiko a transport that is already connected, verified and authenticated."""

    def __init__(self, transport: paramiko.Transport) -> None:
        super().__init__()
        self._transport = transport

    def connect(self, *args: Any, **kwargs: Any) -> None:
        return None


class NetmikoCollector:
    def __init__(
        self, endpoint: Endpoint, platform: str, auth: AuthMaterial, known_hosts: KnownHosts,
        settings: SshSettings, pack: Pack, redactor: Redactor, *,
        jump: tuple[Endpoint, AuthMaterial] | None = None, mask_config_secrets: bool = True,
        clock: Clock = time.monotonic,
    ) -> None:
        self.endpoint = endpoint
        self.platform = platform
        self.auth = auth
        self.known_hosts = known_hosts
        self.settings = settings
        self.pack = pack
        self.redact = redactor
        self.jump = jump
        self.mask = mask_config_secrets
        self.clock = clock
        self._approved = {item.command for item in pack.items}

    # -- the session ------------------------------------------------------------------------

    def collect(self) -> CollectResult:
        started = datetime.now(UTC)
        deadline = self.clock() + self.settings.host_timeout
        session_log = io.BytesIO()
        jump_transport: paramiko.Transport | None = None
        transport: paramiko.Transport | None = None
        conn: BaseConnection | None = None
        outputs: dict[str, str] = {}
        raw: list[RawOutput] = []
        errors: dict[str, str] = {}
        try:
            if self.jump:
                hop, hop_auth = self.jump
                jump_transport = open_transport(hop, hop_auth, self.known_hosts, self.settings)
            transport = open_transport(
                self.endpoint, self.auth, self.known_hosts, self.settings, via=jump_transport)
            conn = self._prepare(transport, session_log)
            # Huawei and H3C print the device name only in the prompt (<CORE-SW-01>).
            prompt_name = str(conn.base_prompt or "").strip() or None
            prompt = self._find_prompt(conn)
            self._run_items(conn, deadline, outputs, raw, errors, prompt)
        except CollectionError as exc:
            exc.transcript = self._transcript(session_log, started, str(exc))
            raise
        finally:
            # Closing the transport first ends the device's session at once; netmiko's own
            # logout waits for prompts (2 s on Huawei, 10 s on a stalled device).
            if transport is not None:
                transport.close()
            if conn is not None:
                _quietly(conn.disconnect)  # releases netmiko's per-connection log filter
            if jump_transport is not None:
                jump_transport.close()
        return self._result(outputs, raw, errors, session_log, started, prompt_name)

    def _prepare(self, transport: paramiko.Transport, session_log: io.BytesIO
                 ) -> BaseConnection:
        secret = self.auth.secret.get_secret_value() if self.auth.secret else ""
        try:
            conn = ConnectHandler(
                device_type=self.platform, host=self.endpoint.address, port=self.endpoint.port,
                username=self.auth.username, password="", secret=secret,
                auto_connect=False, session_log=session_log, fast_cli=True,
                conn_timeout=self.settings.connect_timeout,
                banner_timeout=self.settings.connect_timeout,
                auth_timeout=self.settings.connect_timeout,
                read_timeout_override=None,
            )
            conn._build_ssh_client = lambda: _Preconnected(transport)  # type: ignore[method-assign]
            conn._open()
            if isinstance(conn.remote_conn, paramiko.Channel):  # always, over SSH
                conn.channel = _CappedChannel(conn.remote_conn, conn.encoding)
        except (NetmikoBaseException, ValueError, OSError, EOFError,
                paramiko.SSHException) as exc:
            raise CollectionError(
                f"{self.endpoint}: logged in, but the CLI did not respond as a "
                f"{self.platform} device does ({_short(exc)}). Check the platform in the "
                "inventory, and that the account lands in the CLI (no menu or banner prompt)"
            ) from exc
        if secret and self.platform in _ENABLE_PLATFORMS and not conn.check_enable_mode():
            try:
                conn.enable()
            except (NetmikoBaseException, ValueError, OSError, EOFError,
                    paramiko.SSHException) as exc:
                _quietly(conn.disconnect)
                raise CollectionError(
                    f"{self.endpoint}: `enable` failed ({_short(exc)}); check the enable secret "
                    f"of credential set '{self.auth.name}' (secret_env / secret_file)"
                ) from exc
        return conn

    def _find_prompt(self, conn: BaseConnection) -> str:
        """The session's prompt, found once after enable. send_command would look for it again
        before every command (a round trip and a 25 ms wait each; 14 commands a device) only
        to wait for the same text; a read-only session never changes it."""
        try:
            return str(conn.find_prompt())
        except (NetmikoBaseException, ValueError, OSError, EOFError,
                paramiko.SSHException) as exc:
            raise CollectionError(
                f"{self.endpoint}: logged in, but no prompt came back ({_short(exc)}); check "
                f"that the platform ({self.platform}) is right") from exc

    def _run_items(
        self, conn: BaseConnection, deadline: float, outputs: dict[str, str],
        raw: list[RawOutput], errors: dict[str, str], prompt: str,
    ) -> None:
        items = list(self.pack.items)
        for index, item in enumerate(items):
            remaining = deadline - self.clock()
            if remaining <= 0:
                _skip(items[index:], errors, f"not run: the device's time budget of "
                      f"{self.settings.host_timeout:g} s (ssh.host_timeout) ran out")
                return
            try:
                text, seconds = self._send(conn, item, remaining, prompt)
            except _OutputCapReachedError as flood:
                errors[item.id], kept = self._flooded(item, flood.kept)
                raw.append(RawOutput(item=item.id, command=item.command, output=kept,
                                     exit_code=None, duration_seconds=None, truncated=True))
                _skip(items[index + 1:], errors,
                      f"not run: the session was abandoned after {item.id}")
                return
            except PolicyError as exc:
                errors[item.id] = f"not sent: {exc}"
                log.error("%s: %s", self.endpoint, exc)
                continue
            except ReadTimeout:
                if _closed(conn):
                    errors[item.id] = (f"the connection was closed by the device during "
                                       f"`{item.command}`; partial output is in the transcript")
                    _skip(items[index + 1:], errors,
                          f"not run: the connection dropped during {item.id}")
                    return
                errors[item.id] = (
                    f"`{item.command}` did not return to the prompt within "
                    f"{min(self._timeout(item), remaining):g} s (paging that never ends, a "
                    "stalled device or an unexpected prompt); output so far is in the transcript")
                _skip(items[index + 1:], errors,
                      f"not run: the session was abandoned after {item.id}")
                return
            except (OSError, EOFError, paramiko.SSHException) as exc:
                errors[item.id] = (f"the connection dropped during `{item.command}` "
                                   f"({_short(exc)}); partial output is in the transcript")
                _skip(items[index + 1:], errors,
                      f"not run: the connection dropped during {item.id}")
                if not raw:
                    raise SessionDroppedError(
                        f"{self.endpoint}: the connection dropped before any command completed"
                    ) from exc
                return
            text, cut = self._cap(item, text)
            truncated = cut is not None
            if cut is not None:
                errors[item.id] = cut
            text = self._scrub(text)
            outputs[item.id] = text
            raw.append(RawOutput(item=item.id, command=item.command, output=text,
                                 exit_code=None, duration_seconds=round(seconds, 3),
                                 truncated=truncated))

    def _cap(self, item: PackItem, text: str) -> tuple[str, str | None]:
        """The output within the item's ``max_lines`` (kept quietly, as on Linux),
        ssh.max_output_bytes and the item's ``max_bytes`` (netmiko reads to the prompt; the caps
        apply afterwards), and the item error when it was cut."""
        if item.max_lines is not None and text.count("\n") >= item.max_lines:
            text = "".join(text.splitlines(keepends=True)[: item.max_lines])
        data, error = text.encode(), None
        if len(data) > self.settings.max_output_bytes:
            data = data[: self.settings.max_output_bytes]
            error = (f"output of `{item.command}` exceeded {self.settings.max_output_bytes} "
                     "bytes; truncated")
        if item.max_bytes is not None and len(data) > item.max_bytes:
            data, error = data[: item.max_bytes], truncation_error(item.max_bytes)
        return (data.decode(errors="ignore"), error) if error else (text, None)

    def _flooded(self, item: PackItem, read: str) -> tuple[str, str]:
        """The item error and the output kept (echo removed, cut to ssh.max_output_bytes and
        to the item's own ``max_lines``/``max_bytes``, scrubbed) when a command printed more
        than ssh.max_output_bytes."""
        cap = self.settings.max_output_bytes
        lines = read.replace("\r\n", "\n").split("\n", 1)
        if len(lines) == 2 and lines[0].strip().endswith(item.command or ""):
            read = lines[1]  # the command's echo
        kept, _ = self._cap(item, read)
        kept = self._scrub(kept)
        stored = min(cap, item.max_bytes) if item.max_bytes is not None else cap
        error = (f"`{item.command}` printed more than {cap} bytes (ssh.max_output_bytes): the "
                 f"first {stored} bytes are kept, the rest was not read and the session was "
                 "abandoned; if the output really is this large, raise ssh.max_output_bytes")
        return error, kept

    def _timeout(self, item: PackItem) -> float:
        return item.timeout or self.settings.command_timeout

    def _send(self, conn: BaseConnection, item: PackItem, remaining: float, prompt: str
              ) -> tuple[str, float]:
        command = item.command or ""  # network packs hold commands only (no scripts)
        self.guard(command)
        channel = conn.channel if isinstance(conn.channel, _CappedChannel) else None
        if channel is not None:
            channel.limit(self.settings.max_output_bytes + _ECHO_AND_PROMPT_BYTES)
        t0 = self.clock()
        try:
            # the pattern send_command builds itself after finding the prompt
            output = conn.send_command(
                command, expect_string=re.escape(prompt.strip()), auto_find_prompt=False,
                read_timeout=min(self._timeout(item), remaining),
                strip_prompt=True, strip_command=True)
        finally:
            if channel is not None:
                channel.limit(None)
        return str(output), self.clock() - t0

    def guard(self, command: str) -> None:
        """The last gate before a command reaches the device: in the approved pack, and
        read-only by the platform's policy. Raises :class:`PolicyError` otherwise."""
        if command not in self._approved:
            raise PolicyError(f"refused {command!r}: not in the approved pack "
                              f"{self.pack.name} {self.pack.version}")
        check_command(self.platform, command)

    # -- results ----------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        text = self.redact(text)
        return mask_secrets(text) if self.mask else text

    def _result(
        self, outputs: dict[str, str], raw: list[RawOutput], errors: dict[str, str],
        session_log: io.BytesIO, started: datetime, prompt_name: str | None,
    ) -> CollectResult:
        facts, parse_errors = normalise(parsers_for(self.platform), outputs)
        if facts.hostname is None and prompt_name:
            facts = facts.model_copy(update={"hostname": prompt_name})
        for item_id, reason in parse_errors.items():
            errors.setdefault(item_id, reason)
        if facts.uptime_seconds is not None and facts.boot_time is None:
            boot = started - timedelta(seconds=facts.uptime_seconds)
            facts = facts.model_copy(update={"boot_time": boot.replace(microsecond=0)})
        config: ConfigSnapshot | None = None
        if RUNNING_CONFIG in outputs and RUNNING_CONFIG not in errors:
            config = snapshot(outputs[RUNNING_CONFIG], mask=self.mask)
            facts = facts.model_copy(update={"config_sha256": config.sha256,
                                             "config_lines": config.lines})
        return CollectResult(
            facts=facts, raw=raw, item_errors=errors,
            transcript=self._transcript(session_log, started, None), config=config,
            pack=PackRef(name=self.pack.name, version=self.pack.version,
                         content_hash=self.pack.content_hash),
            started_at=started, finished_at=datetime.now(UTC),
        )

    def _transcript(self, session_log: io.BytesIO, started: datetime, failure: str | None
                    ) -> str:
        body = session_log.getvalue().decode("utf-8", errors="replace").replace("\r\n", "\n")
        header = [
            "# xunjian session transcript",
            f"# device: {self.endpoint} platform: {self.platform} user: {self.auth.username}"
            + (f" via {self.jump[0]}" if self.jump else ""),
            f"# pack: {self.pack.name} {self.pack.version} sha256:{self.pack.content_hash}",
            f"# started: {started.isoformat()}",
        ]
        footer = f"# finished: {datetime.now(UTC).isoformat()} {failure or 'completed'}"
        return self._scrub("\n".join([*header, body.rstrip("\n"), footer]) + "\n")


def _skip(items: list[PackItem], errors: dict[str, str], reason: str) -> None:
    """The items not run, each with the reason."""
    for item in items:
        errors[item.id] = reason


def _closed(conn: BaseConnection) -> bool:
    """netmiko only times out when the device closes the channel mid-output; tell them apart."""
    channel = getattr(conn, "remote_conn", None)
    if not isinstance(channel, paramiko.Channel):
        return False
    return bool(channel.closed or channel.eof_received or not channel.get_transport()
                or not channel.get_transport().is_active())


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _quietly(action: Callable[[], object]) -> None:
    try:
        action()
    except Exception as exc:  # closing a broken session must not hide the real outcome
        log.debug("ignored error while closing a session: %s", exc)
