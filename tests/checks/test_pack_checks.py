"""Custom pack checks: every rule in both directions, where filters, missing and non-numeric
fields, failed items, and config overrides — judged through the real engine."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from checks import pack_checks
from checks.builtin import CheckSpec, Context, Measurement
from checks.engine import evaluate_check
from checks.model import CheckResult, State
from checks.pack_checks import check_name, pack_check_specs, to_number
from collectors.facts import HostFacts
from collectors.pack import Pack, PackItem, parse_pack
from config.models import CheckSettings

CTX = Context(HostFacts(), None, datetime(2024, 5, 1, tzinfo=UTC))
EVIDENCE = "oracle.tbs"


def make_pack(*checks: dict[str, Any]) -> tuple[Pack, PackItem]:
    """A real pack (validated by the loader) with one item carrying ``checks``."""
    data = {"name": "oracle", "version": "1.0.0", "platforms": ["linux"], "items": [
        {"id": "tbs", "command": "df -P", "parser": {"type": "table"}, "checks": list(checks)}]}
    pack = parse_pack(yaml.safe_dump(data).encode(), "test")
    return pack, pack.item("tbs")


def judge(check: dict[str, Any], rows: list[dict[str, Any]] | None,
          settings: CheckSettings | None = None,
          item_errors: dict[str, str] | None = None) -> list[CheckResult]:
    pack, item = make_pack(check)
    [spec] = pack_check_specs(pack, item, EVIDENCE, rows)
    return evaluate_check(spec, settings, CTX, item_errors or {})


def one(results: list[CheckResult]) -> CheckResult:
    assert len(results) == 1, results
    return results[0]


def by_item(results: list[CheckResult]) -> dict[str | None, CheckResult]:
    return {r.item: r for r in results}


TBS = [{"name": "USERS", "used": "91.2%"}, {"name": "SYSTEM", "used": "85"},
       {"name": "TEMP", "used": "12"}]
USED = {"id": "used_pct", "field": "used", "item": "name", "unit": "%", "warn": 80, "crit": 90}


# -- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    (85, 85.0), (85.5, 85.5), (-3, -3.0), ("85", 85.0), ("85%", 85.0), ("85 %", 85.0),
    ("1,234.5", 1234.5), ("1,234,567", 1234567.0), (" -3.20 dBm", -3.2), ("12.5G", 12.5),
    ("+4", 4.0), (".5", 0.5), ("1e3", 1000.0), ("45°C", 45.0), ("100 Mb/s", 100.0),
])
def test_to_number_reads_numbers_and_ignores_units(value: Any, expected: float) -> None:
    assert to_number(value) == expected


@pytest.mark.parametrize("value", [
    True, False, None, "", "   ", "abc", "n/a", "-", "1,23", "85 % used", "1.2.3", "dBm 5",
    [1], {"a": 1}, "nan", float("nan"), float("inf"),
])
def test_to_number_refuses_what_is_not_one_number(value: Any) -> None:
    assert to_number(value) is None


# -- specs -----------------------------------------------------------------------------------


def test_specs_carry_name_title_evidence_unit_thresholds_and_direction() -> None:
    pack, item = make_pack(
        USED, {"id": "days_left", "title": "Certificate expiry", "field": "days",
               "direction": "below", "warn": 30, "crit": 7},
        {"id": "status", "field": "status", "equals": "ok"})
    used, days, status = pack_check_specs(pack, item, EVIDENCE, [])
    assert (used.name, used.title, used.evidence, used.unit, used.warn, used.crit,
            used.higher_is_worse) == ("oracle.used_pct", "used_pct", (EVIDENCE,), "%", 80, 90,
                                      True)
    assert (days.name, days.title, days.higher_is_worse) == (
        "oracle.days_left", "Certificate expiry", False)
    assert (status.warn, status.crit, status.unit) == (None, None, None)
    assert check_name(pack, item.checks[2]) == "oracle.status"


def test_a_failed_item_makes_its_checks_unknown_with_the_item_error() -> None:
    result = one(judge(USED, None, item_errors={EVIDENCE: "command timed out after 30 s"}))
    assert result.state is State.UNKNOWN
    assert result.message == "could not evaluate: oracle.tbs: command timed out after 30 s"
    assert result.evidence == [EVIDENCE]


def test_a_failed_item_measures_nothing() -> None:
    pack, item = make_pack({"id": "st", "field": "status", "equals": "ok"})
    [spec] = pack_check_specs(pack, item, EVIDENCE, None)
    assert spec.measure(CTX) is None


# -- thresholds ------------------------------------------------------------------------------


def test_thresholds_per_item_judge_each_row() -> None:
    results = by_item(judge(USED, TBS))
    assert list(results) == ["USERS", "SYSTEM", "TEMP"]
    users = results["USERS"]
    assert (users.state, users.value, users.unit, users.warn, users.crit) == (
        State.CRIT, 91.2, "%", 80, 90)
    assert users.message == "used 91.2 % (name USERS)"
    assert results["SYSTEM"].state is State.WARN
    assert results["TEMP"].state is State.OK


def test_thresholds_at_the_threshold_breach() -> None:
    results = by_item(judge(USED, [{"name": "A", "used": "90"}, {"name": "B", "used": "80"},
                                   {"name": "C", "used": "79.9"}]))
    assert [r.state for r in results.values()] == [State.CRIT, State.WARN, State.OK]


def test_thresholds_below_breach_on_low_values() -> None:
    check = {"id": "days_left", "field": "days", "item": "cn", "direction": "below",
             "warn": 30, "crit": 7, "unit": "days"}
    rows = [{"cn": "www", "days": "5"}, {"cn": "api", "days": "7"}, {"cn": "mail", "days": 20},
            {"cn": "old", "days": "-2"}, {"cn": "new", "days": "300"}]
    results = by_item(judge(check, rows))
    assert {k: r.state for k, r in results.items()} == {
        "www": State.CRIT, "api": State.CRIT, "mail": State.WARN, "old": State.CRIT,
        "new": State.OK}
    assert results["www"].message == "days 5 days (cn www)"


def test_thresholds_without_item_judge_the_worst_row_in_the_direction() -> None:
    above = one(judge({"id": "used_pct", "field": "used", "warn": 80, "crit": 90}, TBS))
    assert (above.item, above.value, above.state) == (None, 91.2, State.CRIT)
    assert above.message == "used 91.2 (worst of 3 rows)"
    rx = [{"lane": "1", "power": "-3.1 dBm"}, {"lane": "2", "power": "-12.4 dBm"}]
    below = one(judge({"id": "rx", "field": "power", "direction": "below", "warn": -10,
                       "crit": -14, "unit": "dBm"}, rx))
    assert (below.value, below.state) == (-12.4, State.WARN)
    assert below.message == "power -12.4 dBm (worst of 2 rows)"


def test_thresholds_single_row_message_has_no_worst_note() -> None:
    result = one(judge({"id": "conn", "field": "n", "warn": 100}, [{"n": "7"}]))
    assert (result.state, result.message) == (State.OK, "n 7")


def test_where_filters_rows_before_judging() -> None:
    check = {**USED, "where": {"name": "^(USERS|TEMP)$"}}
    assert list(by_item(judge(check, TBS))) == ["USERS", "TEMP"]
    # every pattern must match; a row without the field does not match
    rows = [{"name": "A", "used": "95", "kind": "permanent"}, {"name": "B", "used": "95"},
            {"name": "C", "used": "95", "kind": "temporary"}]
    check = {**USED, "where": {"kind": "perm", "name": "."}}
    assert list(by_item(judge(check, rows))) == ["A"]


def test_thresholds_with_no_rows_are_unknown_naming_the_filter() -> None:
    result = one(judge({**USED, "where": {"name": "^UNDO$"}}, TBS))
    assert (result.state, result.item) == (State.UNKNOWN, None)
    assert result.message == "no rows to judge where name ~ /^UNDO$/"
    assert one(judge(USED, [])).message == "no rows to judge"


def test_a_missing_field_is_unknown_and_lists_the_fields() -> None:
    result = one(judge({**USED, "field": "pct"}, TBS))
    assert result.state is State.UNKNOWN
    assert result.message.startswith(
        "field pct is not in the parsed output (fields: name, used);")


def test_a_missing_item_field_is_unknown() -> None:
    result = one(judge({**USED, "item": "tablespace"}, TBS))
    assert result.state is State.UNKNOWN
    assert result.message.startswith("field tablespace (the item) is not in the parsed output")


def test_a_row_without_its_item_value_is_named_by_position() -> None:
    results = judge(USED, [{"name": "A", "used": "1"}, {"name": "", "used": "95"}])
    assert [(r.item, r.state) for r in results] == [("A", State.OK), ("row 2", State.CRIT)]


def test_non_numeric_values_are_unknown_naming_field_and_text() -> None:
    rows = [{"name": "USERS", "used": "offline"}, {"name": "TEMP", "used": ""},
            {"name": "UNDO", "used": "50"}]
    results = by_item(judge(USED, rows))
    assert results["USERS"].state is State.UNKNOWN
    assert results["USERS"].message == "field used is not a number: 'offline' (name USERS)"
    assert results["USERS"].value == "offline"
    assert results["TEMP"].message == "field used is empty (name TEMP)"
    assert results["UNDO"].state is State.OK


def test_without_item_a_row_without_a_number_makes_the_check_unknown() -> None:
    # the worst row cannot be told, so never OK: a hidden row may be the one over the limit
    rows = [{"used": "-"}, {"used": "5"}]
    result = one(judge({"id": "u", "field": "used", "crit": 90}, rows))
    assert (result.state, result.value) == (State.UNKNOWN, "-")
    assert result.message == "field used is not a number: '-' (1 of 2 rows)"
    only_text = one(judge({"id": "u", "field": "used", "crit": 90}, [{"used": "n/a"}]))
    assert only_text.state is State.UNKNOWN
    assert only_text.message == "field used is not a number: 'n/a'"


def test_config_overrides_a_pack_checks_thresholds() -> None:
    rows = [{"name": "USERS", "used": "70"}, {"name": "TEMP", "used": "97"}]
    settings = CheckSettings.model_validate({"warn": 60, "items": {"TEMP": {"crit": 98}}})
    results = by_item(judge(USED, rows, settings))
    assert (results["USERS"].state, results["USERS"].warn, results["USERS"].crit) == (
        State.WARN, 60, 90)
    assert (results["TEMP"].state, results["TEMP"].crit) == (State.WARN, 98)
    assert judge(USED, rows, CheckSettings(enabled=False)) == []


def test_engine_judges_low_values_for_lower_is_worse_specs() -> None:
    def measure(_ctx: Context) -> list[Measurement]:
        return [Measurement(str(v), v, f"{v} days") for v in (3, 10, 30, 31)]

    spec = CheckSpec("cert", "Cert", ("certs",), measure, "days", 30, 10,
                     higher_is_worse=False)
    states = [r.state for r in evaluate_check(spec, None, CTX, {})]
    assert states == [State.CRIT, State.CRIT, State.WARN, State.OK]


# -- equals / not_equals / matches -----------------------------------------------------------

PORTS = [{"port": "eth0", "status": "up", "mtu": "1500"},
         {"port": "eth1", "status": "down", "mtu": "9000"}]


@pytest.mark.parametrize("severity", ["WARN", "CRIT"])
def test_equals_per_item_uses_the_severity(severity: str) -> None:
    check = {"id": "link", "field": "status", "item": "port", "equals": "up",
             "severity": severity}
    results = by_item(judge(check, PORTS))
    assert results["eth0"].state is State.OK
    assert results["eth0"].message == "status is 'up', as expected to be 'up' (port eth0)"
    assert results["eth1"].state is State(severity)
    assert results["eth1"].message == "status is 'down', expected to be 'up' (port eth1)"
    assert results["eth1"].value == "down"
    assert (results["eth1"].warn, results["eth1"].crit) == (None, None)


def test_equals_without_item_needs_every_row_and_names_the_first_failure() -> None:
    check = {"id": "link", "field": "status", "equals": "up"}
    result = one(judge(check, [*PORTS, {"port": "eth2", "status": "down"}]))
    assert result.state is State.CRIT
    assert result.message == "status is 'down', expected to be 'up' (2 of 3 rows fail)"
    ok = one(judge(check, [PORTS[0], {"port": "eth3", "status": " up "}]))
    assert (ok.state, ok.message) == (State.OK, "all 2 rows: status to be 'up'")


def test_equals_compares_numbers_numerically_and_text_as_text() -> None:
    def state(expected: Any, actual: Any) -> State:
        return one(judge({"id": "e", "field": "v", "equals": expected}, [{"v": actual}])).state

    assert state(0, "0.0") is State.OK
    assert state(1500, 1500) is State.OK
    assert state("1500", " 1500.00 ") is State.OK
    assert state(1500, "9000") is State.CRIT
    assert state("12.5M", "12.5G") is State.CRIT  # units are text here, never ignored
    assert state("UP", "up") is State.CRIT  # case matters
    assert state("ok", "  ok\n") is State.OK


def test_not_equals_breaches_when_equal() -> None:
    check = {"id": "link", "field": "status", "item": "port", "not_equals": "down",
             "severity": "WARN"}
    results = by_item(judge(check, PORTS))
    assert results["eth0"].state is State.OK
    assert results["eth1"].state is State.WARN
    assert results["eth1"].message == "status is 'down', expected not to be 'down' (port eth1)"
    assert one(judge({"id": "m", "field": "mtu", "not_equals": 1500}, PORTS)).state is State.CRIT
    assert one(judge({"id": "m", "field": "mtu", "not_equals": 68}, PORTS)).state is State.OK


def test_matches_breaches_when_the_pattern_is_not_found() -> None:
    check = {"id": "mtu", "field": "mtu", "item": "port", "matches": "^9\\d{3}$"}
    results = by_item(judge(check, PORTS))
    assert results["eth0"].state is State.CRIT
    assert results["eth0"].message == "mtu is '1500', expected to match /^9\\d{3}$/ (port eth0)"
    assert results["eth1"].state is State.OK
    ints = one(judge({"id": "n", "field": "n", "matches": "^4"}, [{"n": 42}]))
    assert (ints.state, ints.value) == (State.OK, 42)


def test_comparisons_report_missing_fields_and_no_rows() -> None:
    missing = one(judge({"id": "e", "field": "state", "equals": "up"}, PORTS))
    assert missing.state is State.UNKNOWN
    assert missing.message.startswith("field state is not in the parsed output "
                                      "(fields: port, status, mtu)")
    empty = one(judge({"id": "e", "field": "status", "equals": "up",
                       "where": {"port": "^bond"}}, PORTS))
    assert (empty.state, empty.message) == (State.UNKNOWN, "no rows to judge where port ~ /^bond/")


def test_where_limits_comparisons() -> None:
    check = {"id": "e", "field": "status", "equals": "up", "where": {"port": "eth0"}}
    assert one(judge(check, PORTS)).state is State.OK


# -- present ---------------------------------------------------------------------------------

PROCS = [{"name": "sshd", "pid": "812"}, {"name": "crond", "pid": ""},
         {"name": "nginx", "pid": "1024"}]


def test_present_true_passes_when_a_row_exists() -> None:
    result = one(judge({"id": "sshd", "present": True, "where": {"name": "^sshd$"}}, PROCS))
    assert (result.state, result.value) == (State.OK, 1)
    assert result.message == "found 1 row where name ~ /^sshd$/"


def test_present_true_breaches_when_nothing_matches() -> None:
    check = {"id": "ora", "present": True, "where": {"name": "^ora_pmon"}, "severity": "WARN"}
    result = one(judge(check, PROCS))
    assert (result.state, result.value) == (State.WARN, 0)
    assert result.message == "no row where name ~ /^ora_pmon/ found (expected at least one)"
    assert one(judge({"id": "x", "present": True}, [])).state is State.CRIT


def test_present_with_field_needs_a_non_empty_value() -> None:
    check = {"id": "cron", "present": True, "field": "pid", "where": {"name": "crond"}}
    result = one(judge(check, PROCS))
    assert result.state is State.CRIT
    assert result.message == ("no row where name ~ /crond/ with a non-empty pid found "
                              "(expected at least one)")
    check["where"] = {"name": "sshd"}
    assert one(judge(check, PROCS)).state is State.OK


def test_present_false_requires_absence() -> None:
    check = {"id": "telnet", "present": False, "item": "name", "where": {"name": "d$"}}
    result = one(judge(check, PROCS))
    assert (result.state, result.value) == (State.CRIT, 2)
    assert result.message == "found 2 rows where name ~ /d$/ (expected none): sshd, crond"
    absent = one(judge({**check, "where": {"name": "^telnetd$"}}, PROCS))
    assert (absent.state, absent.message) == (
        State.OK, "no row where name ~ /^telnetd$/ found, as expected")


# -- rows ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("bounds", "count", "state"), [
    ({"min": 1}, 0, State.CRIT), ({"min": 1}, 1, State.OK), ({"max": 2}, 3, State.CRIT),
    ({"max": 2}, 2, State.OK), ({"min": 1, "max": 2}, 2, State.OK),
    ({"min": 2, "max": 3}, 4, State.CRIT),
])
def test_rows_counts_filtered_rows(bounds: dict[str, int], count: int, state: State) -> None:
    rows = [{"name": f"n{i}"} for i in range(count)] + [{"name": "other"}]
    result = one(judge({"id": "n", "rows": bounds, "where": {"name": "^n"}}, rows))
    assert (result.state, result.value) == (state, count)


def test_rows_message_says_what_was_expected() -> None:
    result = one(judge({"id": "n", "rows": {"min": 2, "max": 4}, "severity": "WARN"},
                       [{"a": 1}]))
    assert (result.state, result.message) == (
        State.WARN, "1 row(s); expected at least 2 and at most 4")


# -- plugin ----------------------------------------------------------------------------------


def test_plugin_measurements_without_a_state_are_judged_by_the_engine(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, list[dict[str, Any]], Mapping[str, Any]]] = []

    def lookup(name: str) -> Any:
        def plugin(rows: list[dict[str, Any]], options: Mapping[str, Any]) -> list[Measurement]:
            seen.append((name, rows, options))
            return [Measurement(r["cn"], float(r["days"]), f"{r['cn']} in {r['days']} days")
                    for r in rows] + [Measurement("chain", "broken", "chain broken",
                                                  State.CRIT)]
        return plugin

    monkeypatch.setattr(pack_checks, "check_plugin", lookup)
    check = {"id": "chain", "plugin": "cert_chain", "options": {"roots": "/etc/ssl"},
             "where": {"cn": "^w"}}
    rows = [{"cn": "www", "days": "5"}, {"cn": "api", "days": "1"}, {"cn": "web", "days": "60"}]
    # a pack cannot give a plugin check warn/crit (one rule per check): the config does
    results = by_item(judge(check, rows, CheckSettings(crit=50)))
    assert seen == [("cert_chain", [rows[0], rows[2]], {"roots": "/etc/ssl"})]
    assert {k: r.state for k, r in results.items()} == {
        "www": State.OK, "web": State.CRIT, "chain": State.CRIT}
    assert (results["web"].crit, results["web"].message) == (50, "web in 60 days")


def test_a_failing_plugin_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    def lookup(name: str) -> Any:
        def plugin(rows: list[dict[str, Any]], options: Mapping[str, Any]) -> list[Measurement]:
            raise RuntimeError("cannot parse certificate")
        return plugin

    monkeypatch.setattr(pack_checks, "check_plugin", lookup)
    result = one(judge({"id": "c", "plugin": "certs"}, [{"a": 1}]))
    assert (result.state, result.message) == (
        State.UNKNOWN, "plugin certs failed: RuntimeError: cannot parse certificate")


def test_a_plugin_returning_something_else_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pack_checks, "check_plugin", lambda name: lambda rows, options: {})
    result = one(judge({"id": "c", "plugin": "certs"}, [{"a": 1}]))
    assert (result.state, result.message) == (
        State.UNKNOWN, "plugin certs failed: it returned dict, not a list of Measurement")


def test_an_unknown_plugin_is_unknown_with_the_lookup_error() -> None:
    result = one(judge({"id": "c", "plugin": "no_such_plugin_xyz"}, [{"a": 1}]))
    assert result.state is State.UNKNOWN
    assert result.message.startswith(
        "plugin no_such_plugin_xyz failed: PackError: no check plugin named no_such_plugin_xyz")


def test_a_field_or_where_no_row_has_is_unknown_not_nothing_found() -> None:
    rows = [{"local": "0.0.0.0:23", "state": "LISTEN"}]
    for check in ({"id": "c", "where": {"locl": ":23$"}, "present": False},
                  {"id": "c", "where": {"locl": ":23$"}, "rows": {"max": 0}},
                  {"id": "c", "field": "stat", "equals": "LISTEN"}):
        result = one(judge(check, rows))
        assert result.state is State.UNKNOWN, check
        assert "is not in the parsed output (fields: local, state)" in result.message
    # with the right names the same checks judge
    assert one(judge({"id": "c", "where": {"local": ":23$"}, "present": False},
                     rows)).state is State.CRIT


@pytest.mark.parametrize(("expected", "actual", "same"), [
    (True, "true", True), (True, "yes", True), (True, True, True), (True, "false", False),
    (False, "no", True), (False, "No", True), (False, "true", False), (True, "maybe", False),
    ("true", True, True), ("active", "active", True),
])
def test_booleans_compare_by_meaning(expected: object, actual: object, same: bool) -> None:
    state = one(judge({"id": "c", "field": "v", "equals": expected}, [{"v": actual}])).state
    assert state is (State.OK if same else State.CRIT)
    state = one(judge({"id": "c", "field": "v", "not_equals": expected}, [{"v": actual}])).state
    assert state is (State.CRIT if same else State.OK)
