"""Config history: secrets masked, oscillating lines dropped, diffs showing only real changes."""

from __future__ import annotations

import pytest

from collectors.network.configs import MASK, diff, drop_noise, mask_secrets, snapshot


@pytest.mark.parametrize(("line", "secret"), [
    ("enable secret 5 $1$mERr$hx5rVt7rPNoS4wqbXKX7m0", "$1$mERr$hx5rVt7rPNoS4wqbXKX7m0"),
    ("enable password 7 0822455D0A16", "0822455D0A16"),
    ("username admin privilege 15 secret 9 $9$nhEmQVczB7dqsO$X.HsgL6x1il0RxkOSSvyQYwucy",
     "$9$nhEmQVczB7dqsO$X.HsgL6x1il0RxkOSSvyQYwucy"),
    ("username ops password 0 PlainTextPw1", "PlainTextPw1"),
    ("username admin password 5 $5$Hk9r$abcdefghij role network-admin", "$5$Hk9r$abcdefghij"),
    ("username admin secret sha512 $6$salt$hashhashhash", "$6$salt$hashhashhash"),
    (" password 7 121A0C0411045D5679", "121A0C0411045D5679"),
    ("snmp-server community N0tPublic RO 10", "N0tPublic"),
    ("snmp-server host 10.1.1.1 version 2c TrapComm", "TrapComm"),
    ("tacacs-server host 10.1.1.5 key 7 045802150C2E1D1C5A", "045802150C2E1D1C5A"),
    (" key 7 045802150C2E1D1C5A", "045802150C2E1D1C5A"),
    (" neighbor 10.0.0.2 password 7 1511021F07257A767B", "1511021F07257A767B"),
    (" ip ospf message-digest-key 1 md5 7 01100F175804", "01100F175804"),
    ("ntp authentication-key 1 md5 104D000A0618 7", "104D000A0618"),
    ("crypto isakmp key Sh4redKey address 0.0.0.0", "Sh4redKey"),
    (" local-user admin password irreversible-cipher $1a$P8f$abc==$",
     "$1a$P8f$abc==$"),
    (" local-user ops password cipher %^%#x*Y!aBc%^%#", "%^%#x*Y!aBc%^%#"),
    ("snmp-agent community read cipher %^%#Q&L0G%^%#", "%^%#Q&L0G%^%#"),
    ("snmp-agent community write PlainWriteComm", "PlainWriteComm"),
    (" password simple H3cPlain1", "H3cPlain1"),
    ("super password level 3 cipher $c$3$abcdef", "$c$3$abcdef"),
    ('        encrypted-password "$6$ABC$longhashvalue"; ## SECRET-DATA', "$6$ABC$longhashvalue"),
    ('            authentication-key "$9$dkmfQ/t0BIc"; ## SECRET-DATA', "$9$dkmfQ/t0BIc"),
    ('set system root-authentication encrypted-password "$6$xyz$q"', "$6$xyz$q"),
    ("    community SnmpJunos {", "SnmpJunos"),
])
def test_secrets_are_masked(line: str, secret: str) -> None:
    masked = mask_secrets(line + "\n")
    assert secret not in masked
    assert MASK in masked


@pytest.mark.parametrize("line", [
    "hostname core-sw-01", " description uplink to core (password reset desk)",
    " ip address 10.0.0.1 255.255.255.0", "interface GigabitEthernet0/1",
    "router bgp 65001", " neighbor 10.0.0.2 remote-as 65002", "sysname CE6881",
    "    host-name mx1;",
])
def test_ordinary_lines_are_kept(line: str) -> None:
    assert mask_secrets(line + "\n") == line + "\n"


def test_oscillating_lines_are_dropped() -> None:
    text = (
        "Building configuration...\n\nCurrent configuration : 1234 bytes\n"
        "!\n! Last configuration change at 10:01:02 UTC Mon Mar 1 2026 by admin\n"
        "! NVRAM config last updated at 10:01:05 UTC Mon Mar 1 2026 by admin\n"
        "version 15.2\nntp clock-period 17179738\nhostname r1   \n"
        "!Time: Mon Mar  1 10:01:02 2026\n"
        "!Software Version V200R019C10SPC800\n!Last configuration was updated at 2026-03-01\n"
        "## Last commit: 2026-03-01 10:01:02 UTC by admin\nend\n"
    )
    assert drop_noise(text) == "!\nversion 15.2\nhostname r1\nend\n"


def test_snapshot_hash_ignores_noise_and_secrets_but_not_changes() -> None:
    a = snapshot("! Last configuration change at 1\nhostname r1\nenable secret 5 $1$a$b\n")
    b = snapshot("! Last configuration change at 2\nhostname r1\nenable secret 5 $1$c$d\n")
    c = snapshot("! Last configuration change at 2\nhostname r2\nenable secret 5 $1$c$d\n")
    assert a.sha256 == b.sha256
    assert a.sha256 != c.sha256
    assert a.lines == 2
    assert "$1$" not in a.text
    unmasked = snapshot("hostname r1\nenable secret 5 $1$a$b\n", mask=False)
    assert "$1$a$b" in unmasked.text
    assert unmasked.masked is False


def test_diff_shows_only_the_change() -> None:
    old = "hostname r1\ninterface Gi0/1\n description old\n ip address 10.0.0.1 255.0.0.0\n"
    new = "hostname r1\ninterface Gi0/1\n description new\n ip address 10.0.0.1 255.0.0.0\n"
    change = diff(old, new, "before", "after")
    assert (change.added, change.removed) == (1, 1)
    assert change.text.splitlines()[0] == "--- before"
    body = [line for line in change.text.splitlines()
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert body == ["- description old", "+ description new"]
    assert diff(old, old, "a", "b").text == ""
