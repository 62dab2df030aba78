"""mask_secrets finds candidate lines with one combined pattern: it must mask exactly what the
line-by-line version (kept here as the reference) masks, on every device output we keep."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from collectors.network.configs import _HASHES, _SECRET_PATTERNS, MASK, _mask_all, mask_secrets

TESTS = Path(__file__).resolve().parents[2]
TEXTS = sorted([*TESTS.glob("collectors/fixtures/**/*.raw"),
                *TESTS.glob("collectors/fixtures/**/*.txt"),
                *TESTS.glob("netsim/replay/*/*.txt")])


def line_by_line(text: str) -> str:
    out = []
    for original in text.splitlines(keepends=True):
        line = original
        for pattern in _SECRET_PATTERNS:
            line = _mask_all(pattern, line)
        out.append(_HASHES.sub(MASK, line))
    return "".join(out)


def test_there_are_texts_with_secrets_to_compare() -> None:
    assert len(TEXTS) > 100
    assert sum(MASK in line_by_line(p.read_text(errors="replace")) for p in TEXTS) >= 5


@pytest.mark.parametrize("path", TEXTS, ids=lambda p: str(p.relative_to(TESTS)))
def test_the_same_as_line_by_line(path: Path) -> None:
    text = path.read_text(encoding="utf-8", errors="replace")
    assert mask_secrets(text) == line_by_line(text)


@pytest.mark.parametrize("text", [
    "enable secret 5 $1$abc$xyz\n",
    "hostname r1\r enable secret 0 plain\rusername a secret 9 zz\n",  # CR-only line ends
    "\n\n   \n key 7 0822455D0A16\n",
    "snmp-server community public RO\x0csnmp-server community private RW",
    "set system root-authentication encrypted-password \"$6$x$y\"\n",
    " local-user admin password irreversible-cipher $1c$abc$\u2028 snmp-agent community read "
    "cipher %^%#abc\n",
    "no secrets here\n" * 50,
    "",
    "tacacs-server host 10.0.0.1 key 7 0822455D0A16",
    "tacacs-server host 10.0.0.1 \u212aey 7 0822455D0A16\n",  # Kelvin sign: not ASCII
    "USERNAME admin SECRET 5 $1$abc$xyz\nSNMP-SERVER COMMUNITY private RO\n",
])
def test_the_same_on_edge_cases(text: str) -> None:
    assert mask_secrets(text) == line_by_line(text)
    assert re.search(r"plain|private|0822455D0A16|\$6\$x", mask_secrets(text)) is None
