"""The example packs (examples/packs/): they load (schema, read-only policy, script guard), their
saved samples parse and judge as documented, and their scripts really run — the certificate
script against certificates made here, the PostgreSQL scripts against the local server."""

from __future__ import annotations

import fnmatch
import os
import shlex
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from checks.builtin import BUILTIN_CHECKS, Context
from checks.engine import evaluate_check
from checks.model import CheckResult, State
from checks.pack_checks import pack_check_specs
from collectors.facts import HostFacts
from collectors.pack import Pack, load_pack
from collectors.pack_parsers import Row, check_parsers, parse_output
from collectors.script_guard import check_script

ROOT = Path(__file__).resolve().parents[2]
PACKS = ROOT / "examples" / "packs"
NAMES = ["linux-service", "db-host", "huawei-optics"]
SCHEMA_LINE = "# yaml-language-server: $schema=../../../docs/pack.schema.json"
CTX = Context(HostFacts(), None, datetime(2026, 11, 21, tzinfo=UTC))
OK, WARN, CRIT = State.OK, State.WARN, State.CRIT


def pack(name: str) -> Pack:
    return load_pack(PACKS / name)


def judge(p: Pack, item_id: str, output: str) -> list[CheckResult]:
    """What the engine says about ``output`` of ``item_id`` (every check of the item)."""
    item = p.item(item_id)
    rows = parse_output(p, item, output)
    results: list[CheckResult] = []
    for spec in pack_check_specs(p, item, f"{p.name}.{item.id}", rows):
        results.extend(evaluate_check(spec, None, CTX, {}))
    return results


def states(results: list[CheckResult]) -> dict[tuple[str, str | None], State]:
    return {(r.check, r.item): r.state for r in results}


def sample(name: str, file: str) -> str:
    return (PACKS / name / "samples" / file).read_text(encoding="utf-8")


def run_script(p: Pack, item_id: str, env: dict[str, str] | None = None,
               ) -> subprocess.CompletedProcess[str]:
    """The item's script as the collector sends it: ``sh -c`` with the script text."""
    script = p.script_text(p.item(item_id))
    assert script is not None
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})}, check=False)


# -- loading ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_pack_loads_and_is_safe(name: str) -> None:
    p = pack(name)
    text = (PACKS / name / "pack.yaml").read_text(encoding="utf-8")
    assert text.splitlines()[0] == SCHEMA_LINE
    assert p.name == name  # the pack library finds a pack by its directory's name
    assert len(p.content_hash) == 64
    check_parsers(p)  # templates compile
    for item in p.items:
        assert item.checks, f"{name}.{item.id} has no checks"
        script = p.script_text(item)
        if script is not None:
            assert item.read_only is True
            check_script(script)
    assert sorted(p.files) == sorted(p.referenced_files())


def test_every_sample_names_an_item_and_parses() -> None:
    seen = set()
    for name in NAMES:
        p = pack(name)
        for file in sorted((PACKS / name / "samples").iterdir()):
            item_id = file.stem.split("-", 1)[0]
            if name == "huawei-optics":
                item_id = "transceivers"  # named after the command, as in the replay set
            rows = parse_output(p, p.item(item_id), file.read_text(encoding="utf-8"))
            assert isinstance(rows, list)
            seen.add((name, item_id))
        assert {(name, i.id) for i in p.items} <= seen, f"{name}: an item has no sample"


# -- linux-service ---------------------------------------------------------------------------


@pytest.mark.parametrize(("item", "file", "check", "state"), [
    ("process", "process.txt", "running", OK),
    ("process", "process-stopped.txt", "running", CRIT),
    ("listening", "listening.txt", "port_listening", OK),
    ("listening", "listening-port-closed.txt", "port_listening", CRIT),
    ("cert_days", "cert_days.txt", "cert_expiry", OK),
    ("cert_days", "cert_days-expiring.txt", "cert_expiry", CRIT),
])
def test_linux_service_samples(item: str, file: str, check: str, state: State) -> None:
    results = judge(pack("linux-service"), item, sample("linux-service", file))
    assert states(results) == {(f"linux-service.{check}", None): state}
    assert results[0].evidence == [f"linux-service.{item}"]


