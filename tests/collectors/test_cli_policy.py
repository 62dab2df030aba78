"""The read-only policy for network CLIs: abbreviations, case, whitespace, pipes and chaining."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.errors import PolicyError
from collectors.cli_policy import CHANGING_COMMANDS, CLI_POLICIES
from collectors.pack import builtin_pack
from collectors.policy import check_command
from config.platforms import NETWORK_PLATFORMS

SHOW_PLATFORMS = ("cisco_ios", "cisco_nxos", "arista_eos", "juniper_junos")
DISPLAY_PLATFORMS = ("huawei_vrp", "hp_comware")


def refusal(platform: str, command: str) -> str:
    with pytest.raises(PolicyError) as info:
        check_command(platform, command)
    return str(info.value)


def test_every_network_platform_has_a_policy_and_a_standard_pack_that_passes_it() -> None:
    assert set(CLI_POLICIES) == set(NETWORK_PLATFORMS)
    for platform in NETWORK_PLATFORMS:
        pack = builtin_pack(f"{platform}-standard")  # parse_pack checks every command
        assert pack.platforms == [platform]
        assert {"version", "running_config"} <= {i.id for i in pack.items}


@pytest.mark.parametrize("platform", SHOW_PLATFORMS)
@pytest.mark.parametrize("command", [
    "show version", "sh ver", "SHOW VERSION", "  show   interfaces  ", "Show Running-Config",
    "show running-config | include hostname", "show logging | begin Log Buffer",
    "show interfaces | exclude 0 input errors",
])
def test_show_commands_pass(platform: str, command: str) -> None:
    check_command(platform, command)


@pytest.mark.parametrize("platform", DISPLAY_PLATFORMS)
@pytest.mark.parametrize("command", [
    "display version", "dis ver", "DISPLAY CPU-USAGE", "disp current-configuration",
    "display logbuffer | include ERROR",
])
def test_display_commands_pass(platform: str, command: str) -> None:
    check_command(platform, command)


def test_junos_display_filters_pass() -> None:
    check_command("juniper_junos", "show configuration | display set")
    check_command("juniper_junos", "show log messages | last 200")
    check_command("juniper_junos", "show interfaces | no-more")


@pytest.mark.parametrize(("platform", "command", "reason"), [
    ("cisco_ios", "conf t", "'conf' abbreviates 'configure', which enters configuration mode"),
    ("cisco_ios", "configure terminal", "configure enters configuration mode"),
    ("cisco_ios", "CONF T", "'conf' abbreviates 'configure'"),
    ("cisco_ios", "wr", "'wr' abbreviates 'write', which writes the configuration"),
    ("cisco_ios", "write memory", "write writes the configuration"),
    ("cisco_ios", "reload", "reload restarts the device"),
    ("cisco_ios", "rel", "'rel' abbreviates 'reload'"),
    ("cisco_ios", "copy running-config startup-config", "copy copies files"),
    ("cisco_ios", "clear counters", "clear clears counters"),
    ("cisco_ios", "debug ip packet", "debug turns on debugging"),
    ("cisco_ios", "undebug all", "undebug changes debugging"),
    ("cisco_ios", "delete flash:config.text", "delete deletes files"),
    ("cisco_ios", "format flash:", "format formats storage"),
    ("cisco_ios", "erase startup-config", "erase erases storage"),
    ("cisco_ios", "terminal length 0", "terminal changes terminal settings"),
    ("cisco_nxos", "shutdown", "shutdown disables an interface"),
    ("arista_eos", "bash sudo reboot", "bash starts a shell"),
    ("huawei_vrp", "system-view", "system-view enters configuration mode"),
    ("huawei_vrp", "sys", "'sys' abbreviates 'system-view'"),
    ("huawei_vrp", "save", "save writes the configuration"),
    ("huawei_vrp", "undo info-center enable", "undo removes configuration"),
    ("huawei_vrp", "reboot", "reboot restarts the device"),
    ("huawei_vrp", "reset saved-configuration", "reset resets"),
    ("hp_comware", "sys", "'sys' abbreviates 'system-view'"),
    ("hp_comware", "startup saved-configuration x.cfg", "startup changes the startup"),
    ("juniper_junos", "request system reboot", "request runs a system operation"),
    ("juniper_junos", "req sys reb", "'req' abbreviates 'request'"),
    ("juniper_junos", "set cli screen-length 0", "set changes configuration"),
    ("juniper_junos", "commit", "commit activates configuration"),
    ("juniper_junos", "edit", "edit enters configuration mode"),
    ("juniper_junos", "start shell", "start starts a shell"),
])
def test_changing_commands_are_refused_naming_the_rule(
    platform: str, command: str, reason: str
) -> None:
    message = refusal(platform, command)
    assert message.startswith(f"refused {command!r}: ")
    assert reason in message
    assert f"(rule: only {CLI_POLICIES[platform].verb} commands on {platform})" in message


@pytest.mark.parametrize(("platform", "command", "reason"), [
    ("cisco_ios", "show running-config | redirect flash:x", "'redirect' (redirect) writes"),
    ("cisco_ios", "show tech | tee flash:t", "'tee' (tee) writes the output to a file"),
    ("cisco_ios", "show run | append flash:x", "'append' (append) appends"),
    ("cisco_ios", "show run | red flash:x", "'red' (redirect)"),
    ("juniper_junos", "show configuration | save /var/tmp/x", "'save' (save) saves"),
    ("juniper_junos", "show log | request system reboot", "'request' (request) runs"),
    ("cisco_ios", "show version | ", "empty filter after '|'"),
    ("cisco_ios", "show version | grep x", "'grep' is not a known read-only output filter"),
])
def test_writing_pipes_are_refused(platform: str, command: str, reason: str) -> None:
    assert reason in refusal(platform, command)


@pytest.mark.parametrize("command", [
    "show version\nreload", "show version\rreload", "show version; reload",
    "show run > flash:x", "show run >> flash:x", "show version ?", "show ver\t",
    "show version\x00", "show version\x1b[2J",
])
def test_chaining_redirection_and_keystrokes_are_refused(command: str) -> None:
    for platform in NETWORK_PLATFORMS:
        assert "is not allowed" in refusal(platform, command)


@pytest.mark.parametrize(("platform", "command"), [
    ("cisco_ios", "display version"), ("huawei_vrp", "show version"),
    ("cisco_ios", "s"), ("huawei_vrp", "di"), ("cisco_ios", ""), ("cisco_ios", "   "),
    ("cisco_ios", "ping 10.0.0.1"), ("juniper_junos", "monitor traffic"),
    ("cisco_ios", "showx version"),
])
def test_anything_else_is_refused(platform: str, command: str) -> None:
    refusal(platform, command)


@pytest.mark.parametrize("verb", sorted(CHANGING_COMMANDS))
def test_no_changing_command_or_its_abbreviation_passes_anywhere(verb: str) -> None:
    for platform in NETWORK_PLATFORMS:
        read_verb = CLI_POLICIES[platform].verb
        for end in range(2, len(verb) + 1):
            if read_verb.startswith(verb[:end]):
                continue  # "sh" is "show" to the device, not "shutdown"
            with pytest.raises(PolicyError):
                check_command(platform, f"{verb[:end]} x")


@given(st.text(max_size=40))
def test_arbitrary_text_passes_only_as_a_read_command(command: str) -> None:
    for platform in NETWORK_PLATFORMS:
        try:
            check_command(platform, command)
        except PolicyError:
            continue
        first = command.split("|", maxsplit=1)[0].split(maxsplit=1)[0].lower()
        assert CLI_POLICIES[platform].verb.startswith(first)
        assert not any(c in command for c in ";<>?\n\r\t")


@given(st.text(max_size=20), st.sampled_from([";", "\n", "\r", ">", "?"]), st.text(max_size=20))
def test_any_text_around_a_separator_is_refused(before: str, bad: str, after: str) -> None:
    for platform in NETWORK_PLATFORMS:
        with pytest.raises(PolicyError):
            check_command(platform, f"show {before}{bad}{after}")
