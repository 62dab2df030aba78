"""The capacity forecast: a least-squares line over daily maxima, shown only when it means
something. Each "gives None" case is paired with the smallest change that makes it a forecast,
so the test proves which rule said no."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config.reports import ForecastSettings
from reports.forecast import daily_maxima, forecast

START = datetime(2026, 9, 1, 6, 0, tzinfo=UTC)
DEFAULT = ForecastSettings()


def linear(days: int, start_value: float, per_day: float,
           start: datetime = START) -> list[tuple[datetime, float]]:
    return [(start + timedelta(days=d), start_value + per_day * d) for d in range(days)]


def test_exact_linear_growth_gives_slope_days_and_date() -> None:
    points = linear(30, 50.0, 1.0)  # 2026-09-01 .. 09-30 at 06:00, 50 % .. 79 %
    now = START + timedelta(days=30)  # 2026-10-01 06:00, the line says 80 %
    fit = forecast(points, DEFAULT, now)
    assert fit is not None
    assert fit.slope_per_day == pytest.approx(1.0)
    assert fit.intercept == pytest.approx(50.0)
    assert fit.r_squared == pytest.approx(1.0)
    assert fit.points == 30
    assert fit.current == 79.0
    # counted from now on the line, not from the last point: 80 % -> 90 % takes 10 days
    assert fit.days_to_threshold == pytest.approx(10.0)
    assert fit.reaches_on == date(2026, 10, 11)


def test_points_in_any_order_and_naive_times_are_utc() -> None:
    points = [(when.replace(tzinfo=None), value) for when, value in linear(20, 40.0, 2.0)]
    random.Random(7).shuffle(points)
    fit = forecast(points, DEFAULT, datetime(2026, 9, 20, 6, 0))  # naive now, too
    assert fit is not None
    assert fit.current == 78.0
    assert fit.days_to_threshold == pytest.approx(6.0)
    assert fit.reaches_on == date(2026, 9, 26)


def test_random_noise_gives_none() -> None:
    rng = random.Random(20261001)
    points = [(START + timedelta(days=d), rng.uniform(40.0, 60.0)) for d in range(40)]
    assert forecast(points, DEFAULT, START + timedelta(days=40)) is None
    # the same noise around a steep rise is a trend again
    trend = [(when, value - 40.0 + 2.5 * d) for d, (when, value) in enumerate(points[:25])]
    fit = forecast(trend, DEFAULT, START + timedelta(days=25))
    assert fit is not None
    assert fit.r_squared >= DEFAULT.min_r_squared


def test_flat_and_falling_give_none() -> None:
    now = START + timedelta(days=30)
    assert forecast(linear(30, 60.0, 0.0), DEFAULT, now) is None
    assert forecast(linear(30, 85.0, -0.5), DEFAULT, now) is None


def test_a_single_day_gives_none_without_error() -> None:
    # all x equal after bucketing: no line can be fitted
    points = [(START + timedelta(hours=h), 50.0 + h) for h in range(12)]
    settings = ForecastSettings(min_points=3, min_days=0.1)
    assert forecast(points, settings, START + timedelta(days=1)) is None
    assert forecast([], settings, START) is None


def test_too_few_points_gives_none() -> None:
    points = linear(4, 60.0, 2.0, start=START) + linear(1, 80.0, 0.0, START + timedelta(days=9))
    now = START + timedelta(days=10)
    assert forecast(points, ForecastSettings(min_points=6), now) is None
    assert forecast(points, ForecastSettings(min_points=5), now) is not None


def test_too_short_a_span_gives_none() -> None:
    points = linear(6, 60.0, 2.0)  # five days from first to last
    now = START + timedelta(days=6)
    assert forecast(points, ForecastSettings(min_days=7), now) is None
    assert forecast(points, ForecastSettings(min_days=5), now) is not None


def test_at_or_above_the_threshold_is_a_finding_not_a_forecast() -> None:
    now = START + timedelta(days=20)
    assert forecast(linear(20, 71.0, 1.0), DEFAULT, now) is None  # latest 90 %
    assert forecast(linear(20, 75.0, 1.0), DEFAULT, now) is None  # latest 94 %
    assert forecast(linear(20, 70.0, 1.0), DEFAULT, now) is not None  # latest 89 %


def test_beyond_the_horizon_gives_none() -> None:
    points = linear(30, 40.0, 0.2)  # 45.8 % and 0.2 points a day: about 220 days to go
    now = START + timedelta(days=30)
    assert forecast(points, ForecastSettings(horizon_days=180), now) is None
    fit = forecast(points, ForecastSettings(horizon_days=365), now)
    assert fit is not None
    assert fit.days_to_threshold == pytest.approx(220.0)


def test_a_stale_history_whose_line_has_passed_the_threshold_gives_none() -> None:
    points = linear(30, 50.0, 1.0)
    assert forecast(points, DEFAULT, START + timedelta(days=30)) is not None
    assert forecast(points, DEFAULT, START + timedelta(days=60)) is None


def test_several_points_in_one_day_count_once_with_the_days_maximum() -> None:
    base = linear(15, 50.0, 2.0)
    busy = list(base)
    for when, value in base:
        # a busy day: many lower readings before and after the day's peak
        busy += [(when + timedelta(hours=h), value - 5.0 - h % 3) for h in range(-5, 17)]
    now = START + timedelta(days=15)
    plain, crowded = forecast(base, DEFAULT, now), forecast(busy, DEFAULT, now)
    assert plain is not None
    assert crowded is not None
    assert crowded.points == 15
    assert crowded.slope_per_day == pytest.approx(plain.slope_per_day)
    assert crowded.days_to_threshold == pytest.approx(plain.days_to_threshold)
    assert [value for _, value in daily_maxima(busy)] == [value for _, value in base]


def test_non_finite_values_are_ignored() -> None:
    points = [*linear(20, 40.0, 2.0), (START + timedelta(days=3, hours=1), float("nan")),
              (START + timedelta(days=4, hours=1), float("inf"))]
    fit = forecast(points, DEFAULT, START + timedelta(days=20))
    assert fit is not None
    assert fit.points == 20
    assert fit.slope_per_day == pytest.approx(2.0)


@given(
    start_value=st.floats(min_value=0.0, max_value=85.0),
    per_day=st.floats(min_value=0.01, max_value=5.0),
    days=st.integers(min_value=8, max_value=90),
    hour=st.integers(min_value=0, max_value=23),
    wait=st.floats(min_value=0.0, max_value=20.0),
    threshold=st.floats(min_value=50.0, max_value=100.0),
)
def test_linear_rising_series_matches_the_closed_form(
        start_value: float, per_day: float, days: int, hour: int, wait: float,
        threshold: float) -> None:
    start = START.replace(hour=hour)
    points = linear(days, start_value, per_day, start=start)
    now = points[-1][0] + timedelta(days=wait)
    settings = ForecastSettings(threshold_percent=threshold, horizon_days=3650)
    elapsed = (now - start).total_seconds() / 86400
    expected = (threshold - start_value) / per_day - elapsed
    fit = forecast(points, settings, now)
    if points[-1][1] >= threshold or expected < 0 or expected > settings.horizon_days:
        assert fit is None
        return
    assert fit is not None
    assert fit.days_to_threshold == pytest.approx(expected, abs=1e-6)
    assert fit.reaches_on == (now + timedelta(days=fit.days_to_threshold)).date()