def test_linux_service_port_check_looks_at_the_port_only() -> None:
    p = pack("linux-service")
    # :2222 and :220 are other ports; only a local address ending in :22 counts
    other = "LISTEN 0 128 0.0.0.0:2222 0.0.0.0:*\nLISTEN 0 128 10.0.0.5:220 0.0.0.0:*\n"
    [result] = judge(p, "listening", other)
    assert result.state is CRIT
    assert "no row where local ~ /:22$/ found" in result.message
    [result] = judge(p, "listening", "LISTEN 0 128 [::]:22 [::]:*\n")
    assert result.state is OK


def test_cert_expiry_reports_days_with_the_below_thresholds() -> None:
    [result] = judge(pack("linux-service"), "cert_days",
                     sample("linux-service", "cert_days-expiring.txt"))
    assert (result.value, result.unit, result.warn, result.crit) == (5.0, "days", 30, 7)
    [result] = judge(pack("linux-service"), "cert_days", "days_left=20\nnot_after=x\n")
    assert result.state is WARN


@pytest.fixture
def make_cert(tmp_path: Path) -> Callable[[int], Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: the certificate script cannot run")

    def make(days: int) -> Path:
        cert = tmp_path / f"cert-{days}.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
             "/CN=www.example.com", "-days", str(days), "-keyout", str(tmp_path / "key.pem"),
             "-out", str(cert)], check=True, capture_output=True, timeout=60)
        return cert

    return make


@pytest.mark.parametrize(("days", "state"), [(5, CRIT), (400, OK)])
def test_cert_script_really_runs(make_cert: Callable[[int], Path], days: int,
                                 state: State) -> None:
    p = pack("linux-service")
    done = run_script(p, "cert_days", {"CERT_FILE": str(make_cert(days))})
    assert done.returncode == 0, done.stderr
    rows = parse_output(p, p.item("cert_days"), done.stdout)
    [row] = rows
    assert days - 1 <= int(row["days_left"]) <= days
    assert row["not_after"].endswith("GMT")
    [result] = judge(p, "cert_days", done.stdout)
    assert result.state is state


def test_cert_script_fails_loudly_without_the_certificate(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: the certificate script cannot run")
    done = run_script(pack("linux-service"), "cert_days", {"CERT_FILE": str(tmp_path / "no")})
    assert done.returncode == 2  # not in ok_exit_codes: the item fails, its check is UNKNOWN
    assert done.stdout == ""
    assert f"cannot read the certificate {tmp_path / 'no'}" in done.stderr


# -- db-host ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("item", "file", "expected"), [
    ("pg_isready", "pg_isready.txt", {("accepting_connections", None): OK}),
    ("pg_isready", "pg_isready-no-response.txt", {("accepting_connections", None): CRIT}),
    ("connections", "connections.txt", {("connections_used", None): OK}),
    ("connections", "connections-busy.txt", {("connections_used", None): CRIT}),
    ("db_sizes", "db_sizes.txt", {("database_size", "analytics"): WARN,
                                  ("database_size", "app"): OK,
                                  ("database_size", "postgres"): OK}),
    ("long_transactions", "long_transactions.txt", {("long_transactions", None): OK,
                                                    ("longest_transaction", None): OK}),
    ("long_transactions", "long_transactions-open.txt", {("long_transactions", None): WARN,
                                                         ("longest_transaction", None): WARN}),
])
def test_db_host_samples(item: str, file: str,
                         expected: dict[tuple[str, str | None], State]) -> None:
    results = judge(pack("db-host"), item, sample("db-host", file))
    assert states(results) == {(f"db-host.{c}", i): s for (c, i), s in expected.items()}


def test_db_host_raises_the_builtin_filesystem_check_on_the_data_mount() -> None:
    thresholds = pack("db-host").thresholds
    assert set(thresholds) <= set(BUILTIN_CHECKS)  # names a check that exists
    fs = thresholds["filesystem"]
    [(pattern, override)] = fs.items.items()
    assert fnmatch.fnmatchcase("/var/lib/postgresql", pattern)
    assert not fnmatch.fnmatchcase("/", pattern)  # the system disk keeps the defaults
    spec = BUILTIN_CHECKS["filesystem"]
    assert (spec.warn or 0) < (override.warn or 0) < (override.crit or 0) < 100


