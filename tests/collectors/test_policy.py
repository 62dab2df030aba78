"""The read-only command policy and inspection packs: what passes, what is refused and why."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.errors import PackError, PolicyError
from collectors.pack import builtin_pack, parse_pack
from collectors.policy import check_command

SYNTAX = "is not allowed (no chaining, redirection, substitution or variables)"
SYSTEMCTL_VERBS = (
    "is-active, is-enabled, is-failed, list-timers, list-unit-files, list-units, show, status"
)


def verdict(command: str, platform: str = "linux") -> str | None:
    """None when the command passes, else the refusal message."""
    try:
        check_command(platform, command)
    except PolicyError as exc:
        return str(exc)
    return None


def refusal(command: str, platform: str = "linux") -> str:
    with pytest.raises(PolicyError) as info:
        check_command(platform, command)
    return str(info.value)


# -- allowed ------------------------------------------------------------------------------------

def test_every_command_of_the_builtin_pack_passes() -> None:
    pack = builtin_pack("linux-standard")
    assert pack.name == "linux-standard"
    assert pack.platforms == ["linux"]
    assert len(pack.items) == 18
    for item in pack.items:
        assert verdict(item.command) is None, item.id


@pytest.mark.parametrize("command", [
    "cat /proc/meminfo",
    "df -P -T -B1",
    "ps -e -o pid=",
    "systemctl list-units --state=failed",
    "systemctl status sshd",
    "ip addr show",
    "ip -4 addr show",
    "ip link",
    "ip -br addr",
    "date +%s",
    "date",
    "date -u +%s",
    "journalctl -p err --since -24h",
    "journalctl -o short-iso -n 5",
    "grep -H . /sys/class/dmi/id/sys_vendor",
    "ps -e | wc -l",
    "ps -e|wc -l",
    "cat /proc/mounts | grep -c ext4 | wc -l",
    "tail -n5 /var/log/messages",
    "sysctl -a",
    "sysctl -n kernel.hostname",
    "dmesg -T",
    "ss -tlnp",
    "hostname",
    "hostnamectl status",
    "timedatectl show",
    "chronyc tracking",
    "uname -srm",
    "cat '/proc/net/dev'",
])
def test_read_only_commands_pass(command: str) -> None:
    assert verdict(command) is None


# -- refused: the reason is named -------------------------------------------------------------

@pytest.mark.parametrize(("command", "reason"), [
    ("rm -rf /", "'rm' is not on the read-only allowlist"),
    ("/bin/rm x", "'/bin/rm' is not on the read-only allowlist"),
    ("/bin/cat /etc/passwd", "'/bin/cat' is not on the read-only allowlist"),
    ("CAT /etc/passwd", "'CAT' is not on the read-only allowlist"),
    ("FOO=1 cat x", "'FOO=1' is not on the read-only allowlist"),
    ("cat x | sh", "'sh' is not on the read-only allowlist"),
    ("cat x | tee /etc/y", "'tee' is not on the read-only allowlist"),
    ("cat /etc/passwd; rm -rf /", f"shell syntax ';' {SYNTAX}"),
    ("cat a && rm b", f"shell syntax '&' {SYNTAX}"),
    ("sleep 100 &", f"shell syntax '&' {SYNTAX}"),
    ("cat a || rm b", f"shell syntax '||' {SYNTAX}"),
    ("cat a > /etc/x", f"shell syntax '>' {SYNTAX}"),
    ("cat a >> /etc/x", f"shell syntax '>' {SYNTAX}"),
    ("cat < /etc/x", f"shell syntax '<' {SYNTAX}"),
    ("echo $(id)", f"shell syntax '$' {SYNTAX}"),
    ("cat `id`", f"shell syntax '`' {SYNTAX}"),
    ("cat $HOME", f"shell syntax '$' {SYNTAX}"),
    ("cat /etc/hostname\nrm -rf /", f"shell syntax '\\n' {SYNTAX}"),
    ("cat /etc/hostname\rrm -rf /", f"shell syntax '\\r' {SYNTAX}"),
    ("cat a\\ b", f"shell syntax '\\\\' {SYNTAX}"),
    ("(cat a)", f"shell syntax '(' {SYNTAX}"),
    # brace expansion (bash as sh) would turn this into `ip link set eth0 down`
    ("ip {link,set,eth0,down}", f"shell syntax '{{' {SYNTAX}"),
    ("date -s 2020-01-01",
     "date may only print the time (date +FORMAT); setting the clock is refused"),
    ("date --set=2020-01-01",
     "date may only print the time (date +FORMAT); setting the clock is refused"),
    ("hostname newname",
     "hostname takes no arguments here (with arguments it changes the system)"),
    ("systemctl restart sshd", f"systemctl is allowed only as: {SYSTEMCTL_VERBS}"),
    ("systemctl", f"systemctl is allowed only as: {SYSTEMCTL_VERBS}"),
    # an option in the verb's place would let systemctl take the next word as its verb
    ("systemctl --failed restart sshd", f"systemctl is allowed only as: {SYSTEMCTL_VERBS}"),
    ("chronyc -n makestep",
     "chronyc is allowed only as: activity, sources, sourcestats, tracking"),
    ("hostnamectl set-hostname x", "hostnamectl is allowed only as: status"),
    ("timedatectl set-time 2020-01-01",
     "timedatectl is allowed only as: show, show-timesync, status, timesync-status"),
    ("ip link set eth0 down", "ip may only show (ip OBJECT show); changes are refused"),
    ("ip addr add 10.0.0.1/24 dev eth0",
     "ip may only show (ip OBJECT show); changes are refused"),
    ("ip -batch /tmp/cmds", "ip may only show; -batch (commands from a file) is refused"),
    ("ip -b /tmp/cmds", "ip may only show; -batch (commands from a file) is refused"),
    ("ip --batch /tmp/cmds", "ip may only show; -batch (commands from a file) is refused"),
    ("sysctl -w a=b", "sysctl may only read values; writing is refused"),
    ("sysctl a=b", "sysctl may only read values; writing is refused"),
    ("sysctl -p", "sysctl may only read values; writing is refused"),
    ("sysctl -ep", "sysctl may only read values; writing is refused"),
    ("sysctl --system", "sysctl may only read values; writing is refused"),
    ("sysctl --sys", "sysctl may only read values; writing is refused"),
    ("journalctl --vacuum-size=1M", "journalctl --vacuum-size is not read-only"),
    ("journalctl --vacuum-size 1M", "journalctl --vacuum-size is not read-only"),
    # getopt_long accepts unique abbreviations of long options
    ("journalctl --vacuum-s=1M", "journalctl --vacuum-size is not read-only"),
    ("journalctl --rot", "journalctl --rotate is not read-only"),
    ("journalctl --cursor-file=/etc/x", "journalctl --cursor-file is not read-only"),
    ("journalctl -f", "journalctl -f is not read-only"),
    ("dmesg -C", "dmesg -C is not read-only"),
    ("dmesg -c", "dmesg -c is not read-only"),
    # a cluster of short options
    ("dmesg -rC", "dmesg -C is not read-only"),
    ("dmesg --clea", "dmesg --clear is not read-only"),
    ("tail -f x", "tail -f is not read-only"),
    ("tail -fn5 x", "tail -f is not read-only"),
    ("tail --follow=name x", "tail --follow is not read-only"),
    ("ss -K dst 10.0.0.1", "ss -K is not read-only"),
    ("ss -tK dst 10.0.0.1", "ss -K is not read-only"),
    ("ss -D /tmp/dump", "ss -D is not read-only"),
    ("dmidecode --dump-bin /tmp/x", "dmidecode --dump-bin is not read-only"),
    ("ntpq -i", "ntpq -i is not read-only"),
    ("cat x |", "empty command in a pipeline"),
    ("| cat x", "empty command in a pipeline"),
    ("cat 'unclosed", "cannot parse it (No closing quotation)"),
])
def test_refused_with_reason(command: str, reason: str) -> None:
    assert refusal(command) == f"refused {command!r}: {reason}"


@pytest.mark.parametrize("command", ["", " ", "\t  "])
def test_empty_command_refused(command: str) -> None:
    assert refusal(command) == "refused an empty command"


def test_unknown_platform_refused() -> None:
    assert refusal("cat /proc/meminfo", platform="windows") == (
        "refused 'cat /proc/meminfo': no read-only policy for platform 'windows'"
    )
    assert refusal("cat /proc/meminfo", platform="local") == (
        "refused 'cat /proc/meminfo': no read-only policy for platform 'local'"
    )


def test_every_segment_of_a_pipeline_is_checked() -> None:
    assert refusal("ps -e | wc -l | sh") == "refused 'ps -e | wc -l | sh': 'sh' is not on " \
        "the read-only allowlist"
    assert refusal("rm x | cat") == "refused 'rm x | cat': 'rm' is not on the read-only allowlist"


# -- programs custom packs need: process, disk, PostgreSQL and certificate reads ----------------

@pytest.mark.parametrize("command", [
    "pgrep -x sshd",
    "pgrep -c -x nginx",
    "pgrep -a -f postgres",
    "pidof sshd",
    "du -sb /var/lib/postgresql",
    "du -s -B1 /var/log | tail -n 1",
    "pg_isready -h 127.0.0.1 -p 5432",
    "openssl x509 -in /etc/nginx/cert.pem -noout -enddate",
    "openssl x509 -noout -subject -issuer -dates -in /etc/ssl/certs/site.pem",
    "openssl x509 -in /etc/ssl/site.pem -noout -checkend 2592000",
    "openssl x509 -in /etc/ssl/site.pem -noout -fingerprint -sha256",
    "openssl x509 -in /etc/ssl/site.pem -noout -ext subjectAltName",
    "openssl x509 -inform DER -in /etc/ssl/site.der -noout -text",
    "openssl x509 --in=/etc/ssl/site.pem --noout --enddate",
])
def test_pack_programs_that_only_read_pass(command: str) -> None:
    assert verdict(command) is None


X509_WRITER = "(it writes files, signs or creates certificates, or loads code)"


@pytest.mark.parametrize(("command", "reason"), [
    # pgrep's signalling twin is not on the list
    ("pkill sshd", "'pkill' is not on the read-only allowlist"),
    ("pgrep sshd | xargs kill", "'xargs' is not on the read-only allowlist"),
    ("openssl", "openssl is allowed only as: openssl x509 -noout ... (reading a certificate)"),
    ("openssl req -new -x509 -keyout k.pem -out c.pem",
     "openssl is allowed only as: openssl x509 -noout ... (reading a certificate)"),
    ("openssl genrsa -out /etc/ssl/key.pem",
     "openssl is allowed only as: openssl x509 -noout ... (reading a certificate)"),
    ("openssl x509 -in c.pem -noout -out /etc/ssl/other.pem", f"openssl x509 -out is refused "
     f"{X509_WRITER}"),
    ("openssl x509 -in c.pem -noout --out=/etc/x.pem", f"openssl x509 -out is refused "
     f"{X509_WRITER}"),
    ("openssl x509 -in c.pem -noout -keyout k.pem", f"openssl x509 -keyout is refused "
     f"{X509_WRITER}"),
    ("openssl x509 -in c.pem -noout -signkey k.pem", f"openssl x509 -signkey is refused "
     f"{X509_WRITER}"),
    ("openssl x509 -req -in r.csr -noout", f"openssl x509 -req is refused {X509_WRITER}"),
    ("openssl x509 -in c.pem -noout -CA ca.pem -CAkey ca.key",
     f"openssl x509 -CA is refused {X509_WRITER}"),
    ("openssl x509 -new -noout -key k.pem", f"openssl x509 -new is refused {X509_WRITER}"),
    ("openssl x509 -in c.pem -noout -engine /tmp/evil.so",
     f"openssl x509 -engine is refused {X509_WRITER}"),
    ("openssl x509 -in c.pem -noout -writerand /etc/rnd",
     f"openssl x509 -writerand is refused {X509_WRITER}"),
    ("openssl x509 -in c.pem -noout -badopt",
     "openssl x509 -badopt is not one of the options that only print"),
    ("openssl x509 -in c.pem -enddate",
     "openssl x509 needs -noout (print fields, not the certificate)"),
])
def test_pack_programs_refused_with_reason(command: str, reason: str) -> None:
    assert refusal(command) == f"refused {command!r}: {reason}"


# -- packs --------------------------------------------------------------------------------------

GOOD_PACK = b"""\
name: test-pack
version: "1"
platforms: [linux]
items:
  - id: memory
    command: cat /proc/meminfo
  - id: disks
    command: df -P -T -B1
    timeout: 15
    max_lines: 100
