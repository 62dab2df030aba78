"""Settings of the long-running agent (``xunjian serve``): its HTTP listener and the
plans it runs on schedules (inspections and customer reports)."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.platforms import Platform
from config.reports import ReportFormat

#: paths that answer without a bearer token unless ``server.auth.public`` says otherwise
DEFAULT_PUBLIC_PATHS = ("/metrics", "/healthz")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthSettings(_Strict):
    """Bearer tokens for the HTTP API. Tokens are never written in the YAML: one per line in
    ``tokens_file``, or comma-separated in the environment variable ``tokens_env``."""

    tokens_env: str | None = "XUNJIAN_API_TOKENS"
    tokens_file: Path | None = None
    #: paths served without a token (exact paths)
    public: list[str] = Field(default_factory=lambda: list(DEFAULT_PUBLIC_PATHS))
    #: refuse to start without any token (set false only behind an authenticating proxy)
    required: bool = True


class ServerSettings(_Strict):
    #: loopback by default: exposing the API is an explicit choice
    host: str = "127.0.0.1"
    port: int = Field(default=9735, ge=1, le=65535)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    #: on SIGTERM, running inspections get this long to finish before they are recorded aborted
    shutdown_grace_seconds: float = Field(default=60.0, ge=0, le=3600)
    #: /probe: the live inspection's time limit when Prometheus sends no scrape timeout
    probe_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    log_format: Literal["text", "json"] = "text"
    #: agents sharing a PostgreSQL store: how often a standby tries to take over the
    #: scheduler lock (a dead scheduler is replaced within about this long)
    leader_poll_seconds: float = Field(default=5.0, ge=0.2, le=300)

    @field_validator("host")
    @classmethod
    def _host_is_address(cls, value: str) -> str:
        if value not in ("localhost", "::") and not _is_ip(value):
            raise ValueError(f"{value!r} is not an IP address to listen on "
                             "(use 127.0.0.1, ::1, 0.0.0.0 or an interface address)")
        return value


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


ReportPeriodKind = Literal["previous-month", "current-month", "previous-week",
                          "previous-quarter"]
#: keys only a report plan takes, and only an inspection plan takes
REPORT_PLAN_KEYS = ("customer", "period", "languages", "formats", "email", "out_dir")
INSPECTION_PLAN_KEYS = ("packs",)


class PlanConfig(_Strict):
    """A plan: an inspection of some devices, or the customer report, on a schedule.

    ``cron`` is a standard five-field crontab expression (minute hour day month weekday)
    evaluated in ``timezone``: ``0 2 1 * *`` is 02:00 on the 1st of each month.
    """

    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")
    cron: str
    timezone: str = "UTC"
    kind: Literal["inspection", "report"] = "inspection"
    #: devices chosen by group, tag or name (union); none of them = the whole inventory.
    #: A report plan with a customer narrows the customer's devices to these.
    groups: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    devices: list[str] = Field(default_factory=list)
    #: pack names by platform, overriding the platform's standard pack (inspection only)
    packs: dict[Platform, str] = Field(default_factory=dict)
    #: a run that could not start on time (agent down, previous run still going) still
    #: starts if it is at most this late; later ones are recorded as missed
    misfire_grace_seconds: int = Field(default=3600, ge=1)
    enabled: bool = True

    # -- report plans (kind: report) ------------------------------------------------------
    #: a customer id from ``customers:``; without it the plan's groups/tags/devices select
    customer: str | None = None
    #: the period the report covers, relative to the scheduled time in ``report.timezone``
    period: ReportPeriodKind = "previous-month"
    #: default: the customer's language, else ``report.language``
    languages: Annotated[list[Literal["zh-CN", "en"]], Field(min_length=1)] | None = None
    #: default: ``report.formats``
    formats: Annotated[list[ReportFormat], Field(min_length=1)] | None = None
    #: mail the report to the customer's contacts (needs ``mail:``)
    email: bool = False
    #: default: ``report.output_dir``, else ``<data dir>/reports``; relative to the config
    out_dir: Path | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as "
                             "Asia/Shanghai or UTC)") from exc
        return value

    @model_validator(mode="after")
    def _keys_of_its_kind(self) -> PlanConfig:
        foreign = REPORT_PLAN_KEYS if self.kind == "inspection" else INSPECTION_PLAN_KEYS
        wrong = [key for key in foreign if key in self.model_fields_set]
        if wrong:
            other = "report" if self.kind == "inspection" else "inspection"
            raise ValueError(f"{', '.join(wrong)}: only {other} plans (kind: {other}) take "
                             f"this; this plan is kind: {self.kind}, so remove it or set "
                             f"kind: {other}")
        return self

    @model_validator(mode="after")
    def _valid_cron(self) -> PlanConfig:
        try:
            self.trigger()
        except ValueError as exc:
            raise ValueError(f"invalid cron expression {self.cron!r}: {exc} (five fields: "
                             "minute hour day-of-month month day-of-week)") from exc
        return self

    def trigger(self) -> CronTrigger:
        return CronTrigger.from_crontab(self.cron, timezone=ZoneInfo(self.timezone))

    @property
    def misfire_grace(self) -> timedelta:
        return timedelta(seconds=self.misfire_grace_seconds)
