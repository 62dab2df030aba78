"""The read-only command policy: every command is checked here *before* it is sent.

A command passes when it has no shell control syntax (no ``;``, ``&``, redirection, command
substitution, variables, newlines, NUL or other control and invisible characters), and every
``|``-separated segment starts with a program on the allowlist whose arguments obey that
program's rule (e.g. ``date`` may print but not set the clock, ``systemctl`` only reads,
``ntpq`` only runs its reading commands, ``openssl`` only prints a certificate with
``x509 -noout``).
Anything not explicitly allowed is refused.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from agent.errors import PolicyError
from collectors.cli_policy import CLI_POLICIES, check_cli_command
from collectors.command_text import unusual_character

# Shell syntax that could chain, redirect or substitute. '|' is handled per segment.
# Braces too: where sh is bash, `ip {link,set,eth0,down}` expands into a different command.
_FORBIDDEN_SYNTAX = re.compile(r"[;&<>`$\n\r\\{}]|\|\||\(|\)")


@dataclass(frozen=True)
class ProgramRule:
    """What a program may be given. Empty ``subcommands`` means any first argument."""

    subcommands: frozenset[str] = field(default_factory=frozenset)
    forbidden_options: frozenset[str] = field(default_factory=frozenset)
    #: extra predicate over the argument list; returns a refusal reason or None
    check_args: Callable[[list[str]], str | None] | None = None


def _forbidden_option(arg: str, options: frozenset[str]) -> str | None:
    """The forbidden option ``arg`` selects, if any: exactly, as an abbreviation of a long option
    (getopt_long accepts ``--vacuum-s``), or inside a cluster of short options (``-rC``)."""
    name = arg.split("=", 1)[0]
    if name in options:
        return name
    if name.startswith("--"):
        if len(name) > 2:
            return next((o for o in sorted(options) if o.startswith(name)), None)
        return None
    if name.startswith("-") and len(name) > 2:
        return next((f"-{c}" for c in name[1:] if f"-{c}" in options), None)
    return None


def _no_args(args: list[str]) -> str | None:
    return "takes no arguments here (with arguments it changes the system)" if args else None


# ntpq runs its own commands from -c: only these read. ``:config``, ``config-from-file``,
# ``writevar`` and ``writelist`` change the server's configuration or variables.
_NTPQ_READERS = frozenset({
    "associations", "lassociations", "passociations", "peers", "lpeers", "opeers", "apeers",
    "readvar", "rv", "readlist", "rl", "clockvar", "cv", "sysinfo", "sysstats", "kerninfo",
    "iostats", "monstats", "timerstats", "authinfo", "ifstats", "pstats", "version", "mrulist",
})


def _ntpq_commands(args: list[str]) -> Iterator[str]:
    """The values of ntpq's -c/--command options, in every spelling getopt accepts."""
    rest = iter(args)
    for arg in rest:
        if arg.startswith("--"):
            name, eq, value = arg.partition("=")
            if len(name) > 2 and "--command".startswith(name):
                yield value if eq else next(rest, "")
        elif arg.startswith("-") and "c" in arg[1:]:
            value = arg[arg.index("c", 1) + 1:]
            yield value or next(rest, "")


def _ntpq_reads_only(args: list[str]) -> str | None:
    for command in _ntpq_commands(args):
        words = command.split()
        if not words or words[0] not in _NTPQ_READERS:
            return (f"-c {command!r} is refused: only ntpq commands that read are allowed "
                    f"({', '.join(sorted(_NTPQ_READERS))})")
    return None


def _date_prints_only(args: list[str]) -> str | None:
    if any(not a.startswith("+") and a not in {"-u", "--utc", "-R", "-I"} for a in args):
        return "may only print the time (date +FORMAT); setting the clock is refused"
    return None


def _sysctl_reads_only(args: list[str]) -> str | None:
    writes = frozenset({"-w", "--write", "-p", "-f", "--load", "--system"})
    if any("=" in a or _forbidden_option(a, writes) for a in args):
        return "may only read values; writing is refused"
    return None


def _ip_shows_only(args: list[str]) -> str | None:
    # ip runs commands from a file with -batch (any abbreviation, one or two dashes)
    options = (a[1:] if a.startswith("--") else a for a in args)
    if any(len(o) > 1 and "-batch".startswith(o) for o in options):
        return "may only show; -batch (commands from a file) is refused"
    words = [a for a in args if not a.startswith("-")]
    if len(words) >= 2 and words[1] not in {"show", "list", "ls", "lst", "sh"}:
        return "may only show (ip OBJECT show); changes are refused"
    return None


# openssl reads certificates only: ``openssl x509 -noout`` with options that print. Anything
# else is refused — it may write files (-out, -writerand), sign or create certificates (-req,
# -CA, -signkey, -new) or load code (-engine, -provider).
_X509_WRITERS = frozenset({
    "-out", "-keyout", "-signkey", "-key", "-req", "-CA", "-CAkey", "-CAserial",
    "-CAcreateserial", "-new", "-x509toreq", "-writerand", "-rand", "-engine", "-provider",
    "-provider-path", "-set_serial", "-days", "-preserve_dates", "-extfile", "-extensions",
    "-addtrust", "-addreject", "-clrtrust", "-clrreject", "-trustout", "-setalias",
    "-force_pubkey", "-passin",
})
_X509_READERS = frozenset({
    "-in", "-inform", "-noout", "-nocert", "-text", "-certopt", "-nameopt", "-dateopt",
    "-fingerprint", "-alias", "-serial", "-hash", "-subject_hash", "-issuer_hash",
    "-subject_hash_old", "-issuer_hash_old", "-ocspid", "-ocsp_uri", "-subject", "-issuer",
    "-email", "-startdate", "-enddate", "-dates", "-checkend", "-checkhost", "-checkemail",
    "-checkip", "-ext", "-modulus", "-pubkey", "-purpose",
})
_DIGEST_OPTION = re.compile(r"^-(md5|sha1|sha224|sha256|sha384|sha512|sha3-\d+|sm3)$")


