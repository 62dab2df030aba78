"""Parsers for the linux-standard pack.

Fixtures under ``fixtures/linux/<item>/``: files named ``debian12_*`` were captured by running the
pack's exact command on a Debian 12 VM without systemd (``*_missing_*`` with an empty PATH, to
get the shell's real "not found" text); the others are hand-written from real-world formats.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.errors import ParseError
from collectors.facts import Filesystem, Hardware, HostFacts, NetInterface, ProcessInfo
from collectors.linux_parsers import ItemOutput, _ps_row, parse_outputs

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures" / "linux"
PACK = yaml.safe_load((ROOT / "collectors" / "packs" / "linux-standard.yaml").read_text())
COMMANDS: dict[str, str] = {item["id"]: item["command"] for item in PACK["items"]}
ITEMS = sorted(COMMANDS)
RECEIVED = 1_795_222_600.0

ESSENTIAL = [
    "clock", "hostname", "os_release", "kernel", "uptime", "loadavg", "cpu_count", "memory",
    "filesystems", "inodes", "mounts", "processes", "net_dev",
]

#: the real captures from the Debian 12 VM, with the exit status each command returned there
REAL: dict[str, tuple[str, int]] = {
    "clock": ("debian12_vm", 0),
    "hostname": ("debian12_vm", 0),
    "os_release": ("debian12_vm", 0),
    "kernel": ("debian12_vm", 0),
    "uptime": ("debian12_vm", 0),
    "loadavg": ("debian12_vm", 0),
    "cpu_count": ("debian12_vm", 0),
    "cpu_usage": ("debian12_vm", 0),
    "memory": ("debian12_vm", 0),
    "filesystems": ("debian12_vm", 0),
    "inodes": ("debian12_vm", 0),
    "mounts": ("debian12_vm", 0),
    "failed_units": ("debian12_no_systemd", 1),
    "timesync": ("debian12_no_systemd", 1),
    "processes": ("debian12_vm", 0),
    "log_errors": ("debian12_empty_journal", 0),
    "hardware": ("debian12_vm_no_dmi", 2),
    "net_dev": ("debian12_vm", 0),
}


def fixture(item: str, case: str) -> str:
    return (FIXTURES / item / f"{case}.txt").read_text()


def output(item: str, text: str, exit_code: int | None = 0,
           received_at: float = RECEIVED) -> ItemOutput:
    return ItemOutput(COMMANDS[item], text, exit_code, received_at)


def parse_case(item: str, case: str, exit_code: int | None = 0,
               received_at: float = RECEIVED) -> tuple[HostFacts, dict[str, str]]:
    return parse_outputs({item: output(item, fixture(item, case), exit_code, received_at)})


def parse_ok(item: str, case: str, exit_code: int | None = 0,
             received_at: float = RECEIVED) -> HostFacts:
    facts, errors = parse_case(item, case, exit_code, received_at)
    assert errors == {}
    return facts


def real_outputs() -> dict[str, ItemOutput]:
    return {item: output(item, fixture(item, case), rc) for item, (case, rc) in REAL.items()}


# --- the whole real capture ----------------------------------------------------------------


def test_real_debian_vm_capture_parses_without_errors():
    facts, errors = parse_outputs(real_outputs())
    assert errors == {}
    assert facts.hostname == "vm"
    assert (facts.os_name, facts.os_version) == ("Debian GNU/Linux", "12")
    assert (facts.kernel, facts.arch) == ("6.18.44-fc-v669", "x86_64")
    assert facts.cpu_count == 2
    assert facts.systemd_present is False
    assert facts.failed_units is None
    assert facts.time_synchronized is None
    assert facts.log_error_count == 0
    assert facts.hardware is None
    assert facts.filesystems is not None
    assert [fs.mountpoint for fs in facts.filesystems] == ["/"]
    assert HostFacts.model_validate(facts.model_dump()) == facts


def test_missing_items_stay_none_and_unknown_items_are_ignored():
    facts, errors = parse_outputs({
        "hostname": output("hostname", "web01\n"),
        "custom_thing": ItemOutput("cat /etc/motd", "garbage \x00\xff", 1, RECEIVED),
    })
    assert errors == {}
    assert facts == HostFacts(hostname="web01")


def test_empty_mapping_gives_empty_facts():
    assert parse_outputs({}) == (HostFacts(), {})


def test_unknown_exit_status_is_parsed_like_success():
    facts = parse_ok("loadavg", "debian12_vm", exit_code=None)
    assert (facts.load1, facts.load5, facts.load15) == (0.16, 0.19, 0.10)


# --- clock, identity, uptime, load ---------------------------------------------------------


def test_clock_offset_real():
    facts = parse_ok("clock", "debian12_vm", received_at=1_795_222_600.0)
    assert facts.clock_offset_seconds == pytest.approx(14.824308332, abs=1e-6)


def test_clock_host_behind_is_negative():
    facts, errors = parse_outputs({"clock": output("clock", "1795222590.250000000\n")})
    assert errors == {}
    assert facts.clock_offset_seconds == pytest.approx(-9.75, abs=1e-6)


@pytest.mark.parametrize("case", ["busybox_no_nanoseconds", "literal_percent_n"])
def test_clock_without_nanoseconds_uses_whole_seconds(case):
    facts = parse_ok("clock", case, received_at=1_700_000_001.5)
    assert facts.clock_offset_seconds == pytest.approx(-1.5, abs=1e-9)


def test_clock_with_unusable_receipt_time_is_an_error_not_a_crash():
    facts, errors = parse_case("clock", "debian12_vm", received_at=float("nan"))
    assert facts.clock_offset_seconds is None
    assert "clock" in errors


def test_hostname_real():
    assert parse_ok("hostname", "debian12_vm").hostname == "vm"


@pytest.mark.parametrize(("case", "name", "version"), [
    ("debian12_vm", "Debian GNU/Linux", "12"),
    ("centos7", "CentOS Linux", "7"),
    ("alpine", "Alpine Linux", "3.19.1"),
    ("arch_no_version_id", "Arch Linux", None),
    ("ubuntu_version_only", "Ubuntu", "22.04.4 LTS (Jammy Jellyfish)"),
])
def test_os_release(case, name, version):
    facts = parse_ok("os_release", case)
    assert (facts.os_name, facts.os_version) == (name, version)


@pytest.mark.parametrize(("case", "kernel", "arch"), [
    ("debian12_vm", "6.18.44-fc-v669", "x86_64"),
    ("centos7", "3.10.0-1160.el7.x86_64", "x86_64"),
    ("busybox_armv7l", "4.14.98", "armv7l"),
])
def test_kernel(case, kernel, arch):
    facts = parse_ok("kernel", case)
    assert (facts.kernel, facts.arch) == (kernel, arch)


def test_uptime_and_boot_time_real():
    facts = parse_ok("uptime", "debian12_vm", received_at=1_795_222_600.0)
    assert facts.uptime_seconds == 334.07
    # date -u -d @1795222265.93
    expected = datetime(2026, 11, 21, 0, 51, 5, 930000, tzinfo=UTC)
    assert facts.boot_time is not None
    assert abs((facts.boot_time - expected).total_seconds()) < 1e-5


def test_loadavg_and_cpu_count_real():
    facts, errors = parse_outputs({
        "loadavg": output("loadavg", fixture("loadavg", "debian12_vm")),
        "cpu_count": output("cpu_count", fixture("cpu_count", "debian12_vm")),
    })
    assert errors == {}
    assert (facts.load1, facts.load5, facts.load15, facts.cpu_count) == (0.16, 0.19, 0.10, 2)


# --- CPU and memory ------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "used", "iowait"), [
    ("debian12_vm", 0.07, 0.0),  # last line: us 4 sy 3 id 93 wa 0
    ("rhel4_no_st", 0.59, 0.12),  # no st column
    ("procps4_gu", 0.12, 0.04),  # procps-ng 4 adds gu
])
def test_cpu_usage_uses_last_sample_by_header(case, used, iowait):
    facts = parse_ok("cpu_usage", case)
    assert facts.cpu_used_ratio == pytest.approx(used)
    assert facts.cpu_iowait_ratio == pytest.approx(iowait)


def test_cpu_usage_without_wa_column_leaves_iowait_unknown():
    text = " r  b us sy id\n 0  0  1  1 98\n 1  0 20  5 75\n"
    facts, errors = parse_outputs({"cpu_usage": output("cpu_usage", text)})
    assert errors == {}
    assert facts.cpu_used_ratio == pytest.approx(0.25)
    assert facts.cpu_iowait_ratio is None


def test_cpu_usage_vmstat_missing_is_not_applicable():
    facts, errors = parse_case("cpu_usage", "vmstat_missing_dash", exit_code=127)
    assert errors == {}
    assert facts.cpu_used_ratio is None


def test_memory_real():
    facts = parse_ok("memory", "debian12_vm")
    assert facts.memory_total_bytes == 24684084 * 1024
    assert facts.memory_available_bytes == 24090716 * 1024
    assert facts.memory_used_ratio == pytest.approx(1 - 24090716 / 24684084)
    assert (facts.swap_total_bytes, facts.swap_used_bytes, facts.swap_used_ratio) == (0, 0, 0.0)


def test_memory_old_kernel_without_memavailable_falls_back():
    facts = parse_ok("memory", "old_kernel_no_memavailable")
    avail_kib = 245412 + 181544 + 2417932
    assert facts.memory_total_bytes == 3922944 * 1024
    assert facts.memory_available_bytes == avail_kib * 1024
    assert facts.memory_used_ratio == pytest.approx(1 - avail_kib / 3922944)
    assert facts.swap_total_bytes == 4194300 * 1024
    assert facts.swap_used_bytes == 65536 * 1024
    assert facts.swap_used_ratio == pytest.approx(65536 / 4194300)


# --- filesystems ---------------------------------------------------------------------------


def parse_filesystems(df: str, inodes: str | None = None, mounts: str | None = None,
                      df_exit: int = 0) -> tuple[list[Filesystem], dict[str, str]]:
    outputs = {"filesystems": output("filesystems", fixture("filesystems", df), df_exit)}
    if inodes:
        outputs["inodes"] = output("inodes", fixture("inodes", inodes))
    if mounts:
        outputs["mounts"] = output("mounts", fixture("mounts", mounts))
    facts, errors = parse_outputs(outputs)
    assert facts.filesystems is not None
    return facts.filesystems, errors


def test_filesystems_real_skips_pseudo_and_joins_inodes_and_mounts():
    filesystems, errors = parse_filesystems("debian12_vm", "debian12_vm", "debian12_vm")
    assert errors == {}
    assert [fs.model_dump() for fs in filesystems] == [{
        "mountpoint": "/", "device": "/dev/vda", "fstype": "ext4", "size_bytes": 270553174016,
        "used_bytes": 23770619904, "avail_bytes": 85173673984,
        "used_ratio": pytest.approx(23770619904 / (23770619904 + 85173673984)),
        "inodes_total": 16777216, "inodes_used": 421334,
        "inodes_used_ratio": pytest.approx(421334 / 16777216), "read_only": False,
    }]


def test_filesystems_space_in_mountpoint_readonly_and_skips():
    filesystems, errors = parse_filesystems(
        "space_and_readonly", "space_and_readonly", "space_and_readonly")
    assert errors == {}
    by_mount = {fs.mountpoint: fs for fs in filesystems}
    # devtmpfs, tmpfs, overlay, squashfs and the 0-sized cifs share are left out
    assert list(by_mount) == ["/", "/mnt/data disk", "/media/cdrom"]
    root = by_mount["/"]
    assert (root.device, root.fstype, root.read_only) == ("/dev/sda2", "ext4", False)
    assert root.used_ratio == pytest.approx(94371840000 / (94371840000 + 5242880000))
    assert (root.inodes_total, root.inodes_used, root.inodes_used_ratio) == (6553600, 1310720, 0.2)
    data = by_mount["/mnt/data disk"]
    assert (data.size_bytes, data.used_bytes, data.avail_bytes) == (
        2000398934016, 1000199467008, 898000000000)
    assert data.inodes_total == 122101760
    assert data.read_only is False
    cdrom = by_mount["/media/cdrom"]
    assert cdrom.read_only is True
    assert cdrom.used_ratio == 1.0
    assert (cdrom.inodes_total, cdrom.inodes_used, cdrom.inodes_used_ratio) == (None, None, None)


def test_filesystems_btrfs_reports_no_inodes():
    filesystems, errors = parse_filesystems("btrfs", "btrfs_zero_inodes")
    assert errors == {}
    assert [(fs.mountpoint, fs.inodes_total, fs.inodes_used_ratio) for fs in filesystems] == [
        ("/", None, None), ("/boot/efi", None, None)]
    assert filesystems[0].used_ratio == pytest.approx(120394752000 / (120394752000 + 388654333952))


def test_filesystems_busybox_df():
    filesystems, errors = parse_filesystems("busybox")
    assert errors == {}
    assert [(fs.mountpoint, fs.device, fs.fstype, fs.size_bytes) for fs in filesystems] == [
        ("/", "/dev/root", "ext4", 7792885760), ("/boot", "/dev/mmcblk0p1", "vfat", 264289280)]


def test_filesystems_without_mounts_item_are_not_read_only():
    filesystems, _ = parse_filesystems("space_and_readonly")
    assert not any(fs.read_only for fs in filesystems)
    assert all(fs.inodes_total is None for fs in filesystems)


def test_df_partial_failure_keeps_rows_and_names_the_problem():
    filesystems, errors = parse_filesystems("server_nfs_denied", df_exit=1)
    assert [fs.mountpoint for fs in filesystems] == ["/", "/boot", "/home"]
    assert filesystems[2].used_ratio == pytest.approx(201326592000 / (201326592000 + 8286207488))
    assert errors == {
        "filesystems": "`df -P -T -B1` failed (exit 1): df: '/mnt/backup': Permission denied"}


def test_df_inodes_partial_failure_keeps_rows():
    text = fixture("inodes", "debian12_vm") + "df: /mnt/nfs: Stale file handle\n"
    facts, errors = parse_outputs({
        "filesystems": output("filesystems", fixture("filesystems", "debian12_vm")),
        "inodes": output("inodes", text, 1),
    })
    assert errors == {"inodes": "`df -P -T -i` failed (exit 1): df: /mnt/nfs: Stale file handle"}
    assert facts.filesystems is not None
    assert facts.filesystems[0].inodes_total == 16777216


def test_df_complaint_with_exit_0_keeps_rows_and_is_reported():
    text = fixture("filesystems", "btrfs") + "df: /run/user/1000/doc: Operation not permitted\n"
    facts, errors = parse_outputs({"filesystems": output("filesystems", text, 0)})
    assert facts.filesystems is not None
    assert [fs.mountpoint for fs in facts.filesystems] == ["/", "/boot/efi"]
    assert errors == {"filesystems": "`df -P -T -B1` reported: "
                                     "df: /run/user/1000/doc: Operation not permitted"}


def test_df_total_failure_gives_no_filesystems():
    facts, errors = parse_outputs({"filesystems": output(
        "filesystems", "df: invalid option -- 'B'\nBusyBox v1.22.1 multi-call binary.\n", 1)})
    assert facts.filesystems is None
    assert errors == {"filesystems": "`df -P -T -B1` failed (exit 1): df: invalid option -- 'B'"}


# --- units, time, logs ---------------------------------------------------------------------


def test_failed_units_two_failed():
    facts = parse_ok("failed_units", "two_failed")
    assert facts.systemd_present is True
    assert facts.failed_units == ["nginx.service", "systemd-modules-load.service"]


def test_failed_units_none_failed():
    facts = parse_ok("failed_units", "none")
    assert (facts.systemd_present, facts.failed_units) == (True, [])


def test_failed_units_bullet_prefix():
    assert parse_ok("failed_units", "old_systemd_bullet").failed_units == ["kdump.service"]


def test_failed_units_without_systemd_is_not_applicable():
    facts = parse_ok("failed_units", "debian12_no_systemd", exit_code=1)
    assert (facts.systemd_present, facts.failed_units) == (False, None)


def test_failed_units_systemctl_missing_is_not_applicable():
    facts, errors = parse_outputs({"failed_units": output(
        "failed_units", "bash: line 1: systemctl: command not found\n", 127)})
    assert errors == {}
    assert (facts.systemd_present, facts.failed_units) == (False, None)


def test_failed_units_other_failure_is_an_error():
    facts, errors = parse_outputs({"failed_units": output(
        "failed_units", "Failed to list units: Access denied\n", 1)})
    assert facts.failed_units is None
    assert errors == {"failed_units": "`systemctl list-units --state=failed --no-legend --plain "
                                      "--no-pager` failed (exit 1): Failed to list units: "
                                      "Access denied"}


@pytest.mark.parametrize(("case", "synced"), [("synced", True), ("not_synced", False)])
def test_timesync(case, synced):
    assert parse_ok("timesync", case).time_synchronized is synced


@pytest.mark.parametrize(("case", "exit_code"), [
    ("debian12_no_systemd", 1), ("timedatectl_missing_bash", 127)])
def test_timesync_not_applicable(case, exit_code):
    assert parse_ok("timesync", case, exit_code).time_synchronized is None


def test_timesync_old_timedatectl_without_show_is_an_error():
    facts, errors = parse_case("timesync", "centos7_unknown_operation", exit_code=1)
    assert facts.time_synchronized is None
    assert errors == {"timesync": "`timedatectl show` failed (exit 1): Unknown operation show"}


@pytest.mark.parametrize(("case", "count"), [
    ("entries", 4), ("reboot_marker", 2), ("no_entries", 0), ("debian12_empty_journal", 0)])
def test_log_errors_count(case, count):
    assert parse_ok("log_errors", case).log_error_count == count


@pytest.mark.parametrize(("case", "exit_code"), [
    # piped through `head -n`, so the shell's 127 is lost: recognised by its text
    ("journalctl_missing_dash", 0),
    ("journalctl_missing_dash", 127),
    ("no_journal_files", 1),
    ("no_journal_files", 0),
])
def test_log_errors_not_applicable(case, exit_code):
    assert parse_ok("log_errors", case, exit_code).log_error_count is None


# --- processes, hardware, network ----------------------------------------------------------


def test_processes_real():
    facts = parse_ok("processes", "debian12_vm")
    assert (facts.process_count, facts.zombie_count) == (93, 0)
    assert facts.top_processes is not None
    assert len(facts.top_processes) == 10
    assert facts.top_processes[0] == ProcessInfo(
        pid=7684, name="python", user="root", cpu_ratio=0.5, memory_bytes=9768 * 1024)
    assert facts.top_processes[1].model_dump() == {
        "pid": 2876, "name": "beam.smp", "user": "rabbitmq", "cpu_ratio": pytest.approx(0.023),
        "memory_bytes": 124848 * 1024}
    assert [p.name for p in facts.top_processes[:5]] == [
        "python", "beam.smp", "process_api", "kdamond.0", "redis-server"]


def test_processes_zombies_and_names_with_spaces():
    facts = parse_ok("processes", "zombies_and_spaces")
    assert (facts.process_count, facts.zombie_count) == (9, 2)
    assert facts.top_processes is not None
    assert [(p.pid, p.name) for p in facts.top_processes[:4]] == [
        (1600, "Web Content"), (1530, "php-fpm8.1"), (1204, "mysqld"), (2301, "zabbix_agentd")]
    web = facts.top_processes[0]
    assert (web.user, web.cpu_ratio, web.memory_bytes) == ("alice", 1.05, 512000 * 1024)
    names = {p.name for p in facts.top_processes}
    assert {"(sd-pam)", "php-fpm8.1 <defunct>", "sh <defunct>"} <= names


def test_hardware_dell_as_root():
    facts = parse_ok("hardware", "dell_root")
    assert facts.hardware == Hardware(vendor="Dell Inc.", model="PowerEdge R740",
                                      serial="8XJ4K73")


def test_hardware_serial_unreadable_as_non_root():
    facts = parse_ok("hardware", "kvm_nonroot", exit_code=2)
    assert facts.hardware == Hardware(vendor="QEMU", model="Standard PC (i440FX + PIIX, 1996)",
                                      serial=None)


def test_hardware_placeholder_serial_is_none():
    facts = parse_ok("hardware", "whitebox_placeholders")
    assert facts.hardware == Hardware(vendor="Supermicro", model="Super Server", serial=None)


def test_hardware_nothing_readable_is_not_applicable():
    assert parse_ok("hardware", "debian12_vm_no_dmi", exit_code=2).hardware is None


def test_net_dev_real_excludes_lo():
    facts = parse_ok("net_dev", "debian12_vm")
    assert facts.interfaces is not None
    assert [i.name for i in facts.interfaces] == ["ifb0", "ifb1", "eth0"]
    assert facts.interfaces[2] == NetInterface(
        name="eth0", rx_bytes=101596405, tx_bytes=183779, rx_errors=0, tx_errors=0,
        rx_dropped=0, tx_dropped=0)


def test_net_dev_big_counters_and_long_names():
    facts = parse_ok("net_dev", "server_bond")
    assert facts.interfaces is not None
    assert [i.name for i in facts.interfaces] == ["eno1", "eno2", "bond0", "docker0"]
    assert facts.interfaces[0] == NetInterface(
        name="eno1", rx_bytes=98123456789012, tx_bytes=4512398712345, rx_errors=12,
        tx_errors=0, rx_dropped=340, tx_dropped=2)


# --- failures ------------------------------------------------------------------------------


@pytest.mark.parametrize("item", ITEMS)
def test_timeout_is_an_error_for_every_item(item):
    facts, errors = parse_outputs({item: output(item, "", 124)})
    assert errors == {item: f"timed out (command `{COMMANDS[item]}`)"}
    assert facts.filesystems is None


@pytest.mark.parametrize("item", ESSENTIAL)
def test_non_zero_exit_of_essential_item_is_an_error(item):
    text = f"cat: /proc/{item}: No such file or directory\nsecond line\n"
    facts, errors = parse_outputs({item: output(item, text, 1)})
    assert errors == {item: f"`{COMMANDS[item]}` failed (exit 1): "
                            f"cat: /proc/{item}: No such file or directory"}
    assert facts == HostFacts()


def test_failure_detail_is_cut_to_200_characters_and_made_printable():
    text = "\x1b[31m" + "x" * 500
    _, errors = parse_outputs({"cpu_count": output("cpu_count", text, 127)})
    assert errors["cpu_count"] == "`getconf _NPROCESSORS_ONLN` failed (exit 127): ?[31m" + "x" * 195


def test_failure_without_output():
    _, errors = parse_outputs({"hostname": output("hostname", "", 1)})
    assert errors == {"hostname": "`cat /proc/sys/kernel/hostname` failed (exit 1): no output"}


GARBAGE = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>nginx</body>\r\n"


@pytest.mark.parametrize("item", ITEMS)
def test_garbage_output_is_an_error_and_other_items_still_parse(item):
    outputs = real_outputs()
    outputs[item] = output(item, GARBAGE, 0)
    facts, errors = parse_outputs(outputs)
    assert list(errors) == [item]
    assert errors[item].startswith(f"could not understand the output of `{COMMANDS[item]}`: ")
    assert "parser error" not in errors[item]
    if item != "hostname":
        assert facts.hostname == "vm"
    if item not in ("filesystems",):
        assert facts.filesystems is not None


@pytest.mark.parametrize(("item", "text"), [
    ("clock", "Thu Jan  1 00:00:00 UTC 1970\n"),
    ("hostname", "web01\nweb02\n"),
    ("hostname", ""),
    ("os_release", ""),
    ("kernel", "Linux\n"),
    ("uptime", "-5.00 1.00\n"),
    ("loadavg", "0.1 0.2\n"),
    ("cpu_count", "0\n"),
    ("cpu_count", "1_000\n"),
    ("cpu_usage", " r  b us sy id wa\n"),
    ("cpu_usage", " r  b us sy id wa\n 0 0 1 1 250 0\n"),
    ("cpu_usage", " r  b us sy id wa\n 0 0 1 1 98\n"),
    ("memory", "MemFree: 100 kB\n"),
    ("memory", "MemTotal: 0 kB\n"),
    ("filesystems", ""),
    ("filesystems", "Filesystem Type 1-blocks Used Available Capacity Mounted on\n/dev/sda1 ext4 "
                    "x 1 1 1% /\n"),
    ("inodes", "/dev/sda1 ext4 1 2 3 4 /\n"),
    ("mounts", ""),
    ("mounts", "/dev/sda1 / ext4 rw\n"),
    ("failed_units", "foo.service loaded active running Foo\n"),
    ("timesync", "NTP=yes\n"),
    ("timesync", "NTPSynchronized=maybe\n"),
    ("processes", ""),
    ("processes", "  1 root 0.0 12 S\n"),
    ("processes", "  1 root 0.0 ١٢ S init\n"),
    ("log_errors", "Hint: You are currently not seeing messages from other users.\n"),
    ("hardware", "QEMU\n"),
    ("net_dev", "Inter-|   Receive |  Transmit\n"),
    ("net_dev", "  eth0: 1 2 3\n"),
])
def test_malformed_output_is_an_error(item, text):
    facts, errors = parse_outputs({item: output(item, text)})
    assert list(errors) == [item]
    assert errors[item].startswith(f"could not understand the output of `{COMMANDS[item]}`: ")
    assert "parser error" not in errors[item]
    assert facts == HostFacts()  # nothing half-parsed is kept


# --- never raises --------------------------------------------------------------------------


def check_never_raises(outputs: dict[str, ItemOutput]) -> None:
    facts, errors = parse_outputs(outputs)
    assert isinstance(facts, HostFacts)
    # every fact written bypasses validation; re-validating proves it matches the schema
    HostFacts.model_validate(facts.model_dump())
    for item, message in errors.items():
        assert isinstance(message, str)
        assert message
        # the safety net in parse_outputs caught a parser bug: that must not happen
        assert "parser error (" not in message, (item, message)


item_ids = st.one_of(st.sampled_from(ITEMS), st.text(max_size=12))
exit_codes = st.one_of(st.none(), st.sampled_from([0, 1, 2, 124, 127, 137]),
                       st.integers(-(2**31), 2**31))
any_text = st.text(max_size=400)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(item_ids, st.builds(
    ItemOutput, command=st.text(max_size=40), text=any_text, exit_code=exit_codes,
    received_at=st.floats())))
def test_parse_outputs_never_raises_on_arbitrary_input(outputs):
    check_never_raises(outputs)


TOKENS = [
    "", " ", "\n", "\t", ":", "=", "%", "-", "-- ", "kB", "0", "1", "100", "4294967296",
    "99999999999999999999", "9" * 5000, "1.5", "nan", "inf", "-1", "1e999", "١٢", "1_0",
    "Filesystem", "df: ", "grep: ", "us", "sy", "id", "wa", "st", "MemTotal:", "MemAvailable:",
    "SwapTotal:", "SwapFree:", "NTPSynchronized=", "yes", "lo:", "eth0:", "|", "Z", "ro", "rw,ro",
    "foo.service", "loaded", "failed", "/sys/class/dmi/id/sys_vendor:", "2024-01-15T02:11:04",
    "\\040", "not found", "journalctl:", "System has not been booted with systemd", "\x00",
    "\u2028", "\r",
]


@st.composite
def mutated_fixture(draw):
    item = draw(st.sampled_from(sorted(REAL)))
    files = sorted((FIXTURES / item).glob("*.txt"))
    text = draw(st.sampled_from(files)).read_text()
    tokens = text.replace("\n", " \n ").split(" ")
    for _ in range(draw(st.integers(1, 8))):
        i = draw(st.integers(0, len(tokens) - 1))
        tokens[i] = draw(st.sampled_from(TOKENS))
    if draw(st.booleans()):
        tokens = tokens[: draw(st.integers(0, len(tokens)))]
    return item, " ".join(tokens)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_fixture(), exit_codes, st.floats())
def test_parse_outputs_never_raises_on_mutated_real_output(case, exit_code, received_at):
    item, text = case
    outputs = real_outputs()
    outputs[item] = ItemOutput(COMMANDS[item], text, exit_code, received_at)
    check_never_raises(outputs)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=60), st.sampled_from(ITEMS), exit_codes)
def test_parse_outputs_never_raises_on_token_soup(tokens, item, exit_code):
    check_never_raises({item: output(item, " ".join(tokens), exit_code)})


@pytest.mark.parametrize("item", ITEMS)
def test_huge_and_binary_output_does_not_raise_and_is_fast(item):
    binary = bytes(range(256)).decode("latin-1")
    text = (fixture(item, REAL[item][0]) + binary + "\n") * 2000 + "9" * 100_000
    started = time.perf_counter()
    check_never_raises({item: output(item, text)})
    assert time.perf_counter() - started < 10


# --- the ps fast path ----------------------------------------------------------------------

PS_TOKENS = ["1", "12", "0.0", "1.5", "1.", ".5", "root", "S", "Zs", "Z", "init", "a b", "١٢",
             "1" * 20, "1" * 21, "0." + "5" * 20, "0." + "5" * 21, "-1", "1e3", "", " ", "\t",
             "\u3000", "\x1f", "\x85", "\x00"]


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.lists(st.sampled_from(PS_TOKENS), max_size=9).map(" ".join), max_size=6))
def test_processes_inline_checks_accept_what_ps_row_does_with_the_same_values(lines):
    """``processes`` checks plain rows inline; _ps_row reads the others (for the error)."""
    text = "\n".join(lines)
    facts, errors = parse_outputs({"processes": output("processes", text)})
    lines = [line for line in text.splitlines() if line.strip()]
    try:
        rows = [_ps_row(line) for line in lines]
    except ParseError as exc:
        assert errors == {"processes": f"could not understand the output of "
                                        f"`{COMMANDS['processes']}`: {exc}"}
        return
    if not rows:
        assert list(errors) == ["processes"]
        return
    assert errors == {}
    top = sorted((row for row, _stat in rows), key=lambda row: row[0], reverse=True)[:10]
    assert facts.process_count == len(rows)
    assert facts.zombie_count == sum(stat.startswith("Z") for _row, stat in rows)
    assert facts.top_processes == [
        ProcessInfo(pid=int(pid), name=name, user=user, cpu_ratio=cpu,
                    memory_bytes=int(rss) * 1024) for cpu, pid, name, user, rss in top]
