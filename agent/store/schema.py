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
    #: running → completed | aborted (the agent died mid-run) | failed
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
    __table_args__ = (Index("ix_device_results_device_started", "device", "started_at"),)

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
    check: Mapped[str] = mapped_column(String(64))
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
    item: Mapped[str] = mapped_column(String(64))
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
