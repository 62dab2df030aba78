"""Typed configuration models. Unknown keys are errors everywhere (``extra="forbid"``).

Inventory follows Nornir's shape: ``defaults`` → ``groups`` → ``devices``. A device inherits every
field it does not set from the first of its groups that sets it, then from ``defaults``; tags are
the union; check settings are merged key by key (device over groups over defaults).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from config.distributed import CelerySettings, SiteName
from config.incidents import IncidentSettings
from config.notify import MailSettings, NotificationSettings
from config.platforms import Platform
from config.reports import CustomerConfig, ReportSettings
from config.service import PlanConfig, ServerSettings

# Business level 1 is the most critical. Spreadsheets write it many ways; all map to 1–4.
_LEVEL_ALIASES = {
    "critical": 1, "core": 1, "p1": 1, "一级": 1, "核心": 1, "关键": 1, "高": 1,
    "high": 2, "important": 2, "p2": 2, "二级": 2, "重要": 2, "中": 2,
    "medium": 3, "normal": 3, "p3": 3, "三级": 3, "一般": 3, "普通": 3, "低": 3,
    "low": 4, "p4": 4, "四级": 4, "次要": 4,
}


def parse_business_level(value: Any) -> Any:
    """Accept 1–4, '1'–'4', or a name such as ``critical`` / ``核心`` / ``二级``."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit():
            return int(text)
        if text in _LEVEL_ALIASES:
            return _LEVEL_ALIASES[text]
        raise ValueError(
            f"unknown business level {value!r}: use 1–4 (1 = most critical) or one of "
            "critical/high/medium/low, 核心/重要/一般/次要, 一级/二级/三级/四级"
        )
    return value


BusinessLevel = Annotated[int, BeforeValidator(parse_business_level), Field(ge=1, le=4)]
Name = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\s/\\]+$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ItemThresholds(_Model):
    warn: float | None = None
    crit: float | None = None
    enabled: bool | None = None


class CheckSettings(_Model):
    """Thresholds for one check. Ratio checks take percent (``warn: 80`` means 80 %)."""

    enabled: bool | None = None
    warn: float | None = None
    crit: float | None = None
    #: per-item overrides, keyed by item (e.g. a mountpoint); shell-style globs allowed
    items: dict[str, ItemThresholds] = Field(default_factory=dict)


class CredentialConfig(_Model):
    """A named credential set. Secrets are referenced, never written in the YAML."""

    username: str
    password_env: str | None = None
    password_file: Path | None = None
    key_file: Path | None = None
    passphrase_env: str | None = None
    passphrase_file: Path | None = None
    #: network devices: the enable secret (Cisco IOS, Arista EOS) for privileged show commands
    secret_env: str | None = None
    secret_file: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in ("password", "passphrase", "secret", "private_key"):
                if key in data:
                    raise ValueError(
                        f"inline '{key}' is not allowed: secrets never go in the YAML; "
                        f"use {key}_env (an environment variable name) or {key}_file (a path)"
                    )
        return data

    @model_validator(mode="after")
    def _one_source_each(self) -> CredentialConfig:
        if self.password_env and self.password_file:
            raise ValueError("give password_env or password_file, not both")
        if self.passphrase_env and self.passphrase_file:
            raise ValueError("give passphrase_env or passphrase_file, not both")
        if self.secret_env and self.secret_file:
            raise ValueError("give secret_env or secret_file, not both")
        if (self.passphrase_env or self.passphrase_file) and not self.key_file:
            raise ValueError("a passphrase needs a key_file")
        return self


class InheritableFields(_Model):
    port: int | None = Field(default=None, ge=1, le=65535)
    platform: Platform | None = None
    credentials: str | None = None
    location: str | None = None
    business_system: str | None = None
    business_level: BusinessLevel | None = None
    owner: str | None = None
    jump_host: str | None = None
    #: the site (network) the device is in: with ``celery:``, the workers of that site's queue
    #: inspect it (``xunjian worker --queue SITE``)
    site: SiteName | None = None
    tags: list[str] = Field(default_factory=list)
    checks: dict[str, CheckSettings] = Field(default_factory=dict)
    #: custom packs run besides the platform's standard pack (names; inherited and merged)
    packs: list[str] = Field(default_factory=list)


class GroupConfig(InheritableFields):
    description: str | None = None


