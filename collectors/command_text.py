"""Characters no approved command may carry, on any platform.

What the policy checks must be what the host or device runs. A NUL ends the command early where
the remote side reads it as a C string; control, invisible and unusual space characters are read
differently by different CLIs; and a compatibility look-alike (``；`` U+FF1B, ``;`` U+037E, ``ｓ``)
can become the real character on the way (NFKC normalisation). None is needed by a read-only
command, so all are refused.
"""

from __future__ import annotations

import unicodedata


def unusual_character(command: str, *, allow_tab: bool) -> str | None:
    """Why ``command`` cannot be checked as it is, naming the first offending character."""
    for ch in command:
        if ch == "\t" and allow_tab:
            continue
        if not ch.isprintable():  # control, format, line/paragraph separators, non-ASCII spaces
            return (f"character {ch!r} (U+{ord(ch):04X}) is not allowed: a control, invisible "
                    "or unusual space character")
        if unicodedata.normalize("NFKC", ch) != ch:
            shown = unicodedata.normalize("NFKC", ch)
            return (f"character {ch!r} (U+{ord(ch):04X}) is not allowed: it looks like "
                    f"{shown!r}; write {shown!r} itself")
    return None
