"""The /metrics cache warmer: newly stored results are formatted without waiting for a scrape."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from support.metrics_data import WHEN, device, linux_result, populate

from agent.errors import StoreError
from agent.service.metrics import XunjianCollector, build_registry, render
from agent.service.metrics_warmer import CacheWarmer
from agent.store import Store
from checks.model import State


def _until(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_new_results_are_formatted_before_the_next_scrape(store: Store) -> None:
    populate(store)
    collector = XunjianCollector(store, version="0.1.0")
    warmer = CacheWarmer(collector, store.last_result_id, interval=0.05)
    warmer.start()
    try:
        _until(lambda: warmer.formatted == 3)  # warmed at start, before any scrape
        run = store.start_run("api", 1, None)
        new_id = store.save_result(run, device("web-01"), linux_result(
            "web-01", when=WHEN + timedelta(hours=1), cpu=0.75))
        store.finish_run(run, State.OK)
        _until(lambda: collector._cache["web-01"].result_id == new_id)
        assert warmer.formatted == 4
        # the scrape finds everything formatted: nothing left for it to do
        assert collector.refresh() == 0
        assert b'xunjian_cpu_usage_ratio{device="web-01"} 0.75' in render(
            build_registry(collector))
    finally:
        warmer.stop()
    assert not warmer._thread or not warmer._thread.is_alive()


def test_a_failing_store_is_logged_once_and_retried(store: Store,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    populate(store)
    collector = XunjianCollector(store, version="0.1.0")
    calls: list[int] = []

    def marker() -> int | None:
        calls.append(1)
        if len(calls) <= 3:
            raise StoreError("result store sqlite:///x: reading the latest results failed")
        return store.last_result_id()

    warmer = CacheWarmer(collector, marker, interval=0.02)
    with caplog.at_level(logging.INFO, logger="agent.service.metrics_warmer"):
        warmer.start()
        try:
            _until(lambda: warmer.formatted == 3)
        finally:
            warmer.stop()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("reading the latest results failed" in m for m in messages) == 1
    assert any("answers again" in m for m in messages)


def test_last_result_id_follows_saved_results(store: Store) -> None:
    assert store.last_result_id() is None
    populate(store)
    assert store.last_result_id() == max(store.latest_result_ids().values())
