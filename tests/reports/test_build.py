"""The report's data from 45 days of seeded history (support.report_history), on SQLite and
PostgreSQL: every section computed from the store, not from the fixture's own numbers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.report_history import HOSTILE, History, history

from agent.errors import ReportError
from agent.store import Store
from checks.model import State
from reports.build import build_report
from reports.generate import ReportJob, generate, request, select
from reports.model import ReportData
from reports.period import parse_period

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def seeded(tmp_path: Path, store: Store) -> History:
    return history(tmp_path, store)


def _build(h: History, period: str = "2026-10", lang: str = "en",
           customer: str | None = "acme") -> ReportData:
    job = ReportJob(period=parse_period(period, "UTC"), languages=[lang],  # type: ignore[list-item]
                    formats=["json"], out_dir=Path("."), customer=customer)
    return build_report(h.store, h.loaded,
                        request(job, select(h.loaded, job), lang, NOW))  # type: ignore[arg-type]


def test_summary_and_coverage(seeded: History) -> None:
    data = _build(seeded)
    s = data.summary
    assert not data.empty
    assert (s.coverage.in_scope, s.coverage.inspected, s.coverage.skipped) == (4, 3, 1)
    assert s.coverage.skipped_devices == ["edge-02"]
    assert s.devices_by_state == {State.OK: 1, State.WARN: 1, State.CRIT: 1, State.UNKNOWN: 1}
    assert s.overall is State.CRIT
    assert s.findings_by_state[State.CRIT] == 1 and s.findings_by_state[State.WARN] == 2
    assert s.headline == "Action needed: 1 critical finding(s) on 1 device(s)."
    assert s.top_risks[0].device == "core-sw-01" and s.top_risks[0].state is State.CRIT
    assert any("3 of 4 device(s) were inspected" in c for c in s.conclusions)


def test_findings_carry_values_thresholds_and_evidence(seeded: History) -> None:
    data = _build(seeded)
    by_key = {(f.device, f.check, f.item): f for f in data.findings}
    fan = by_key[("core-sw-01", "fans", "FAN2")]
    assert fan.state is State.CRIT and fan.new
    assert fan.recommendation.startswith("Replace the failed fan")
    fs = by_key[("db-01", "filesystem", "/data")]
    assert (fs.value, fs.threshold, fs.value_num) == ("85 %", "warn 80 % / crit 90 %", 85.0)
    assert fs.evidence.command == "xunjian evidence db-01 filesystem /data"
    assert fs.evidence.items == ["filesystems"]
    assert fs.business_system == HOSTILE  # kept as data; escaping is the renderer's job
    assert not by_key[("db-01", "hardware_register", "serial")].new  # already at the baseline
    assert [f.state for f in data.findings] == [State.CRIT, State.WARN, State.WARN]


def test_reconciliation_against_the_register(seeded: History) -> None:
    rows = {r.device: r for r in _build(seeded).inventory}
    assert rows["web-01"].status == "matched"
    assert rows["core-sw-01"].status == "matched"
    assert rows["db-01"].status == "replaced"
    assert (rows["db-01"].registered_serial, rows["db-01"].collected_serial) == (
        "OLD-SN", "SN-db-01")
    assert rows["edge-02"].status == "missing"
    assert rows["edge-02"].note == "not inspected in this period"


def test_changes_since_the_baseline(seeded: History) -> None:
    changes = _build(seeded).changes
    assert changes.baseline_at == datetime(2026, 9, 30, 2, 0, tzinfo=UTC)
    assert {(c.device, c.item) for c in changes.new_findings} == {
        ("core-sw-01", "FAN2"), ("db-01", "/data")}
    assert changes.cleared_findings == []
    assert [(c.device, c.before, c.after) for c in changes.state_changes] == [
        ("core-sw-01", State.OK, State.CRIT)]
    [config] = changes.config_changes
    assert (config.device, config.versions, config.lines_added, config.lines_removed) == (
        "core-sw-01", 1, 1, 0)


def test_trends_and_forecast(seeded: History) -> None:
    data = _build(seeded)
    assert [m.metric for m in data.trends] == ["cpu", "memory", "filesystem", "temperature"]
    fs_chart = next(m for m in data.trends if m.metric == "filesystem")
    top = fs_chart.series[0]
    assert (top.device, top.item) == ("db-01", "/data")
    assert len(top.points) == 46  # one point per day, the whole window
    [forecast] = data.forecasts
    assert (forecast.device, forecast.item) == ("db-01", "/data")
    assert forecast.slope_per_day == pytest.approx(1.0, abs=0.01)
    assert forecast.r_squared == pytest.approx(1.0, abs=0.001)
    # 85 % at 02:00 on the 31st, +1 point a day: 90 % about four days after the period
    assert 3.5 < forecast.days_to_threshold < 4.5
    assert "db-01" in forecast.text and "90 %" in forecast.text
    assert any(r.category == "capacity" and "db-01" in r.devices and "/data" in r.text
               for r in data.summary.recommendations)


def test_incidents_and_sla(seeded: History) -> None:
    inc = _build(seeded).incidents
    assert (inc.opened, inc.resolved, inc.still_open) == (2, 1, 1)
    assert inc.by_priority == {"P1": 1, "P2": 1}
    assert (inc.response_met, inc.response_measured) == (1, 2)   # P1 acknowledged after 1 h
    assert (inc.resolution_met, inc.resolution_measured) == (1, 2)
    assert inc.response_rate == 0.5
    assert {i.priority for i in inc.major} == {"P1", "P2"}
    assert [p.title for p in inc.open_problems] == ["风扇反复故障"]


def test_waivers_warranty_and_appendix(seeded: History) -> None:
    data = _build(seeded)
    [waiver] = data.waivers
    assert (waiver.device, waiver.check, waiver.expiring_soon) == ("web-01", "swap", True)
    upgrade = [r for r in data.summary.recommendations if r.category == "upgrade"]
    assert upgrade and upgrade[0].devices == ["web-01"]
    packs = {(p.name, p.devices) for p in data.appendix.packs}
    assert packs == {("linux-standard", 2), ("huawei_vrp-standard", 1)}
    assert len(data.appendix.runs) == 31  # one run a day in October
    assert "password" not in data.appendix.store


def test_a_period_without_data_says_so(seeded: History) -> None:
    data = _build(seeded, period="2026-05", lang="zh-CN")
    assert data.empty
    assert data.summary.overall is State.UNKNOWN
    assert data.summary.headline == "本期没有这些设备的巡检记录。"
    assert data.findings == [] and data.forecasts == []
    assert data.summary.coverage.skipped == 4
    assert data.summary.conclusions[0].startswith("本期未存储所选 4 台设备")


def test_without_a_customer_every_device_is_in_scope(seeded: History) -> None:
    data = _build(seeded, customer=None)
    assert data.summary.coverage.in_scope == 5
    assert data.summary.coverage.unreachable_devices == ["lab-01"]
    assert data.meta.scope == "all devices (5)"
    assert {r.device: r.status for r in data.inventory}["lab-01"] == "missing"


def test_chinese_report_data(seeded: History) -> None:
    data = _build(seeded, lang="zh-CN")
    assert data.meta.title == "巡检报告"
    assert data.meta.customer.name == "某某银行股份有限公司"
    assert data.summary.headline == "需立即处理：1 台设备存在 1 项严重问题。"
    assert {f.check_title for f in data.findings} == {"风扇", "文件系统使用率", "序列号与型号核对"}


def test_unknown_customer_names_the_known_ones(seeded: History) -> None:
    with pytest.raises(ReportError, match="unknown customer 'nope'; known: acme"):
        _build(seeded, customer="nope")


def test_regenerating_makes_a_new_version_and_keeps_the_old_files(seeded: History,
                                                                  tmp_path: Path) -> None:
    job = ReportJob(period=parse_period("2026-10", "UTC"), languages=["en"], formats=["json"],
                    out_dir=tmp_path / "out", customer="acme")
    first = generate(seeded.store, seeded.loaded, job, NOW)
    second = generate(seeded.store, seeded.loaded, job, NOW)
    assert (first.version, second.version) == (1, 2)
    assert [p.name for p in first.files] == ["acme-2026-10-v1-en.json"]
    assert all(p.exists() for p in first.files + second.files)
    assert second.data["en"].meta.version == 2
    versions = [(r["period"], r["version"]) for r in seeded.store.reports()]
    assert versions == [("2026-10", 2), ("2026-10", 1)]


def test_the_only_customer_owning_every_device_is_the_default(tmp_path: Path,
                                                              store: Store) -> None:
    from support.report_history import CONFIG, write_config

    from config.loader import load_config

    owned = [d for d in CONFIG["devices"] if d["name"] != "lab-01"]  # type: ignore[union-attr]
    loaded = load_config(write_config(tmp_path, devices=owned))
    job = ReportJob(period=parse_period("2026-10", "UTC"), languages=[], formats=["json"],
                    out_dir=tmp_path)
    chosen = select(loaded, job)
    assert chosen.customer is not None and chosen.customer.name == "某某银行股份有限公司"
    assert chosen.prefix == "acme"
