"""Plan schedules: fire times, catch-up after downtime, no duplicate runs, missed runs
recorded — over a real store (SQLite, and PostgreSQL where marked) with an injected clock."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from agent.service.scheduler import MAX_CATCH_UP, PlanScheduler, fire_times, latest_fire_time
from agent.store import Store
from checks.model import State
from config.service import PlanConfig

MONTHLY = PlanConfig(name="monthly", cron="0 2 1 * *", timezone="Asia/Shanghai",
                     misfire_grace_seconds=6 * 3600)
MINUTELY = PlanConfig(name="minutely", cron="* * * * *", misfire_grace_seconds=90)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


class Recorder:
    """The run callback: records (plan, time) and claims the fire like the real one does."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls: list[tuple[str, datetime]] = []
        self.done = threading.Event()

    def __call__(self, plan: PlanConfig, when: datetime) -> None:
        if self.store.claim_fire(plan.name, when) is not None:
            self.calls.append((plan.name, when))
        self.done.set()


def test_monthly_plan_fires_at_0200_shanghai_on_the_first():
    times = list(fire_times(MONTHLY, utc(2026, 1, 1), utc(2026, 4, 1)))
    # 02:00 in Shanghai (UTC+8) is 18:00 UTC on the last day of the previous month
    assert times == [utc(2026, 1, 31, 18), utc(2026, 2, 28, 18), utc(2026, 3, 31, 18)]


def test_fire_times_are_strictly_after_the_start():
    start = utc(2026, 1, 1, 0, 3)
    assert list(fire_times(MINUTELY, start, start + timedelta(minutes=2))) == [
        utc(2026, 1, 1, 0, 4), utc(2026, 1, 1, 0, 5)]


def test_latest_fire_time_honours_the_grace_time():
    assert latest_fire_time(MINUTELY, utc(2026, 1, 1, 0, 5, 30)) == utc(2026, 1, 1, 0, 5)
    assert latest_fire_time(MONTHLY, utc(2026, 2, 10)) is None  # 9 days late > 6 h grace


def test_invalid_cron_and_zone_are_config_errors():
    with pytest.raises(ValueError, match="invalid cron expression"):
        PlanConfig(name="x", cron="61 * * * *")
    with pytest.raises(ValueError, match="unknown time zone"):
        PlanConfig(name="x", cron="* * * * *", timezone="Mars/Olympus")


def test_a_new_plan_owes_nothing(store: Store):
    scheduler = PlanScheduler([MONTHLY], store, Recorder(store), clock=lambda: utc(2026, 6, 5))
    assert scheduler.catch_up(MONTHLY) is None
    assert store.plan_fire_stats() == {}


def test_catch_up_runs_the_latest_missed_time_within_grace_and_records_the_rest(store: Store):
    store.claim_fire("minutely", utc(2026, 1, 1, 0, 0))
    now = utc(2026, 1, 1, 0, 4, 20)
    scheduler = PlanScheduler([MINUTELY], store, Recorder(store), clock=lambda: now)
    due = scheduler.catch_up(MINUTELY)
    assert due == utc(2026, 1, 1, 0, 4)
    stats = store.plan_fire_stats()["minutely"]
    assert stats.missed == 3  # 00:01, 00:02, 00:03: superseded, recorded and counted
    assert stats.runs == 1


def test_catch_up_beyond_grace_records_every_time_as_missed(store: Store):
    store.claim_fire("monthly", utc(2026, 1, 31, 18))
    now = utc(2026, 4, 10)  # down for Feb and March; March's run is 9 days late
    scheduler = PlanScheduler([MONTHLY], store, Recorder(store), clock=lambda: now)
    assert scheduler.catch_up(MONTHLY) is None
    assert store.plan_fire_stats()["monthly"].missed == 2
    # a second start records nothing twice
    assert scheduler.catch_up(MONTHLY) is None
    assert store.plan_fire_stats()["monthly"].missed == 2


def test_a_claimed_time_is_never_run_twice(store: Store):
    when = utc(2026, 3, 31, 18)
    assert store.claim_fire("monthly", when) is not None
    assert store.claim_fire("monthly", when) is None
    assert store.record_missed("monthly", when, "late") is False


def test_interrupted_runs_are_settled_as_aborted_not_repeated(store: Store):
    when = utc(2026, 3, 31, 18)
    fire = store.claim_fire("monthly", when)
    assert fire is not None
    run_id = store.start_run("schedule", 3, None, plan="monthly")
    store.update_fire(fire, "running", run_id)
    store.finish_run(run_id, State.UNKNOWN, "aborted")
    assert store.settle_interrupted_fires() == [("monthly", when)]
    assert store.settle_interrupted_fires() == []
    # the restarted agent's catch-up does not run that time again
    scheduler = PlanScheduler([MONTHLY], store, Recorder(store),
                              clock=lambda: when + timedelta(minutes=5))
    assert scheduler.catch_up(MONTHLY) is None


def test_started_scheduler_runs_a_due_catch_up_and_reports_state(store: Store):
    last = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    store.claim_fire("minutely", last - timedelta(minutes=1))
    recorder = Recorder(store)
    scheduler = PlanScheduler([MINUTELY], store, recorder)
    scheduler.start()
    try:
        assert recorder.done.wait(10), "the due catch-up run did not start"
        (state,) = scheduler.states()
        assert state.name == "minutely"
        assert state.next_run is not None and state.next_run > datetime.now(UTC)
        assert state.runs_total >= 2
    finally:
        scheduler.shutdown()
    assert recorder.calls and recorder.calls[0][0] == "minutely"
    assert not scheduler.running


def test_a_long_outage_records_at_most_the_catch_up_limit(store: Store,
                                                         caplog: pytest.LogCaptureFixture):
    store.claim_fire("minutely", utc(2026, 1, 1))
    now = utc(2026, 1, 1) + timedelta(minutes=MAX_CATCH_UP + 250, seconds=30)
    scheduler = PlanScheduler([MINUTELY], store, Recorder(store), clock=lambda: now)
    assert scheduler.catch_up(MINUTELY) == now.replace(second=0)
    assert store.plan_fire_stats()["minutely"].missed == MAX_CATCH_UP - 1
    assert "250 older missed fire time(s) not recorded individually" in caplog.text
