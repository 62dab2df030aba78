"""Running configurations as stored: secrets masked, oscillating lines dropped, diffs.

Like RANCID and Oxidized, we drop lines that change on every capture without anyone changing the
configuration (timestamps, "Last configuration change", NTP clock period, byte counts), so a diff
shows only real changes. Secrets (enable secrets, password hashes, SNMP communities, keys) are
replaced by ``<masked>`` before anything is stored: in the config history, in the raw output and
in the session transcript. A changed secret is therefore invisible in the diff: keeping even a
digest of it would let a low-entropy password be guessed offline. Oxidized makes the same trade.
"""

from __future__ import annotations

import bisect
import difflib
import hashlib
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass

MASK = "<masked>"

# (pattern, group holding the secret). Patterns search anywhere in a line (Junos `set` and
# Huawei sub-commands put secrets mid-line).
_SECRET_PATTERNS: list[re.Pattern[str]] = [re.compile(p, re.IGNORECASE) for p in (
    # Huawei VRP / H3C Comware: "password cipher X", "community read cipher X", "key simple X"
    # (first, so the Cisco patterns below do not take the keyword for the secret)
    r"\b(?:cipher|irreversible-cipher|simple|hash)\s+(?P<s>\S+)",
    # Cisco IOS / NX-OS / Arista
    r"^\s*enable (?:secret|password)(?: level \d+)?(?: (?:\d+|sha512|md5))? (?P<s>\S+)",
    r"^\s*username \S+.*? (?:secret|password)(?: (?:\d+|sha512|md5))? (?P<s>\S+)",
    r"^\s*(?:password|secret)(?: \d+)? (?P<s>\S+)",
    r"^\s*snmp-server community (?P<s>\S+)",
    r"^\s*snmp-server host \S+(?: (?:informs|traps|version \S+|vrf \S+))* (?P<s>\S+)",
    r"^\s*snmp-server user \S+ \S+ auth \S+ (?P<s>\S+)",
    r"^\s*snmp-server user \S+ \S+ auth \S+ \S+ priv(?: \S+)? (?P<s>\S+)",
    r"^\s*(?:tacacs-server|radius-server|tacacs|radius)(?: host \S+)?.*? key(?: \d+)? (?P<s>\S+)",
    r"^\s*(?:server-private \S+ )?key(?: \d+)? (?P<s>\S+)",
    r"^\s*neighbor \S+ password(?: \d+)? (?P<s>\S+)",
    r"message-digest-key \d+ md5(?: \d+)? (?P<s>\S+)",
    r"authentication-key(?: \d+)?(?: md5)?(?: \d+)? (?P<s>(?!type\b)\S+)",
    r"^\s*ntp authentication-key \d+ md5 (?P<s>\S+)",
    r"(?:crypto isakmp key|pre-shared-key)(?: \d+)? (?P<s>\S+)",
    r"^\s*snmp-agent community (?:read|write)\s+(?:(?:cipher|simple)\s+)?(?P<s>\S+)",
    r"^\s*super password(?: level \d+)?(?: (?:cipher|simple))? (?P<s>\S+)",
    # Junos: quoted values
    r"\b(?:encrypted-password|authentication-key|secret|simple-password|ascii-text"
    r"|hexadecimal|pre-shared-key)\s+(?P<s>\"[^\"]*\")",
    r"^\s*(?:set snmp )?community (?P<s>\"[^\"]*\"|[^\s;{\"]+)",
)]

# Crypt hashes and type-7 strings anywhere, whatever keyword precedes them.
_HASHES = re.compile(r"\$(?:1|5|6|8|9|1a|y)\$[^\s\"';]+|\b7 [0-9A-F]{10,}\b")

