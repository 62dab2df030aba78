"""Tables of the result store. Changes go through an Alembic migration in ``migrations/``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    #: running → completed | aborted (the agent died mid-run) | failed; with Celery workers:
    #: dispatched → completed | aborted (results still missing at the run timeout)
    status: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[str] = mapped_column(String(32))
    state: Mapped[str | None] = mapped_column(String(8))
    device_count: Mapped[int]
    agent_host: Mapped[str] = mapped_column(String(255))
    agent_pid: Mapped[int]
    config_source: Mapped[str | None] = mapped_column(Text)
    #: the schedule plan that started it (None: CLI or API)
    plan: Mapped[str | None] = mapped_column(String(128))

    results: Mapped[list[DeviceResultRow]] = relationship(back_populates="run")


class DeviceRow(Base):
    """The inventory as last inspected (for history, metrics and reports)."""

    __tablename__ = "devices"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    address: Mapped[str] = mapped_column(String(255))
    platform: Mapped[str] = mapped_column(String(32))
    meta: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class DeviceResultRow(Base):
    __tablename__ = "device_results"
    __table_args__ = (
        Index("ix_device_results_device_started", "device", "started_at"),
        # a task retried after its worker died must not store the device twice (0007)
        Index("uq_device_results_run_device", "run_id", "device", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    device: Mapped[str] = mapped_column(String(128))
    address: Mapped[str] = mapped_column(String(255))
    platform: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(8))
    reachable: Mapped[bool]
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    pack_name: Mapped[str | None] = mapped_column(String(128))
    pack_version: Mapped[str | None] = mapped_column(String(64))
    pack_hash: Mapped[str | None] = mapped_column(String(64))
    #: every pack that ran (standard first): [{"name", "version", "content_hash", "builtin",
    #: "approval", "approved_by", "approved_at"}]
    packs: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    facts: Mapped[dict[str, Any] | None]
    item_errors: Mapped[dict[str, Any]]
    #: zlib-compressed, secrets already redacted
    transcript: Mapped[bytes | None] = mapped_column(LargeBinary)

    run: Mapped[Run] = relationship(back_populates="results")
    checks: Mapped[list[CheckRow]] = relationship(
        back_populates="result", cascade="all, delete-orphan", order_by="CheckRow.id")
    raw_outputs: Mapped[list[RawOutputRow]] = relationship(
        back_populates="result", cascade="all, delete-orphan", order_by="RawOutputRow.id")


class CheckRow(Base):
    __tablename__ = "check_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(
        ForeignKey("device_results.id", ondelete="CASCADE"), index=True)
    check: Mapped[str] = mapped_column(String(160))
    #: a custom pack check's own title (built-in titles come from the catalog)
    title: Mapped[str | None] = mapped_column(Text)
    item: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(8))
    value_num: Mapped[float | None]
    value_text: Mapped[str | None] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(String(16))
    warn: Mapped[float | None]
    crit: Mapped[float | None]
    message: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]]
    waived: Mapped[bool]
    waiver_reason: Mapped[str | None] = mapped_column(Text)
    waiver_expires: Mapped[date | None]

    result: Mapped[DeviceResultRow] = relationship(back_populates="checks")


class RawOutputRow(Base):
    __tablename__ = "raw_outputs"

    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(
        ForeignKey("device_results.id", ondelete="CASCADE"), index=True)
    item: Mapped[str] = mapped_column(String(160))
    command: Mapped[str] = mapped_column(Text)
    exit_code: Mapped[int | None]
    duration_seconds: Mapped[float | None]
    truncated: Mapped[bool]
    #: zlib-compressed
    output: Mapped[bytes] = mapped_column(LargeBinary)

    result: Mapped[DeviceResultRow] = relationship(back_populates="raw_outputs")


class ConfigVersion(Base):
    """A network device's running configuration, stored when it differs from the last one
    (secrets masked, oscillating lines dropped), with the unified diff against that one."""

    __tablename__ = "config_versions"
    __table_args__ = (Index("ix_config_versions_device_collected", "device", "collected_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device: Mapped[str] = mapped_column(String(128))
    result_id: Mapped[int] = mapped_column(
        ForeignKey("device_results.id", ondelete="CASCADE"), index=True)
    collected_at: Mapped[datetime]
    sha256: Mapped[str] = mapped_column(String(64))
    lines: Mapped[int]
    masked: Mapped[bool]
    #: zlib-compressed
    text: Mapped[bytes] = mapped_column(LargeBinary)
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("config_versions.id"))
    #: zlib-compressed unified diff against ``previous_id``; None for the first version
    diff: Mapped[bytes | None] = mapped_column(LargeBinary)
    added: Mapped[int]
    removed: Mapped[int]


class PlanFire(Base):
    """One scheduled time of a plan, claimed before it runs: the unique key makes a second
    claim of the same time fail, so a restart (or a second agent) never runs it twice."""

    __tablename__ = "plan_fires"
    __table_args__ = (UniqueConstraint("plan", "scheduled_for", name="uq_plan_fires_plan_time"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan: Mapped[str] = mapped_column(String(128))
    scheduled_for: Mapped[datetime]
    #: when it was claimed (started) or found missed
    recorded_at: Mapped[datetime]
    #: running → completed | failed | aborted; missed (not run: outside the misfire grace time)
    status: Mapped[str] = mapped_column(String(16))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(Text)


# -- incidents (agent/incidents; migration 0004) ------------------------------------------

#: an incident in one of these statuses is "active"; at most one per fingerprint
_ACTIVE_INCIDENT = "status IN ('open', 'acknowledged')"


class ProblemRow(Base):
    """Recurring incidents of one fingerprint (or device + check) within a window."""

    __tablename__ = "problems"
    __table_args__ = (
        Index("uq_problems_open_key", "key", unique=True,
              sqlite_where=text("status = 'open'"), postgresql_where=text("status = 'open'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: fp:<fingerprint> or dc:<device>/<check>
    key: Mapped[str] = mapped_column(String(300))
    title: Mapped[str] = mapped_column(Text)
    #: open → closed
    status: Mapped[str] = mapped_column(String(16))
    device: Mapped[str] = mapped_column(String(128))
    check: Mapped[str] = mapped_column(String(160))
    item: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    incident_count: Mapped[int]
    known_error: Mapped[str | None] = mapped_column(String(128))


class IncidentRow(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        # Two active incidents for one fingerprint are impossible, even with two processes.
        Index("uq_incidents_active_fingerprint", "fingerprint", unique=True,
              sqlite_where=text(_ACTIVE_INCIDENT), postgresql_where=text(_ACTIVE_INCIDENT)),
        Index("ix_incidents_status_priority", "status", "priority"),
        Index("ix_incidents_device", "device"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(128))
    check: Mapped[str] = mapped_column(String(160))
    item: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(8))
    value: Mapped[str | None] = mapped_column(Text)
    worst_value: Mapped[str | None] = mapped_column(Text)
    #: numeric worst value (higher is worse), to compare new breaches against
    worst_num: Mapped[float | None]
    threshold: Mapped[str | None] = mapped_column(Text)
    impact: Mapped[int]
    urgency: Mapped[int]
    priority: Mapped[str] = mapped_column(String(8))
    #: open → acknowledged → resolved → closed
    status: Mapped[str] = mapped_column(String(16))
    assignee_group: Mapped[str | None] = mapped_column(String(128))
    flapping: Mapped[bool]
    silenced: Mapped[bool]
    #: a firing notification went out: its resolution must go out too, muted or not
    notified: Mapped[bool]
    business_system: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime]
    breach_count: Mapped[int]
    result_id: Mapped[int | None] = mapped_column(
        ForeignKey("device_results.id", ondelete="SET NULL"))
    problem_id: Mapped[int | None] = mapped_column(
        ForeignKey("problems.id", ondelete="SET NULL"), index=True)
    known_error: Mapped[str | None] = mapped_column(String(128))
    workaround: Mapped[str | None] = mapped_column(Text)
    #: {"done": ["response:at_risk", ...]}
    escalations: Mapped[dict[str, Any]]


class IncidentTimelineRow(Base):
    __tablename__ = "incident_timeline"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]]


class IncidentTrackerRow(Base):
    """Per-fingerprint rule state (consecutive counters, the last states): survives restarts."""

    __tablename__ = "incident_trackers"

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    device: Mapped[str] = mapped_column(String(128), index=True)
    check: Mapped[str] = mapped_column(String(160))
    item: Mapped[str | None] = mapped_column(Text)
    breaches: Mapped[int]
    recoveries: Mapped[int]
    #: one character per state (O/W/C/U), oldest first
    history: Mapped[str] = mapped_column(String(100))
    flapping: Mapped[bool]
    updated_at: Mapped[datetime]


class IncidentOutboxRow(Base):
    """A notification to deliver to one channel; retried with backoff until sent."""

    __tablename__ = "incident_outbox"
    __table_args__ = (Index("ix_incident_outbox_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    notifier: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    #: the IncidentEvent as JSON
    event: Mapped[dict[str, Any]]
    #: pending → sent | failed (gave up) | superseded (a newer state replaced it) | dropped
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int]
    next_attempt_at: Mapped[datetime]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    #: a periodic re-send of a firing alert (only its failures go to the timeline)
    resend: Mapped[bool]


class ReportRow(Base):
    """A generated customer report. ``version`` counts the reports of one scope (customer or
    selection) and period: regenerating a report after a fix makes version 2, and so on."""

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("scope", "period", "version",
                                       name="uq_reports_scope_period_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(300))
    period: Mapped[str] = mapped_column(String(64))
    version: Mapped[int]
    generated_at: Mapped[datetime]
    #: comma-separated, e.g. ``zh-CN,en``
    languages: Mapped[str] = mapped_column(String(32))
    overall: Mapped[str] = mapped_column(String(8))
    #: [{"name": ..., "sha256": ..., "bytes": ...}]
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class PackApproval(Base):
    """Who approved which content of a pack, for whom (``scope``: a customer id, or ``*`` for
    every device), and when. ``content`` keeps the approved files, so a later edit can be
    shown as a diff against exactly what was approved."""

    __tablename__ = "pack_approvals"
    __table_args__ = (Index("ix_pack_approvals_pack_scope", "pack_name", "scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pack_name: Mapped[str] = mapped_column(String(64))
    pack_version: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(128))
    approved_by: Mapped[str] = mapped_column(String(200))
    approved_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(Text)
    #: {"pack.yaml": text, "files": {path: text}}
    content: Mapped[dict[str, Any]]
    revoked_at: Mapped[datetime | None]
