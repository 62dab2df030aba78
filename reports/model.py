"""The report's data: everything the customer report shows, typed, in one tree.

:func:`reports.build.build_report` fills it from the store and the config; the HTML/PDF templates,
the JSON twin and the CSV/XLSX findings all read this one object, so the four formats never
disagree. Texts meant for readers (titles, recommendations, conclusions) are already in the
report's language; codes (``state``, ``status``, ``category``) stay language-neutral for machines.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from checks.model import State

#: bump when a field changes meaning or disappears (the JSON twin carries it)
SCHEMA_VERSION = 1

Language = Literal["zh-CN", "en"]


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Branding(_Data):
    name: str
    #: the logo as a ``data:`` URI, so the HTML file stands alone (no external fetches)
    logo: str | None = None


class ReportMeta(_Data):
    title: str
    customer: Branding
    provider: Branding
    #: e.g. ``2026-10``, ``2026-Q3`` or ``2026-10-01 – 2026-10-15``
    period_label: str
    period_start: date
    #: inclusive
    period_end: date
    timezone: str
    language: Language
    #: 1 for the first report of this customer and period; +1 each time it is generated again
    version: int
    generated_at: datetime
    author: str | None = None
    reviewer: str | None = None
    xunjian_version: str
    #: how the devices were selected (customer, groups, tags), for the cover
    scope: str


class EvidenceRef(_Data):
    """Where a finding's proof is: the stored result, its pack items, and how to show them."""

    result_id: int
    inspected_at: datetime
    items: list[str] = Field(default_factory=list)
    #: e.g. ``xunjian evidence db-01 filesystem /data``
    command: str


class Finding(_Data):
    state: State
    device: str
    address: str
    business_system: str | None = None
    business_level: int | None = None
    check: str
    #: the check's title in the report's language
    check_title: str
    item: str | None = None
    #: the measured value as shown (``93.1 %``, ``Failed``)
    value: str | None = None
    #: ``warn 80 % / crit 90 %`` (None for checks judged without thresholds)
    threshold: str | None = None
    #: the numbers behind ``value`` and ``threshold``, for machines
    value_num: float | None = None
    unit: str | None = None
    warn: float | None = None
    crit: float | None = None
    message: str
    recommendation: str
    evidence: EvidenceRef
    waived: bool = False
    waiver_reason: str | None = None
    waiver_expires: date | None = None
    #: not present at the baseline (the last inspection before the period)
    new: bool = False


class Recommendation(_Data):
    category: Literal["capacity", "maintenance", "upgrade", "availability", "configuration",
                      "register"]
    text: str
    devices: list[str]
    #: the worst state among the findings behind it
    state: State


class Risk(_Data):
    """One of the executive summary's top risks (a finding, ranked by severity × business
    level × how close the value is to its limit)."""

    device: str
    business_system: str | None = None
    text: str
    state: State


class Coverage(_Data):
    #: devices the report covers (the selection from the inventory)
    in_scope: int
    #: inspected successfully at least once in the period (latest result reachable)
    inspected: int
    #: their latest result in the period says the device could not be inspected
    unreachable: int
    #: no inspection at all in the period
    skipped: int
    skipped_devices: list[str] = Field(default_factory=list)
    unreachable_devices: list[str] = Field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.inspected / self.in_scope if self.in_scope else 0.0


class Summary(_Data):
    #: worst device state (OK < WARN < UNKNOWN < CRIT); UNKNOWN when nothing was inspected
    overall: State
    #: a sentence a manager reads first
    headline: str
    #: device count per state of the latest inspection in the period
    devices_by_state: dict[State, int]
    #: finding count per state (waived findings are not counted)
    findings_by_state: dict[State, int]
    waived_findings: int
    coverage: Coverage
    top_risks: list[Risk]
    conclusions: list[str]
    recommendations: list[Recommendation]


class InventoryRow(_Data):
    device: str
    address: str
    platform: str
    vendor: str | None = None
    location: str | None = None
    business_system: str | None = None
    business_level: int | None = None
    registered_model: str | None = None
    collected_model: str | None = None
    registered_serial: str | None = None
    collected_serial: str | None = None
    warranty_end: date | None = None
    #: matched: serial (and model) as registered; replaced: a different serial or model was
    #: collected; missing: registered but not inspected in the period; unregistered: inspected
    #: but not in the register (no registered serial, or no longer in the inventory);
    #: unverified: inspected, but the device did not report a serial
    status: Literal["matched", "replaced", "missing", "unregistered", "unverified"]
    note: str | None = None


class CheckLine(_Data):
    check: str
    check_title: str
    item: str | None = None
    state: State
    value: str | None = None
    threshold: str | None = None
    message: str
    waived: bool = False