"""

WRITER_PACK = b"""\
name: bad-pack
version: "1"
platforms: [linux]
items:
  - id: memory
    command: cat /proc/meminfo
  - id: cleanup
    command: rm -rf /tmp/x
"""

DUPLICATE_PACK = b"""\
name: dup-pack
version: "1"
platforms: [linux]
items:
  - id: memory
    command: cat /proc/meminfo
  - id: memory
    command: free -b
"""


def test_parse_pack_reads_items_and_hashes_the_bytes() -> None:
    pack = parse_pack(GOOD_PACK, "test")
    assert pack.name == "test-pack"
    assert pack.version == "1"
    assert [i.id for i in pack.items] == ["memory", "disks"]
    assert pack.item("disks").command == "df -P -T -B1"
    assert pack.item("disks").timeout == 15
    assert pack.item("disks").max_lines == 100
    assert pack.item("memory").timeout is None
    assert pack.content_hash == hashlib.sha256(GOOD_PACK).hexdigest()
    with pytest.raises(KeyError):
        pack.item("nope")


def test_content_hash_changes_with_the_bytes() -> None:
    changed = GOOD_PACK + b"# a comment changes the approved bytes\n"
    first = parse_pack(GOOD_PACK, "a")
    second = parse_pack(changed, "b")
    assert second.content_hash == hashlib.sha256(changed).hexdigest()
    assert first.content_hash != second.content_hash
    assert first.items == second.items


def test_builtin_pack_hash_is_of_its_file() -> None:
    from importlib import resources

    data = (resources.files("collectors") / "packs" / "linux-standard.yaml").read_bytes()
    assert builtin_pack("linux-standard").content_hash == hashlib.sha256(data).hexdigest()


def test_unknown_builtin_pack() -> None:
    with pytest.raises(PackError) as info:
        builtin_pack("nope")
    assert str(info.value) == "no built-in pack named 'nope'"


def test_pack_with_a_writer_is_refused_naming_the_item() -> None:
    with pytest.raises(PackError) as info:
        parse_pack(WRITER_PACK, "bad.yaml")
    assert str(info.value) == (
        "pack bad-pack item cleanup: refused 'rm -rf /tmp/x': "
        "'rm' is not on the read-only allowlist"
    )
    assert isinstance(info.value.__cause__, PolicyError)


def test_pack_for_an_unknown_platform_is_refused() -> None:
    text = GOOD_PACK.replace(b"[linux]", b"[linux, vms]")
    with pytest.raises(PackError) as info:
        parse_pack(text, "p")
    assert str(info.value) == (
        "pack test-pack item memory: refused 'cat /proc/meminfo': "
        "no read-only policy for platform 'vms'"
    )


def test_duplicate_item_ids_refused() -> None:
    with pytest.raises(PackError) as info:
        parse_pack(DUPLICATE_PACK, "dup.yaml")
    message = str(info.value)
    assert message.startswith("pack dup.yaml is not valid:\n")
    assert "duplicate item ids: memory" in message


def test_invalid_pack_yaml_and_schema() -> None:
    with pytest.raises(PackError) as info:
        parse_pack(b"name: [unclosed\n", "broken.yaml")
    assert str(info.value).startswith("pack broken.yaml: invalid YAML: ")
    with pytest.raises(PackError) as info:
        parse_pack(GOOD_PACK + b"surprise: 1\n", "extra.yaml")
    assert str(info.value) == (
        "pack extra.yaml is not valid:\n"
        "  surprise (line 11): unknown key (check the spelling; unknown keys are not ignored)")


# -- property: nothing but PolicyError escapes, and chaining never passes -----------------------

@given(st.text())
def test_arbitrary_text_returns_none_or_policy_error(command: str) -> None:
    try:
        returned = check_command("linux", command)  # type: ignore[func-returns-value]
    except PolicyError:
        return
    assert returned is None


ALLOWED_WORDS = st.sampled_from(
    ["cat", "ps", "date", "ip", "systemctl", "-e", "+%s", "x", "list-units", "addr", "show", " ",
     "|", "'", '"', "-f", "="]
)


@given(
    st.lists(st.one_of(ALLOWED_WORDS, st.text(max_size=5)), max_size=8),
    st.sampled_from([";", ">", "\n"]),
    st.integers(min_value=0, max_value=8),
)
def test_anything_with_chaining_or_redirection_is_refused(
    words: list[str], bad: str, position: int
) -> None:
    words.insert(min(position, len(words)), bad)
    command = " ".join(words)
    with pytest.raises(PolicyError):
        check_command("linux", command)


@given(st.text(), st.sampled_from([";", ">", "\n"]), st.text())
def test_any_text_around_a_separator_is_refused(before: str, bad: str, after: str) -> None:
    with pytest.raises(PolicyError):
        check_command("linux", before + bad + after)
