"""The ``linux`` collector: one SSH connection per host, the pack batched into one exec."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime

import paramiko

from agent.errors import CollectionError, CommandTimeoutError, SessionDroppedError
from collectors.base import CollectResult, PackRef, RawOutput
from collectors.batch import Batch, build_batch
from collectors.hostkeys import KnownHosts
from collectors.linux_parsers import ItemOutput, parse_outputs
from collectors.pack import Pack
from collectors.ssh import AuthMaterial, Endpoint, open_transport, translate_errors
from config.models import SshSettings
from config.secrets import Redactor

Clock = Callable[[], float]


class _Reader:
    """Reads the channel, noting when each item's END marker arrived (for clock offsets)."""

    def __init__(self, batch: Batch, max_bytes: int, clock: Clock) -> None:
        self._end = re.compile(rb"@@XJ-" + batch.token.encode() + rb" END (\S+) (-?\d+)\n")
        self.buffer = bytearray()
        self.received_at: dict[str, float] = {}
        self.truncated = False
        self._max = max_bytes
        self._scan = 0
        self._clock = clock

    def feed(self, data: bytes) -> None:
        room = self._max - len(self.buffer)
        if len(data) > room:
            data, self.truncated = data[:room], True
        self.buffer += data
        now = self._clock()
        for match in self._end.finditer(self.buffer, max(0, self._scan - 128)):
            self.received_at.setdefault(match.group(1).decode(), now)
        self._scan = len(self.buffer)


def _frames(batch: Batch, buffer: bytes) -> dict[str, tuple[str, int]]:
    token = batch.token.encode()
    pattern = re.compile(
        rb"@@XJ-" + token + rb" BEGIN (\S+)\n(.*?)\n?@@XJ-" + token + rb" END \1 (-?\d+)\n",
        re.DOTALL,
    )
    return {
        m.group(1).decode(): (m.group(2).decode("utf-8", errors="replace"), int(m.group(3)))
        for m in pattern.finditer(buffer)
    }


def _partial_tail(batch: Batch, buffer: bytes) -> tuple[str | None, str]:
    """The item that was running when the stream stopped, and what it had printed."""
    begins = list(re.finditer(rb"@@XJ-" + batch.token.encode() + rb" BEGIN (\S+)\n", buffer))
    if not begins:
        return None, buffer.decode("utf-8", errors="replace")
    last = begins[-1]
    tail = buffer[last.end():]
    if re.search(rb"@@XJ-" + batch.token.encode() + rb" END ", tail):
        return None, ""
    return last.group(1).decode(), tail.decode("utf-8", errors="replace")