def _psql_or_skip() -> None:
    if shutil.which("psql") is None or shutil.which("pg_isready") is None:
        pytest.skip("psql/pg_isready are not installed: the db-host scripts cannot run")
    probe = subprocess.run(["psql", "-X", "-At", "-h", "127.0.0.1", "-U", "postgres", "-d",
                            "postgres", "-c", "select 1"], capture_output=True, text=True,
                           timeout=30, check=False, env={**os.environ, "PGCONNECT_TIMEOUT": "5"})
    if probe.returncode != 0:
        pytest.skip("psql cannot connect to 127.0.0.1:5432 as postgres (trust auth expected): "
                    + probe.stderr.strip())


def _number(row: Row, key: str) -> float:
    return float(row[key])


@pytest.mark.postgres
def test_db_host_scripts_really_run_against_local_postgresql(pg_url: str) -> None:
    _psql_or_skip()
    p = pack("db-host")
    created = pg_url.rsplit("/", 1)[1]  # the fixture's own database must show up in db_sizes

    ready = subprocess.run(shlex.split(p.item("pg_isready").command or ""), capture_output=True,
                           text=True, timeout=30, check=False)
    assert ready.returncode in p.item("pg_isready").ok_exit_codes
    assert states(judge(p, "pg_isready", ready.stdout)) == {
        ("db-host.accepting_connections", None): OK}

    outputs = {}
    for item_id in ("connections", "db_sizes", "long_transactions"):
        done = run_script(p, item_id)
        assert done.returncode == 0, f"{item_id}: {done.stderr}"
        outputs[item_id] = done.stdout

    [conn] = parse_output(p, p.item("connections"), outputs["connections"])
    used, most = _number(conn, "used"), _number(conn, "max")
    assert 1 <= used <= most  # the script's own session is a client backend
    assert _number(conn, "used_pct") == pytest.approx(100 * used / most, abs=0.05)

    sizes = parse_output(p, p.item("db_sizes"), outputs["db_sizes"])
    by_name = {row["datname"]: _number(row, "size_gb") for row in sizes}
    assert created in by_name and "postgres" in by_name
    assert all(0 < size < 10_000 for size in by_name.values())
    results = judge(p, "db_sizes", outputs["db_sizes"])
    assert {r.item for r in results} == set(by_name)
    assert all(r.unit == "GB" and isinstance(r.value, float) for r in results)

    [longs] = parse_output(p, p.item("long_transactions"), outputs["long_transactions"])
    count, longest = _number(longs, "long_transactions"), _number(longs, "longest_seconds")
    assert count >= 0 and longest >= (300 if count else 0)
    assert (longs["pids"] == "") == (count == 0)
    assert {r.check for r in judge(p, "long_transactions", outputs["long_transactions"])} == {
        "db-host.long_transactions", "db-host.longest_transaction"}


# -- huawei-optics ---------------------------------------------------------------------------

WEAK, FAINT = "XGigabitEthernet1/0/1", "XGigabitEthernet1/0/2"
HEALTHY = ("XGigabitEthernet0/0/1", "XGigabitEthernet0/0/2")


def test_huawei_sample_is_the_replayed_output() -> None:
    replay = ROOT / "tests/netsim/replay/huawei_vrp/display_transceiver_verbose.txt"
    assert replay.read_bytes() == (
        PACKS / "huawei-optics/samples/display_transceiver_verbose.txt").read_bytes()


def test_huawei_template_gives_one_row_per_interface() -> None:
    p = pack("huawei-optics")
    rows = parse_output(p, p.item("transceivers"),
                        sample("huawei-optics", "display_transceiver_verbose.txt"))
    by_interface = {row["interface"]: row for row in rows}
    assert list(by_interface) == [*HEALTHY, WEAK, FAINT]
    weak = by_interface[WEAK]
    assert (weak["type"], weak["vendor"], weak["part_number"]) == (
        "10GBASE_LR_SFP", "HUAWEI", "34060470")
    assert (weak["rx_power"], weak["tx_power"], weak["temperature"]) == (
        "-17.26", "-2.10", "41.02")
    assert (weak["rx_low_warn"], weak["rx_low_alarm"], weak["rx_high_alarm"]) == (
        "-12.40", "-14.40", "0.50")
    assert (weak["voltage"], weak["bias"], weak["temp_high_alarm"]) == ("3.30", "35.18", "75.00")
    assert by_interface[FAINT]["vendor"] == "FINISAR CORP."
    assert by_interface["XGigabitEthernet0/0/2"]["rx_low_alarm"] == "-11.10"


