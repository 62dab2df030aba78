"""The script guard refuses pack scripts with obvious writers, and says which and why.

It is a guard, not a sandbox (collectors/script_guard.py): the last test pins one known
limitation so nobody mistakes it for a proof of harmlessness.
"""

from __future__ import annotations

import pytest

from agent.errors import PackError, PolicyError
from collectors.pack import parse_pack
from collectors.script_guard import check_script

_WRITES = "writes or changes the system"
_REDIRECT = "scripts may write only to /tmp or /dev/null"

REFUSED = [
    # (script, what the reason must say)
    ("rm -rf /var/log/app", f"'rm' {_WRITES}"),
    ("/bin/rm -f /etc/app.conf", f"'rm' {_WRITES}"),
    ("df -h; rm -f /etc/passwd", f"'rm' {_WRITES}"),
    ("df -h && rm -f /etc/passwd", f"'rm' {_WRITES}"),
    ("echo $(rm -f /srv/data)", f"'rm' {_WRITES}"),
    ('echo "`rm -rf /srv`"', f"'rm' {_WRITES}"),
    ("echo hi > /etc/motd", f"redirection into '/etc/motd': {_REDIRECT}"),
    ("ls 2>/etc/x", f"redirection into '/etc/x': {_REDIRECT}"),
    ("echo > /tmp/../etc/x", f"redirection into '/tmp/../etc/x': {_REDIRECT}"),
    ("ls >&/etc/motd", f"redirection into '/etc/motd': {_REDIRECT}"),
    ("sudo -u x rm /home/x/file", f"'rm' {_WRITES}"),
    ("FOO=1 nohup rm /x", f"'rm' {_WRITES}"),
    ("echo x | tee /etc/x", f"'tee' {_WRITES}"),
    ("systemctl restart nginx", "systemctl restart changes the system"),
    ("systemctl --now disable nginx", "systemctl disable changes the system"),
    ("service nginx stop", "service nginx stop changes the system"),
    ("dd if=/dev/zero of=/dev/sda bs=1M", f"'dd' {_WRITES}"),
    ("mkfs.ext4 /dev/sdb1", f"'mkfs.ext4' {_WRITES}"),
    ("apt-get install -y curl", f"'apt-get' {_WRITES}"),
    ("yum remove httpd", f"'yum' {_WRITES}"),
    ("pip install requests", f"'pip' {_WRITES}"),
    ("psql -c 'DROP TABLE users'", "SQL 'DROP TABLE' writes to a database"),
    ("mysql -e 'DELETE FROM sessions'", "SQL 'DELETE FROM' writes to a database"),
    ('psql -c "UPDATE accounts SET active=false"', "SQL 'UPDATE accounts SET' writes"),
    ("psql -c 'insert into audit values (1)'", "SQL 'insert into' writes to a database"),
    ("sed -i s/a/b/ /etc/hosts", "sed -i edits files in place"),
    ("find /var -name '*.log' -delete", "find -delete can change files"),
    ("find / -name core -exec cat {} +", "find -exec can change files"),
    ("bash -c 'rm -rf /'", f"'rm' {_WRITES}"),
    ("eval rm /x", f"'rm' {_WRITES}"),
    ("df -h\nrm -rf /data", f"'rm' {_WRITES}"),
    ("echo a#b; rm x", f"'rm' {_WRITES}"),  # '#' inside a word starts no comment
    ("ls # a comment\nrm x", f"'rm' {_WRITES}"),  # a comment ends at the newline
    ("busybox rm /etc/x", f"'rm' {_WRITES}"),
    ("echo 'rm -rf /' | sh", "sh without -c runs commands the guard cannot see (from its input "
                             "or a file)"),
    ("bash /tmp/collect.sh", "bash without -c runs commands the guard cannot see (from its "
                             "input or a file)"),
    ("cat <<END\nit's only data\nEND\nrm -f /srv/x\n", f"'rm' {_WRITES}"),  # heredoc
    ("psql <<SQL\ndelete from sessions;\nSQL\n", "SQL 'delete from' writes to a database"),
    ("sed -Ei s/a/b/ /etc/hosts", "sed -i edits files in place"),
    ("curl -sSLo /etc/x http://example.com/x", "curl writing or uploading files"),
    ("crontab -l -r", "crontab changes scheduled jobs"),
    ("x=../etc/passwd; echo > /tmp/$x",
     f"redirection into '/tmp/$x': {_REDIRECT}"),
    ("date -s 12:00", "date -s sets the clock"),
    ("sysctl -w vm.swappiness=1", "sysctl may only read values"),
    ("ip link set eth0 down", "ip link set changes the network"),
    ("timedatectl set-ntp false", "set-ntp changes the system"),
    ("psql -c \"COPY t FROM PROGRAM 'id'\"", "SQL 'COPY t FROM PROGRAM' writes"),
    ("psql -c 'DROP OWNED BY app'", "SQL 'DROP OWNED' writes to a database"),
    ("psql -c 'UPDATE t AS x SET a = 1'", "SQL 'UPDATE t AS x SET' writes to a database"),
    ("crontab -r", "crontab changes scheduled jobs"),
    ("iptables -F", "may only list rules"),
    ("curl -o /usr/local/bin/x http://example.com/x", "curl writing or uploading files"),
    ("", "refused an empty script"),
]