def _openssl_reads_certificates(args: list[str]) -> str | None:
    if not args or args[0] != "x509":
        return "is allowed only as: openssl x509 -noout ... (reading a certificate)"
    # OpenSSL also accepts --opt and -opt=value
    options = [("-" + a.lstrip("-")).split("=", 1)[0] for a in args[1:] if a.startswith("-")]
    if writer := next((o for o in options if o in _X509_WRITERS), None):
        return (f"x509 {writer} is refused (it writes files, signs or creates certificates, "
                "or loads code)")
    if other := next((o for o in options
                      if o not in _X509_READERS and not _DIGEST_OPTION.match(o)), None):
        return f"x509 {other} is not one of the options that only print"
    if "-noout" not in options:
        return "x509 needs -noout (print fields, not the certificate)"
    return None


_R = ProgramRule
LINUX_ALLOWLIST: dict[str, ProgramRule] = {
    "cat": _R(), "head": _R(), "tail": _R(forbidden_options=frozenset({"-f", "--follow", "-F"})),
    "wc": _R(), "grep": _R(), "ls": _R(), "stat": _R(), "uname": _R(), "uptime": _R(),
    "nproc": _R(), "getconf": _R(), "vmstat": _R(), "iostat": _R(), "mpstat": _R(),
    "free": _R(), "df": _R(), "findmnt": _R(), "lsblk": _R(), "lscpu": _R(), "lspci": _R(),
    "ps": _R(), "id": _R(), "whoami": _R(), "who": _R(), "w": _R(), "last": _R(),
    "ss": _R(forbidden_options=frozenset({"-K", "--kill", "-D", "--diag"})), "netstat": _R(),
    "sleep": _R(), "du": _R(), "pidof": _R(), "pg_isready": _R(),
    # pgrep only lists; pkill (its signalling twin) stays off the list
    "pgrep": _R(),
    "openssl": _R(check_args=_openssl_reads_certificates),
    "dmidecode": _R(forbidden_options=frozenset({"--dump-bin"})),
    "date": _R(check_args=_date_prints_only),
    "hostname": _R(check_args=_no_args),
    "hostnamectl": _R(subcommands=frozenset({"status"})),
    "sysctl": _R(check_args=_sysctl_reads_only),
    "ip": _R(check_args=_ip_shows_only),
    "systemctl": _R(
        subcommands=frozenset({"list-units", "list-timers", "status", "show", "is-active",
                               "is-failed", "is-enabled", "list-unit-files"})
    ),
    "timedatectl": _R(subcommands=frozenset({"show", "status", "timesync-status",
                                             "show-timesync"})),
    "chronyc": _R(subcommands=frozenset({"tracking", "sources", "sourcestats",
                                         "activity"})),
    "ntpq": _R(forbidden_options=frozenset({"-i", "--interactive"}),
               check_args=_ntpq_reads_only),
    "journalctl": _R(forbidden_options=frozenset({
        "--rotate", "--flush", "--sync", "--relinquish-var", "--smart-relinquish-var",
        "--vacuum-size", "--vacuum-time", "--vacuum-files", "--setup-keys", "-f", "--follow",
        "--update-catalog", "--cursor-file"})),
    "dmesg": _R(forbidden_options=frozenset({"-c", "-C", "-D", "-E", "-n", "--clear",
                                             "--read-clear", "--console-off",
                                             "--console-on", "--console-level", "-w",
                                             "--follow"})),
}

POLICIES: dict[str, dict[str, ProgramRule]] = {"linux": LINUX_ALLOWLIST}


def _check_segment(allowlist: dict[str, ProgramRule], segment: str, command: str) -> None:
    try:
        argv = shlex.split(segment)
    except ValueError as exc:
        raise PolicyError(f"refused {command!r}: cannot parse it ({exc})") from exc
    if not argv:
        raise PolicyError(f"refused {command!r}: empty command in a pipeline")
    program, args = argv[0], argv[1:]
    rule = allowlist.get(program)
    if rule is None:
        raise PolicyError(
            f"refused {command!r}: {program!r} is not on the read-only allowlist"
        )
    if rule.subcommands and (not args or args[0] not in rule.subcommands):
        allowed = ", ".join(sorted(rule.subcommands))
        raise PolicyError(f"refused {command!r}: {program} is allowed only as: {allowed}")
    for arg in args:
        option = _forbidden_option(arg, rule.forbidden_options)
        if option:
            raise PolicyError(f"refused {command!r}: {program} {option} is not read-only")
    if rule.check_args and (reason := rule.check_args(args)):
        raise PolicyError(f"refused {command!r}: {program} {reason}")


def check_command(platform: str, command: str) -> None:
    """Raise :class:`PolicyError` unless ``command`` is read-only for ``platform``."""
    if platform in CLI_POLICIES:
        check_cli_command(CLI_POLICIES[platform], command)
        return
    allowlist = POLICIES.get(platform)
    if allowlist is None:
        raise PolicyError(f"refused {command!r}: no read-only policy for platform {platform!r}")
    if not command.strip():
        raise PolicyError("refused an empty command")
    if match := _FORBIDDEN_SYNTAX.search(command):
        raise PolicyError(
            f"refused {command!r}: shell syntax {match.group()!r} is not allowed "
            "(no chaining, redirection, substitution or variables)"
        )
    if reason := unusual_character(command, allow_tab=True):
        raise PolicyError(f"refused {command!r}: {reason}")
    for segment in command.split("|"):
        _check_segment(allowlist, segment, command)
