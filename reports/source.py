"""What a report reads from the store, in a few bounded queries whatever the fleet size.

Every query is limited to the selected devices and a time window; device lists are sent in
chunks so ``IN`` lists stay bounded on both SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Select, String, func, select, type_coerce

from agent.results import DeviceResult
from agent.store import Store
from agent.store.schema import (
    CheckRow,
    ConfigVersion,
    DeviceResultRow,
    IncidentRow,
    ProblemRow,
    Run,
)

_CHUNK = 500
#: checks whose values make the trend charts and forecasts
TREND_CHECKS = ("cpu", "memory", "filesystem", "temperature")


def _chunks(names: Sequence[str]) -> Iterator[list[str]]:
    ordered = sorted(set(names))
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start:start + _CHUNK]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _moment(value: datetime | str) -> datetime:
    """A time as the driver returned it: PostgreSQL a datetime, SQLite the stored text (read
    raw, as SQLAlchemy's SQLite datetime parsing costs ~3 µs a value)."""
    return _aware(datetime.fromisoformat(value) if isinstance(value, str) else value)


@dataclass(frozen=True)
class StoredResult:
    id: int
    result: DeviceResult


class TrendValue(NamedTuple):
    # a tuple, not a dataclass: a month of 1,000 devices reads ~170,000 of them
    device: str
    check: str
    item: str | None
    at: datetime
    value: float


@dataclass(frozen=True)
class ConfigActivity:
    device: str
    versions: int
    added: int
    removed: int
    last: datetime


@dataclass(frozen=True)
class RunRow:
    id: int
    started_at: datetime
    finished_at: datetime | None
    trigger: str
    plan: str | None
    status: str
    devices: int


class ReportSource:
    """Read access for one report: the store, the selected devices."""

    def __init__(self, store: Store, devices: Iterable[str]) -> None:
        self.store = store
        self.devices = sorted(set(devices))

    def latest(self, before: datetime, since: datetime | None = None) -> dict[str, StoredResult]:
        """Each device's latest result started in ``[since, before)``."""
        found: dict[str, StoredResult] = {}
        for chunk in _chunks(self.devices):
            window = [DeviceResultRow.device.in_(chunk), DeviceResultRow.started_at < before]
            if since is not None:
                window.append(DeviceResultRow.started_at >= since)
            newest = (select(DeviceResultRow.device,
                             func.max(DeviceResultRow.started_at).label("at"))
                      .where(*window).group_by(DeviceResultRow.device).subquery())
            ids: Select[Any] = (
                select(func.max(DeviceResultRow.id))
                .join(newest, (DeviceResultRow.device == newest.c.device)
                      & (DeviceResultRow.started_at == newest.c.at))
                .group_by(DeviceResultRow.device))
            with self.store.reading("reading results for the report") as s:
                id_list = list(s.scalars(ids))
            found |= {r.device: StoredResult(rid, r)
                      for rid, r in self.store.results_by_id(id_list).items()}
        return found

    def trend_values(self, since: datetime, before: datetime) -> list[TrendValue]:
        """Values of the trend checks, one per device, check, item and day (the day's
        highest), oldest first."""
        day = func.date(DeviceResultRow.started_at)
        values: list[TrendValue] = []
        for chunk in _chunks(self.devices):
            latest = type_coerce(func.max(DeviceResultRow.started_at), String)
            query = (select(DeviceResultRow.device, CheckRow.check, CheckRow.item, latest,
                            func.max(CheckRow.value_num))
                     .join(CheckRow, CheckRow.result_id == DeviceResultRow.id)
                     .where(DeviceResultRow.device.in_(chunk),
                            DeviceResultRow.started_at >= since,
                            DeviceResultRow.started_at < before,
                            CheckRow.check.in_(TREND_CHECKS), CheckRow.value_num.is_not(None))
                     .group_by(DeviceResultRow.device, CheckRow.check, CheckRow.item, day))
            with self.store.reading("reading trends for the report") as s:
                values.extend(TrendValue(d, c, i, _moment(at), float(v))
                              for d, c, i, at, v in s.execute(query) if v is not None)
        values.sort(key=itemgetter(3))
        return values

    def config_activity(self, since: datetime, before: datetime) -> list[ConfigActivity]:
        """Configuration changes (versions with a predecessor) stored in the window."""
        out: list[ConfigActivity] = []
        for chunk in _chunks(self.devices):
            query = (select(ConfigVersion.device, func.count(), func.sum(ConfigVersion.added),
                            func.sum(ConfigVersion.removed), func.max(ConfigVersion.collected_at))
                     .where(ConfigVersion.device.in_(chunk),
                            ConfigVersion.previous_id.is_not(None),
                            ConfigVersion.collected_at >= since,
                            ConfigVersion.collected_at < before)
                     .group_by(ConfigVersion.device))
            with self.store.reading("reading configuration history for the report") as s:
                out.extend(ConfigActivity(d, n, int(a or 0), int(r or 0), _aware(last))
                           for d, n, a, r, last in s.execute(query))
        return sorted(out, key=lambda c: c.device)

    def runs(self, since: datetime, before: datetime) -> list[RunRow]:
        """Runs that inspected selected devices in the window, with how many of them."""
        counts: dict[int, int] = {}
        for chunk in _chunks(self.devices):
            query = (select(DeviceResultRow.run_id, func.count(func.distinct(
                DeviceResultRow.device)))
                     .where(DeviceResultRow.device.in_(chunk),
                            DeviceResultRow.started_at >= since,
                            DeviceResultRow.started_at < before)
                     .group_by(DeviceResultRow.run_id))
            with self.store.reading("reading runs for the report") as s:
                for run_id, n in s.execute(query):
                    counts[run_id] = counts.get(run_id, 0) + n
        if not counts:
            return []
        with self.store.reading("reading runs for the report") as s:
            rows = s.scalars(select(Run).where(Run.id.in_(sorted(counts))).order_by(Run.id))
            return [RunRow(r.id, _aware(r.started_at),
                           _aware(r.finished_at) if r.finished_at else None, r.trigger, r.plan,
                           r.status, counts[r.id]) for r in rows]

    def incidents(self, since: datetime, before: datetime) -> list[IncidentRow]:
        """Incidents opened in the window, or opened earlier and still active in it."""
        def overlapping(chunk: list[str]) -> ColumnElement[bool]:
            return (IncidentRow.device.in_(chunk) & (IncidentRow.opened_at < before)
                    & ((IncidentRow.opened_at >= since) | IncidentRow.resolved_at.is_(None)
                       | (IncidentRow.resolved_at >= since)))
        rows: list[IncidentRow] = []
        for chunk in _chunks(self.devices):
            with self.store.reading("reading incidents for the report") as s:
                rows.extend(s.scalars(select(IncidentRow).where(overlapping(chunk))
                                      .order_by(IncidentRow.opened_at)))
        return rows

    def open_problems(self) -> list[ProblemRow]:
        rows: list[ProblemRow] = []
        for chunk in _chunks(self.devices):
            with self.store.reading("reading problems for the report") as s:
                rows.extend(s.scalars(select(ProblemRow).where(
                    ProblemRow.device.in_(chunk), ProblemRow.status == "open")
                    .order_by(ProblemRow.created_at)))
        return rows