ALLOWED = [
    "cat <<'EOF'\nrm is only text here\nEOF\n",
    "psql -At <<SQL\nselect count(*) from pg_stat_activity;\nSQL\n",
    "# alter the certificate path below\nls /etc/ssl",
    "ip route get 192.0.2.1",
    "cat /proc/loadavg",
    "df -P | awk 'NR > 1 {print $5}'",
    "ss -tln | grep -c LISTEN",
    "systemctl is-active nginx",
    "service nginx status",
    "psql -Atc 'select count(*) from pg_stat_activity'",
    "ps aux > /tmp/xj-ps.txt 2>/dev/null",
    "for f in /etc/*.conf; do wc -l \"$f\"; done",
    "x=$(cat /proc/uptime); echo ${x%% *}",
    "find /var/log -name '*.gz' -mtime +30",
    "sed -n 1,5p /etc/hosts",
    "journalctl -u nginx --since -1h 2>&1 | tail -n 50",
    "crontab -l",
    "ls # sh reads this as a comment ; rm -rf /",
    "iptables -L -n",
    "printf '%s\\n' \"it's fine\"",
    "#!/bin/sh\n# connections per state\nss -tan | awk 'NR>1 {n[$1]++} END {for (s in n) "
    "print s\"=\"n[s]}'\n",
]


@pytest.mark.parametrize(("script", "reason"), REFUSED)
def test_obvious_writers_are_refused_with_the_reason(script: str, reason: str) -> None:
    with pytest.raises(PolicyError) as caught:
        check_script(script)
    assert reason in str(caught.value)
    assert str(caught.value).startswith("refused ")


@pytest.mark.parametrize("script", ALLOWED)
def test_read_only_scripts_pass(script: str) -> None:
    check_script(script)


def test_a_pack_with_a_refused_script_is_not_loaded_and_names_the_item() -> None:
    text = (b"name: acme\nversion: '1'\nplatforms: [linux]\nitems:\n"
            b"  - id: cleanup\n    script: 'find /var/tmp -mtime +7 -delete'\n"
            b"    read_only: true\n")
    with pytest.raises(PackError, match=r"pack acme item cleanup: refused the script: "
                                        r"find -delete can change files"):
        parse_pack(text, "acme.yaml")


def test_known_limitation_awk_system_passes_the_guard() -> None:
    """A guard, not a sandbox: awk (like any interpreter) can run commands through system(),
    which no scan of shell words sees. The protections are the customer's approval of the
    exact script and an inspection account without write rights (docs/packs.md)."""
    check_script("awk 'BEGIN { system(\"rm -rf /srv/data\") }'")
