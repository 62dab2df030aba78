"""Batch a pack's commands and scripts into one POSIX shell script run over a single exec
(``collectors.linux`` over SSH, ``collectors.local`` on the agent's host), and split what comes
back into per-item frames.

Each item runs as ``sh -c <text>`` under ``timeout`` (when the host has it) with stdin from
/dev/null and stderr merged; a script's text is passed as that argument, so it is never written
to the host's disk. Outputs are framed by marker lines carrying a per-run random token, so a
device's output cannot forge a frame; an END marker follows an item's output directly, on the
same line when the output does not end with a newline, and the next item's BEGIN follows it on
the same line (one write on the host, one SSH packet).

An item's ``max_lines`` and byte cap (``PackItem.output_cap``) are applied on the host with
``head -n N | head -c CAP+1``: a flood stops there (the writer gets SIGPIPE) and one byte more
than the cap tells the agent the output was cut. The item's own exit status is carried past the
pipe on a spare descriptor, because POSIX sh has no ``pipefail``; a writer killed by SIGPIPE
because of our own ``head`` counts as exit 0 (the transcript still shows the 141).

How a script item is shown: ``RawOutput.command`` and item errors name it
``script: <first line of code> …`` (comments, blank lines and the shebang skipped; ``…`` when
more follows); the transcript shows ``$ sh -c <script, N lines>`` followed by every line of the
script prefixed ``> ``, then its output — the whole text that ran, redacted like the rest.
"""

from __future__ import annotations

import functools
import math
import re
import secrets
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from collectors.pack import Pack, PackItem

_PRELUDE = (
    "LC_ALL=C; export LC_ALL; exec 4>&1; "
    "if command -v timeout >/dev/null 2>&1; then "
    "xj_run() { xj_t=$1; shift; timeout -k 2 \"$xj_t\" \"$@\"; }; "
    "else xj_run() { shift; \"$@\"; }; fi\n"
)
#: what the shell reports for a writer killed by SIGPIPE (128 + 13): our ``head`` stopped it
SIGPIPE_EXIT = 141
#: exit status of ``timeout`` when it stopped the command
TIMEOUT_EXIT = 124
_LABEL_WIDTH = 80


@dataclass(frozen=True)
class Batch:
    token: str
    script: str
    items: tuple[PackItem, ...]
    #: item id → the shell text it runs (its command, or its script's full text)
    texts: dict[str, str]
    #: item id → its timeout in whole seconds, as passed to ``timeout``
    timeouts: dict[str, int]

    def label(self, item: PackItem) -> str:
        return item_label(item, self.texts[item.id])


@dataclass(frozen=True)
class Frame:
    """One item's framed output as the host printed it (after the host-side limits)."""

    data: bytes
    exit_code: int

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


def item_label(item: PackItem, text: str) -> str:
    """How an item is named to people: its command, or ``script: <first line>…`` — the first
    line that is not blank, a comment or a shebang; ``…`` when the script has more."""
    if not item.is_script:
        return text
    lines = [ln.strip() for ln in text.splitlines()]
    code = [ln for ln in lines if ln and not ln.startswith("#")]
    first = code[0] if code else "(comments only)"
    more = len(code) > 1
    if len(first) > _LABEL_WIDTH:
        first, more = first[:_LABEL_WIDTH].rstrip(), True
    return f"script: {first}{' …' if more else ''}"


def truncation_error(cap: int) -> str:
    return (f"output exceeded the item's cap of {cap} bytes (max_bytes); the first {cap} bytes "
            "are kept")


#: words that mean the same to ``exec`` as to the shell (shlex.quote's safe set)
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")
#: shell builtins and keywords: ``timeout`` cannot exec them, they need ``sh -c``
_SHELL_WORDS = frozenset({
    ".", ":", "alias", "bg", "break", "case", "cd", "command", "continue", "do", "done", "elif",
    "else", "esac", "eval", "exec", "exit", "export", "fc", "fg", "fi", "for", "getopts",
    "hash", "if", "jobs", "local", "read", "readonly", "return", "set", "shift", "source",
    "then", "times", "trap", "type", "ulimit", "umask", "unalias", "unset", "until", "wait",
    "while",
})


