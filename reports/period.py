"""Report periods: ``2026-10`` (a month), ``2026-Q3``, ``2026`` (a year), ``2026-W42`` (an ISO
week), or explicit ``--from``/``--to`` dates (inclusive). Periods are calendar periods in the
report's time zone; :class:`Period` carries both the dates and the UTC instants that bound them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from agent.errors import ReportError

_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_WEEK = re.compile(r"^(\d{4})-[Ww](\d{1,2})$")
_YEAR = re.compile(r"^(\d{4})$")
_HELP = "use YYYY-MM (2026-10), YYYY-Qn (2026-Q3), YYYY-Www (2026-W42) or YYYY"


@dataclass(frozen=True)
class Period:
    label: str
    #: first and last day, inclusive
    first: date
    last: date
    timezone: str

    @property
    def start(self) -> datetime:
        """The first instant of the period (UTC)."""
        return _midnight(self.first, self.timezone)

    @property
    def end(self) -> datetime:
        """The first instant *after* the period (UTC)."""
        return _midnight(self.last + timedelta(days=1), self.timezone)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def slug(self) -> str:
        """For file names: ``2026-10``, ``2026-10-01_2026-10-15``."""
        return re.sub(r"[^0-9A-Za-z_-]+", "_", self.label.replace(" – ", "_"))

    def previous(self) -> Period:
        """The period of the same length just before this one (months stay months)."""
        if _MONTH.match(self.label):
            first = (self.first - timedelta(days=1)).replace(day=1)
            return month(first.year, first.month, self.timezone)
        last = self.first - timedelta(days=1)
        return Period(f"{last - timedelta(days=self.days - 1)} – {last}",
                      last - timedelta(days=self.days - 1), last, self.timezone)

    def back(self, count: int) -> Period:
        """The span of ``count`` periods ending with this one (for trend windows)."""
        first = self
        for _ in range(count - 1):
            first = first.previous()
        return Period(f"{first.first} – {self.last}", first.first, self.last, self.timezone)


def _midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(), ZoneInfo(timezone)).astimezone(UTC)


def month(year: int, number: int, timezone: str) -> Period:
    first = date(year, number, 1)
    following = date(year + number // 12, number % 12 + 1, 1)
    return Period(f"{year:04d}-{number:02d}", first, following - timedelta(days=1), timezone)


def parse_period(text: str, timezone: str) -> Period:
    """A named period; raises ReportError saying which forms are accepted."""
    text = text.strip()
    try:
        if m := _MONTH.match(text):
            return month(int(m[1]), int(m[2]), timezone)
        if m := _QUARTER.match(text):
            year, quarter = int(m[1]), int(m[2])
            first = date(year, 3 * quarter - 2, 1)
            last = month(year, 3 * quarter, timezone).last
            return Period(f"{year}-Q{quarter}", first, last, timezone)
        if m := _WEEK.match(text):
            first = date.fromisocalendar(int(m[1]), int(m[2]), 1)
            return Period(f"{m[1]}-W{int(m[2]):02d}", first, first + timedelta(days=6), timezone)
        if m := _YEAR.match(text):
            year = int(m[1])
            return Period(str(year), date(year, 1, 1), date(year, 12, 31), timezone)
    except ValueError as exc:
        raise ReportError(f"invalid period {text!r}: {exc}; {_HELP}") from exc
    raise ReportError(f"invalid period {text!r}: {_HELP}")


def date_range(first: date, last: date, timezone: str) -> Period:
    """``--from``/``--to``, both inclusive."""
    if last < first:
        raise ReportError(f"--to {last} is before --from {first}")
    return Period(f"{first} – {last}", first, last, timezone)


def current_month(now: datetime, timezone: str) -> Period:
    local = now.astimezone(ZoneInfo(timezone))
    return month(local.year, local.month, timezone)
