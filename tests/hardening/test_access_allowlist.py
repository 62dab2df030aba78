"""The read-only allowlist cannot be bypassed, on Linux and on every network platform.

One table of attempts per platform family: abbreviations of changing commands, case, whitespace
and tabs, chaining (``;`` ``&&`` ``|`` backticks ``$()``), newlines, CR, NUL, other control
characters and Unicode look-alikes. Every attempt must raise PolicyError before anything is
sent; the plain read command each attempt is built around must pass (so a refusal is the
policy's judgement of the attempt, not of the platform).
"""

from __future__ import annotations

import pytest

from agent.errors import PolicyError
from collectors.cli_policy import CLI_POLICIES
from collectors.policy import check_command
from config.platforms import NETWORK_PLATFORMS

LINUX_READ = "uptime"
LINUX_ATTEMPTS = [
    # changing programs, any spelling
    "reboot", "REBOOT", "Reboot", "/sbin/reboot", " reboot", "\treboot", "sysctl -w kernel.x=1",
    "sysctl\t-w\tkernel.x=1", "sysctl -qw kernel.x=1", "sysctl kernel.x=1",
    "systemctl restart sshd", "systemctl  RESTART sshd", "systemctl --now restart sshd",
    "date -s @0", "date --set=2020-01-01", "date --se=2020-01-01", "hostname evil",
    "ip link set eth0 down", "ip l s eth0 down", "ip -b /tmp/cmds", "ip --ba /tmp/cmds",
    "journalctl --vacuum-size=1", "journalctl --vac=1", "dmesg -C", "dmesg -rc",
    "ntpq -c ':config disable ntp'", "ntpq -c 'writevar 0 leap=3'", "ntpq -c wl",
    "ntpq --command=:config", "ntpq --c writevar", "ntpq --c=writevar", "ntpq --co wl",
    "ntpq -nc ':config x'", "ntpq -c rv -c 'config-from-file /x'",
    "ntpq -i", "openssl x509 -noout -in /x -out /etc/y", "tail -f /var/log/syslog",
    "ss -K dst 10.0.0.1",
    # chaining and substitution
    "uptime; reboot", "uptime ;reboot", "uptime && reboot", "uptime & reboot", "uptime || reboot",
    "uptime | sh", "uptime | tee /etc/motd", "uptime|reboot", "uptime `reboot`",
    "uptime $(reboot)", "uptime ${IFS}", "uptime > /etc/motd", "uptime >> /etc/motd",
    "uptime < /dev/sda", "(reboot)", "{ reboot; }", "ip {link,set,eth0,down}",
    "uptime \\\nreboot",
    # line breaks and control characters
    "uptime\nreboot", "uptime\rreboot", "uptime\r\nreboot", "uptime\x00reboot",
    "uptime\x00; reboot", "uptime\x0breboot", "uptime\x0creboot", "uptime\x1b[2J",
    "uptime\x85reboot", "uptime\u2028reboot", "uptime\u2029reboot",
    # Unicode look-alikes and invisible characters
    "ｒｅｂｏｏｔ", "uptime\uff1breboot", "uptime\u037ereboot", "upt\u200bime", "uptime\u00a0-p",
    "uptime\u3000-p", "\u202euptime", "ѕysctl -w x=1",
]

SHOW_READ = "show version"
SHOW_ATTEMPTS = [
    # abbreviations and case of changing commands
    "conf t", "CONF T", "Conf T", "configure terminal", "config", "co t", "wr", "WR", "wr mem",
    "write memory", "write erase", "wri", "rel", "reload", "RELOAD", "reload in 5",
    "reload cancel", "reloa", "copy run start", "cop r s", "del flash:x", "erase startup",
    "clear counters", "cl count", "debug all", "undebug all", "term len 0", "start shell",
    "run bash rm -rf /", "bash", "request system reboot", "set cli screen-length 0", "commit",
    "rollback 1",
    # whitespace and tabs
    "  conf   t  ", "\tconf t", "conf\tt", "show\tversion", "sh run\t| redirect x",
    # output redirection through pipes, abbreviated too
    "sh run | redirect flash:x", "sh run | red flash:x", "sh run | re flash:x",
    "sh run | REDIRECT flash:x", "sh run |redirect flash:x", "sh run | tee flash:x",
    "sh run | append flash:x", "sh run | save x", "sh run | incl x | redirect y",
    "show run | bash rm x", "show run | reload", "show run |", "show run || reload",
    "sh run > flash:x", "sh run >> flash:x", "sh run < x",
    # chaining and substitution
    "show version; reload", "show version ;reload", "show version && reload",
    "show version `reload`", "show version $(reload)", "show run ? ",
    # line breaks and control characters
    "show version\nreload", "show version\rreload", "show version\r\nreload",
    "show version\x00reload", "show version\x1b", "show version\x7f", "show version\x85reload",
    "show version\u2028reload",
    # Unicode look-alikes and invisible characters
    "ｓｈｏｗ version", "ѕhow version", "show\u00a0version", "show\u3000version",
    "sh\u200bow version", "show version\u037e reload", "show version\uff1breload",
]
DISPLAY_READ = "display version"
DISPLAY_ATTEMPTS = [
    "system-view", "sys", "SYSTEM-VIEW", "sy", "save", "sa", "SAVE force", "reboot", "reb",
    "reset saved-configuration", "undo info-center enable", "startup saved-configuration x",
    "delete flash:/x", "format flash:", "di cur", "display cur | save x",
    "display cur > flash:/x", "dis cur\n save", "dis cur; reboot", "dis cur && reboot",
    "dis cur `reboot`", "dis cur $(reboot)", "dis\tcur", "dis\u3000cur", "ｄｉｓ cur",
    "dis cur\x00reboot", "dis cur\u2028reboot", "  sys  ", "quit",
]


def _refused(platform: str, command: str) -> str:
    with pytest.raises(PolicyError) as caught:
        check_command(platform, command)
    return str(caught.value)


def _cases() -> list[tuple[str, str, str]]:
    cases = [("linux", LINUX_READ, attempt) for attempt in LINUX_ATTEMPTS]
    for platform in NETWORK_PLATFORMS:
        if CLI_POLICIES[platform].verb == "show":
            cases += [(platform, SHOW_READ, attempt) for attempt in SHOW_ATTEMPTS]
        else:
            cases += [(platform, DISPLAY_READ, attempt) for attempt in DISPLAY_ATTEMPTS]
    return cases


@pytest.mark.parametrize(("platform", "read", "attempt"), _cases(),
                         ids=lambda v: ascii(v)[1:-1][:40])
def test_no_bypass(platform: str, read: str, attempt: str) -> None:
    check_command(platform, read)  # the plain read command passes on this platform
    message = _refused(platform, attempt)
    # the refusal quotes the command (escaped, so a control character cannot hide in it)
    assert message.startswith(f"refused {attempt!r}") or message == "refused an empty command"


def test_every_platform_is_in_the_table() -> None:
    platforms = {platform for platform, _, _ in _cases()}
    assert platforms == {"linux", *NETWORK_PLATFORMS}
    assert set(CLI_POLICIES) == set(NETWORK_PLATFORMS)


@pytest.mark.parametrize("command", [
    "ntpq -p", "ntpq -c rv", "ntpq -c 'rv 0 offset'", "ntpq -nc peers", "ntpq --command=sysinfo",
    "ntpq -c associations -c kerninfo", "uptime -p", "cat /proc/loadavg\t",
])
def test_reading_commands_still_pass(command: str) -> None:
    check_command("linux", command)
