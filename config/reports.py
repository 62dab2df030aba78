"""Settings of the customer report (``report:``) and the customers it is made for
(``customers:``).

A customer names the part of the inventory that is theirs (groups, tags, devices: a union), the
people who receive the report, and their branding. The provider (us) is named once under
``report.provider``. Logos are image files (PNG, JPEG, SVG), relative to the config file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
ReportFormat = Literal["html", "pdf", "json", "csv", "xlsx"]
REPORT_FORMATS: tuple[ReportFormat, ...] = ("html", "pdf", "json", "csv", "xlsx")
_DEFAULT_FORMATS: tuple[ReportFormat, ...] = ("html", "pdf")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BrandingConfig(_Strict):
    name: str = Field(min_length=1, max_length=200)
    logo: Path | None = None


class CustomerConfig(_Strict):
    #: the customer's name as printed on the report
    name: str = Field(min_length=1, max_length=200)
    logo: Path | None = None
    #: the customer's devices: by group, tag or name (union); at least one must be given
    groups: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    devices: list[str] = Field(default_factory=list)
    #: who receives the report by e-mail (``xunjian report --email``)
    contacts: list[str] = Field(default_factory=list)
    #: the customer's language; default: ``report.language``
    language: Literal["zh-CN", "en"] | None = None

    @field_validator("contacts")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if not _ADDRESS.match(address):
                raise ValueError(f"{address!r} is not an e-mail address (ops@example.com)")
        return value

    def owns(self, name: str, groups: Iterable[str], tags: Iterable[str]) -> bool:
        """Whether the device ``name`` (in ``groups``, with ``tags``) is this customer's."""
        return (name in self.devices or bool(set(self.groups) & set(groups))
                or bool(set(self.tags) & set(tags)))

    @model_validator(mode="after")
    def _selects_something(self) -> CustomerConfig:
        if not (self.groups or self.tags or self.devices):
            raise ValueError("a customer needs groups, tags or devices: which part of the "
                             "inventory is theirs")
        return self


class ForecastSettings(_Strict):
    """When a capacity forecast is meaningful enough to print."""

    #: the filesystem usage (percent) the forecast counts down to
    threshold_percent: float = Field(default=90.0, gt=0, le=100)
    #: forecasts further out than this are not shown (a flat trend says "never")
    horizon_days: int = Field(default=180, ge=1, le=3650)
    #: fewest points (one per day at most) and shortest history the fit needs
    min_points: int = Field(default=5, ge=3)
    min_days: float = Field(default=7.0, gt=0)
    #: fits whose R² is below this are noise, not a trend
    min_r_squared: float = Field(default=0.8, ge=0, le=1)


class ReportSettings(_Strict):
    provider: BrandingConfig = Field(default_factory=lambda: BrandingConfig(name="xunjian"))
    #: the sign-off block on the cover
    author: str | None = None
    reviewer: str | None = None
    language: Literal["zh-CN", "en"] = "zh-CN"
    #: periods (``--period 2026-10``) are calendar periods in this zone
    timezone: str = "UTC"
    #: default: ``<data dir>/reports``
    output_dir: Path | None = None
    formats: list[ReportFormat] = Field(default_factory=lambda: list(_DEFAULT_FORMATS),
                                        min_length=1)
    #: how many periods of history the trend charts cover (the report's own included)
    trend_periods: int = Field(default=6, ge=1, le=36)
    #: devices per trend chart (those with the highest latest value)
    trend_devices: int = Field(default=5, ge=1, le=20)
    #: top risks in the executive summary
    top_risks: int = Field(default=5, ge=1, le=50)
    forecast: ForecastSettings = Field(default_factory=ForecastSettings)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as "
                             "Asia/Shanghai or UTC)") from exc
        return value
