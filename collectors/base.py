"""The collector interface: a target in, typed facts plus the raw outputs they came from out."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from collectors.facts import HostFacts
from collectors.network.configs import ConfigSnapshot


class RawOutput(BaseModel):
    """What one pack item printed: the evidence behind every fact parsed from it."""

    model_config = ConfigDict(frozen=True)

    item: str
    command: str
    output: str
    exit_code: int | None
    duration_seconds: float | None = None
    truncated: bool = False


class PackRef(BaseModel):
    """A pack as it ran on a device: which content, and whether that content was approved."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    content_hash: str
    builtin: bool = True
    #: ``not-required`` (built-in packs unless packs.approval is ``all``), ``approved``, or
    #: ``unapproved`` (an on-demand run with --allow-unapproved)
    approval: Literal["not-required", "approved", "unapproved"] = "not-required"
    approved_by: str | None = None
    approved_at: datetime | None = None


class CollectResult(BaseModel):
    facts: HostFacts
    raw: list[RawOutput] = Field(default_factory=list)
    #: pack item id → why its output gave no facts (command failed, output not understood)
    item_errors: dict[str, str] = Field(default_factory=dict)
    #: the session transcript, secrets already redacted
    transcript: str | None = None
    pack: PackRef | None = None
    #: network devices: the running configuration as it is stored (masked, noise dropped)
    config: ConfigSnapshot | None = None
    started_at: datetime
    finished_at: datetime


class Collector(Protocol):
    """Collects one device. Raises :class:`agent.errors.CollectionError` when it cannot."""

    def collect(self) -> CollectResult: ...
