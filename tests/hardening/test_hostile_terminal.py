"""What shows device data to people makes its control characters visible (agent/visible.py):
the CLI's terminal output and the text log lines. The end-to-end proof is in
test_hostile_linux.py / test_hostile_network.py; these pin the rules themselves."""

from __future__ import annotations

import io
import json
import logging

import pytest
from rich.console import Console
from support.hostile import ANSI, terminal_controls

from agent.clikit import shown
from agent.logs import TextFormatter
from agent.visible import json_safe, one_line, visible


@pytest.mark.parametrize(("text", "expected"), [
    ("\x1b]0;title\x07", "␛]0;title␇"),
    ("\x1b[2J", "␛[2J"),
    ("over\rwrite", "over␍write"),
    ("line\r\nend\n", "line\nend\n"),
    ("tab\tnewline\n", "tab\tnewline\n"),
    ("\x9b2J", "\\x9b2J"),
    ("\x00\x7f", "␀␡"),
    ("abc\u202edcba", "abc\\u202edcba"),
    ("核心 <b> ok", "核心 <b> ok"),
])
def test_visible(text: str, expected: str) -> None:
    assert visible(text) == expected


def test_shown_is_markup_safe_and_control_free_through_rich() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=False, width=200)
    console.print(shown("[bold]x[/] " + " ".join(ANSI)))
    printed = buffer.getvalue()
    assert terminal_controls(printed) == []
    assert "[bold]x[/]" in printed  # shown as text, not taken as markup


def test_text_log_lines_cannot_be_forged_or_drive_the_terminal() -> None:
    record = logging.makeLogRecord({
        "name": "collectors.ssh", "levelno": logging.INFO, "levelname": "INFO",
        "msg": "%s: retrying", "args": ("web\n2026-01-01 00:00:00 ERROR forged: \x1b[2J",)})
    line = TextFormatter().format(record)
    assert "\n" not in line and terminal_controls(line) == []
    assert line.endswith("web␊2026-01-01 00:00:00 ERROR forged: ␛[2J: retrying")


def test_one_line() -> None:
    assert one_line("a\r\nb\nc\x1b") == "a␊b␊c␛"


def test_json_safe_escapes_what_a_terminal_obeys_and_is_lossless() -> None:
    value = {"text": "核心 \x9b2J \u202edcba \u2066x\u2069 \x7f line\u2028sep \x1b[2J",
             "list": ["\x85", "ok"]}
    document = json_safe(json.dumps(value, ensure_ascii=False))
    assert terminal_controls(document) == []
    assert not set(document) & {"\u202e", "\u2066", "\u2069", "\u2028", "\x85", "\x7f"}
    assert "核心" in document  # readable text stays as it is
    assert json.loads(document) == value
