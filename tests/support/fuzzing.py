"""Shared settings and strategies of the fuzz tests (tests/hardening/test_fuzz_*.py).

**"No crash"** means: a function under test either returns normally or raises one of the
project's documented exceptions - :class:`agent.errors.XunjianError` or the subclass the
function documents (``ParseError`` for parsers, ``ConfigError`` for the config loader). Any
other exception type (``KeyError``, ``RecursionError``, ``UnicodeEncodeError`` ...) is a bug.

Example counts keep the default run to seconds. For a long run::

    HYPOTHESIS_PROFILE=fuzz .venv/bin/pytest tests/hardening -k fuzz -p no:cacheprovider

multiplies every fuzz test's examples by :data:`FUZZ_FACTOR` (200 → 20,000).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: ``HYPOTHESIS_PROFILE=fuzz``: the long run
FUZZ = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"
FUZZ_FACTOR = 100


def fuzz_settings(examples: int = 200) -> settings:
    """``examples`` per test in the default run, ``examples * FUZZ_FACTOR`` in the fuzz run."""
    return settings(max_examples=examples * FUZZ_FACTOR if FUZZ else examples, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


#: pieces device output and config files are made of, and the pieces that break naive code
#: (no lone surrogates: every input here was decoded from bytes, which cannot produce them)
TOKENS = (
    "", " ", "\n", "\r\n", "\t", ":", "=", ",", "%", "-", "--", "|", "/", "(", ")", "[", "]",
    "{", "}", "\"", "'", "0", "1", "-1", "100", "4294967296", "99999999999999999999",
    "9" * 5000, "1.5", "nan", "inf", "1e999", "١٢", "0x1f", "N/A", "up", "down", "OK", "ok",
    "Normal", "failed", "Absent", "\x00", "\x1b[2J", "\x1b]0;t\x07", "\ufffd",
    "\u2028", "<script>", "$(touch /tmp/xj-fuzz)", "`id`", ";", "&&",
)


@st.composite
def mutated(draw: st.DrawFn, text: str, tokens: tuple[str, ...] = TOKENS) -> str:
    """``text`` with a few words replaced by ``tokens``, lines duplicated or dropped, or cut."""
    words = text.replace("\n", " \n ").split(" ")
    for _ in range(draw(st.integers(1, 8))):
        words[draw(st.integers(0, len(words) - 1))] = draw(st.sampled_from(tokens))
    result = " ".join(words)
    lines = result.split("\n")
    if len(lines) > 1 and draw(st.booleans()):
        i = draw(st.integers(0, len(lines) - 1))
        lines.insert(i, lines[i])  # a repeated line (a record twice)
    if len(lines) > 1 and draw(st.booleans()):
        del lines[draw(st.integers(0, len(lines) - 1))]
    result = "\n".join(lines)
    if draw(st.booleans()):
        result = result[: draw(st.integers(0, len(result)))]
    return result
