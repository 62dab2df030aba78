"""The batch script: how items (commands and scripts) are quoted, limited and framed.

Most tests run the generated script with this machine's /bin/sh — the same text a host's
shell gets over SSH — and split what it printed with the collectors' own code.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from pydantic import SecretStr
from support.netsim import Device, NetSim

from collectors.batch import (
    SIGPIPE_EXIT,
    TIMEOUT_EXIT,
    Batch,
    Frame,
    build_batch,
    direct_words,
    item_error,
    item_label,
    item_result,
    partial_tail,
    split_frames,
    transcript_block,
)
from collectors.hostkeys import KnownHosts
from collectors.local import LocalCollector
from collectors.network.collector import NetmikoCollector
from collectors.pack import SCRIPT_MAX_BYTES, Pack, PackItem, builtin_pack, combine, parse_pack
from collectors.ssh import AuthMaterial, Endpoint
from config.models import SshSettings
from config.secrets import Redactor, ResolvedCredential

PACK = b"""
name: acme-db
version: "1"
platforms: [linux]
items:
  - id: connections
    read_only: true
    script: |
      #!/bin/sh
      # quoting must survive: single and double quotes, backslash, dollar, backticks
      printf '%s|' "it's" 'a"b' 'c\\d' '$NOT_EXPANDED' "`echo tick`"
      echo
  - id: flood
    read_only: true
    script: "yes"
    max_bytes: 65536
  - id: lines
    read_only: true
    script: seq 1 100000
    max_lines: 10
  - id: failing
    read_only: true
    script: |
      echo "relation \\"sessions\\" does not exist" >&2
      exit 3
    parser: {type: kv}
  - id: pgrep
    read_only: true
    script: "echo none; exit 1"
    ok_exit_codes: [0, 1]
    parser: {type: kv}
  - id: bare
    read_only: true
    script: "echo raw; exit 2"
  - id: uname
    command: uname -s
