"""What the report reads from the store, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import timedelta

from support.report_history import END, history

from agent.store import Store
from reports.source import ReportSource


def test_trend_values_are_one_aware_value_per_device_check_item_and_day(
        tmp_path, store: Store) -> None:
    history(tmp_path, store, days=3)
    source = ReportSource(store, ["db-01", "core-sw-01"])
    values = source.trend_values(END - timedelta(days=10), END + timedelta(days=1))
    assert [v.at for v in values] == sorted(v.at for v in values)
    assert all(v.at.tzinfo is not None and v.at.utcoffset() == timedelta(0) for v in values)
    data = [(v.at, v.value) for v in values
            if (v.device, v.check, v.item) == ("db-01", "filesystem", "/data")]
    # /data grows one point a day: 40 %, 41 %, 42 %, 43 % at 02:00 UTC (the inspections)
    assert data == [(END - timedelta(days=3 - d), 40.0 + d) for d in range(4)]
    assert {v.device for v in values if v.check == "temperature"} == {"core-sw-01"}
