"""Check states and results."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class State(StrEnum):
    OK = "OK"
    WARN = "WARN"
    CRIT = "CRIT"
    UNKNOWN = "UNKNOWN"

    @property
    def exit_code(self) -> int:
        """Nagios plugin convention: 0 OK, 1 WARN, 2 CRIT, 3 UNKNOWN."""
        return _EXIT[self]

    @property
    def rank(self) -> int:
        """Aggregation order: OK < WARN < UNKNOWN < CRIT (a device we could not inspect is
        worse than a warning — it is never "normal" — but a confirmed critical is worse still)."""
        return _RANK[self]

    @classmethod
    def worst(cls, states: list[State]) -> State:
        return max(states, key=lambda s: s.rank, default=cls.OK)


_EXIT = {State.OK: 0, State.WARN: 1, State.CRIT: 2, State.UNKNOWN: 3}
_RANK = {State.OK: 0, State.WARN: 1, State.UNKNOWN: 2, State.CRIT: 3}


class CheckResult(BaseModel):
    """One evaluated check on one item (e.g. the filesystem check on ``/var``)."""

    model_config = ConfigDict(frozen=True)

    check: str
    item: str | None = None
    #: a custom pack check's title (built-in checks take theirs from the catalog)
    title: str | None = None
    state: State
    #: the measured value in display units (percent for ratio checks), if any
    value: float | str | None = None
    unit: str | None = None
    warn: float | None = None
    crit: float | None = None
    message: str
    #: pack item ids whose raw output this result came from (the evidence chain)
    evidence: list[str] = Field(default_factory=list)
    waived: bool = False
    waiver_reason: str | None = None
    waiver_expires: date | None = None

    @property
    def counts(self) -> bool:
        """Whether this result counts towards the device state (waived results do not)."""
        return not self.waived

    @property
    def threshold_text(self) -> str | None:
        unit = f" {self.unit}" if self.unit else ""
        parts = []
        if self.warn is not None:
            parts.append(f"warn {self.warn:g}{unit}")
        if self.crit is not None:
            parts.append(f"crit {self.crit:g}{unit}")
        return ", ".join(parts) or None
