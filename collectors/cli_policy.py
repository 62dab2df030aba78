"""The read-only policy for network device CLIs.

A network CLI has no shell, but it has something as dangerous: abbreviations (``conf t``,
``wr``, ``rel``), pipes that write files (``| redirect``, ``| tee``, ``| save``, ``> flash:``)
and keystrokes with side effects (``?`` and tab complete, a newline sends a second command).
So a command passes only when

* it is one line of printable text with no ``;``, ``>``, ``<``, ``?``, `````, ``$(``, ``&&``,
  tab, control character, space other than the ASCII one or look-alike character
  (collectors/command_text.py);
* its first word is the platform's read verb (``show`` or ``display``) or an abbreviation of it;
* every ``|`` segment after that starts with a read-only output filter (``include``, ``begin``,
  ``no-more`` ...), never a writer (``redirect``, ``tee``, ``append``, ``save``).

Everything else is refused, and when the first word is (or abbreviates) a known changing command
the refusal names it: ``'conf' abbreviates 'configure' (enters configuration mode)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.errors import PolicyError
from collectors.command_text import unusual_character

# Commands that change a device, across vendors, and what they do (for the refusal message).
CHANGING_COMMANDS: dict[str, str] = {
    "configure": "enters configuration mode",
    "system-view": "enters configuration mode",
    "edit": "enters configuration mode",
    "reload": "restarts the device",
    "reboot": "restarts the device",
    "reset": "resets the device, a board or counters",
    "restart": "restarts a process or the device",
    "write": "writes the configuration to memory or erases it",
    "save": "writes the configuration",
    "copy": "copies files, including over the startup configuration",
    "delete": "deletes files",
    "erase": "erases storage",
    "format": "formats storage",
    "rename": "renames files",
    "move": "moves files",
    "mkdir": "creates directories",
    "rmdir": "removes directories",
    "clear": "clears counters, sessions or tables",
    "debug": "turns on debugging (can overload the CPU)",
    "undebug": "changes debugging",
    "shutdown": "disables an interface or feature",
    "undo": "removes configuration",
    "request": "runs a system operation (reboot, upgrade, halt)",
    "set": "changes configuration",
    "commit": "activates configuration",
    "rollback": "replaces configuration",
    "load": "loads configuration",
    "install": "installs software",
    "upgrade": "upgrades software",
    "boot": "changes the boot image",
    "startup": "changes the startup configuration",
    "license": "changes licences",
    "start": "starts a shell or process",
    "bash": "starts a shell",
    "run": "runs a shell command",
    "tclsh": "starts a Tcl shell",
    "terminal": "changes terminal settings (the session is prepared by the driver itself)",
    "screen-length": "changes terminal settings (the session is prepared by the driver itself)",
    "monitor": "streams logs or traffic to the session",
    "test": "runs tests that can disrupt the device",
    "ping": "sends traffic",
    "traceroute": "sends traffic",
    "telnet": "opens a session to another device",
    "ssh": "opens a session to another device",
    "quit": "ends the session",
    "exit": "ends the session",
}

# Output filters after '|' that only filter what is printed.
_READ_ONLY_FILTERS = frozenset({
    "include", "exclude", "begin", "section", "count", "no-more", "last", "match", "except",
    "find", "display", "trim", "json", "nz",
})
_WRITING_FILTERS = {
    "redirect": "writes the output to a file", "tee": "writes the output to a file",
    "append": "appends the output to a file", "save": "saves the output to a file",
    "file": "writes the output to a file", "request": "runs a system operation",
}

_FORBIDDEN_CHARS = re.compile(r"[;<>?\t\r\n\x00-\x08\x0b-\x1f\x7f]")
# Shell-style chaining and substitution: no read-only show command needs them, and a CLI with a
# shell underneath (EOS, NX-OS, Junos) must never be handed one.
_FORBIDDEN_SEQUENCES = re.compile(r"`|\$\(|&&")


@dataclass(frozen=True)
class CliPolicy:
    platform: str
    #: the read verb; any abbreviation of at least ``min_abbrev`` letters is accepted
    verb: str
    min_abbrev: int = 2


CLI_POLICIES: dict[str, CliPolicy] = {p.platform: p for p in (
    CliPolicy("cisco_ios", "show"),
    CliPolicy("cisco_nxos", "show"),
    CliPolicy("arista_eos", "show"),
    CliPolicy("juniper_junos", "show"),
    CliPolicy("huawei_vrp", "display", 3),
    CliPolicy("hp_comware", "display", 3),
)}


def _abbreviates(word: str, full: str, min_len: int = 2) -> bool:
    return len(word) >= min(min_len, len(full)) and full.startswith(word)


def _changing(word: str) -> tuple[str, str] | None:
    """The changing command that ``word`` is or abbreviates, if any."""
    if word in CHANGING_COMMANDS:
        return word, CHANGING_COMMANDS[word]
    for full, effect in CHANGING_COMMANDS.items():
        if word == full or _abbreviates(word, full):
            return full, effect
    return None


def check_cli_command(policy: CliPolicy, command: str) -> None:
    """Raise :class:`PolicyError` unless ``command`` is a read-only command for the platform."""
    where = f"{policy.platform} inspections may only run {policy.verb} commands"
    if match := _FORBIDDEN_CHARS.search(command) or _FORBIDDEN_SEQUENCES.search(command):
        raise PolicyError(
            f"refused {command!r}: character {match.group()!r} is not allowed "
            f"(it could chain commands, redirect output or trigger completion); {where}")
    if reason := unusual_character(command, allow_tab=False):
        raise PolicyError(f"refused {command!r}: {reason}; {where}")
    segments = command.lower().split("|")
    words = segments[0].split()
    if not words:
        raise PolicyError(f"refused {command!r}: empty command; {where}")
    first = words[0]
    if not _abbreviates(first, policy.verb, policy.min_abbrev):
        changing = _changing(first)
        if changing:
            full, effect = changing
            what = first if first == full else f"{first!r} abbreviates {full!r}, which"
            raise PolicyError(
                f"refused {command!r}: {what} {effect} (rule: only "
                f"{policy.verb} commands on {policy.platform})")
        raise PolicyError(f"refused {command!r}: {first!r} is not a read-only command; {where}")
    for segment in segments[1:]:
        filt = segment.split()
        if not filt:
            raise PolicyError(f"refused {command!r}: empty filter after '|'")
        name = filt[0]
        for writer, effect in _WRITING_FILTERS.items():
            if _abbreviates(name, writer):
                raise PolicyError(
                    f"refused {command!r}: output filter {name!r} ({writer}) {effect} "
                    f"(rule: only read-only output filters after '|')")
        if name not in _READ_ONLY_FILTERS:
            raise PolicyError(
                f"refused {command!r}: {name!r} is not a known read-only output filter "
                f"(allowed: {', '.join(sorted(_READ_ONLY_FILTERS))})")