# Lines that change between captures without a configuration change.
_NOISE = re.compile(
    r"^(?:"
    r"! Last configuration change at.*|! NVRAM config last updated at.*"
    r"|! No configuration change since last restart.*|ntp clock-period \d+"
    r"|Building configuration\.\.\.|Current configuration ?: ?\d+ bytes"
    r"|!Time: .*|!Running configuration last done at: .*|! Time: .*"
    r"|! Startup-config last modified at.*|! Command: show running-config.*"
    r"|!Software Version .*|!Last configuration was (?:updated|saved) at.*|!Create time.*"
    r"|## Last commit: .*|## Last changed: .*|## Image name: .*"
    r")\s*$",
    re.IGNORECASE,
)


# A line can hold a secret only if it has one of the words every pattern above needs: these
# find the few such lines in a whole output at once (trying all the patterns on every line of
# every output and transcript cost 3.5 ms of CPU per network device; this 1.0 ms). A word never
# spans lines, so no line a pattern matches is missed. Keep it in step with _SECRET_PATTERNS.
_SECRET_WORDS = re.compile(
    r"cipher|simple|hash|password|secret|snmp|key|community|ascii-text|hexadecimal",
    re.IGNORECASE,
)
# The same on ASCII text lowered first: a case-insensitive search is 9x slower. (Only ASCII
# text: re's IGNORECASE also matches e.g. the Kelvin sign to "k", and lower() of some other
# characters changes the text's length.)
_SECRET_WORDS_LOWER = re.compile(_SECRET_WORDS.pattern)


def _secret_word_positions(text: str) -> Iterator[int]:
    if text.isascii():
        return (m.start() for m in _SECRET_WORDS_LOWER.finditer(text.lower()))
    return (m.start() for m in _SECRET_WORDS.finditer(text))


def mask_secrets(text: str) -> str:
    """Replace every secret value we recognise with ``<masked>``."""
    lines = text.splitlines(keepends=True)
    starts = list(itertools.accumulate((len(line) for line in lines[:-1]), initial=0))
    candidates = {bisect.bisect_right(starts, at) - 1 for at in _secret_word_positions(text)}
    for index in candidates:
        line = lines[index]
        for pattern in _SECRET_PATTERNS:
            line = _mask_all(pattern, line)
        lines[index] = line
    return _HASHES.sub(MASK, "".join(lines))


def _mask_all(pattern: re.Pattern[str], line: str) -> str:
    pos = 0
    while (match := pattern.search(line, pos)) is not None:
        start, end = match.span("s")
        if line[start:end] == MASK:
            pos = end
            continue
        line = line[:start] + MASK + line[end:]
        pos = start + len(MASK)
    return line


def drop_noise(text: str) -> str:
    """Drop oscillating lines and trailing whitespace."""
    lines = [line.rstrip() for line in text.splitlines()]
    kept = [line for line in lines if not _NOISE.match(line.strip())]
    while kept and not kept[0].strip():
        kept.pop(0)
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept) + "\n" if kept else ""


@dataclass(frozen=True)
class ConfigSnapshot:
    """A running configuration ready to store."""

    text: str
    sha256: str
    #: secrets were masked (the default; see ``config_history.mask_secrets``)
    masked: bool = True

    @property
    def lines(self) -> int:
        return self.text.count("\n")


def snapshot(raw: str, *, mask: bool = True) -> ConfigSnapshot:
    text = drop_noise(mask_secrets(raw) if mask else raw)
    return ConfigSnapshot(text, hashlib.sha256(text.encode()).hexdigest(), mask)


@dataclass(frozen=True)
class ConfigDiff:
    text: str
    added: int
    removed: int


def diff(old: str, new: str, old_label: str, new_label: str) -> ConfigDiff:
    lines = list(difflib.unified_diff(
        old.splitlines(), new.splitlines(), old_label, new_label, lineterm="", n=3))
    added = sum(1 for x in lines if x.startswith("+") and not x.startswith("+++"))
    removed = sum(1 for x in lines if x.startswith("-") and not x.startswith("---"))
    return ConfigDiff("\n".join(lines) + ("\n" if lines else ""), added, removed)
