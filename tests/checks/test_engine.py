"""Check evaluation: built-in thresholds, inherited overrides, UNKNOWN on missing evidence,
reboot detection and waivers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from checks.builtin import (
    BUILTIN_CHECKS,
    CHECK_NAMES,
    UNREACHABLE,
    CheckSpec,
    Context,
    Measurement,
    Previous,
)
from checks.engine import apply_waivers, device_state, evaluate, evaluate_check, unreachable
from checks.model import CheckResult, State
from collectors.base import CollectResult
from collectors.facts import Filesystem, HostFacts
from config.inventory import Device, resolve_device
from config.models import DeviceConfig, GroupConfig, InheritableFields, Waiver

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
GIB = 2**30


def fs(mountpoint: str, used: float, *, inodes: float | None = None,
       read_only: bool = False) -> Filesystem:
    return Filesystem(
        mountpoint=mountpoint, device=f"/dev/{mountpoint.strip('/') or 'root'}", fstype="ext4",
        size_bytes=10 * GIB, used_bytes=int(10 * GIB * used),
        avail_bytes=10 * GIB - int(10 * GIB * used), used_ratio=used,
        inodes_used_ratio=inodes, read_only=read_only,
    )


def collected(item_errors: dict[str, str] | None = None, **facts: Any) -> CollectResult:
    return CollectResult(facts=HostFacts(**facts), item_errors=item_errors or {},
                         started_at=NOW, finished_at=NOW)


def device(
    device_fields: dict[str, Any] | None = None,
    groups: dict[str, dict[str, Any]] | None = None,
    defaults: dict[str, Any] | None = None,
) -> Device:
    """A device resolved through the real inheritance code, from YAML-shaped dicts."""
    fields = {"name": "db1", "address": "10.0.0.1", "credentials": "ops", **(device_fields or {})}
    return resolve_device(
        DeviceConfig.model_validate(fields),
        {name: GroupConfig.model_validate(g) for name, g in (groups or {}).items()},
        InheritableFields.model_validate(defaults or {}),
    )


def run(dev: Device | None = None, previous: Previous | None = None,
        item_errors: dict[str, str] | None = None, **facts: Any) -> list[CheckResult]:
    return evaluate(dev or device(), collected(item_errors, **facts), previous, NOW)


def only(results: list[CheckResult], check: str) -> list[CheckResult]:
    return [r for r in results if r.check == check]


def one(results: list[CheckResult], check: str) -> CheckResult:
    found = only(results, check)
    assert len(found) == 1, found
    return found[0]


# -- defaults --------------------------------------------------------------------------------

def test_no_facts_and_no_errors_gives_no_results() -> None:
    assert run() == []


def test_builtin_checks_and_names() -> None:
    assert list(BUILTIN_CHECKS) == [
        "cpu", "load", "memory", "swap", "filesystem", "inodes", "readonly_fs", "failed_units",
        "time_sync", "clock_offset", "zombies", "log_errors", "reboot",
        "temperature", "fans", "power_supplies", "interface_errors", "interface_down",
        "bgp_neighbors", "ospf_neighbors", "config_changed", "hardware_register",
    ]
    assert (*BUILTIN_CHECKS, "reachable") == CHECK_NAMES
    assert UNREACHABLE == "reachable"


@pytest.mark.parametrize(("ratio", "value", "state"), [
    (0.0, 0.0, State.OK),
    (0.799, 79.9, State.OK),
    (0.8, 80.0, State.WARN),
    (0.9, 90.0, State.WARN),
    (0.949, 94.9, State.WARN),
    (0.95, 95.0, State.CRIT),
    (1.0, 100.0, State.CRIT),
])
def test_cpu(ratio: float, value: float, state: State) -> None:
    r = one(run(cpu_used_ratio=ratio), "cpu")
    assert (r.state, r.value, r.unit, r.warn, r.crit) == (state, value, "%", 80, 95)
    assert r.message == f"CPU {value} % busy"
    assert r.evidence == ["cpu_usage"]
    assert r.item is None


@pytest.mark.parametrize(("load5", "cores", "value", "state"), [
    (1.49, 1, 1.49, State.OK),
    (1.5, 1, 1.5, State.WARN),
    (5.9, 2, 2.95, State.WARN),
    (6.0, 2, 3.0, State.CRIT),
    (12.0, 2, 6.0, State.CRIT),
])
def test_load_per_core(load5: float, cores: int, value: float, state: State) -> None:
    r = one(run(load5=load5, cpu_count=cores), "load")
    assert (r.state, r.value, r.unit, r.warn, r.crit) == (state, value, None, 1.5, 3.0)
    assert r.message == f"5-min load {load5:.2f} on {cores} cores = {value:g} per core"
    assert r.evidence == ["loadavg", "cpu_count"]


def test_load_needs_cores() -> None:
    assert only(run(load5=2.0), "load") == []
    assert only(run(load5=2.0, cpu_count=0), "load") == []


@pytest.mark.parametrize(("ratio", "state"), [
    (0.849, State.OK), (0.85, State.WARN), (0.949, State.WARN), (0.95, State.CRIT),
])
def test_memory(ratio: float, state: State) -> None:
    r = one(run(memory_used_ratio=ratio), "memory")
    assert (r.state, r.value, r.warn, r.crit, r.unit) == (state, round(ratio * 100, 1), 85, 95, "%")
    assert r.message == f"memory {round(ratio * 100, 1)} % used"
    assert r.evidence == ["memory"]


@pytest.mark.parametrize(("ratio", "state"), [
    (0.499, State.OK), (0.5, State.WARN), (0.799, State.WARN), (0.8, State.CRIT),
])
def test_swap(ratio: float, state: State) -> None:
    r = one(run(swap_total_bytes=GIB, swap_used_ratio=ratio), "swap")
    assert (r.state, r.value, r.warn, r.crit) == (state, round(ratio * 100, 1), 50, 80)
    assert r.message == f"swap {round(ratio * 100, 1)} % used"


def test_no_swap_is_not_applicable() -> None:
    assert only(run(swap_total_bytes=0, swap_used_ratio=0.0), "swap") == []
    assert only(run(swap_used_ratio=0.9), "swap") == []


@pytest.mark.parametrize(("ratio", "state"), [
    (0.799, State.OK), (0.8, State.WARN), (0.899, State.WARN), (0.9, State.CRIT),
])
def test_filesystem_and_inodes(ratio: float, state: State) -> None:
    results = run(filesystems=[fs("/", ratio, inodes=ratio)])
    r = one(results, "filesystem")
    assert (r.item, r.state, r.value, r.warn, r.crit) == ("/", state, round(ratio * 100, 1), 80, 90)
    i = one(results, "inodes")
    assert (i.item, i.state, i.value, i.warn, i.crit) == ("/", state, round(ratio * 100, 1), 80, 90)
    assert i.message == f"/ {round(ratio * 100, 1)} % of inodes used"
    assert i.evidence == ["inodes"]


def test_filesystem_one_result_per_mount() -> None:
    results = run(filesystems=[fs("/", 0.5), fs("/var", 0.85), fs("/data", 0.95)])
    got = [(r.item, r.state) for r in only(results, "filesystem")]
    assert got == [("/", State.OK), ("/var", State.WARN), ("/data", State.CRIT)]
    assert only(results, "filesystem")[0].message == "/ 50.0 % used (5.0 GiB free of 10.0 GiB)"
    # no inode figures: no inode results
    assert only(results, "inodes") == []


def test_readonly_filesystems_crit_per_mount() -> None:
    results = run(filesystems=[fs("/", 0.1), fs("/var", 0.1, read_only=True),
                               fs("/data", 0.1, read_only=True)])
    ro = only(results, "readonly_fs")
    assert [(r.item, r.state, r.value) for r in ro] == [
        ("/var", State.CRIT, "read-only"), ("/data", State.CRIT, "read-only"),
    ]
    assert ro[0].message == ("/var is mounted read-only (I/O errors or a full journal remount "
                             "a filesystem read-only)")
    assert (ro[0].unit, ro[0].warn, ro[0].crit) == (None, None, None)
    assert ro[0].evidence == ["mounts"]


def test_no_readonly_filesystem_is_ok() -> None:
    r = one(run(filesystems=[fs("/", 0.1)]), "readonly_fs")
    assert (r.item, r.state, r.value) == (None, State.OK, "none")
    assert r.message == "no filesystem is mounted read-only"


@pytest.mark.parametrize(("units", "state", "message"), [
    ([], State.OK, "no failed systemd units"),
    (["a.service"], State.WARN, "1 failed systemd unit(s): a.service"),
    (["a.service", "b.timer"], State.WARN, "2 failed systemd unit(s): a.service, b.timer"),
])
def test_failed_units(units: list[str], state: State, message: str) -> None:
    r = one(run(failed_units=units), "failed_units")
    assert (r.state, r.value, r.warn, r.crit, r.message) == (state, len(units), 1, None, message)


def test_failed_units_lists_ten_at_most() -> None:
    units = [f"u{i}.service" for i in range(12)]
    r = one(run(failed_units=units), "failed_units")
    assert r.state is State.WARN  # there is no default crit
    assert r.message == "12 failed systemd unit(s): " + ", ".join(units[:10]) + " …"


def test_no_systemd_is_not_applicable() -> None:
    assert only(run(failed_units=None, systemd_present=False), "failed_units") == []


def test_time_sync() -> None:
    ok = one(run(time_synchronized=True), "time_sync")
    assert (ok.state, ok.value, ok.message) == (
        State.OK, "synchronised", "system clock is NTP-synchronised")
    bad = one(run(time_synchronized=False), "time_sync")
    assert (bad.state, bad.value) == (State.WARN, "not synchronised")
    assert bad.message == "system clock is not NTP-synchronised (check chronyd/ntpd/timesyncd)"
    assert (bad.unit, bad.warn, bad.crit) == (None, None, None)


@pytest.mark.parametrize(("offset", "value", "state", "direction"), [
    (0.999, 0.999, State.OK, "ahead of"),
    (1.0, 1.0, State.WARN, "ahead of"),
    (-1.0, 1.0, State.WARN, "behind"),
    (-4.9994, 4.999, State.WARN, "behind"),
    (5.0, 5.0, State.CRIT, "ahead of"),
    (-7.25, 7.25, State.CRIT, "behind"),
])
def test_clock_offset(offset: float, value: float, state: State, direction: str) -> None:
    r = one(run(clock_offset_seconds=offset), "clock_offset")
    assert (r.state, r.value, r.unit, r.warn, r.crit) == (state, value, "s", 1.0, 5.0)
    assert r.message == f"clock is {abs(offset):.3f} s {direction} the agent's clock"


@pytest.mark.parametrize(("count", "state"), [
    (0, State.OK), (4, State.OK), (5, State.WARN), (19, State.WARN), (20, State.CRIT),
])
def test_zombies(count: int, state: State) -> None:
    r = one(run(zombie_count=count), "zombies")
    assert (r.state, r.value, r.warn, r.crit) == (state, count, 5, 20)
    assert r.message == f"{count} zombie process(es)"


@pytest.mark.parametrize(("count", "state"), [
    (49, State.OK), (50, State.WARN), (499, State.WARN), (500, State.CRIT),
])
def test_log_errors(count: int, state: State) -> None:
    r = one(run(log_error_count=count), "log_errors")
    assert (r.state, r.value, r.warn, r.crit) == (state, count, 50, 500)
    assert r.message == f"{count} error-level log line(s) in 24 h"


# -- reboot ------------------------------------------------------------------------------------

BOOT = datetime(2024, 4, 28, 8, 30, tzinfo=UTC)


def previous(boot: datetime | None) -> Previous:
    return Previous(HostFacts(boot_time=boot), collected_at=datetime(2024, 4, 30, 9, 15,
                                                                      tzinfo=UTC))


def test_reboot_without_previous_is_ok() -> None:
    r = one(run(boot_time=BOOT), "reboot")
    assert (r.state, r.value) == (State.OK, BOOT.isoformat())
    assert r.message == "up since 2024-04-28 08:30 UTC (no earlier inspection to compare)"
    assert r.evidence == ["uptime"]


def test_reboot_previous_without_boot_time_is_ok() -> None:
    r = one(run(boot_time=BOOT, previous=previous(None)), "reboot")
    assert r.state is State.OK
    assert r.message == "up since 2024-04-28 08:30 UTC (no earlier inspection to compare)"


@pytest.mark.parametrize("jitter", [-2, -1, 0, 1, 2, 60])
def test_same_boot_with_jitter_is_ok(jitter: int) -> None:
    r = one(run(boot_time=BOOT + timedelta(seconds=jitter), previous=previous(BOOT)), "reboot")
    assert r.state is State.OK
    assert r.message.startswith("no reboot since the last inspection (up since 2024-04-28 08:")


@pytest.mark.parametrize("moved", [timedelta(seconds=61), timedelta(days=2)])
def test_boot_time_moved_is_a_reboot(moved: timedelta) -> None:
    boot = BOOT + moved
    r = one(run(boot_time=boot, previous=previous(BOOT)), "reboot")
    assert (r.state, r.value) == (State.WARN, boot.isoformat())
    assert r.message == (f"rebooted at about {boot:%Y-%m-%d %H:%M} UTC, after the last "
                         "inspection at 2024-04-30 09:15 UTC")


def test_no_boot_time_is_not_applicable() -> None:
    assert only(run(previous=previous(BOOT)), "reboot") == []


# -- missing evidence --------------------------------------------------------------------------

def test_missing_fact_with_item_error_is_one_unknown() -> None:
    results = run(item_errors={"cpu_usage": "`vmstat 1 2` exited with status 127"})
    r = one(results, "cpu")
    assert r.state is State.UNKNOWN
    assert r.message == "could not evaluate: cpu_usage: `vmstat 1 2` exited with status 127"
    assert (r.value, r.item, r.unit, r.evidence) == (None, None, "%", ["cpu_usage"])
    assert len(results) == 1


def test_item_error_reaches_every_check_using_that_item() -> None:
    results = run(item_errors={"memory": "output not understood"})
    assert [(r.check, r.state, r.message) for r in results] == [
        ("memory", State.UNKNOWN, "could not evaluate: memory: output not understood"),
        ("swap", State.UNKNOWN, "could not evaluate: memory: output not understood"),
    ]


def test_every_missing_evidence_item_is_named() -> None:
    r = one(run(item_errors={"loadavg": "no such file", "cpu_count": "timed out"}), "load")
    assert r.state is State.UNKNOWN
    assert r.message == "could not evaluate: loadavg: no such file; cpu_count: timed out"


def test_item_error_ignored_when_the_fact_is_there() -> None:
    r = one(run(cpu_used_ratio=0.1, item_errors={"cpu_usage": "partial"}), "cpu")
    assert r.state is State.OK


def test_error_of_an_unrelated_item_gives_no_result() -> None:
    assert run(item_errors={"hardware": "no dmi"}) == []


def test_unreachable() -> None:
    r = unreachable("connection refused")
    assert (r.check, r.state, r.value, r.message, r.evidence) == (
        "reachable", State.UNKNOWN, "unreachable", "connection refused", ["transcript"])
    assert device_state([r]) is State.UNKNOWN


def test_non_numeric_measurement_without_state_is_unknown() -> None:
    spec = CheckSpec("odd", "Odd", ("x",),
                     lambda ctx: [Measurement(None, "n/a", "cannot be compared")], None, 1, 2)
    results = evaluate(device(), collected(), None, NOW, checks=[spec])
    assert [(r.check, r.state, r.value) for r in results] == [("odd", State.UNKNOWN, "n/a")]


# -- overrides ----------------------------------------------------------------------------------

def test_defaults_group_and_device_overrides() -> None:
    defaults = {"checks": {"cpu": {"warn": 70, "crit": 90}, "memory": {"warn": 60}}}
    groups = {
        "db": {"checks": {"cpu": {"warn": 50}, "memory": {"crit": 70}}},
        "web": {"checks": {"cpu": {"warn": 10, "crit": 20}}},
    }
    dev = device({"groups": ["db", "web"], "checks": {"cpu": {"crit": 60}}}, groups, defaults)
    results = run(dev, cpu_used_ratio=0.55, memory_used_ratio=0.65)
    cpu = one(results, "cpu")
    # warn: first group (db) beats the later group and defaults; crit: device beats all
    assert (cpu.warn, cpu.crit, cpu.state) == (50, 60, State.WARN)
    mem = one(results, "memory")
    assert (mem.warn, mem.crit, mem.state) == (60, 70, State.WARN)


def test_group_override_alone() -> None:
    dev = device({"groups": ["relaxed"]}, {"relaxed": {"checks": {"cpu": {"warn": 90,
                                                                          "crit": 99}}}})
    r = one(run(dev, cpu_used_ratio=0.95), "cpu")
    assert (r.state, r.warn, r.crit) == (State.WARN, 90, 99)
    plain = one(run(device(), cpu_used_ratio=0.95), "cpu")
    assert (plain.state, plain.warn, plain.crit) == (State.CRIT, 80, 95)


def test_device_override_beats_group() -> None:
    groups = {"g": {"checks": {"zombies": {"warn": 1, "crit": 2}}}}
    dev = device({"groups": ["g"], "checks": {"zombies": {"warn": 100, "crit": 200}}}, groups)
    r = one(run(dev, zombie_count=50), "zombies")
    assert (r.state, r.warn, r.crit) == (State.OK, 100, 200)


def test_explicit_null_threshold_disables_that_level() -> None:
    dev = device({"checks": {"cpu": {"crit": None}}})
    r = one(run(dev, cpu_used_ratio=1.0), "cpu")
    assert (r.state, r.warn, r.crit) == (State.WARN, 80, None)
    assert r.threshold_text == "warn 80 %"


def test_per_item_overrides_with_globs() -> None:
    dev = device({"checks": {"filesystem": {"warn": 70, "items": {
        "/data*": {"warn": 95, "crit": 99},
        "/data/scratch": {"enabled": False},
        "/boot": {"crit": 75},
    }}}})
    results = only(run(dev, filesystems=[
        fs("/", 0.72), fs("/data", 0.96), fs("/data2", 0.9), fs("/data/scratch", 1.0),
        fs("/boot", 0.8), fs("/var/data", 0.9),
    ]), "filesystem")
    assert [(r.item, r.state, r.warn, r.crit) for r in results] == [
        ("/", State.WARN, 70, 90),
        ("/data", State.WARN, 95, 99),
        ("/data2", State.OK, 95, 99),
        ("/boot", State.CRIT, 70, 75),
        ("/var/data", State.CRIT, 70, 90),
    ]


def test_item_overrides_merge_across_layers() -> None:
    groups = {"g": {"checks": {"filesystem": {"items": {"/data": {"warn": 50, "crit": 60}}}}}}
    dev = device({"groups": ["g"], "checks": {"filesystem": {"items": {"/data": {"crit": 99}}}}},
                 groups)
    r = one(run(dev, filesystems=[fs("/data", 0.7)]), "filesystem")
    assert (r.state, r.warn, r.crit) == (State.WARN, 50, 99)


def test_check_disabled_gives_no_result_even_with_errors() -> None:
    dev = device({"checks": {"cpu": {"enabled": False}}})
    assert only(run(dev, cpu_used_ratio=1.0), "cpu") == []
    assert run(dev, item_errors={"cpu_usage": "failed"}) == []


def test_disabled_in_group_reenabled_on_device() -> None:
    groups = {"quiet": {"checks": {"log_errors": {"enabled": False}}}}
    assert only(run(device({"groups": ["quiet"]}, groups), log_error_count=900),
                "log_errors") == []
    dev = device({"groups": ["quiet"], "checks": {"log_errors": {"enabled": True}}}, groups)
    assert one(run(dev, log_error_count=900), "log_errors").state is State.CRIT


def test_item_disabled_and_item_reenabled() -> None:
    dev = device({"checks": {"inodes": {"items": {"/mnt/*": {"enabled": False},
                                                  "/mnt/keep": {"enabled": True}}}}})
    results = only(run(dev, filesystems=[fs("/mnt/a", 0.1, inodes=0.95),
                                         fs("/mnt/keep", 0.1, inodes=0.95),
                                         fs("/", 0.1, inodes=0.95)]), "inodes")
    assert [(r.item, r.state) for r in results] == [("/mnt/keep", State.CRIT), ("/", State.CRIT)]


def test_evaluate_check_directly() -> None:
    spec = BUILTIN_CHECKS["zombies"]
    ctx = Context(HostFacts(zombie_count=7), None, NOW)
    [r] = evaluate_check(spec, None, ctx, {})
    assert (r.check, r.state, r.value) == ("zombies", State.WARN, 7)


# -- waivers -----------------------------------------------------------------------------------

TODAY = date(2024, 5, 1)


def waiver(**fields: Any) -> Waiver:
    return Waiver.model_validate({"reason": "known issue, ticket 42",
                                  "expires": "2024-06-30", **fields})


def result(check: str = "filesystem", state: State = State.WARN, item: str | None = "/data",
           message: str = "finding") -> CheckResult:
    return CheckResult(check=check, item=item, state=state, message=message)


def test_active_waiver_marks_the_result_waived() -> None:
    [r] = apply_waivers("db1", [result(state=State.CRIT)], [waiver(check="filesystem")], TODAY)
    assert r.waived is True
    assert r.state is State.CRIT  # the state is kept
    assert r.counts is False
    assert r.waiver_reason == "known issue, ticket 42"
    assert r.waiver_expires == date(2024, 6, 30)
    assert r.message == "finding"
    assert device_state([r]) is State.OK
    assert device_state([r, result(check="cpu", item=None, state=State.WARN)]) is State.WARN


def test_waiver_on_the_expiry_day_still_holds() -> None:
    [r] = apply_waivers("db1", [result()], [waiver(check="filesystem", expires="2024-05-01")],
                        TODAY)
    assert r.waived is True


def test_expired_waiver_no_longer_waives() -> None:
    [r] = apply_waivers("db1", [result()], [waiver(check="filesystem", expires="2024-04-30")],
                        TODAY)
    assert r.waived is False
    assert r.counts is True
    assert r.waiver_reason is None
    assert r.message == "finding (waiver expired on 2024-04-30)"
    assert device_state([r]) is State.WARN


def test_latest_expired_waiver_is_named() -> None:
    waivers = [waiver(check="filesystem", expires="2024-03-01"),
               waiver(check="filesystem", expires="2024-04-15")]
    [r] = apply_waivers("db1", [result()], waivers, TODAY)
    assert r.message == "finding (waiver expired on 2024-04-15)"


def test_active_waiver_beats_expired_and_latest_active_is_used() -> None:
    waivers = [waiver(check="filesystem", expires="2024-04-01"),
               waiver(check="filesystem", expires="2024-05-10", reason="short"),
               waiver(check="filesystem", expires="2024-07-10", reason="long")]
    [r] = apply_waivers("db1", [result()], waivers, TODAY)
    assert (r.waived, r.waiver_reason, r.waiver_expires) == (True, "long", date(2024, 7, 10))
    assert r.message == "finding"


@pytest.mark.parametrize(("fields", "waived"), [
    ({"device": "db*"}, True),
    ({"device": "db1"}, True),
    ({"device": "web*"}, False),
    ({"item": "/data*"}, True),
    ({"item": "/var"}, False),
    ({"device": "db?", "item": "/dat?"}, True),
])
def test_waiver_device_and_item_globs(fields: dict[str, str], waived: bool) -> None:
    [r] = apply_waivers("db1", [result()], [waiver(check="filesystem", **fields)], TODAY)
    assert r.waived is waived
    assert r.message == "finding"


def test_item_glob_does_not_match_item_less_results() -> None:
    [r] = apply_waivers("db1", [result(check="cpu", item=None)],
                        [waiver(check="cpu", item="/data*")], TODAY)
    assert r.waived is False
    [r] = apply_waivers("db1", [result(check="cpu", item=None)], [waiver(check="cpu")], TODAY)
    assert r.waived is True


def test_waiver_for_another_check_does_not_apply() -> None:
    [r] = apply_waivers("db1", [result()], [waiver(check="inodes")], TODAY)
    assert r == result()


def test_ok_results_are_untouched() -> None:
    ok = result(state=State.OK)
    expired = waiver(check="filesystem", expires="2020-01-01")
    assert apply_waivers("db1", [ok], [waiver(check="filesystem"), expired], TODAY) == [ok]
    assert apply_waivers("db1", [ok], [expired], TODAY)[0].message == "finding"


def test_waivers_keep_order_and_unknown_can_be_waived() -> None:
    results = [result(check="cpu", item=None, state=State.UNKNOWN), result(),
               result(check="memory", item=None, state=State.OK)]
    out = apply_waivers("db1", results, [waiver(check="cpu")], TODAY)
    assert [(r.check, r.waived) for r in out] == [("cpu", True), ("filesystem", False),
                                                  ("memory", False)]
    assert device_state(out) is State.WARN


# -- model --------------------------------------------------------------------------------------

def test_state_worst_ordering() -> None:
    assert State.worst([]) is State.OK
    assert State.worst([State.OK]) is State.OK
    assert State.worst([State.OK, State.WARN]) is State.WARN
    assert State.worst([State.WARN, State.UNKNOWN, State.OK]) is State.UNKNOWN
    assert State.worst([State.UNKNOWN, State.CRIT, State.WARN]) is State.CRIT
    assert sorted(State, key=lambda s: s.rank) == [State.OK, State.WARN, State.UNKNOWN,
                                                   State.CRIT]


def test_exit_codes() -> None:
    assert [(s.value, s.exit_code) for s in State] == [
        ("OK", 0), ("WARN", 1), ("CRIT", 2), ("UNKNOWN", 3)]


def test_device_state() -> None:
    assert device_state([]) is State.OK
    assert device_state([result(state=State.OK), result(state=State.CRIT)]) is State.CRIT


@pytest.mark.parametrize(("fields", "text"), [
    ({"warn": 80, "crit": 95, "unit": "%"}, "warn 80 %, crit 95 %"),
    ({"warn": 1.5, "crit": 3.0}, "warn 1.5, crit 3"),
    ({"warn": 1}, "warn 1"),
    ({"crit": 5.0, "unit": "s"}, "crit 5 s"),
    ({"unit": "%"}, None),
    ({}, None),
])
def test_threshold_text(fields: dict[str, Any], text: str | None) -> None:
    r = CheckResult(check="x", state=State.OK, message="m", **fields)
    assert r.threshold_text == text


def test_threshold_text_of_evaluated_results() -> None:
    results = run(cpu_used_ratio=0.1, load5=0.1, cpu_count=1, time_synchronized=True)
    assert one(results, "cpu").threshold_text == "warn 80 %, crit 95 %"
    assert one(results, "load").threshold_text == "warn 1.5, crit 3"
    assert one(results, "time_sync").threshold_text is None