class LinuxCollector:
    def __init__(
        self, endpoint: Endpoint, auth: AuthMaterial, known_hosts: KnownHosts,
        settings: SshSettings, pack: Pack, redactor: Redactor,
        jump: tuple[Endpoint, AuthMaterial] | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.endpoint = endpoint
        self.auth = auth
        self.known_hosts = known_hosts
        self.settings = settings
        self.pack = pack
        self.redact = redactor
        self.jump = jump
        self.clock = clock

    def collect(self) -> CollectResult:
        started = datetime.now(UTC)
        t0 = self.clock()
        deadline = t0 + self.settings.host_timeout
        batch = build_batch(tuple(self.pack.items), self.settings.command_timeout)
        reader = _Reader(batch, self.settings.max_output_bytes, self.clock)
        jump_transport: paramiko.Transport | None = None
        transport: paramiko.Transport | None = None
        try:
            if self.jump:
                jump_endpoint, jump_auth = self.jump
                jump_transport = open_transport(
                    jump_endpoint, jump_auth, self.known_hosts, self.settings)
            transport = open_transport(
                self.endpoint, self.auth, self.known_hosts, self.settings, via=jump_transport)
            exit_status = self._run(transport, batch, reader, deadline)
        except CollectionError as exc:
            if reader.buffer:
                exc.transcript = self._transcript(batch, reader, started, t0, str(exc))
            raise
        finally:
            if transport is not None:
                transport.close()
            if jump_transport is not None:
                jump_transport.close()
        return self._result(batch, reader, started, t0, exit_status)

    def _run(
        self, transport: paramiko.Transport, batch: Batch, reader: _Reader, deadline: float
    ) -> int:
        with translate_errors(self.endpoint, self.settings):
            channel = transport.open_session(timeout=self.settings.connect_timeout)
            channel.settimeout(0.25)
            channel.exec_command(batch.script)
            while True:
                if self.clock() > deadline:
                    running, _ = _partial_tail(batch, bytes(reader.buffer))
                    raise CommandTimeoutError(
                        f"{self.endpoint}: inspection did not finish within "
                        f"{self.settings.host_timeout:g} s (ssh.host_timeout)"
                        + (f"; still running: {running}" if running else "; no output at all")
                    )
                try:
                    data = channel.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                reader.feed(data)
                if reader.truncated:
                    channel.close()
                    return -1
            if not transport.is_active():
                running, _ = _partial_tail(batch, bytes(reader.buffer))
                raise SessionDroppedError(
                    f"{self.endpoint}: the connection dropped mid-run"
                    + (f" while running {running}" if running else "")
                    + "; partial output is kept in the transcript"
                )
            return channel.recv_exit_status()

    def _result(
        self, batch: Batch, reader: _Reader, started: datetime, t0: float, exit_status: int
    ) -> CollectResult:
        frames = _frames(batch, bytes(reader.buffer))
        if not frames and batch.items:
            raise CollectionError(
                f"{self.endpoint}: the host ran none of the inspection commands (exit status "
                f"{exit_status}); a ForceCommand, restricted shell or non-POSIX login shell? "
                "What it printed is in the transcript",
                transcript=self._transcript(batch, reader, started, t0, "no commands ran"),
            )
        outputs: dict[str, ItemOutput] = {}
        raw: list[RawOutput] = []
        errors: dict[str, str] = {}
        for item in batch.items:
            if item.id not in frames:
                errors[item.id] = (
                    f"output cap of {self.settings.max_output_bytes} bytes reached before "
                    f"`{item.command}` finished" if reader.truncated
                    else f"`{item.command}` produced no result (the session ended early)"
                )
                continue
            text, rc = frames[item.id]
            text = self.redact(text)
            received = reader.received_at.get(item.id, self.clock())
            outputs[item.id] = ItemOutput(item.command, text, rc, received)
            raw.append(RawOutput(item=item.id, command=item.command, output=text, exit_code=rc,
                                 duration_seconds=round(received - t0, 3)))
        facts, parse_errors = parse_outputs(outputs)
        errors.update(parse_errors)
        for item_id, output in outputs.items():
            # Items of custom packs have no parser; a timeout is still worth reporting.
            if output.exit_code == 124 and item_id not in errors:
                errors[item_id] = f"`{output.command}` timed out"
        return CollectResult(
            facts=facts, raw=raw, item_errors=errors,
            transcript=self._transcript(batch, reader, started, t0, None, frames),
            pack=PackRef(name=self.pack.name, version=self.pack.version,
                         content_hash=self.pack.content_hash),
            started_at=started, finished_at=datetime.now(UTC),
        )

    def _transcript(
        self, batch: Batch, reader: _Reader, started: datetime, t0: float, failure: str | None,
        frames: dict[str, tuple[str, int]] | None = None,
    ) -> str:
        if frames is None:
            frames = _frames(batch, bytes(reader.buffer))
        lines = [
            "# xunjian session transcript",
            f"# device: {self.endpoint} user: {self.auth.username}"
            + (f" via {self.jump[0]}" if self.jump else ""),
            f"# pack: {self.pack.name} {self.pack.version} sha256:{self.pack.content_hash}",
            f"# started: {started.isoformat()}",
        ]
        for item in batch.items:
            if item.id not in frames:
                continue
            text, rc = frames[item.id]
            at = reader.received_at.get(item.id)
            when = f", +{at - t0:.3f} s" if at else ""
            lines.append(f"$ {item.command}    [{item.id}: exit {rc}{when}]")
            lines.append(text.rstrip("\n"))
        running, partial = _partial_tail(batch, bytes(reader.buffer))
        if running or (partial and not frames):
            lines.append(f"$ ... [{running or 'session'}: incomplete]")
            lines.append(partial.rstrip("\n"))
        if reader.truncated:
            lines.append(f"# output cap of {self.settings.max_output_bytes} bytes reached")
        end = failure or "completed"
        lines.append(f"# finished: {datetime.now(UTC).isoformat()} ({self.clock() - t0:.2f} s) "
                     f"{end}")
        return self.redact("\n".join(lines) + "\n")