@functools.lru_cache(maxsize=1024)
def direct_words(command: str) -> str | None:
    """The command as plain words when it can be exec'd without ``sh -c`` (no quoting,
    expansion, redirection, pipe, assignment or builtin), else ``None``. Each ``sh`` spared
    is a fork and exec less on the inspected host: for the Linux pack, 62 -> 50 ms of its CPU
    per inspection. Cached: every host of a run sends the same commands (shlex cost 0.6 ms of
    CPU per Linux host)."""
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if not words or words[0] in _SHELL_WORDS or "=" in words[0]:
        return None
    if not all(_PLAIN_WORD.fullmatch(word) for word in words):
        return None
    return " ".join(words)


def build_batch(pack: Pack, default_timeout: float,
                items: Iterable[PackItem] | None = None) -> Batch:
    """The shell script running ``items`` (default: all of ``pack``'s) in order."""
    chosen = tuple(pack.items if items is None else items)
    token = secrets.token_hex(8)
    texts: dict[str, str] = {}
    timeouts: dict[str, int] = {}
    lines = [_PRELUDE]
    previous: str | None = None
    for item in chosen:
        text = pack.script_text(item) if item.is_script else item.command
        if text is None:
            raise ValueError(f"item {item.id} has neither a command nor a script")
        texts[item.id] = text
        timeouts[item.id] = max(1, math.ceil(item.timeout or default_timeout))
        words = None if item.is_script else direct_words(text)
        target = words or f"sh -c {shlex.quote(text)}"
        run = f"xj_run {timeouts[item.id]} {target} </dev/null 2>&1"
        limits = []
        if item.max_lines:
            limits.append(f"head -n {int(item.max_lines)}")
        if item.output_cap:
            limits.append(f"head -c {int(item.output_cap) + 1}")
        if limits:
            # fd 3 carries the item's exit status out of the pipeline; fd 4 is the channel.
            pipe = " | ".join(f"{limit} 3>&-" for limit in limits)
            status = (f"xj_rc=$( {{ {{ {run} 3>&- 4>&-; echo $? >&3; }} | {pipe} >&4; }} "
                      "3>&1 )")
        else:
            status = f"{run}; xj_rc=$?"
        quoted = shlex.quote(item.id)
        # One printf per marker, its only newline at the end: a login shell that is bash
        # writes its builtins' output line by line, and every write is an SSH packet for the
        # host to send and the agent to decrypt and read (~0.1 ms of the agent's CPU each).
        # The END of an item and the BEGIN of the next are one marker line.
        if previous is None:
            lines.append(f"printf '@@XJ-{token} BEGIN %s\\n' {quoted}; {status}\n")
        else:
            lines.append(f"printf '@@XJ-{token} END %s %s @@XJ-{token} BEGIN %s\\n' "
                         f"{previous} \"$xj_rc\" {quoted}; {status}\n")
        previous = quoted
    if previous is not None:
        lines.append(f"printf '@@XJ-{token} END %s %s\\n' {previous} \"$xj_rc\"\n")
    return Batch(token, "".join(lines), chosen, texts, timeouts)


#: after a marker: a BEGIN marker's item id; an exit status; an END marker's item and status
#: (an END ends its line, or is followed on it by the next item's BEGIN).
#: The token-bearing part of a marker is found with ``bytes.find``: a pattern holding the
#: per-host token was compiled for every host (4 patterns, ~1 ms of CPU per host).
_ID_LINE = re.compile(rb"(\S+)\n")
_STATUS_LINE = re.compile(rb"(-?\d+)[ \n]")
END_TAIL = re.compile(rb"(\S+) (-?\d+)[ \n]")


def begin_marker(batch: Batch) -> bytes:
    return b"@@XJ-" + batch.token.encode() + b" BEGIN "


def end_marker(batch: Batch) -> bytes:
    return b"@@XJ-" + batch.token.encode() + b" END "