class DeviceConfig(InheritableFields):
    name: Name
    address: str = Field(min_length=1)
    groups: list[str] = Field(default_factory=list)
    serial: str | None = None
    model: str | None = None
    vendor: str | None = None
    warranty_end: date | None = None

    @model_validator(mode="after")
    def _address_is_sane(self) -> DeviceConfig:
        # An address goes to the resolver / socket, never to a shell; still refuse obvious junk.
        if re.search(r"[\s;|&$`<>'\"]", self.address):
            raise ValueError(f"address {self.address!r} is not a host name or IP address")
        return self


class SshSettings(_Model):
    #: extra known_hosts file; ~/.ssh/known_hosts and xunjian's own file are always read
    known_hosts: Path | None = None
    #: strict: unknown keys are refused; tofu: the first key seen is recorded and then enforced
    host_key_policy: Literal["strict", "tofu"] = "strict"
    connect_timeout: float = Field(default=10.0, gt=0)
    command_timeout: float = Field(default=30.0, gt=0)
    host_timeout: float = Field(default=120.0, gt=0)
    retries: int = Field(default=2, ge=0, le=10)
    retry_backoff: float = Field(default=1.0, ge=0)
    workers: int = Field(default=20, ge=1, le=500)
    max_output_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)


class StoreSettings(_Model):
    #: SQLAlchemy URL; default: SQLite in the data directory
    url: str | None = None
    data_dir: Path | None = None


class ConfigHistorySettings(_Model):
    """Running configurations of network devices, kept with every inspection."""

    #: replace secrets (enable secrets, password hashes, SNMP communities, keys) with <masked>
    #: in stored configs, raw outputs and transcripts
    mask_secrets: bool = True


class PackSettings(_Model):
    """Where custom inspection packs come from and which packs need the customer's approval."""

    #: directories of custom packs (``NAME.yaml`` or ``NAME/pack.yaml``), relative to this file
    paths: list[Path] = Field(default_factory=list)
    #: ``custom``: custom packs need approval before scheduled runs (built-in packs are the
    #: reviewed standard); ``all``: the built-in standard packs need it too
    approval: Literal["custom", "all"] = "custom"


class Waiver(_Model):
    """An accepted finding: reported as waived until ``expires``, then it counts again."""

    device: str = "*"
    check: str
    item: str = "*"
    reason: str = Field(min_length=1)
    expires: date
    approved_by: str | None = None


class InventoryFile(_Model):
    """A file that holds only inventory (what ``xunjian inventory import`` writes)."""

    groups: dict[str, GroupConfig] = Field(default_factory=dict)
    devices: list[DeviceConfig] = Field(default_factory=list)


class XunjianConfig(_Model):
    version: Literal[1] = 1
    store: StoreSettings = Field(default_factory=StoreSettings)
    ssh: SshSettings = Field(default_factory=SshSettings)
    config_history: ConfigHistorySettings = Field(default_factory=ConfigHistorySettings)
    credentials: dict[str, CredentialConfig] = Field(default_factory=dict)
    defaults: InheritableFields = Field(default_factory=InheritableFields)
    groups: dict[str, GroupConfig] = Field(default_factory=dict)
    devices: list[DeviceConfig] = Field(default_factory=list)
    #: further inventory files, relative to this file
    inventory: list[Path] = Field(default_factory=list)
    waivers: list[Waiver] = Field(default_factory=list)
    #: custom inspection packs: where they are, which need approval (``docs/packs.md``)
    packs: PackSettings = Field(default_factory=PackSettings)
    #: ``xunjian serve``: the HTTP listener and the scheduled inspection plans
    server: ServerSettings = Field(default_factory=ServerSettings)
    plans: list[PlanConfig] = Field(default_factory=list)
    #: scale-out: inspections run by Celery workers per site (``docs/scale-out.md``)
    celery: CelerySettings | None = None
    #: incident engine: open/resolve rules, priority, SLA, escalation, silences, problems
    incidents: IncidentSettings = Field(default_factory=IncidentSettings)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    mail: MailSettings | None = None
    #: the customer report: provider branding, sign-off, language, periods, forecasts
    report: ReportSettings = Field(default_factory=ReportSettings)
    #: customers by id (``xunjian report --customer ID``): their devices, contacts, branding
    customers: dict[Name, CustomerConfig] = Field(default_factory=dict)
