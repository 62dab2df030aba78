"""Capacity forecast: when does a filesystem reach its threshold, if the trend goes on?

The history is bucketed per calendar day (UTC), keeping each day's highest value (inspections
several times a day must not outweigh days with one), then an ordinary least-squares line is
fitted over (days since the first kept point, value). The x of each day is the time of its kept
point, so samples taken at any hour sit where they were measured.

A forecast is printed only when it means something (see :class:`ForecastSettings`): enough
days, a long enough history, a rising line that explains the data (R²), a current value still
below the threshold (at or above it is a finding already) and a crossing within the horizon.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from config.reports import ForecastSettings

_DAY_SECONDS = 86400.0


@dataclass(frozen=True)
class Fit:
    #: percentage points per day
    slope_per_day: float
    #: the fitted value at the first kept point (x = 0)
    intercept: float
    r_squared: float
    #: after daily bucketing
    points: int
    #: the latest measured value (percent)
    current: float
    #: from ``now``, on the fitted line
    days_to_threshold: float
    reaches_on: date


@dataclass(frozen=True)
class _Line:
    slope: float
    intercept: float
    r_squared: float


def _aware(value: datetime) -> datetime:
    # the store keeps UTC; a naive time is taken to be UTC rather than the machine's zone
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def daily_maxima(points: Sequence[tuple[datetime, float]]) -> list[tuple[datetime, float]]:
    """Each UTC day's highest value with its time, oldest first (non-finite values dropped)."""
    best: dict[date, tuple[datetime, float]] = {}
    for when, value in points:
        if not math.isfinite(value):
            continue
        moment = _aware(when)
        day = moment.astimezone(UTC).date()
        kept = best.get(day)
        # ties keep the later sample: it is the more current measurement of the same value
        if kept is None or value > kept[1] or (value == kept[1] and moment > kept[0]):
            best[day] = (moment, value)
    return [best[day] for day in sorted(best)]


def _least_squares(xs: Sequence[float], ys: Sequence[float]) -> _Line | None:
    """OLS line, or None when it is undefined (all x equal) or meaningless (all y equal)."""
    n = len(xs)
    if n < 2:
        return None
    mean_x = math.fsum(xs) / n
    mean_y = math.fsum(ys) / n
    sxx = math.fsum((x - mean_x) ** 2 for x in xs)
    syy = math.fsum((y - mean_y) ** 2 for y in ys)
    sxy = math.fsum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    if sxx <= 0 or syy <= 0:
        return None
    slope = sxy / sxx
    r_squared = min(1.0, max(0.0, sxy * sxy / (sxx * syy)))
    return _Line(slope=slope, intercept=mean_y - slope * mean_x, r_squared=r_squared)


def forecast(points: Sequence[tuple[datetime, float]], settings: ForecastSettings,
             now: datetime) -> Fit | None:
    """The day ``points`` (percent over time) reach ``settings.threshold_percent``, or None
    when the history does not support a forecast."""
    kept = daily_maxima(points)
    if len(kept) < settings.min_points:
        return None
    origin = kept[0][0]
    xs = [(when - origin).total_seconds() / _DAY_SECONDS for when, _ in kept]
    ys = [value for _, value in kept]
    if xs[-1] - xs[0] < settings.min_days:
        return None
    line = _least_squares(xs, ys)
    if line is None or line.slope <= 0 or line.r_squared < settings.min_r_squared:
        return None
    # the latest sample, not the day's maximum: it is what the latest inspection measured
    current = max(((_aware(w), v) for w, v in points if math.isfinite(v)), key=lambda p: p[0])[1]
    if current >= settings.threshold_percent:
        return None
    moment = _aware(now)
    x_now = (moment - origin).total_seconds() / _DAY_SECONDS
    days = (settings.threshold_percent - (line.intercept + line.slope * x_now)) / line.slope
    # negative: the line says it is there already, the latest value says not; stale or bent
    if days < 0 or days > settings.horizon_days:
        return None
    return Fit(slope_per_day=line.slope, intercept=line.intercept, r_squared=line.r_squared,
               points=len(kept), current=current, days_to_threshold=days,
               reaches_on=(moment + timedelta(days=days)).date())