def split_frames(batch: Batch, buffer: bytes) -> dict[str, Frame]:
    """Item id → its complete frame; items whose END marker never came are absent.

    What ``@@XJ-T BEGIN (\\S+)\\n(.*?)@@XJ-T END \\1 (-?\\d+)[ \\n]`` (DOTALL) finds with
    ``finditer``: a frame runs from its BEGIN line to the first END marker of the same item
    with an exit status; every byte in between is the item's (an END marker follows the
    output directly, even one that does not end with a newline)."""
    begin, end = begin_marker(batch), end_marker(batch)
    frames: dict[str, Frame] = {}
    pos = buffer.find(begin)
    while pos != -1:
        resume = pos + 1
        if head := _ID_LINE.match(buffer, pos + len(begin)):
            start, closing = head.end(), end + head.group(1) + b" "
            at = buffer.find(closing, start)
            while at != -1:
                if status := _STATUS_LINE.match(buffer, at + len(closing)):
                    frames[head.group(1).decode()] = Frame(buffer[start:at],
                                                           int(status.group(1)))
                    resume = status.end(1)
                    break
                at = buffer.find(closing, at + 1)
        pos = buffer.find(begin, resume)
    return frames


def partial_tail(batch: Batch, buffer: bytes) -> tuple[str | None, str]:
    """The item that was running when the stream stopped, and what it had printed."""
    begin, last = begin_marker(batch), None
    pos = buffer.find(begin)
    while pos != -1:
        if head := _ID_LINE.match(buffer, pos + len(begin)):
            last = head
            pos = buffer.find(begin, head.end())
        else:
            pos = buffer.find(begin, pos + 1)
    if last is None:
        return None, buffer.decode("utf-8", errors="replace")
    tail = buffer[last.end():]
    if end_marker(batch) in tail:
        return None, ""
    return last.group(1).decode(), tail.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class ItemResult:
    """An item's frame after the agent-side cap: what to keep, and how to judge its exit."""

    text: str
    #: the exit status reported by the host
    exit_code: int
    #: the exit status to judge: SIGPIPE caused by our own ``head`` counts as success
    effective_exit_code: int
    truncated: bool
    #: the item's output reached ``max_lines`` or its byte cap
    cut: bool


def item_result(item: PackItem, frame: Frame) -> ItemResult:
    data, cap = frame.data, item.output_cap
    truncated = cap is not None and len(data) > cap
    if truncated and cap is not None:
        data = data[:cap]
    at_lines = bool(item.max_lines) and data.count(b"\n") + (
        not data.endswith(b"\n") and bool(data)) >= (item.max_lines or 0)
    cut = truncated or at_lines
    effective = 0 if cut and frame.exit_code == SIGPIPE_EXIT else frame.exit_code
    return ItemResult(data.decode("utf-8", errors="replace"), frame.exit_code, effective,
                      truncated, cut)


def item_error(batch: Batch, item: PackItem, result: ItemResult, label: str) -> str | None:
    """Why an item's output is not to be trusted, or None: over its cap, timed out, or (items
    with a parser) an exit status not in ``ok_exit_codes``. ``label``: the item's name for
    people (:meth:`Batch.label`, redacted)."""
    if result.truncated and item.output_cap is not None:
        return truncation_error(item.output_cap)
    if result.effective_exit_code == TIMEOUT_EXIT:
        setting = "timeout" if item.timeout is not None else "ssh.command_timeout"
        return f"`{label}` timed out after {batch.timeouts[item.id]} s ({setting})"
    if item.parser is not None and result.effective_exit_code not in item.ok_exit_codes:
        first = next((ln.strip() for ln in result.text.splitlines() if ln.strip()), "")
        if len(first) > 200:
            first = first[:200].rstrip() + " …"
        return (f"`{label}` exited {result.effective_exit_code}: "
                f"{first or 'no output'}")
    return None


def transcript_block(item: PackItem, batch: Batch, result: ItemResult, note: str = ""
                     ) -> list[str]:
    """An item in a transcript: its ``$`` line — a script's full text follows it, each line
    prefixed with ``> `` (the shell's continuation prompt), so the evidence shows what ran —
    then its output, and a line saying when it was cut."""
    text = batch.texts[item.id]
    status = f"exit {result.exit_code}"
    if result.effective_exit_code != result.exit_code:
        status += " (SIGPIPE: stopped at the item's output limit)"
    if not item.is_script:
        lines = [f"$ {text}    [{item.id}: {status}{note}]"]
    else:
        script = text.rstrip("\n").splitlines()
        lines = [f"$ sh -c <script, {len(script)} line{'s' if len(script) != 1 else ''}>    "
                 f"[{item.id}: {status}{note}]", *(f"> {ln}" for ln in script)]
    lines.append(result.text.rstrip("\n"))
    if result.truncated and item.output_cap is not None:
        lines.append(f"# {item.id}: {truncation_error(item.output_cap)}")
    return lines
