"""Trend charts over recent periods and capacity forecasts, from the stored check values."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, time
from typing import Literal

from checks.builtin import BUILTIN_CHECKS
from config.reports import ForecastSettings
from reports.forecast import forecast
from reports.i18n import Translator
from reports.model import Forecast, TrendMetric, TrendPoint, TrendSeries
from reports.source import TrendValue

Metric = Literal["cpu", "memory", "filesystem", "temperature"]
METRICS: tuple[Metric, ...] = ("cpu", "memory", "filesystem", "temperature")
SeriesKey = tuple[str, str | None]
Point = tuple[datetime, float]


def _series(values: Sequence[TrendValue], check: str, *,
            by_day: bool = False) -> dict[SeriesKey, list[Point]]:
    """Points per (device, item) as plain tuples (a month of 1,000 devices is ~150,000
    points; only the charted series become models). ``by_day`` puts each daily value at its
    day's start (UTC), so a chart shows days, not the seconds between the devices'
    inspection times."""
    out: dict[SeriesKey, list[Point]] = defaultdict(list)
    for v in values:
        if v.check == check:
            at = datetime.combine(v.at.astimezone(UTC).date(), time(), UTC) if by_day else v.at
            out[(v.device, v.item)].append((at, v.value))
    return out


def trend_metrics(t: Translator, values: Sequence[TrendValue], top: int) -> list[TrendMetric]:
    """One chart per metric with data: the ``top`` series with the highest latest value."""
    charts: list[TrendMetric] = []
    for metric in METRICS:
        series = _series(values, metric, by_day=True)
        if not series:
            continue
        chosen = sorted(series.items(), key=lambda kv: (-kv[1][-1][1], kv[0][0]))[:top]
        spec = BUILTIN_CHECKS[metric]
        charts.append(TrendMetric(
            metric=metric, title=t(f"report.trend.{metric}"), unit=spec.unit or "",
            warn=spec.warn, crit=spec.crit,
            series=[TrendSeries(device=device, item=item,
                                points=[TrendPoint(at=at, value=v) for at, v in points])
                    for (device, item), points in chosen]))
    return charts


def forecasts(t: Translator, values: Sequence[TrendValue], settings: ForecastSettings,
              now: datetime) -> list[Forecast]:
    """Filesystems whose usage rises steadily enough to say when they reach the threshold."""
    out: list[Forecast] = []
    for (device, item), points in _series(values, "filesystem").items():
        fit = forecast(points, settings, now)
        if fit is None or item is None:
            continue
        out.append(Forecast(
            device=device, item=item, current_percent=round(fit.current, 1),
            threshold_percent=settings.threshold_percent,
            slope_per_day=round(fit.slope_per_day, 3),
            days_to_threshold=round(fit.days_to_threshold, 1), reaches_on=fit.reaches_on,
            r_squared=round(fit.r_squared, 3), points=fit.points,
            text=t("report.forecast.text", device=device, item=item,
                   threshold=f"{settings.threshold_percent:g}",
                   days=f"{fit.days_to_threshold:.0f}", date=t.date(fit.reaches_on),
                   slope=f"{fit.slope_per_day:.2f}")))
    return sorted(out, key=lambda f: (f.days_to_threshold, f.device, f.item))