"""


Ran = tuple[Pack, Batch, dict[str, Frame], bytes]


def combined(text: bytes = PACK, **overrides: dict[str, object]) -> Pack:
    """The pack as the runner hands it to collectors: items renamed ``<pack>.<item>``."""
    pack = parse_pack(text, "acme-db.yaml")
    items = [i.model_copy(update={"id": f"{pack.name}.{i.id}", **overrides.get(i.id, {})})
             for i in pack.items]
    return pack.model_copy(update={"items": items})


def run(batch: Batch) -> bytes:
    proc = subprocess.run(["/bin/sh", "-c", batch.script], capture_output=True, timeout=60,
                          stdin=subprocess.DEVNULL, check=False)
    assert proc.stderr == b""
    return proc.stdout


@pytest.fixture(scope="module")
def ran() -> Ran:
    pack = combined()
    batch = build_batch(pack, 30)
    out = run(batch)
    return pack, batch, split_frames(batch, out), out


def test_a_script_is_passed_as_the_argument_of_sh_c_exactly(ran: Ran) -> None:
    pack, batch, frames, _ = ran
    item = pack.item("acme-db.connections")
    text = pack.script_text(item)
    assert text is not None and f"sh -c {shlex.quote(text)} </dev/null 2>&1" in batch.script
    assert frames["acme-db.connections"].text == "it's|a\"b|c\\d|$NOT_EXPANDED|tick|\n"
    assert frames["acme-db.connections"].exit_code == 0


def test_ids_with_dots_hyphens_and_shell_syntax_are_quoted(tmp_path: Path) -> None:
    pack = combined()
    hostile = f"x$(touch${{IFS}}{tmp_path}/pwned)"
    item = pack.item("acme-db.connections").model_copy(update={"id": hostile})
    pack = pack.model_copy(update={"items": [*pack.items[:1], item]})
    batch = build_batch(pack, 30)
    # the first item's BEGIN; the END of an item with the BEGIN of the next; the last END
    assert "BEGIN %s\\n' acme-db.connections;" in batch.script  # shlex leaves safe ids bare
    assert f"BEGIN %s\\n' acme-db.connections \"$xj_rc\" {shlex.quote(hostile)};" in batch.script
    assert f"END %s %s\\n' {shlex.quote(hostile)} \"$xj_rc\"\n" in batch.script
    frames = split_frames(batch, run(batch))
    assert set(frames) == {"acme-db.connections", hostile}
    assert not (tmp_path / "pwned").exists()


def test_limits_are_lines_then_bytes_and_scripts_default_to_one_mebibyte() -> None:
    batch = build_batch(combined(), 30)
    # each item's text starts with its marker printf (the previous item's END and its BEGIN)
    chunks = batch.script.split(f"printf '@@XJ-{batch.token} ")[1:]
    assert len(chunks) == len(batch.items) + 1  # the last END has a printf of its own
    by_id = {item.id: chunk for item, chunk in zip(batch.items, chunks, strict=False)}
    assert "| head -n 10 3>&- | head -c 1048577 3>&- >&4;" in by_id["acme-db.lines"]
    assert "| head -c 65537 3>&- >&4;" in by_id["acme-db.flood"]
    assert "head -n" not in by_id["acme-db.flood"]
    assert f"head -c {SCRIPT_MAX_BYTES + 1} " in by_id["acme-db.connections"]
    # a command without limits runs as before: no pipe, its own exit status (plain words are
    # exec'd by timeout without a shell in between)
    assert "xj_run 30 uname -s </dev/null 2>&1; xj_rc=$?\n" in by_id["acme-db.uname"]
    assert "head" not in by_id["acme-db.uname"]


def test_a_flood_stops_at_the_cap_plus_one_byte_on_the_host(ran: Ran) -> None:
    pack, batch, frames, out = ran
    item = pack.item("acme-db.flood")
    frame = frames["acme-db.flood"]
    assert len(frame.data) == 65536 + 1  # one byte more than the cap: truncation is visible
    assert frame.exit_code == SIGPIPE_EXIT  # `yes` was stopped by head, not by the timeout
    assert len(out) < 65536 + 4096  # nothing beyond the cap crossed the channel
    result = item_result(item, frame)
    assert result.truncated and len(result.text) == 65536 and result.effective_exit_code == 0
    assert item_error(batch, item, result, "script: yes") == (
        "output exceeded the item's cap of 65536 bytes (max_bytes); the first 65536 bytes are "
        "kept")


def test_max_lines_cuts_without_an_error(ran: Ran) -> None:
    pack, batch, frames, _ = ran
    item = pack.item("acme-db.lines")
    result = item_result(item, frames["acme-db.lines"])
    assert result.text.splitlines() == [str(n) for n in range(1, 11)]
    assert (result.exit_code, result.effective_exit_code) == (SIGPIPE_EXIT, 0)
    assert result.cut and not result.truncated
    assert item_error(batch, item, result, "script: seq 1 100000") is None


def test_the_exit_status_survives_the_pipe_and_is_judged_by_ok_exit_codes(ran: Ran) -> None:
    pack, batch, frames, _ = ran

    def error(item_id: str) -> str | None:
        item = pack.item(item_id)
        return item_error(batch, item, item_result(item, frames[item_id]), batch.label(item))

    assert frames["acme-db.failing"].exit_code == 3
    assert error("acme-db.failing") == ('`script: echo "relation \\"sessions\\" does not exist" '
                                        '>&2 …` exited 3: relation "sessions" does not exist')
    assert frames["acme-db.pgrep"].exit_code == 1
    assert error("acme-db.pgrep") is None  # 1 is in ok_exit_codes
    assert frames["acme-db.bare"].exit_code == 2
    assert error("acme-db.bare") is None  # no parser: the raw output is the evidence
    assert frames["acme-db.uname"].text.strip() and error("acme-db.uname") is None


def test_timeouts_name_the_setting_to_change_and_the_next_item_still_runs() -> None:
    text = (b"name: slow\nversion: '1'\nplatforms: [linux]\nitems:\n"
            b"  - id: hang\n    read_only: true\n    script: sleep 30\n    timeout: 1\n"
            b"  - id: stuck\n    command: cat /proc/loadavg\n"
            b"  - id: after\n    read_only: true\n    script: echo after\n")
    pack = combined(text, stuck={"command": "sleep 30"})  # no item timeout: the default
    batch = build_batch(pack, 1)
    started = time.monotonic()
    frames = split_frames(batch, run(batch))
    assert time.monotonic() - started < 10
    hang, stuck = pack.item("slow.hang"), pack.item("slow.stuck")
    assert frames["slow.hang"].exit_code == TIMEOUT_EXIT
    assert item_error(batch, hang, item_result(hang, frames["slow.hang"]),
                      batch.label(hang)) == (
        "`script: sleep 30` timed out after 1 s (timeout)")
    assert item_error(batch, stuck, item_result(stuck, frames["slow.stuck"]),
                      batch.label(stuck)) == (
        "`sleep 30` timed out after 1 s (ssh.command_timeout)")
    assert frames["slow.after"].text == "after\n"


def test_labels_name_a_script_by_its_first_line_of_code() -> None:
    pack = combined()
    item = pack.item("acme-db.connections")
    assert item_label(item, pack.script_text(item) or "") == (
        "script: printf '%s|' \"it's\" 'a\"b' 'c\\d' '$NOT_EXPANDED' \"`echo tick`\" …")
    assert item_label(pack.item("acme-db.flood"), "yes") == "script: yes"
    assert item_label(pack.item("acme-db.uname"), "uname -s") == "uname -s"
    long = "echo " + "x" * 200
    assert item_label(pack.item("acme-db.flood"), long) == f"script: {long[:80]} …"
    assert item_label(pack.item("acme-db.flood"), "# only\n\n") == "script: (comments only)"


def test_the_transcript_block_shows_the_whole_script(ran: Ran) -> None:
    pack, batch, frames, _ = ran
    item = pack.item("acme-db.connections")
    block = transcript_block(item, batch, item_result(item, frames[item.id]), ", +0.1 s")
    text = pack.script_text(item) or ""
    assert block[0] == "$ sh -c <script, 4 lines>    [acme-db.connections: exit 0, +0.1 s]"
    assert block[1:5] == [f"> {line}" for line in text.splitlines()]
    assert block[5] == "it's|a\"b|c\\d|$NOT_EXPANDED|tick|"
    flood = pack.item("acme-db.flood")
    block = transcript_block(flood, batch, item_result(flood, frames[flood.id]))
    assert "exit 141 (SIGPIPE: stopped at the item's output limit)" in block[0]
    assert block[-1] == ("# acme-db.flood: output exceeded the item's cap of 65536 bytes "
                         "(max_bytes); the first 65536 bytes are kept")


# -- the local host runs the same batch ------------------------------------------------------

def local_pack(custom: bytes) -> Pack:
    return combine(builtin_pack("linux-standard"), [parse_pack(custom, "acme.yaml")])


def test_the_local_collector_runs_custom_script_items(tmp_path: Path) -> None:
    custom = (b"name: acme\nversion: '1'\nplatforms: [linux, local]\nitems:\n"
              b"  - id: users\n    read_only: true\n    parser: {type: kv}\n"
              b"    script: |\n      # how many accounts\n"
              b"      echo \"accounts=$(wc -l </etc/passwd)\"\n"
              b"      echo token=Local-Canary-42\n"
              b"  - id: broken\n    read_only: true\n    parser: {type: kv}\n"
              b"    script: echo nope; exit 4\n")
    pack = local_pack(custom)
    keep = tmp_path / "keep.txt"
    keep.write_text("still here")
    # tampered after loading: the collector's last gate still refuses it
    tampered = pack.item("acme.broken").model_copy(
        update={"id": "acme.tampered", "script": f"rm -f {keep}"})
    pack = pack.model_copy(update={"items": [*pack.items, tampered]})
    collector = LocalCollector(pack=pack, sample_seconds=0.05,
                               redactor=Redactor(["Local-Canary-42"]))
    result = collector.collect()
    assert result.item_errors["acme.tampered"] == (
        "not run: refused the script: 'rm' writes or changes the system (scripts must only "
        "read)")
    assert keep.read_text() == "still here"
    raw = {r.item: r for r in result.raw}
    accounts = len(Path("/etc/passwd").read_text().splitlines())
    assert raw["acme.users"].output == f"accounts={accounts}\ntoken=********\n"
    assert raw["acme.users"].command == 'script: echo "accounts=$(wc -l </etc/passwd)" …'
    assert raw["acme.users"].exit_code == 0 and "acme.users" not in result.item_errors
    assert result.item_errors["acme.broken"] == "`script: echo nope; exit 4` exited 4: nope"
    assert result.facts.hostname and result.facts.memory_total_bytes  # psutil items still there
    transcript = result.transcript or ""
    assert "> # how many accounts\n> echo \"accounts=$(wc -l </etc/passwd)\"\n" in transcript
    assert "Local-Canary-42" not in transcript and "token=********" in transcript


def test_the_local_collector_stops_at_the_host_timeout_and_leaves_no_process() -> None:
    custom = (b"name: acme\nversion: '1'\nplatforms: [local]\nitems:\n"
              b"  - id: quick\n    read_only: true\n    script: echo quick\n"
              b"  - id: forever\n    read_only: true\n    timeout: 600\n"
              b"    script: sleep 987 & sleep 986\n")
    collector = LocalCollector(pack=local_pack(custom), sample_seconds=0.05,
                               settings=SshSettings(host_timeout=2))
    started = time.monotonic()
    result = collector.collect()
    assert time.monotonic() - started < 15
    assert result.item_errors["acme.forever"] == (
        "`script: sleep 987 & sleep 986` produced no result: the items did not finish within "
        "2 s (ssh.host_timeout)")
    assert {r.item: r.output for r in result.raw}["acme.quick"] == "quick\n"
    assert "$ ... [acme.forever: incomplete]\n> sleep 987 & sleep 986" in (result.transcript or "")
    left = [p for p in psutil.process_iter(["cmdline", "status"])
            if (p.info["cmdline"] or [])[-2:] in (["sleep", "987"], ["sleep", "986"])
            and p.info["status"] != psutil.STATUS_ZOMBIE]
    assert not left


# -- network devices: the item's cap applies after reading -------------------------------------

@pytest.mark.netsim
def test_a_network_item_is_cut_at_its_max_bytes(tmp_path: Path) -> None:
    device = Device("core-sw", "cisco_ios", password="Net-Pw-2208")
    pack = builtin_pack("cisco_ios-standard")
    items = [i.model_copy(update={"max_bytes": 200}) if i.id == "version" else i
             for i in pack.items]
    pack = pack.model_copy(update={"items": items})
    with NetSim(tmp_path / "sim", [device]) as sim:
        known = KnownHosts([sim.known_hosts], tmp_path / "known_hosts")
        auth = AuthMaterial(ResolvedCredential(
            name="net", username="admin", password=SecretStr("Net-Pw-2208"), key_file=None,
            passphrase=None))
        simulated = sim.devices["core-sw"]
        result = NetmikoCollector(
            Endpoint("core-sw", simulated.address, simulated.port), "cisco_ios", auth, known,
            SshSettings(connect_timeout=5, command_timeout=10, retries=0), pack, Redactor(),
        ).collect()
    raw = {r.item: r for r in result.raw}
    assert raw["version"].truncated and len(raw["version"].output.encode()) <= 200
    assert len(raw["version"].output.encode()) >= 196  # cut at a character boundary
    assert "Cisco IOS" in raw["version"].output
    assert result.item_errors["version"] == (
        "output exceeded the item's cap of 200 bytes (max_bytes); the first 200 bytes are kept")
    assert not raw["inventory"].truncated and "inventory" not in result.item_errors


@pytest.mark.parametrize(("command", "direct"), [
    ("uname -s", "uname -s"),
    ("date +%s.%N", "date +%s.%N"),
    ("df -P -T -B1", "df -P -T -B1"),
    ("grep -H . /sys/class/dmi/id/sys_vendor", "grep -H . /sys/class/dmi/id/sys_vendor"),
    ("journalctl --since -24h", "journalctl --since -24h"),
    ("cat /proc/*/status", None),          # glob
    ("echo $HOME", None),                  # expansion
    ("uname 'a b'", None),                 # quoting
    ("ps -e | wc -l", None),               # pipe
    ("uptime > /tmp/x", None),             # redirection
    ("LC_ALL=C df", None),                 # assignment
    ("cd /tmp", None),                     # builtin: timeout cannot exec it
    ("true; false", None),
    ("uname 'unterminated", None),
])
def test_only_plain_words_skip_the_shell(command: str, direct: str | None) -> None:
    assert direct_words(command) == direct


def test_exit_codes_and_missing_commands_are_the_same_without_the_shell() -> None:
    # built directly: parse_pack would refuse these commands (not on the read-only allowlist)
    pack = builtin_pack("linux-standard").model_copy(update={"items": [
        PackItem(id="missing", command="no-such-command-xj --x"),
        PackItem(id="fails", command="ls /no/such/dir"),
        PackItem(id="builtin", command="cd /tmp"),
    ]})
    batch = build_batch(pack, 30)
    assert "xj_run 30 no-such-command-xj --x </dev/null" in batch.script
    assert "xj_run 30 sh -c 'cd /tmp' </dev/null" in batch.script
    frames = split_frames(batch, run(batch))
    assert frames["missing"].exit_code == 127
    assert frames["fails"].exit_code == 2 and b"No such file" in frames["fails"].data
    assert frames["builtin"].exit_code == 0


def test_frames_need_this_batch_token_and_an_end_with_an_exit_status() -> None:
    batch = Batch("0123abcd", "", (), {}, {})
    mine, other = b"@@XJ-0123abcd", b"@@XJ-ffffeeee"
    buffer = (
        # a frame under another token (e.g. printed by a command) is not one of ours
        other + b" BEGIN a\nforged\n" + other + b" END a 0\n"
        # an END without an exit status does not close the frame; the next valid one does,
        # and the next item's BEGIN follows it on its line
        + mine + b" BEGIN b\nline\n" + mine + b" END b x\nmore\n" + mine + b" END b 3 "
        + mine + b" BEGIN c\n" + mine + b" END c -1 "
        # an output without a final newline: the END follows it on the same line
        + mine + b" BEGIN e\nno newline" + mine + b" END e 0 "
        + mine + b" BEGIN d\nrunning"
    )
    frames = split_frames(batch, buffer)
    assert {k: (f.data, f.exit_code) for k, f in frames.items()} == {
        "b": (b"line\n" + mine + b" END b x\nmore\n", 3), "c": (b"", -1),
        "e": (b"no newline", 0)}
    assert partial_tail(batch, buffer) == ("d", "running")
    assert partial_tail(batch, buffer + mine + b" END d 0\n") == (None, "")
    assert split_frames(batch, buffer + mine + b" END d 0\n")["d"] == Frame(b"running", 0)


def test_each_marker_is_one_line_printed_by_one_printf() -> None:
    # bash, a login shell's usual choice, writes a builtin's output line by line: a marker
    # whose only newline ends it is one write on the host, one SSH packet for the agent
    batch = build_batch(combined(), 30)
    formats = re.findall(r"printf '(@@XJ-[^']*)'", batch.script)
    assert len(formats) == len(batch.items) + 1
    assert all(fmt.count("\\n") == 1 and fmt.endswith("\\n") for fmt in formats)
    bash = shutil.which("bash")
    if bash is not None:  # the same frames as /bin/sh's
        proc = subprocess.run([bash, "-c", batch.script], capture_output=True, timeout=60,
                              stdin=subprocess.DEVNULL, check=True)
        frames = split_frames(batch, proc.stdout)
        assert set(frames) == {item.id for item in batch.items}
        assert frames["acme-db.connections"].text == "it's|a\"b|c\\d|$NOT_EXPANDED|tick|\n"
        assert frames["acme-db.failing"].exit_code == 3
