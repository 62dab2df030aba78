"""The script guard: refuse pack scripts that contain obvious writers.

A guard, not a sandbox. Scripts are shell: no scan can prove one harmless (``awk`` can call
``system()``, an interpreter can do anything). What it does is catch the obvious — deleting,
overwriting, formatting, stopping services, installing packages, writing SQL, redirecting into
files outside /tmp — so an honest mistake or a careless copy-paste is refused before it reaches a
customer's host. The real protections are the customer's approval of the exact script (its hash)
and an inspection account that has no write rights. ``docs/packs.md`` says so.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator

from agent.errors import PolicyError

# Programs that write, delete, change state or install, whatever their arguments.
_WRITERS = frozenset({
    "rm", "rmdir", "unlink", "mv", "cp", "dd", "shred", "truncate", "fallocate", "wipefs",
    "fdisk", "sfdisk", "parted", "gdisk", "mkswap", "swapon", "swapoff", "mount", "umount",
    "chmod", "chown", "chgrp", "chattr", "setfacl", "ln", "touch", "mkdir", "mknod", "install",
    "tee", "kill", "pkill", "killall", "reboot", "shutdown", "halt", "poweroff", "init",
    "telinit", "useradd", "userdel", "usermod", "groupadd", "groupdel", "passwd", "chpasswd",
    "visudo", "wget", "scp", "rsync", "sftp", "apt", "apt-get", "aptitude", "dpkg", "yum",
    "dnf", "rpm", "zypper", "pacman", "apk", "snap", "flatpak", "pip", "pip3", "npm", "gem",
    "modprobe", "rmmod", "insmod", "hwclock", "setenforce", "exportfs", "lvremove",
    "lvcreate", "lvextend", "vgremove", "pvremove", "mdadm", "cryptsetup", "losetup",
})
_PREFIXES = frozenset({"sudo", "env", "nice", "ionice", "nohup", "command", "exec", "time",
                       "xargs", "doas", "stdbuf", "timeout", "chroot", "then", "else", "do",
                       "if", "while", "until", "!", "{"})
_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "busybox"})
_SEPARATORS = frozenset({";", "&&", "||", "|", "&", "\n", "(", ")", "$", "`", ";;", "|&"})
_REDIRECTS = frozenset({">", ">>", ">|", "&>", "&>>", "<>", ">&"})
# a target with $ or ` is decided at run time (/tmp/$x may be /tmp/../etc/x): refused
_SAFE_TARGETS = re.compile(r"^(/dev/(null|stdout|stderr|fd/\d+)|&?\d|-|/tmp/[^\0$`]*)$")
_SQL = re.compile(
    r"\b(drop|alter|create)\s+(or\s+replace\s+|unique\s+|materialized\s+)?(table|database|"
    r"schema|index|user|role|system|view|tablespace|sequence|function|procedure|trigger|"
    r"extension|owned|type|domain|policy|publication|subscription|rule|server|language|"
    r"event|cast|aggregate|operator|collation|foreign|login)\b|\btruncate\s+(table\s+)?[\w.\"]+"
    r"|\b(grant|revoke)\s+[\w ,]+\s+(on|to|from)\b|\bdelete\s+from\b|\binsert\s+into\b"
    r"|\bupdate\s+[\w.\"]+(\s+(as\s+)?\w+)?\s+set\b|\bmerge\s+into\b|\bshutdown\s+immediate\b"
    r"|\bcopy\b[^;]*\b(from|to)\s+program\b|\bvacuum\s+full\b|\breindex\s+\w+"
    r"|\bpg_terminate_backend\b|\bpg_cancel_backend\b|\bflush\s+(tables|privileges|logs)\b",
    re.IGNORECASE,
)


def _systemctl(args: list[str]) -> str | None:
    reads = {"status", "show", "is-active", "is-failed", "is-enabled", "list-units",
             "list-unit-files", "list-timers", "list-sockets", "cat", "list-dependencies"}
    verbs = [a for a in args if not a.startswith("-")]
    if verbs and verbs[0] not in reads:
        return f"systemctl {verbs[0]} changes the system"
    return None


def _service(args: list[str]) -> str | None:
    if len(args) >= 2 and args[1] != "status":
        return f"service {args[0]} {args[1]} changes the system"
    return None


def _short_cluster(arg: str, letters: str) -> bool:
    """Whether ``arg`` is a cluster of short options holding one of ``letters`` (``-Ei``)."""
    return bool(re.match(r"^-[A-Za-z]+", arg)) and not arg.startswith("--") and any(
        c in arg[1:] for c in letters)


def _sed(args: list[str]) -> str | None:
    if any(_short_cluster(a.split("=")[0], "i") or a.startswith("--in-place") for a in args):
        return "sed -i edits files in place"
    return None


def _find(args: list[str]) -> str | None:
    bad = {"-delete", "-exec", "-execdir", "-ok", "-okdir", "-fprint", "-fprint0", "-fprintf",
           "-fls"}
    if hit := next((a for a in args if a in bad), None):
        return f"find {hit} can change files"
    return None


def _curl(args: list[str]) -> str | None:
    long = ("--output", "--remote-name", "--upload-file", "--output-dir", "--dump-header",
            "--cookie-jar", "--trace", "--stderr")
    if any(a.startswith(long) or _short_cluster(a, "oOTDc") for a in args):
        return "curl writing or uploading files"
    return None


def _perl(args: list[str]) -> str | None:
    return "in-place edit (-i)" if any(re.match(r"^-\w*i", a) for a in args) else None


def _crontab(args: list[str]) -> str | None:
    reads = {"-l", "-u"}
    words = [a for i, a in enumerate(args) if not (i and args[i - 1] == "-u")]
    return None if "-l" in words and set(words) <= reads else "crontab changes scheduled jobs"


def _date(args: list[str]) -> str | None:
    if any(a.startswith("--set") or _short_cluster(a, "s") for a in args):
        return "date -s sets the clock"
    return None


def _sysctl(args: list[str]) -> str | None:
    if any("=" in a or a.startswith(("--write", "--load", "--system")) or _short_cluster(a, "wp")
           for a in args):
        return "sysctl may only read values"
    return None


def _ip(args: list[str]) -> str | None:
    words = [a for a in args if not a.startswith("-")]
    reads = {"show", "list", "ls", "lst", "sh", "get"}
    if any(a.lstrip("-").startswith("b") and len(a.lstrip("-")) > 1 for a in args
           if a.startswith("-") and "batch".startswith(a.lstrip("-")[:5])):
        return "ip -batch runs commands from a file"
    if len(words) >= 2 and words[1] not in reads:
        return f"ip {words[0]} {words[1]} changes the network"
    return None


def _settings_tool(args: list[str]) -> str | None:
    verbs = [a for a in args if not a.startswith("-")]
    if verbs and verbs[0].startswith(("set-", "add-", "remove-", "reset", "reload")):
        return f"{verbs[0]} changes the system"
    return None


def _firewall(args: list[str]) -> str | None:
    reads = {"-L", "--list", "-S", "--list-rules", "-nL", "-nvL", "-vnL", "list", "-n", "-v",
             "-t", "nat", "filter", "mangle", "raw", "-x", "--line-numbers", "ruleset",
             "tables", "show"}
    if any(a not in reads for a in args if a.startswith("-") or a in {"add", "delete",
                                                                         "flush", "insert"}):
        return "may only list rules"
    return None


_RULES: dict[str, Callable[[list[str]], str | None]] = {
    "systemctl": _systemctl, "service": _service, "sed": _sed, "find": _find, "curl": _curl,
    "perl": _perl, "crontab": _crontab, "iptables": _firewall, "ip6tables": _firewall,
    "nft": _firewall, "date": _date, "sysctl": _sysctl, "ip": _ip,
    "timedatectl": _settings_tool, "hostnamectl": _settings_tool, "localectl": _settings_tool,
}


_HEREDOC = re.compile(r"<<(-?)\s*(['\"]?)([A-Za-z_][\w.-]*)\2")


def _split_code(script: str) -> tuple[str, list[str]]:
    """The script as sh reads it — comments dropped (``#`` starting a word, outside quotes, to
    the end of the line: ``a#b`` is a word, ``"#"`` a string) — and the bodies of its heredocs
    apart: they are data, not commands (``it's`` in one must not open a quote)."""
    out: list[str] = []
    bodies: list[str] = []
    pending: list[tuple[str, bool]] = []
    quote: str | None = None
    i = 0
    while i < len(script):
        char = script[i]
        if quote:
            if char == "\\" and quote == '"' and i + 1 < len(script):
                out.append(script[i:i + 2])
                i += 2
                continue
            quote = None if char == quote else quote
        elif char == "\\" and i + 1 < len(script):
            out.append(script[i:i + 2])
            i += 2
            continue
        elif char in "'\"":
            quote = char
        elif char == "#" and (not out or out[-1][-1] in " \t\n;&|()"):
            end = script.find("\n", i)
            i = len(script) if end < 0 else end
            continue
        elif script.startswith("<<", i) and not script.startswith("<<<", i):
            if match := _HEREDOC.match(script, i):
                pending.append((match.group(3), bool(match.group(1))))
                out.append(match.group(0))
                i = match.end()
                continue
        elif char == "\n" and pending:
            i = _skip_bodies(script, i + 1, pending, bodies)
            pending = []
            out.append("\n")
            continue
        out.append(char)
        i += 1
    return "".join(out), bodies


def _skip_bodies(script: str, i: int, pending: list[tuple[str, bool]],
                 bodies: list[str]) -> int:
    """Skip the heredoc bodies starting at ``i``; returns where the code goes on."""
    lines = script[i:].split("\n")
    used = 0
    for delimiter, strip_tabs in pending:
        body: list[str] = []
        while used < len(lines):
            line = lines[used]
            used += 1
            if (line.lstrip("\t") if strip_tabs else line) == delimiter:
                break
            body.append(line)
        bodies.append("\n".join(body))
    return i + sum(len(line) + 1 for line in lines[:used])


def _tokens(script: str) -> list[str]:
    lexer = shlex.shlex(_split_code(script)[0], posix=True, punctuation_chars=";&|()<>")
    lexer.whitespace = " \t\r"
    lexer.wordchars += "$"  # /tmp/$x stays one word (its target is known only at run time)
    lexer.whitespace_split = False
    lexer.commenters = ""  # shlex would end a word at '#'; comments are stripped as sh does
    try:
        return list(lexer)
    except ValueError as exc:
        raise PolicyError(f"the script cannot be parsed as shell: {exc}") from exc


def _commands(tokens: list[str]) -> Iterator[list[str]]:
    current: list[str] = []
    for token in tokens:
        if token in _SEPARATORS or (set(token) <= set(";&|()") and token):
            if current:
                yield current
            current = []
        else:
            current.append(token)
    if current:
        yield current


def _strip_prefixes(words: list[str]) -> tuple[list[str], bool]:
    """The command behind wrappers (``sudo -u x``, ``env A=1``, ``timeout 5``, ``xargs``);
    and whether there was a wrapper, whose option values cannot be told from the command."""
    wrapped = False
    while words and (words[0] in _PREFIXES or re.match(r"^[A-Za-z_]\w*=", words[0])):
        wrapped = wrapped or words[0] in _PREFIXES
        words = words[1:]
        while wrapped and words and (words[0].startswith("-")
                                     or re.fullmatch(r"\d+[smhd]?", words[0])):
            words = words[1:]
    return words, wrapped


def _without_redirections(words: list[str]) -> list[str]:
    """The command's words once its redirections are checked (only /tmp and /dev/null)."""
    for target in (words[i + 1] for i, w in enumerate(words[:-1]) if w in _REDIRECTS):
        if not _SAFE_TARGETS.match(target) or ".." in target:
            raise PolicyError(f"redirection into {target!r}: scripts may write only to /tmp "
                              "or /dev/null")
    if words and words[-1] in _REDIRECTS:
        raise PolicyError("a redirection without a target")
    return [w for i, w in enumerate(words)
            if w not in _REDIRECTS and (i == 0 or words[i - 1] not in _REDIRECTS)]


def _check_command(words: list[str], depth: int) -> None:
    words, wrapped = _strip_prefixes(_without_redirections(words))
    if not words:
        return
    program = words[0].rsplit("/", 1)[-1]
    args = words[1:]
    if program == "busybox" and args:  # busybox rm x is rm x
        program, args = args[0].rsplit("/", 1)[-1], args[1:]
    if wrapped and (hit := next((w for w in words if w.rsplit("/", 1)[-1] in _WRITERS), None)):
        raise PolicyError(f"{hit!r} writes or changes the system")
    if program in _WRITERS or re.match(r"^mkfs(\.\w+)?$|^mke2fs$|^xfs_", program):
        raise PolicyError(f"{program!r} writes or changes the system")
    if (rule := _RULES.get(program)) and (reason := rule(args)):
        raise PolicyError(reason)
    if program in _SHELLS and program != "busybox" and "-c" not in args:
        raise PolicyError(f"{program} without -c runs commands the guard cannot see (from its "
                          "input or a file)")
    if program in _SHELLS or program in {"eval"}:
        inner = " ".join(args[args.index("-c") + 1:args.index("-c") + 2]) if "-c" in args \
            else " ".join(args) if program == "eval" else ""
        if inner:
            _scan(inner, depth + 1)
    for word in words:  # command substitutions inside quoted words
        for inner in re.findall(r"\$\((.*)\)|`([^`]*)`", word):
            _scan(next(p for p in inner if p) if any(inner) else "", depth + 1)


def _scan(script: str, depth: int) -> None:
    if depth > 5:
        raise PolicyError("the script nests shells too deeply to be checked")
    for words in _commands(_tokens(script)):
        _check_command(words, depth)


def check_script(script: str) -> None:
    """Raise :class:`PolicyError` naming the first obvious writer in ``script``."""
    if not script.strip():
        raise PolicyError("refused an empty script")
    if "\0" in script:
        raise PolicyError("refused a script with a NUL byte")
    code, bodies = _split_code(script)
    if match := _SQL.search("\n".join([code, *bodies])):
        raise PolicyError(f"refused the script: SQL {match.group(0)!r} writes to a database")
    try:
        _scan(script, 0)
    except PolicyError as exc:
        raise PolicyError(f"refused the script: {exc} (scripts must only read)") from None