class DeviceSection(_Data):
    device: str
    address: str
    platform: str
    state: State
    reachable: bool
    inspected_at: datetime | None = None
    error: str | None = None
    model: str | None = None
    serial: str | None = None
    os: str | None = None
    uptime_days: float | None = None
    location: str | None = None
    business_system: str | None = None
    business_level: int | None = None
    #: headline figures (percent): CPU, memory, the fullest filesystem
    cpu_percent: float | None = None
    memory_percent: float | None = None
    fullest_filesystem: str | None = None
    fullest_filesystem_percent: float | None = None
    #: every non-OK check, worst first (OK ones are only counted, to keep the report short)
    findings: list[CheckLine] = Field(default_factory=list)
    ok_checks: int = 0
    #: pack items whose output could not be read (why some checks are UNKNOWN)
    item_errors: dict[str, str] = Field(default_factory=dict)
    result_id: int | None = None


class FindingChange(_Data):
    device: str
    check_title: str
    item: str | None = None
    #: the state now (new findings) or at the baseline (cleared ones)
    state: State


class ConfigChange(_Data):
    device: str
    #: configuration versions stored during the period
    versions: int
    lines_added: int
    lines_removed: int
    last_changed_at: datetime


class HardwareChange(_Data):
    device: str
    #: ``serial``, ``model`` or ``module <name>``
    part: str
    before: str | None = None
    after: str | None = None


class StateChange(_Data):
    device: str
    before: State
    after: State


class Changes(_Data):
    #: when the baseline (the latest inspection before the period) was taken; None: no baseline
    baseline_at: datetime | None = None
    new_findings: list[FindingChange] = Field(default_factory=list)
    cleared_findings: list[FindingChange] = Field(default_factory=list)
    state_changes: list[StateChange] = Field(default_factory=list)
    config_changes: list[ConfigChange] = Field(default_factory=list)
    hardware_changes: list[HardwareChange] = Field(default_factory=list)


class TrendPoint(_Data):
    at: datetime
    value: float


class TrendSeries(_Data):
    device: str
    #: e.g. the mountpoint for filesystems, the sensor for temperature; None for CPU/memory
    item: str | None = None
    points: list[TrendPoint]


class TrendMetric(_Data):
    """One chart: the devices with the highest latest values of one metric over the window."""

    metric: Literal["cpu", "memory", "filesystem", "temperature"]
    title: str
    unit: str
    warn: float | None = None
    crit: float | None = None
    series: list[TrendSeries]


class Forecast(_Data):
    """A linear fit over a filesystem's history that says when it reaches ``threshold``.
    Only fits that mean something are kept (enough points, a rising trend, a good R²)."""

    device: str
    item: str
    current_percent: float
    threshold_percent: float
    #: percentage points per day
    slope_per_day: float
    days_to_threshold: float
    reaches_on: date
    r_squared: float
    points: int
    text: str


class IncidentLine(_Data):
    id: int
    priority: str
    severity: str
    device: str
    title: str
    status: str
    opened_at: datetime
    resolved_at: datetime | None = None
    responded_in_target: bool | None = None
    resolved_in_target: bool | None = None


class ProblemLine(_Data):
    id: int
    title: str
    device: str
    incident_count: int
    created_at: datetime
    known_error: str | None = None


class IncidentSummary(_Data):
    opened: int
    resolved: int
    still_open: int
    by_priority: dict[str, int]
    #: incidents whose response (acknowledgement or resolution) was due in the period
    response_measured: int
    response_met: int
    resolution_measured: int
    resolution_met: int
    #: P1/P2 incidents of the period
    major: list[IncidentLine]
    open_problems: list[ProblemLine]

    @property
    def response_rate(self) -> float | None:
        return self.response_met / self.response_measured if self.response_measured else None

    @property
    def resolution_rate(self) -> float | None:
        return (self.resolution_met / self.resolution_measured
                if self.resolution_measured else None)


class WaiverLine(_Data):
    device: str
    check: str
    check_title: str
    item: str
    reason: str
    expires: date
    approved_by: str | None = None
    #: expires within 30 days of the report's end date
    expiring_soon: bool


class PackLine(_Data):
    name: str
    version: str
    content_hash: str
    devices: int
    #: not-required (built-in standard), approved, or unapproved (an on-demand run)
    approval: Literal["not-required", "approved", "unapproved"] = "not-required"
    approved_by: str | None = None
    approved_at: datetime | None = None


class RunLine(_Data):
    id: int
    started_at: datetime
    finished_at: datetime | None = None
    trigger: str
    plan: str | None = None
    status: str
    devices: int


class Appendix(_Data):
    packs: list[PackLine]
    runs: list[RunLine]
    #: where the session transcripts are kept (the store, without credentials)
    store: str
    transcript_command: str


class ReportData(_Data):
    schema_version: int = SCHEMA_VERSION
    meta: ReportMeta
    #: no inspection of any selected device in the period: the report says so
    empty: bool
    summary: Summary
    inventory: list[InventoryRow]
    findings: list[Finding]
    devices: list[DeviceSection]
    changes: Changes
    trends: list[TrendMetric]
    forecasts: list[Forecast]
    incidents: IncidentSummary
    waivers: list[WaiverLine]
    appendix: Appendix