def test_huawei_weak_optics_are_findings_and_the_rest_ok() -> None:
    results = judge(pack("huawei-optics"), "transceivers",
                    sample("huawei-optics", "display_transceiver_verbose.txt"))
    got = states(results)
    assert got[("huawei-optics.rx_power_low", WEAK)] is CRIT
    assert got[("huawei-optics.rx_power_low", FAINT)] is WARN
    for interface in HEALTHY:
        assert got[("huawei-optics.rx_power_low", interface)] is OK
    for interface in (*HEALTHY, WEAK, FAINT):
        assert got[("huawei-optics.tx_power_low", interface)] is OK
        assert got[("huawei-optics.temperature_high", interface)] is OK
    assert len(got) == 12
    weak = next(r for r in results if r.item == WEAK and r.check.endswith("rx_power_low"))
    assert (weak.value, weak.unit, weak.warn, weak.crit) == (-17.26, "dBm", -12, -15)
    assert weak.evidence == ["huawei-optics.transceivers"]


# VRP layouts the sample does not show, composed from the same field names: the older
# "Current/Default Rx Power" wording, a multi-lane module (first lane taken) and a copper SFP
# without diagnostics (not judged).
OTHER_LAYOUTS = """\
GigabitEthernet0/0/24 transceiver information:
-------------------------------------------------------------
Common information:
  Transceiver Type                      :1000_BASE_LX_SFP
  Vendor Name                           :HUAWEI
  Vendor Part Number                    :34060286
-------------------------------------------------------------
Diagnostic information:
  Temperature(\u00b0C)                      :31
  Voltage(V)                            :3.28
  Bias Current(mA)                      :14.02
  Current Rx Power(dBM)                 :-15.52
  Default Rx Power High Threshold(dBM)  :-3.00
  Default Rx Power Low  Threshold(dBM)  :-20.00
  Current Tx Power(dBM)                 :-5.90
  Default Tx Power High Threshold(dBM)  :-3.00
  Default Tx Power Low  Threshold(dBM)  :-9.50
  User Set Rx Power Low Threshold(dBM)  :-30.00
-------------------------------------------------------------

100GE0/0/1 transceiver information:
-------------------------------------------------------------
Common information:
  Transceiver Type               :100GBASE_SR4_QSFP28
-------------------------------------------------------------
Diagnostic information:
  Temperature(\u2592\u2592C)              :36.10
  RX Power(dBM)                 :-1.20|-1.35(Lane0|Lane1)
                                 -1.41|-1.18(Lane2|Lane3)
  TX Power(dBM)                 :-0.80|-0.77(Lane0|Lane1)
                                 -0.91|-0.85(Lane2|Lane3)
-------------------------------------------------------------

GigabitEthernet0/0/48 transceiver information:
-------------------------------------------------------------
Common information:
  Transceiver Type               :1000_BASE_T_SFP
  Digital Diagnostic Monitoring  :NO
-------------------------------------------------------------
"""


def test_huawei_template_reads_other_vrp_layouts() -> None:
    p = pack("huawei-optics")
    rows = parse_output(p, p.item("transceivers"), OTHER_LAYOUTS)
    by_interface = {row["interface"]: row for row in rows}
    old = by_interface["GigabitEthernet0/0/24"]
    assert (old["rx_power"], old["rx_low_alarm"], old["tx_power"], old["tx_low_alarm"]) == (
        "-15.52", "-20.00", "-5.90", "-9.50")  # "User Set" limits are not the module's
    assert old["temperature"] == "31"
    lanes = by_interface["100GE0/0/1"]
    assert (lanes["rx_power"], lanes["tx_power"], lanes["temperature"]) == (
        "-1.20", "-0.80", "36.10")
    assert by_interface["GigabitEthernet0/0/48"]["rx_power"] == ""
    got = states(judge(p, "transceivers", OTHER_LAYOUTS))
    assert got[("huawei-optics.rx_power_low", "GigabitEthernet0/0/24")] is CRIT
    assert got[("huawei-optics.rx_power_low", "100GE0/0/1")] is OK
    # the copper SFP has no readings: filtered out by `where`, so no UNKNOWN noise
    assert not any(item == "GigabitEthernet0/0/48" for _, item in got)
