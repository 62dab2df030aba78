"""The /metrics collector over a real store, checked by promtool and scraped by a real
Prometheus; the /probe registry; the Store queries behind them."""

from __future__ import annotations

import subprocess
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, event
from support.metrics_data import (
    INCIDENTS,
    PLANS,
    WHEN,
    device,
    linux_result,
    network_result,
    populate,
    populated_collector,
    unreachable_result,
)
from support.prometheus import (
    PROMTOOL_PATH,
    PrometheusServer,
    ScrapeJob,
    free_port,
    prometheus_unavailable_reason,
)

from agent.incidents.model import MetricsSnapshot
from agent.service.metrics import (
    XunjianCollector,
    build_registry,
    probe_registry,
    render,
)
from agent.store import Store
from checks.model import State
from collectors.facts import BgpNeighbor, NetInterface


@pytest.fixture
def populated(store: Store) -> Store:
    populate(store)
    return store


def samples(exposition: bytes | str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition, keyed by (name, labels)."""
    text_ = exposition.decode() if isinstance(exposition, bytes) else exposition
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text_) for s in family.samples}


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
          **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def promtool_check(exposition: bytes) -> subprocess.CompletedProcess[bytes]:
    if not PROMTOOL_PATH.exists():
        pytest.skip(f"{PROMTOOL_PATH} is missing (apt-get install -y prometheus)")
    return subprocess.run([str(PROMTOOL_PATH), "check", "metrics"], input=exposition,
                          capture_output=True, timeout=30, check=False)


# -- store queries --------------------------------------------------------------------------


def test_latest_results_returns_each_devices_newest_result_with_checks(populated: Store):
    latest = {r.device: r for r in populated.latest_results()}

    assert sorted(latest) == ["core-sw-01", "db-01", "web-01"]
    web = latest["web-01"]
    assert web.started_at == WHEN  # the newer of web-01's two results
    assert web.facts is not None and web.facts.cpu_used_ratio == 0.25
    assert [(c.check, c.item, c.state) for c in web.checks] == [
        ("cpu", None, State.OK), ("filesystem", "/data", State.WARN),
        ("filesystem", "/", State.OK)]
    assert web.raw == [] and web.transcript is None
    assert latest["db-01"].reachable is False and latest["db-01"].facts is None
    assert [c.waived for c in latest["core-sw-01"].checks] == [False, False, True]


def test_latest_results_takes_two_queries_however_long_the_history(store: Store):
    for day in range(5):
        run = store.start_run("schedule", 2, None)
        for name in ("a", "b"):
            store.save_result(run, device(name),
                              linux_result(name, when=WHEN + timedelta(days=day), cpu=day / 10))
        store.finish_run(run, State.OK)
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        latest = store.latest_results()
    finally:
        event.remove(store.engine, "before_cursor_execute", count)

    assert [r.facts.cpu_used_ratio for r in latest if r.facts] == [0.4, 0.4]
    assert len(statements) == 2, statements


def test_run_counts_and_device_meta(populated: Store):
    assert populated.run_counts() == {("cli", "completed"): 1, ("schedule", "completed"): 1,
                                      ("api", "failed"): 1}
    meta = populated.device_meta()
    assert meta["core-sw-01"]["serial"] == "REGISTER-SN"
    assert meta["core-sw-01"]["business_system"] == "网络"
    assert meta["core-sw-01"]["platform"] == "huawei_vrp"
    assert meta["db-01"]["business_level"] is None


def test_empty_store_renders_every_family_without_samples(tmp_path: Path):
    store = Store.open(None, tmp_path / "empty")
    try:
        exposition = render(build_registry(XunjianCollector(store)))
    finally:
        store.close()
    found = samples(exposition)
    assert value(found, "xunjian_scrape_collector_success", collector="results") == 1
    assert not [k for k in found if k[0] == "xunjian_device_up"]
    assert b"# TYPE xunjian_device_up gauge" in exposition


# -- the exposition -------------------------------------------------------------------------


def test_exposition_carries_the_stored_values(populated: Store):
    found = samples(render(build_registry(populated_collector(populated))))

    assert value(found, "xunjian_device_up", device="web-01") == 1
    assert value(found, "xunjian_device_up", device="db-01") == 0
    assert value(found, "xunjian_device_state", device="web-01") == 1
    assert value(found, "xunjian_device_state", device="core-sw-01") == 2
    assert value(found, "xunjian_device_state", device="db-01") == 3
    assert value(found, "xunjian_check_state", device="web-01", check="filesystem",
                 item="/data") == 1
    assert value(found, "xunjian_check_state", device="web-01", check="cpu", item="") == 0
    assert value(found, "xunjian_cpu_usage_ratio", device="web-01") == 0.25  # newest result
    assert value(found, "xunjian_memory_used_ratio", device="web-01") == 0.5
    assert value(found, "xunjian_load1", device="web-01") == 0.7
    assert value(found, "xunjian_filesystem_used_ratio", device="web-01",
                 mountpoint="/data") == 0.85
    assert value(found, "xunjian_filesystem_size_bytes", device="web-01",
                 mountpoint="/") == 10 << 30
    assert value(found, "xunjian_filesystem_avail_bytes", device="web-01",
                 mountpoint="/") == 6 << 30
    assert value(found, "xunjian_temperature_celsius", device="core-sw-01", sensor="CPU") == 51
    assert value(found, "xunjian_power_supply_ok", device="core-sw-01", psu="PWR1") == 1
    iface = {"device": "core-sw-01", "interface": "GigabitEthernet0/0/1"}
    assert value(found, "xunjian_interface_up", **iface) == 1
    assert value(found, "xunjian_interface_receive_errors_total", **iface) == 12
    assert value(found, "xunjian_interface_transmit_errors_total", **iface) == 1
    assert value(found, "xunjian_interface_crc_errors_total", **iface) == 7
    assert value(found, "xunjian_interface_up", device="core-sw-01",
                 interface="GigabitEthernet0/0/2") == 0
    assert value(found, "xunjian_ospf_neighbor_up", device="core-sw-01",
                 neighbor="10.255.0.1") == 1
    assert value(found, "xunjian_last_inspection_timestamp_seconds",
                 device="web-01") == (WHEN + timedelta(seconds=2)).timestamp()
    assert value(found, "xunjian_last_inspection_duration_seconds", device="core-sw-01") == 5
    assert value(found, "xunjian_runs_total", trigger="api", status="failed") == 1
    assert value(found, "xunjian_runs_total", trigger="schedule", status="completed") == 1
    assert value(found, "xunjian_build_info", version="0.1.0",
                 python_version=__import__("platform").python_version()) == 1


def test_waived_checks_absent_fans_and_virtual_interfaces(populated: Store):
    found = samples(render(build_registry(populated_collector(populated))))

    # waived: the real state is kept, the waiver is its own series
    assert value(found, "xunjian_check_state", device="core-sw-01", check="bgp_neighbors",
                 item="10.0.0.2") == 2
    waived = {dict(k[1])["check"] for k in found if k[0] == "xunjian_check_waived"}
    assert waived == {"bgp_neighbors"}
    # an absent fan (ok=None) is not a failed fan
    fans = {dict(k[1])["fan"]: v for k, v in found.items() if k[0] == "xunjian_fan_ok"}
    assert fans == {"FAN1": 1, "FAN2": 0}
    # the same peer in two VRFs stays two series
    assert value(found, "xunjian_bgp_neighbor_up", device="core-sw-01",
                 neighbor="10.0.0.2") == 1
    assert value(found, "xunjian_bgp_neighbor_up", device="core-sw-01",
                 neighbor="10.0.0.2@cust-a") == 0
    web_ifaces = {dict(k[1])["interface"] for k in found
                  if k[0] == "xunjian_interface_up" and dict(k[1])["device"] == "web-01"}
    assert web_ifaces == {"eth0", "eth1"}  # veth9a1b2c excluded


def test_device_info_prefers_collected_model_and_serial_over_the_register(populated: Store):
    found = samples(render(build_registry(populated_collector(populated))))
    info = {dict(k[1])["device"]: dict(k[1]) for k in found if k[0] == "xunjian_device_info"}

    assert info["core-sw-01"] == {
        "device": "core-sw-01", "platform": "huawei_vrp", "business_system": "网络",
        "business_level": "2", "location": "上海 B2", "model": "S5735-L48T4X",
        "serial": "21980107133GJ7000257"}
    # unreachable: nothing collected, so the register's values
    assert (info["db-01"]["model"], info["db-01"]["serial"]) == ("PowerEdge R650", "DB-SN")
    assert (info["db-01"]["business_system"], info["db-01"]["location"]) == ("", "")


def test_plans_and_incidents(populated: Store):
    found = samples(render(build_registry(populated_collector(populated))))

    assert value(found, "xunjian_plan_runs_total", plan="daily") == 5
    assert value(found, "xunjian_plan_missed_runs_total", plan="daily") == 1
    assert value(found, "xunjian_plan_missed_runs_total", plan="monthly") == 0
    assert value(found, "xunjian_plan_next_run_timestamp_seconds",
                 plan="daily") == PLANS[0].next_run.timestamp()  # type: ignore[union-attr]
    assert value(found, "xunjian_plan_next_run_timestamp_seconds", plan="monthly") is None
    assert value(found, "xunjian_plan_last_run_timestamp_seconds", plan="daily") == \
        WHEN.timestamp()
    opened = {dict(k[1])["priority"]: v for k, v in found.items()
              if k[0] == "xunjian_incidents_open"}
    assert opened == {"P1": 1, "P2": 0, "P3": 2, "P4": 0}  # every priority, 0 when none
    assert value(found, "xunjian_incident_sla_remaining_seconds", device="core-sw-01",
                 check="fans", item="FAN2", priority="P1", target="response") == -120


def test_promtool_accepts_the_exposition_without_a_warning(populated: Store):
    exposition = render(build_registry(populated_collector(populated)))
    checked = promtool_check(exposition)
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, b"", b"")


def test_promtool_flags_a_bad_exposition():
    # the check above would pass vacuously if promtool ignored its input
    checked = promtool_check(b"# HELP bad_seconds_total x\n# TYPE bad_seconds_total gauge\n"
                             b"bad_seconds_total 1\n")
    assert checked.returncode != 0 and b"total" in checked.stdout + checked.stderr


def test_store_down_fails_only_its_sections(tmp_path: Path):
    # a real store whose database is unreachable (nothing listens on port 1)
    down = Store(create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none",
                               connect_args={"connect_timeout": 2}))
    collector = XunjianCollector(down, plans=lambda: list(PLANS), incidents=lambda: INCIDENTS)
    try:
        found = samples(render(build_registry(collector)))
    finally:
        down.close()

    assert value(found, "xunjian_scrape_collector_success", collector="results") == 0
    assert value(found, "xunjian_scrape_collector_success", collector="runs") == 0
    assert value(found, "xunjian_scrape_collector_success", collector="plans") == 1
    assert value(found, "xunjian_scrape_collector_success", collector="incidents") == 1
    assert value(found, "xunjian_plan_runs_total", plan="daily") == 5
    assert value(found, "xunjian_build_info", version=collector.version,
                 python_version=__import__("platform").python_version()) == 1


def test_failing_provider_fails_only_its_section(populated: Store):
    def broken() -> MetricsSnapshot:
        raise RuntimeError("incident table locked")

    collector = XunjianCollector(populated, incidents=broken, plans=lambda: list(PLANS))
    found = samples(render(build_registry(collector)))

    assert value(found, "xunjian_scrape_collector_success", collector="incidents") == 0
    assert value(found, "xunjian_scrape_collector_success", collector="results") == 1
    assert not [k for k in found if k[0] == "xunjian_incidents_open"]
    assert value(found, "xunjian_device_up", device="web-01") == 1


def test_section_durations_use_the_injected_clock(populated: Store):
    ticks = iter(range(100))
    collector = XunjianCollector(populated, clock=lambda: float(next(ticks)))
    found = samples(render(build_registry(collector)))
    assert value(found, "xunjian_scrape_collector_duration_seconds", collector="results") == 1
    assert value(found, "xunjian_scrape_collector_duration_seconds", collector="runs") == 1


def test_inventory_limits_the_exported_devices(populated: Store):
    collector = XunjianCollector(populated, inventory=lambda: {"web-01", "gone"})
    found = samples(render(build_registry(collector)))
    assert {dict(k[1])["device"] for k in found if k[0] == "xunjian_device_up"} == {"web-01"}


def test_interface_cap_keeps_the_first_interfaces_and_counts_the_rest():
    found = samples(render(probe_registry(linux_result("big", interfaces=5), 1.0,
                                          max_interfaces=2)))

    kept = {dict(k[1])["interface"] for k in found if k[0] == "xunjian_interface_up"}
    assert kept == {"eth0", "eth1"}
    assert value(found, "xunjian_interfaces_omitted", device="big") == 3


def test_duplicate_label_values_are_dropped_not_rejected():
    result = network_result("sw")
    assert result.facts is not None and result.facts.bgp_neighbors is not None
    result.facts.bgp_neighbors.append(BgpNeighbor(peer="10.0.0.2", state="Idle",
                                                  established=False))
    result.facts.interfaces = [NetInterface(name="Gi1", oper_up=True),
                               NetInterface(name="Gi1", oper_up=False)]
    exposition = render(probe_registry(result, 1.0))

    found = samples(exposition)
    assert value(found, "xunjian_bgp_neighbor_up", device="sw", neighbor="10.0.0.2") == 1
    assert value(found, "xunjian_interface_up", device="sw", interface="Gi1") == 1
    checked = promtool_check(exposition)
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, b"", b"")


# -- /probe ---------------------------------------------------------------------------------


def test_probe_registry_for_a_reachable_device():
    meta = {"business_system": "ERP", "location": "A01", "business_level": 1,
            "serial": "REG", "model": "REG-M"}
    exposition = render(probe_registry(linux_result("web-01"), 2.5, meta))
    found = samples(exposition)

    assert value(found, "xunjian_probe_success") == 1
    assert value(found, "xunjian_probe_duration_seconds") == 2.5
    assert value(found, "xunjian_filesystem_used_ratio", device="web-01",
                 mountpoint="/data") == 0.85
    info = next(dict(k[1]) for k in found if k[0] == "xunjian_device_info")
    assert (info["business_system"], info["serial"]) == ("ERP", "SN-web-01")
    assert not [k for k in found if k[0].startswith("xunjian_scrape_collector")]
    checked = promtool_check(exposition)
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, b"", b"")


def test_probe_registry_for_an_unreachable_device():
    found = samples(render(probe_registry(unreachable_result("db-01"), 1.0)))
    assert value(found, "xunjian_probe_success") == 0
    assert value(found, "xunjian_device_up", device="db-01") == 0
    assert value(found, "xunjian_device_state", device="db-01") == 3


# -- a real Prometheus ----------------------------------------------------------------------


def test_prometheus_scrapes_the_stored_results(tmp_path: Path):
    reason = prometheus_unavailable_reason()
    if reason:
        pytest.skip(reason)
    store = Store.open(None, tmp_path / "data")
    populate(store)
    port = free_port()
    # render() is what /metrics serves (the cached fast path); start_http_server would
    # exercise generate_latest instead
    registry = build_registry(populated_collector(store))

    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = render(registry)
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Metrics)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        job = ScrapeJob("xunjian", targets=[f"127.0.0.1:{port}"])
        with PrometheusServer(tmp_path / "prometheus", [job]) as prom:
            prom.wait_for_targets("xunjian")
            used = prom.wait_for_query(
                'xunjian_filesystem_used_ratio{job="xunjian",mountpoint="/data"}')
            assert [(r["metric"]["device"], float(r["value"][1])) for r in used] == [
                ("web-01", 0.85)]
            up = prom.query("xunjian_device_up")
            assert {r["metric"]["device"]: float(r["value"][1]) for r in up} == {
                "web-01": 1.0, "core-sw-01": 1.0, "db-01": 0.0}
            joined = prom.query('xunjian_device_state * on(device) group_left(business_system)'
                                ' xunjian_device_info{business_system="网络"}')
            assert [float(r["value"][1]) for r in joined] == [2.0]

            # every scrape reads the store: a new inspection shows up without a restart
            run = store.start_run("api", 1, None)
            store.save_result(run, device("web-01"),
                              linux_result("web-01", when=WHEN + timedelta(hours=1), cpu=0.5))
            store.finish_run(run, State.OK)
            prom.wait_for_query('xunjian_cpu_usage_ratio{device="web-01"} == 0.5')
            assert prom.wait_for_query('xunjian_runs_total{trigger="api",status="completed"}')
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        store.close()


# -- the cached fast path -------------------------------------------------------------------


def _without_durations(exposition: bytes) -> bytes:
    return b"".join(line for line in exposition.splitlines(keepends=True)
                    if not line.startswith(b"xunjian_scrape_collector_duration_seconds{"))


def test_fast_exposition_is_byte_identical_to_generate_latest(populated: Store):
    from prometheus_client import generate_latest

    collector = populated_collector(populated)
    registry = build_registry(collector)
    fast = render(registry)
    assert _without_durations(fast) == _without_durations(generate_latest(registry))
    assert _without_durations(render(registry)) == _without_durations(fast)  # from the cache


def test_cache_follows_new_results_metadata_and_removed_devices(populated: Store):
    collector = XunjianCollector(populated, inventory=lambda: wanted)
    wanted = {"web-01", "core-sw-01", "db-01"}
    registry = build_registry(collector)
    render(registry)

    run = populated.start_run("api", 1, None)
    populated.save_result(run, device("web-01", business_system="CRM"),
                          linux_result("web-01", when=WHEN + timedelta(hours=1), cpu=0.75))
    populated.finish_run(run, State.OK)
    wanted = {"web-01", "core-sw-01"}
    found = samples(render(registry))

    assert value(found, "xunjian_cpu_usage_ratio", device="web-01") == 0.75
    info = next(dict(k[1]) for k in found
                if k[0] == "xunjian_device_info" and dict(k[1])["device"] == "web-01")
    assert info["business_system"] == "CRM"
    assert value(found, "xunjian_device_up", device="db-01") is None
    assert sorted(collector._cache) == ["core-sw-01", "web-01"]


def test_latest_results_match_the_full_history_reader(populated: Store):
    for result in populated.latest_results():
        assert result == populated.history(result.device, limit=1)[0]
