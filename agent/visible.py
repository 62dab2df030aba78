"""Text from devices and inventories, made safe to show: control characters become visible.

Device output and inventory fields may hold terminal escapes (``ESC ]0;title BEL`` retitles
the window, ``ESC [2J`` clears it), a carriage return that overwrites what a line said, or a
newline that forges a log record. Stored data keeps every byte as it came (it is evidence);
whatever *shows* that data to people - the CLI, text logs, the reports - passes it through
:func:`visible` (or one of these tables) first, so it is read, never obeyed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

#: C1 controls (U+0080-U+009F; U+009B is an 8-bit CSI to some terminals), shown as ``\x9b``
C1_VISIBLE: dict[int, str] = {c: f"\\x{c:02x}" for c in range(0x80, 0xA0)}
#: Unicode bidirectional overrides and isolates: they reorder what a terminal shows
BIDI_VISIBLE: dict[int, str] = {c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F),
                                                           *range(0x2066, 0x206A))}
#: C0 controls except tab and newline as their Unicode control pictures (ESC → ␛), DEL → ␡
C0_VISIBLE: dict[int, str] = {c: chr(0x2400 + c) for c in range(0x20) if c not in (9, 10)} | {
    0x7F: "\u2421"}
_TERMINAL = str.maketrans(C0_VISIBLE | C1_VISIBLE | BIDI_VISIBLE)
#: for documents (reports, spreadsheet cells): the same, but a carriage return is kept (the
#: document's own line breaks handle it)
DOCUMENT_VISIBLE: dict[int, str] = {
    c: shown for c, shown in (C0_VISIBLE | C1_VISIBLE | BIDI_VISIBLE).items() if c != 13}


def visible(text: str) -> str:
    """``text`` for a terminal or a text log: a CRLF line end becomes LF, every other control
    character its visible form (``␛[2J``, ``␍``, ``\\x9b``); tabs and newlines stay."""
    return text.replace("\r\n", "\n").translate(_TERMINAL)


def one_line(text: str) -> str:
    """``text`` for a single log line: like :func:`visible`, and a newline shown as ``␊``."""
    return visible(text).replace("\n", "\u240a")


#: what :func:`json_safe` escapes: C1 controls, bidi overrides and isolates, DEL and the
#: Unicode line and paragraph separators (json.dumps escapes C0 controls itself)
_JSON_ESCAPES = str.maketrans({c: f"\\u{c:04x}" for c in (
    0x7F, *C1_VISIBLE, *BIDI_VISIBLE, 0x2028, 0x2029)})


def json_safe(document: str) -> str:
    """A serialised JSON ``document`` with the characters a terminal may obey or reorder
    written as ``\\uXXXX`` escapes. Lossless: JSON's syntax is ASCII, so these characters can
    only stand inside strings, where the escape is the same character to every reader."""
    return document.translate(_JSON_ESCAPES)


def json_document(value: Any, *, indent: int | None = None,
                  default: Callable[[Any], Any] | None = None) -> str:
    """``value`` as JSON for people and their tools (``--json``, JSON logs): readable text
    (Chinese) as it is, what a terminal would obey escaped (:func:`json_safe`)."""
    return json_safe(json.dumps(value, ensure_ascii=False, indent=indent, default=default))
