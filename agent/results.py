"""Typed results of an inspection run: what the CLI prints, the store keeps and reports read."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from checks.model import CheckResult, State
from collectors.base import PackRef, RawOutput
from collectors.facts import HostFacts
from collectors.network.configs import ConfigSnapshot


class DeviceResult(BaseModel):
    device: str
    address: str
    platform: str
    state: State
    reachable: bool
    #: why the device could not be inspected (UNKNOWN); None when it was
    error: str | None = None
    started_at: datetime
    finished_at: datetime
    #: the platform's standard pack
    pack: PackRef | None = None
    #: every pack that ran, the standard one first, with its approval
    packs: list[PackRef] = Field(default_factory=list)
    facts: HostFacts | None = None
    checks: list[CheckResult] = Field(default_factory=list)
    item_errors: dict[str, str] = Field(default_factory=dict)
    raw: list[RawOutput] = Field(default_factory=list, exclude=True)
    transcript: str | None = Field(default=None, exclude=True)
    #: network devices: the running configuration to keep in the config history
    config: ConfigSnapshot | None = Field(default=None, exclude=True)

    @property
    def duration_seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def unapproved_packs(self) -> list[PackRef]:
        return [p for p in self.packs if p.approval == "unapproved"]

    @property
    def findings(self) -> list[CheckResult]:
        """Non-OK results, waived ones included (they are shown, but do not count)."""
        return [c for c in self.checks if c.state is not State.OK]


class RunResult(BaseModel):
    run_id: int | None
    started_at: datetime
    finished_at: datetime
    state: State
    devices: list[DeviceResult]

    @property
    def counts(self) -> dict[State, int]:
        return {s: sum(1 for d in self.devices if d.state is s) for s in State}
