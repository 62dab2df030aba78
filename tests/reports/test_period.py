"""Report periods: named forms, boundaries in the report's time zone, previous periods."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from agent.errors import ReportError
from reports.period import current_month, date_range, parse_period


@pytest.mark.parametrize(("text", "first", "last"), [
    ("2026-10", date(2026, 10, 1), date(2026, 10, 31)),
    ("2026-2", date(2026, 2, 1), date(2026, 2, 28)),
    ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
    ("2026-12", date(2026, 12, 1), date(2026, 12, 31)),
    ("2026-Q3", date(2026, 7, 1), date(2026, 9, 30)),
    ("2026-q4", date(2026, 10, 1), date(2026, 12, 31)),
    ("2026-W01", date(2025, 12, 29), date(2026, 1, 4)),
    ("2026", date(2026, 1, 1), date(2026, 12, 31)),
])
def test_named_periods(text: str, first: date, last: date) -> None:
    period = parse_period(text, "UTC")
    assert (period.first, period.last) == (first, last)


def test_boundaries_are_local_midnights() -> None:
    period = parse_period("2026-10", "Asia/Shanghai")
    assert period.start == datetime(2026, 9, 30, 16, 0, tzinfo=UTC)
    assert period.end == datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
    assert period.days == 31


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "yesterday", "2026-Q5", "2026-W60",
                                  "26-10", ""])
def test_bad_periods_say_which_forms_work(text: str) -> None:
    with pytest.raises(ReportError, match="YYYY-MM"):
        parse_period(text, "UTC")


def test_previous_month_and_window() -> None:
    period = parse_period("2026-03", "UTC")
    assert period.previous().label == "2026-02"
    assert parse_period("2026-01", "UTC").previous().label == "2025-12"
    window = period.back(6)
    assert (window.first, window.last) == (date(2025, 10, 1), date(2026, 3, 31))


def test_previous_of_a_date_range_has_the_same_length() -> None:
    period = date_range(date(2026, 10, 11), date(2026, 10, 20), "UTC")
    before = period.previous()
    assert (before.first, before.last) == (date(2026, 10, 1), date(2026, 10, 10))
    assert period.slug == "2026-10-11_2026-10-20"


def test_date_range_refuses_reversed_dates() -> None:
    with pytest.raises(ReportError, match="before --from"):
        date_range(date(2026, 10, 2), date(2026, 10, 1), "UTC")


def test_current_month_follows_the_zone() -> None:
    # 2026-10-31 17:00 UTC is already November in Shanghai
    now = datetime(2026, 10, 31, 17, 0, tzinfo=UTC)
    assert current_month(now, "Asia/Shanghai").label == "2026-11"
    assert current_month(now, "UTC").label == "2026-10"
