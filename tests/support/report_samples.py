"""A realistic :class:`ReportData` for the report tests, built through the real models.

:func:`sample_report` is one month (2026-10, Asia/Shanghai) of a small customer: five devices
(two Linux servers, a Huawei core switch, a firewall that could not be reached, an OK
application server), findings in every non-OK state plus a waived one, inventory rows of every
reconciliation status, trends, a capacity forecast, incidents, waivers, runs and packs.
Reader-facing texts are in the requested language; device output stays as the device printed it.

Hostile text is planted where device output or the register can put it: markup
(``<script>alert(1)</script>``), spreadsheet formulas (``=cmd|' /C calc'!A0``, ``+SUM(1)``,
``@x``), a leading minus, ANSI escape codes, newlines and Chinese. The names are exported so
tests can look for them without repeating the literals.

:func:`empty_report` is a period without any inspection: ``empty=True``, zero counts, empty lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from checks.model import State
from reports.model import (
    Appendix,
    Branding,
    Changes,
    CheckLine,
    ConfigChange,
    Coverage,
    DeviceSection,
    EvidenceRef,
    Finding,
    FindingChange,
    Forecast,
    HardwareChange,
    IncidentLine,
    IncidentSummary,
    InventoryRow,
    Language,
    PackLine,
    ProblemLine,
    Recommendation,
    ReportData,
    ReportMeta,
    Risk,
    RunLine,
    StateChange,
    Summary,
    TrendMetric,
    TrendPoint,
    TrendSeries,
    WaiverLine,
)

SCRIPT = "<script>alert(1)</script>"
FORMULA_CMD = "=cmd|' /C calc'!A0"
FORMULA_SUM = "+SUM(1)"
FORMULA_AT = "@x"
#: what a device prints when it colours its output (ESC is illegal in XLSX cells)
ANSI_FAILED = "\x1b[31mFAILED\x1b[0m"

#: device names (one carries markup, one a formula, one newline-free Chinese)
DB = "db-01"
SWITCH = "core-sw-01"
APP = f"app-{SCRIPT}"
FIREWALL = "防火墙-01"
WEB = "web-02"
DEVICES = (DB, SWITCH, APP, FIREWALL, WEB)

PERIOD_START = date(2026, 10, 1)
PERIOD_END = date(2026, 10, 31)
TIMEZONE = "Asia/Shanghai"
GENERATED_AT = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)
#: the latest inspection of the period (09:00 in Shanghai on 31 October)
INSPECTED_AT = datetime(2026, 10, 31, 1, 0, tzinfo=UTC)
BASELINE_AT = datetime(2026, 9, 30, 1, 0, tzinfo=UTC)


_WORDS: dict[str, tuple[str, str]] = {
    # key: (zh-CN, en)
    "title": ("月度巡检报告", "Monthly inspection report"),
    "customer": ("华东某银行（数据中心）", "East China Bank (data centre)"),
    "provider": ("巡检服务有限公司", "Xunjian Services Ltd"),
    "scope": ("客户 east-bank：组 core-db、network", "customer east-bank: groups core-db, network"),
    "filesystem": ("文件系统使用率", "Filesystem usage"),
    "memory": ("内存使用率", "Memory usage"),
    "fans": ("风扇", "Fans"),
    "optics": ("光模块收光功率", "Optical receive power"),
    "failed_units": ("失败的 systemd 服务", "Failed systemd units"),
    "time_sync": ("时间同步", "Time synchronisation"),
    "temperature": ("温度与告警", "Temperature and alarms"),
    "reachability": ("可达性", "Reachability"),
    "rec_fs": ("扩容 /data 或清理归档日志；\n扩容前请联系 DBA。",
               "Expand /data or purge archived logs;\ncontact the DBA before expanding."),
    "rec_fan": ("更换故障风扇模块（备件 FAN-60A）。",
                "Replace the failed fan module (spare FAN-60A)."),
    "rec_mem": ("检查内存占用最高的进程，必要时扩容。",
                "Review the processes using the most memory; add memory if needed."),
    "rec_optics": ("清洁或更换光模块。", "Clean or replace the transceiver."),
    "rec_units": ("查看失败服务的日志并修复。", "Read the failed unit's log and fix it."),
    "rec_reach": ("检查管理网络与 SSH 访问。", "Check the management network and SSH."),
    "rec_time": ("配置 NTP 服务器。", "Configure an NTP server."),
    "headline": ("5 台设备中 2 台严重、1 台不可达：/data 即将写满，核心交换机风扇故障。",
                 "2 of 5 devices are critical and 1 unreachable: /data is nearly full and a "
                 "core switch fan has failed."),
    "conclusion_1": ("核心账务数据库 /data 使用率 95 %，预计 23 天内达到 90 % 以上。",
                     "The core ledger database's /data is 95 % full."),
    "conclusion_2": ("防火墙本月无法巡检，请检查管理网络。",
                     "The firewall could not be inspected this month; "
                     "check the management network."),
    "forecast": ("/data 预计约 23 天后达到 90 %", "/data reaches 90 % in about 23 days"),
    "waiver_reason": ("计划于 11 月维护窗口更换\n（变更单 CHG-1024）",
                      "replacement planned in the November window\n(change CHG-1024)"),
    "ledger": ("核心账务", "Core ledger"),
    "cpu_title": ("CPU 使用率", "CPU usage"),
    "temp_title": ("温度", "Temperature"),
    "risk_fs": ("/data 已使用 95.2 %（严重阈值 90 %）", "/data is 95.2 % full (crit 90 %)"),
    "risk_fan": ("风扇 2 故障", "fan 2 failed"),
    "risk_fw": ("设备不可达", "device unreachable"),
    "risk_mem": ("内存使用率 88.4 %", "memory 88.4 % used"),
    "note_replaced": ("序列号与登记不符（可能已更换）",
                      "serial differs from the register (replaced?)"),
    "problem": ("核心交换机风扇反复告警", "Core switch fans keep failing"),
    "known_error": ("FAN-60A 批次缺陷，更换模块", "FAN-60A batch defect: replace"),
}


def _words(lang: str) -> dict[str, str]:
    """Reader-facing texts of the sample in ``lang`` (the builder fills them in real reports)."""
    return {key: zh if lang == "zh-CN" else en for key, (zh, en) in _WORDS.items()}


def _evidence(device: str, check: str, item: str | None, result_id: int,
              items: Sequence[str]) -> EvidenceRef:
    command = f"xunjian evidence {device} {check}" + (f" {item}" if item else "")
    return EvidenceRef(result_id=result_id, inspected_at=INSPECTED_AT, items=list(items),
                       command=command)


def _findings(w: dict[str, str]) -> list[Finding]:
    return [
        Finding(state=State.CRIT, device=DB, address="10.10.1.11", business_system=w["ledger"],
                business_level=1, check="filesystem", check_title=w["filesystem"], item="/data",
                value="95.2 %", threshold="warn 80 %, crit 90 %",
                message="/data is 95.2 % full (crit at 90 %)", recommendation=w["rec_fs"],
                evidence=_evidence(DB, "filesystem", "/data", 101, ["filesystems"]), new=True),
        Finding(state=State.CRIT, device=SWITCH, address="10.0.0.1", business_system=FORMULA_AT,
                business_level=1, check="fans", check_title=w["fans"], item="FAN 2",
                value=ANSI_FAILED, message=f"fan 2 reports {ANSI_FAILED}",
                recommendation=w["rec_fan"],
                evidence=_evidence(SWITCH, "fans", "FAN 2", 102, ["environment"])),
        Finding(state=State.WARN, device=DB, address="10.10.1.11", business_system=w["ledger"],
                business_level=1, check="memory", check_title=w["memory"], value="88.4 %",
                threshold="warn 85 %, crit 95 %", message="memory 88.4 % used (warn at 85 %)",
                recommendation=w["rec_mem"],
                evidence=_evidence(DB, "memory", None, 101, ["memory"])),
        Finding(state=State.WARN, device=SWITCH, address="10.0.0.1", business_system=FORMULA_AT,
                business_level=1, check="optics", check_title=w["optics"], item=FORMULA_SUM,
                value="-14.2 dBm", threshold="warn -12 dBm, crit -16 dBm",
                message=f"{FORMULA_CMD}\nreceive power low on 10GE1/0/1",
                recommendation=w["rec_optics"],
                evidence=_evidence(SWITCH, "optics", FORMULA_SUM, 102, ["optics"]), new=True),
        Finding(state=State.WARN, device=APP, address="10.10.2.21", business_system="网上银行",
                business_level=2, check="failed_units", check_title=w["failed_units"],
                item="nginx.service", value="1", message=f"nginx.service failed: {SCRIPT}",
                recommendation=w["rec_units"],
                evidence=_evidence(APP, "failed_units", "nginx.service", 103, ["failed_units"]),
                waived=True, waiver_reason=w["waiver_reason"], waiver_expires=date(2026, 11, 20)),
        Finding(state=State.UNKNOWN, device=FIREWALL, address="10.0.0.254",
                business_system="边界安全", business_level=2, check="reachability",
                check_title=w["reachability"],
                message="connection to 10.0.0.254:22 timed out after 30 s",
                recommendation=w["rec_reach"],
                evidence=_evidence(FIREWALL, "reachability", None, 104, []), new=True),
        Finding(state=State.WARN, device=WEB, address="10.10.2.22", business_system="网上银行",
                business_level=3, check="time_sync", check_title=w["time_sync"],
                value="unsynchronised", message="\tNTP not synchronised (chronyd: no sources)",
                recommendation=w["rec_time"],
                evidence=_evidence(WEB, "time_sync", None, 105, ["timesync"])),
    ]


def _lines(findings: Sequence[Finding], device: str) -> list[CheckLine]:
    return [CheckLine(check=f.check, check_title=f.check_title, item=f.item, state=f.state,
                      value=f.value, threshold=f.threshold, message=f.message, waived=f.waived)
            for f in findings if f.device == device]


def _devices(findings: Sequence[Finding]) -> list[DeviceSection]:
    common = {"inspected_at": INSPECTED_AT, "reachable": True}
    return [
        DeviceSection(device=DB, address="10.10.1.11", platform="linux", state=State.CRIT,
                      model="PowerEdge R750", serial="CN7X2K3", os="Rocky Linux 9.4",
                      uptime_days=182.5, location="上海 张江 A3-12", business_system="核心账务",
                      business_level=1, cpu_percent=41.3, memory_percent=88.4,
                      fullest_filesystem="/data", fullest_filesystem_percent=95.2,
                      findings=_lines(findings, DB), ok_checks=11, result_id=101, **common),
        DeviceSection(device=SWITCH, address="10.0.0.1", platform="huawei_vrp",
                      state=State.CRIT, model="CE6881-48S6CQ", serial="2102351931P0KA000123",
                      os="VRP V200R022C00SPC500", uptime_days=412.0, location="上海 张江 A1-01",
                      business_system=FORMULA_AT, business_level=1, cpu_percent=12.0,
                      memory_percent=37.5, findings=_lines(findings, SWITCH), ok_checks=9,
                      item_errors={"bgp": "display bgp peer: Error: Unrecognized command\n  ^"},
                      result_id=102, **common),
        DeviceSection(device=APP, address="10.10.2.21", platform="linux", state=State.OK,
                      model="ThinkSystem SR650", serial="J30ABC12", os="Ubuntu 22.04.4 LTS",
                      uptime_days=33.2, location="上海 张江 B2-07", business_system="网上银行",
                      business_level=2, cpu_percent=63.0, memory_percent=71.2,
                      fullest_filesystem="/", fullest_filesystem_percent=64.0,
                      findings=_lines(findings, APP), ok_checks=12, result_id=103, **common),
        DeviceSection(device=FIREWALL, address="10.0.0.254", platform="hp_comware",
                      state=State.UNKNOWN, reachable=False, inspected_at=INSPECTED_AT,
                      error="connection to 10.0.0.254:22 timed out after 30 s; check the "
                            "address, the port and firewalls",
                      location="上海 张江 A1-02", business_system="边界安全", business_level=2,
                      findings=_lines(findings, FIREWALL), result_id=104),
        DeviceSection(device=WEB, address="10.10.2.22", platform="linux", state=State.WARN,
                      model="ThinkSystem SR650", serial="J30ABC13", os="Ubuntu 22.04.4 LTS",
                      uptime_days=2.1, location="上海 张江 B2-08", business_system="网上银行",
                      business_level=3, cpu_percent=8.5, memory_percent=40.0,
                      fullest_filesystem="/var", fullest_filesystem_percent=55.5,
                      findings=_lines(findings, WEB), ok_checks=13, result_id=105, **common),
    ]


def _inventory(w: dict[str, str]) -> list[InventoryRow]:
    return [
        InventoryRow(device=DB, address="10.10.1.11", platform="linux", vendor="Dell",
                     location="上海 张江 A3-12", business_system=w["ledger"], business_level=1,
                     registered_model="PowerEdge R750", collected_model="PowerEdge R750",
                     registered_serial="CN7X2K3", collected_serial="CN7X2K3",
                     warranty_end=date(2028, 6, 30), status="matched"),
        InventoryRow(device=SWITCH, address="10.0.0.1", platform="huawei_vrp", vendor="Huawei",
                     location="上海 张江 A1-01", business_system=FORMULA_AT, business_level=1,
                     registered_model="CE6881-48S6CQ", collected_model="CE6881-48S6CQ",
                     registered_serial="2102351931P0KA000099",
                     collected_serial="2102351931P0KA000123", warranty_end=date(2027, 1, 15),
                     status="replaced", note=w["note_replaced"]),
        InventoryRow(device=FIREWALL, address="10.0.0.254", platform="hp_comware",
                     vendor="H3C", location="上海 张江 A1-02", business_system="边界安全",
                     business_level=2, registered_model="SecPath F1000",
                     registered_serial="210235A2CSH19C000042", warranty_end=date(2026, 12, 1),
                     status="missing"),
        InventoryRow(device=APP, address="10.10.2.21", platform="linux", vendor="Lenovo",
                     collected_model="ThinkSystem SR650", collected_serial="J30ABC12",
                     status="unregistered", note=FORMULA_CMD),
        InventoryRow(device=WEB, address="10.10.2.22", platform="linux", vendor="Lenovo",
                     business_system="网上银行", business_level=3,
                     registered_model="ThinkSystem SR650", collected_model="ThinkSystem SR650",
                     registered_serial="J30ABC13", status="unverified"),
    ]


def _daily(start: datetime, days: int, first: float, step: float) -> list[TrendPoint]:
    # a deterministic saw-tooth on a linear trend: realistic enough, no randomness
    return [TrendPoint(at=start + timedelta(days=i),
                       value=round(first + step * i + (i % 3 - 1) * 0.4, 2))
            for i in range(days)]


def _trends(w: dict[str, str]) -> list[TrendMetric]:
    start = datetime(2026, 5, 1, 1, 0, tzinfo=UTC)
    days = 184
    return [
        TrendMetric(metric="cpu", title=w["cpu_title"], unit="%", warn=80, crit=95, series=[
            TrendSeries(device=APP, points=_daily(start, days, 40.0, 0.12)),
            TrendSeries(device=DB, points=_daily(start, days, 35.0, 0.03))]),
        TrendMetric(metric="memory", title=w["memory"], unit="%", warn=85, crit=95, series=[
            TrendSeries(device=DB, points=_daily(start, days, 70.0, 0.1))]),
        TrendMetric(metric="filesystem", title=w["filesystem"], unit="%", warn=80, crit=90,
                    series=[TrendSeries(device=DB, item="/data",
                                        points=_daily(start, days, 60.0, 0.19)),
                            TrendSeries(device=WEB, item="/var",
                                        points=_daily(start, days, 50.0, 0.03))]),
        TrendMetric(metric="temperature", title=w["temp_title"], unit="°C", warn=60, crit=75,
                    series=[TrendSeries(device=SWITCH, item="CPU 温度",
                                        points=_daily(start, days, 41.0, 0.0))]),
    ]


def _incidents(w: dict[str, str]) -> IncidentSummary:
    p1 = IncidentLine(id=41, priority="P1", severity="CRIT", device=DB,
                      title="db-01 filesystem /data 95 % used", status="open",
                      opened_at=datetime(2026, 10, 28, 2, 0, tzinfo=UTC),
                      responded_in_target=True)
    p2 = IncidentLine(id=37, priority="P2", severity="CRIT", device=SWITCH,
                      title=f"core-sw-01 fans {SCRIPT}", status="resolved",
                      opened_at=datetime(2026, 10, 12, 6, 30, tzinfo=UTC),
                      resolved_at=datetime(2026, 10, 12, 14, 0, tzinfo=UTC),
                      responded_in_target=True, resolved_in_target=False)
    problem = ProblemLine(id=5, title=w["problem"], device=SWITCH, incident_count=3,
                          created_at=datetime(2026, 9, 2, 3, 0, tzinfo=UTC),
                          known_error=w["known_error"])
    return IncidentSummary(opened=3, resolved=2, still_open=1,
                           by_priority={"P1": 1, "P2": 1, "P3": 1}, response_measured=3,
                           response_met=3, resolution_measured=2, resolution_met=1,
                           major=[p1, p2], open_problems=[problem])


def _summary(w: dict[str, str], findings: Sequence[Finding],
             devices: Sequence[DeviceSection]) -> Summary:
    by_device = {s: sum(d.state is s for d in devices) for s in State}
    by_finding = {s: sum(f.state is s and not f.waived for f in findings) for s in State}
    unreachable = [d.device for d in devices if not d.reachable]
    coverage = Coverage(in_scope=len(devices), inspected=len(devices) - len(unreachable),
                        unreachable=len(unreachable), skipped=0,
                        unreachable_devices=unreachable)
    risks = [
        Risk(device=DB, business_system=w["ledger"], text=w["risk_fs"], state=State.CRIT),
        Risk(device=SWITCH, business_system=FORMULA_AT, text=w["risk_fan"], state=State.CRIT),
        Risk(device=FIREWALL, business_system="边界安全", text=w["risk_fw"],
             state=State.UNKNOWN),
        Risk(device=DB, business_system=w["ledger"], text=w["risk_mem"], state=State.WARN),
    ]
    recommendations = [
        Recommendation(category="capacity", text=w["rec_fs"], devices=[DB], state=State.CRIT),
        Recommendation(category="maintenance", text=w["rec_fan"], devices=[SWITCH],
                       state=State.CRIT),
        Recommendation(category="availability", text=w["rec_reach"], devices=[FIREWALL],
                       state=State.UNKNOWN),
        Recommendation(category="register", text=w["note_replaced"], devices=[SWITCH, APP],
                       state=State.WARN),
    ]
    return Summary(overall=State.worst([d.state for d in devices]), headline=w["headline"],
                   devices_by_state=by_device, findings_by_state=by_finding,
                   waived_findings=sum(f.waived for f in findings), coverage=coverage,
                   top_risks=risks, conclusions=[w["conclusion_1"], w["conclusion_2"]],
                   recommendations=recommendations)


def _changes(w: dict[str, str]) -> Changes:
    return Changes(
        baseline_at=BASELINE_AT,
        new_findings=[FindingChange(device=DB, check_title=w["filesystem"], item="/data",
                                    state=State.CRIT),
                      FindingChange(device=FIREWALL, check_title=w["reachability"],
                                    state=State.UNKNOWN)],
        cleared_findings=[FindingChange(device=WEB, check_title=w["temperature"],
                                        item=SCRIPT, state=State.WARN)],
        state_changes=[StateChange(device=DB, before=State.WARN, after=State.CRIT),
                       StateChange(device=FIREWALL, before=State.OK, after=State.UNKNOWN)],
        config_changes=[ConfigChange(device=SWITCH, versions=2, lines_added=14, lines_removed=3,
                                     last_changed_at=datetime(2026, 10, 20, 8, 15, tzinfo=UTC))],
        hardware_changes=[HardwareChange(device=SWITCH, part="serial",
                                         before="2102351931P0KA000099",
                                         after="2102351931P0KA000123")],
    )


def _meta(lang: Language, w: dict[str, str]) -> ReportMeta:
    return ReportMeta(
        title=w["title"], customer=Branding(name=w["customer"]),
        provider=Branding(name=w["provider"]), period_label="2026-10",
        period_start=PERIOD_START, period_end=PERIOD_END, timezone=TIMEZONE, language=lang,
        version=2, generated_at=GENERATED_AT, author="张工程师", reviewer="Li Review",
        xunjian_version="0.1.0", scope=w["scope"])


def _appendix() -> Appendix:
    runs = [RunLine(id=7 + i, started_at=INSPECTED_AT - timedelta(days=10 * (2 - i)),
                    finished_at=INSPECTED_AT - timedelta(days=10 * (2 - i)) + timedelta(
                        seconds=95), trigger="schedule", plan="monthly", status="finished",
                    devices=5) for i in range(3)]
    packs = [PackLine(name="linux", version="1.4.0", content_hash="9f2c" * 16, devices=3),
             PackLine(name="huawei_vrp", version="1.2.0", content_hash="1ab0" * 16, devices=1),
             PackLine(name="hp_comware", version="1.1.0", content_hash="77de" * 16, devices=1)]
    return Appendix(packs=packs, runs=runs, store="sqlite:////var/lib/xunjian/xunjian.db",
                    transcript_command="xunjian transcript DEVICE")


def sample_report(lang: str = "zh-CN") -> ReportData:
    """A month of a five-device customer in ``lang`` (``zh-CN`` or ``en``)."""
    language: Language = "en" if lang == "en" else "zh-CN"
    w = _words(language)
    findings = _findings(w)
    devices = _devices(findings)
    forecast = Forecast(device=DB, item="/data", current_percent=85.8, threshold_percent=90.0,
                        slope_per_day=0.19, days_to_threshold=22.6,
                        reaches_on=date(2026, 11, 23), r_squared=0.97, points=184,
                        text=w["forecast"])
    waivers = [
        WaiverLine(device=APP, check="failed_units", check_title=w["failed_units"],
                   item="nginx.service", reason=w["waiver_reason"], expires=date(2026, 11, 20),
                   approved_by="王经理", expiring_soon=True),
        WaiverLine(device=WEB, check="log_errors", check_title="Error log lines (24 h)",
                   item="*", reason=FORMULA_CMD, expires=date(2027, 3, 31), expiring_soon=False),
    ]
    return ReportData(
        meta=_meta(language, w), empty=False, summary=_summary(w, findings, devices),
        inventory=_inventory(w), findings=findings, devices=devices, changes=_changes(w),
        trends=_trends(w), forecasts=[forecast], incidents=_incidents(w), waivers=waivers,
        appendix=_appendix())


def empty_report(lang: str = "zh-CN", *, skipped_devices: Sequence[str] = ()) -> ReportData:
    """A period in which nothing was inspected. ``skipped_devices`` puts devices in scope that
    had no inspection (zero of everything else either way)."""
    language: Language = "en" if lang == "en" else "zh-CN"
    skipped = list(skipped_devices)
    coverage = Coverage(in_scope=len(skipped), inspected=0, unreachable=0, skipped=len(skipped),
                        skipped_devices=skipped)
    headline = "本期没有巡检数据。" if language == "zh-CN" else "No inspection in this period."
    summary = Summary(overall=State.UNKNOWN, headline=headline,
                      devices_by_state=dict.fromkeys(State, 0),
                      findings_by_state=dict.fromkeys(State, 0), waived_findings=0,
                      coverage=coverage, top_risks=[], conclusions=[], recommendations=[])
    incidents = IncidentSummary(opened=0, resolved=0, still_open=0, by_priority={},
                                response_measured=0, response_met=0, resolution_measured=0,
                                resolution_met=0, major=[], open_problems=[])
    return ReportData(
        meta=_meta(language, _words(language)), empty=True, summary=summary, inventory=[],
        findings=[], devices=[], changes=Changes(), trends=[], forecasts=[], incidents=incidents,
        waivers=[], appendix=Appendix(packs=[], runs=[], store="sqlite:///:memory:",
                                      transcript_command="xunjian transcript DEVICE"))
