"""The parts of the scale-out that need no broker: config, the store's one-result-per-device
guarantee and dispatched runs, closing them, the worker's task logic, the run manager's
dispatch, and the scheduler lock on the real PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text
from support.builders import DEVICE, make_result

from agent.distributed.leader import AdvisoryLock, LeaderElection
from agent.distributed.settle import settle_dispatched_runs
from agent.distributed.worker import WorkerContext
from agent.errors import ConfigError, DuplicateResultError, ServiceError
from agent.service.runs import RunManager
from agent.store import Store
from checks.model import State
from config.inventory import Device
from config.loader import load_config
from config.secrets import Redactor
from config.service import PlanConfig

PG_PLAN = "nightly"


def write(tmp_path: Path, **config: object) -> Path:
    path = tmp_path / "xunjian.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


# -- config ---------------------------------------------------------------------------------

def test_celery_needs_a_shared_postgresql_store(tmp_path: Path):
    path = write(tmp_path, celery={"broker_url": "amqp://127.0.0.1//"})
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "store.url" in str(caught.value)
    assert "celery: needs a shared PostgreSQL store" in str(caught.value)


@pytest.mark.parametrize(("celery", "message"), [
    ({}, "give broker_url or broker_url_env (exactly one)"),
    ({"broker_url": "amqp://x//", "broker_url_env": "X"}, "exactly one"),
    ({"broker_url": "http://mq:5672"}, "use amqp://… (RabbitMQ) or redis://…"),
    ({"broker_url_env": "X", "default_site": "site a"}, "default_site"),
])
def test_bad_celery_settings_are_named(tmp_path: Path, celery: dict[str, str], message: str):
    path = write(tmp_path, store={"url": "postgresql+psycopg://x@127.0.0.1/x"}, celery=celery)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert message in str(caught.value)
    assert "xunjian.yaml:" in str(caught.value)  # file and line


def test_a_device_inherits_its_site_and_a_bad_site_name_is_refused(tmp_path: Path):
    path = write(tmp_path, defaults={"site": "hq"}, groups={"branch": {"site": "branch-1"}},
                 devices=[{"name": "a", "address": "10.0.0.1", "platform": "local"},
                          {"name": "b", "address": "10.0.0.2", "platform": "local",
                           "groups": ["branch"]},
                          {"name": "c", "address": "10.0.0.3", "platform": "local",
                           "site": "dc.2"}])
    sites = {d.name: d.site for d in load_config(path).devices}
    assert sites == {"a": "hq", "b": "branch-1", "c": "dc.2"}
    bad = write(tmp_path, devices=[{"name": "a", "address": "10.0.0.1", "site": "a/b"}])
    with pytest.raises(ConfigError, match="site"):
        load_config(bad)


# -- the store ------------------------------------------------------------------------------

def test_a_device_is_stored_once_per_run(store: Store):
    run_id = store.start_run("worker", 1, None, status="dispatched")
    store.save_result(run_id, DEVICE, make_result())
    with pytest.raises(DuplicateResultError, match="already has a result for web-01"):
        store.save_result(run_id, DEVICE, make_result())
    assert len(store.history("web-01")) == 1
    assert store.has_result(run_id, "web-01")
    # another run may store the device again
    store.save_result(store.start_run("cli", 1, None), DEVICE, make_result())
    assert len(store.history("web-01")) == 2


def test_dispatched_runs_close_once_with_the_worst_state(store: Store):
    run_id = store.start_run("schedule", 2, None, plan=PG_PLAN, status="dispatched")
    fire = store.claim_fire(PG_PLAN, datetime(2026, 11, 1, tzinfo=UTC))
    assert fire is not None
    store.update_fire(fire, "running", run_id)
    store.save_result(run_id, DEVICE, make_result(State.WARN))
    (pending,) = store.dispatched_runs()
    assert (pending.run_id, pending.device_count, pending.stored) == (run_id, 2, 1)
    assert store.open_dispatched_run(PG_PLAN) == run_id
    assert store.settle_interrupted_fires() == []  # the fire's run is still going
    # one device never came back: the run is at least UNKNOWN
    assert store.close_dispatched_run(run_id, "aborted") == (State.UNKNOWN, ["web-01"])
    assert store.close_dispatched_run(run_id, "aborted") is None  # closed already
    assert store.run_status(run_id) == "aborted"
    assert store.dispatched_runs() == []
    assert store.open_dispatched_run(PG_PLAN) is None
    assert store.plan_fire_stats()[PG_PLAN].runs == 1


class Recorder:
    def __init__(self) -> None:
        self.finished: list[int] = []

    def observe(self, device: Device, result: object, result_id: int) -> None:
        pass

    def run_finished(self, run_id: int) -> None:
        self.finished.append(run_id)


def test_settle_closes_complete_runs_and_aborts_overdue_ones(store: Store):
    complete = store.start_run("api", 1, None, status="dispatched")
    store.save_result(complete, DEVICE, make_result(State.CRIT))
    waiting = store.start_run("api", 3, None, status="dispatched")
    recorder = Recorder()
    hour = timedelta(hours=1)
    assert settle_dispatched_runs(store, [recorder], hour) == [complete]
    assert store.run_info(complete).state == "CRIT"  # type: ignore[union-attr]
    assert recorder.finished == [complete]
    assert settle_dispatched_runs(store, [recorder], hour) == []  # still within its time
    later = lambda: datetime.now(UTC) + 2 * hour  # noqa: E731
    assert settle_dispatched_runs(store, [recorder], hour, clock=later) == [waiting]
    info = store.run_info(waiting)
    assert (info.status, info.state) == ("aborted", "UNKNOWN")  # type: ignore[union-attr]


# -- the worker's task ----------------------------------------------------------------------

def local_config(tmp_path: Path) -> Path:
    return write(tmp_path, store={"data_dir": str(tmp_path / "data")},
                 devices=[{"name": "here", "address": "127.0.0.1", "platform": "local"}])


def test_a_task_inspects_once_and_skips_what_it_should_not_do(tmp_path: Path):
    loaded = load_config(local_config(tmp_path))
    store = Store.open(None, tmp_path / "data")
    context = WorkerContext(loaded, store, tmp_path / "data", Redactor(), {})
    run_id = store.start_run("api", 2, None, status="dispatched")
    assert context.inspect(run_id, "here", None).startswith(f"run {run_id}: here ")
    assert store.has_result(run_id, "here")
    assert "already has here (a retried task); not repeated" in context.inspect(
        run_id, "here", None, redelivered=True)
    assert "no device ghost in this worker's config" in context.inspect(run_id, "ghost", None)
    store.close_dispatched_run(run_id, "aborted")
    other = store.start_run("api", 1, None)  # not a dispatched run
    assert "is running; here not inspected" in context.inspect(other, "here", None)
    assert "is aborted; here not inspected" in context.inspect(run_id, "here", None)
    assert "unknown to the store" in context.inspect(99999, "here", None)
    assert len(store.history("here")) == 1
    store.close()


# -- dispatching ----------------------------------------------------------------------------

class FakeDispatcher:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.sent: list[tuple[int, list[str], str | None]] = []

    def dispatch(self, run_id: int, devices: Sequence[Device], plan: str | None) -> None:
        if self.fail:
            raise ServiceError("cannot queue the inspection tasks: the broker is unreachable")
        self.sent.append((run_id, [d.name for d in devices], plan))


def manager(tmp_path: Path, dispatcher: FakeDispatcher) -> tuple[RunManager, Store]:
    loaded = load_config(local_config(tmp_path))
    store = Store.open(None, tmp_path / "data")
    return RunManager(loaded, store, data_dir=tmp_path / "data", redactor=Redactor(),
                      env={}, dispatcher=dispatcher), store


def test_an_api_run_is_dispatched_not_run_here(tmp_path: Path):
    dispatcher = FakeDispatcher()
    runs, store = manager(tmp_path, dispatcher)
    run_id = runs.submit([], [], [])
    assert dispatcher.sent == [(run_id, ["here"], None)]
    assert store.run_status(run_id) == "dispatched"
    assert runs.active_runs == []  # nothing runs in this process
    assert store.history("here") == []


def test_an_unreachable_broker_fails_the_run_with_the_reason(tmp_path: Path):
    runs, store = manager(tmp_path, FakeDispatcher(fail=True))
    with pytest.raises(ServiceError, match="broker is unreachable"):
        runs.submit([], [], [])
    assert store.dispatched_runs() == []  # the run was opened, then closed as failed
    with store.reading("runs") as s:
        (status,) = s.execute(text("SELECT status FROM runs")).one()
    assert status == "failed"


def test_a_plan_is_not_dispatched_while_its_previous_run_is_out(tmp_path: Path):
    dispatcher = FakeDispatcher()
    runs, store = manager(tmp_path, dispatcher)
    plan = PlanConfig(name="patrol", cron="* * * * *")
    first = datetime(2026, 11, 21, 4, 0, tzinfo=UTC)
    runs.run_plan(plan, first)
    runs.run_plan(plan, first)  # the same time again: not repeated
    runs.run_plan(plan, first + timedelta(minutes=1))
    assert len(dispatcher.sent) == 1
    stats = store.plan_fire_stats()["patrol"]
    assert (stats.runs, stats.missed) == (1, 1)
    (run_id, _, plan_name) = dispatcher.sent[0]
    assert plan_name == "patrol" and store.open_dispatched_run("patrol") == run_id


# -- the scheduler lock ---------------------------------------------------------------------

@pytest.mark.postgres
def test_one_holder_of_the_scheduler_lock_at_a_time(pg_url: str):
    engine = create_engine(pg_url)
    first, second = AdvisoryLock(engine, key=4242), AdvisoryLock(engine, key=4242)
    try:
        assert first.try_acquire() and first.check()
        assert not second.try_acquire()
        first.release()
        assert second.try_acquire()
        # the holder's session dies (a network cut, a DBA): the lock goes with it
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_locks "
                              "WHERE locktype = 'advisory' AND objid = 4242"))
        assert not second.check()
        assert first.try_acquire()
    finally:
        first.dispose()
        second.dispose()
        engine.dispose()


@pytest.mark.postgres
def test_the_election_hands_over_when_the_leader_stops(pg_url: str):
    engine = create_engine(pg_url)
    events: list[str] = []
    elected = threading.Event()

    def election(name: str) -> LeaderElection:
        def on_elected() -> None:
            events.append(f"{name} elected")
            elected.set()
        return LeaderElection(AdvisoryLock(engine, key=4343), on_elected,
                              lambda: events.append(f"{name} deposed"), interval=0.2)

    one, two = election("one"), election("two")
    try:
        one.start()
        two.start()
        assert one.leader and not two.leader
        elected.clear()
        one.stop()
        assert elected.wait(10)
        assert two.leader
        assert events == ["one elected", "one deposed", "two elected"]
    finally:
        one.stop()
        two.stop()
        engine.dispose()


def test_config_check_shows_the_devices_per_site_queue(tmp_path: Path):
    from click.testing import CliRunner

    from agent.cli import main

    path = write(tmp_path, store={"url": "postgresql+psycopg://x@127.0.0.1/x"},
                 celery={"broker_url_env": "XJ_BROKER"}, groups={"a": {"site": "site-a"}},
                 defaults={"platform": "local"},
                 devices=[{"name": "d1", "address": "10.0.0.1", "groups": ["a"]},
                          {"name": "d2", "address": "10.0.0.2", "groups": ["a"]},
                          {"name": "d3", "address": "10.0.0.3"}])
    result = CliRunner().invoke(main, ["config", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "devices by site queue (xunjian worker --queue SITE): default 1, site-a 2" in \
        result.output


def test_a_plan_pack_that_no_longer_loads_is_refused_not_retried(
        tmp_path: Path):
    packs = tmp_path / "packs"
    packs.mkdir()
    pack = packs / "mine.yaml"
    pack.write_text("name: mine\nversion: '1'\nplatforms: [local]\n"
                    "items: [{id: up, command: uptime}]\n", encoding="utf-8")
    path = write(tmp_path, store={"data_dir": str(tmp_path / "data")},
                 packs={"paths": [str(packs)], "approval": "custom"},
                 devices=[{"name": "here", "address": "127.0.0.1", "platform": "local"}],
                 plans=[{"name": "p", "cron": "* * * * *", "packs": {"local": "mine"}}])
    loaded = load_config(path)
    # edited on this worker after the config was read: it no longer loads
    pack.write_text(pack.read_text().replace("items:", "itemz:"), encoding="utf-8")
    store = Store.open(None, tmp_path / "data")
    context = WorkerContext(loaded, store, tmp_path / "data", Redactor(), {})
    run_id = store.start_run("schedule", 1, None, plan="p", status="dispatched")
    assert "here UNKNOWN" in context.inspect(run_id, "here", "p")
    (result,) = store.history("here")
    (check,) = result.checks
    assert (check.check, check.item, check.state) == ("pack", "mine", State.UNKNOWN)
    assert check.message.startswith("nothing was sent: plan p: ")
    assert "itemz" in check.message
    store.close()


def test_config_check_finds_a_plan_pack_for_the_wrong_platform(tmp_path: Path):
    path = write(tmp_path, devices=[{"name": "here", "address": "127.0.0.1",
                                     "platform": "local"}],
                 plans=[{"name": "p", "cron": "* * * * *",
                         "packs": {"local": "cisco_ios-standard", "linux": "nope"}}])
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text_ = str(caught.value)
    assert "plans[0].packs.local: pack 'cisco_ios-standard' runs on cisco_ios, not on " \
           "local" in text_
    assert "plans[0].packs.linux: no pack named 'nope'" in text_
