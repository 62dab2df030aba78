"""The result store against real SQLite (WAL) and real PostgreSQL."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from support.builders import DEVICE, make_result

from agent.errors import DuplicateResultError, StoreError
from agent.store import Store
from agent.store.jsontext import json_text
from agent.store.store import _alembic_config, _compress, schema_head
from checks.model import State
from collectors.base import PackRef


def test_round_trip_keeps_every_part_of_a_result(store: Store) -> None:
    run = store.start_run("cli", 1, "/etc/xunjian.yaml")
    result_id = store.save_result(run, DEVICE, make_result())
    store.finish_run(run, State.WARN)

    loaded = store.result(result_id, with_raw=True)
    assert loaded is not None
    assert loaded.state is State.WARN and loaded.reachable
    assert loaded.pack == PackRef(name="linux-standard", version="1.0.0", content_hash="ab" * 32)
    assert loaded.facts is not None and loaded.facts.filesystems is not None
    assert loaded.facts.filesystems[0].used_ratio == 0.85
    assert [(c.check, c.item, c.state, c.value, c.warn, c.crit) for c in loaded.checks] == [
        ("filesystem", "/data", State.WARN, 85.0, 80.0, 90.0),
        ("readonly_fs", None, State.OK, "none", None, None),
    ]
    assert loaded.checks[0].evidence == ["filesystems"]
    assert loaded.item_errors == {"hardware": "not readable"}
    assert loaded.transcript == "$ df -P -T -B1\nFilesystem …\n"
    assert [(r.item, r.command, r.output) for r in loaded.raw] == [
        ("filesystems", "df -P -T -B1", "Filesystem …\n")]
    assert store.run_status(run) == "completed"
    assert store.counts() == {"runs": 1, "devices": 1, "device_results": 1,
                              "check_results": 2, "raw_outputs": 1}


def test_history_is_newest_first_and_previous_skips_unreachable(store: Store) -> None:
    t0 = datetime(2026, 10, 1, 2, 0, tzinfo=UTC)
    boot = datetime(2026, 9, 1, tzinfo=UTC)
    for i, (state, reachable) in enumerate([(State.OK, True), (State.WARN, True),
                                            (State.UNKNOWN, False)]):
        run = store.start_run("schedule", 1, None)
        store.save_result(run, DEVICE, make_result(state, boot=boot, reachable=reachable,
                                               when=t0 + timedelta(days=i)))
        store.finish_run(run, state)
    states = [r.state for r in store.history("web-01")]
    assert states == [State.UNKNOWN, State.WARN, State.OK]
    assert [r.state for r in store.history("web-01", limit=1)] == [State.UNKNOWN]
    previous = store.previous("web-01")
    assert previous is not None
    assert previous.collected_at == t0 + timedelta(days=1, seconds=2)
    assert previous.facts.boot_time == boot
    assert store.history("nobody") == []
    assert store.previous("nobody") is None


def test_reopening_does_not_migrate_again_and_keeps_data(tmp_path) -> None:
    first = Store.open(None, tmp_path)
    run = first.start_run("cli", 1, None)
    first.save_result(run, DEVICE, make_result())
    first.close()
    again = Store.open(None, tmp_path)
    assert again.counts()["device_results"] == 1
    with sqlite3.connect(tmp_path / "xunjian.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == head
    again.close()


def test_schema_head_read_from_the_files_is_alembics_head() -> None:
    assert schema_head() == ScriptDirectory.from_config(_alembic_config()).get_current_head()


def test_a_current_store_opens_without_importing_alembic(tmp_path) -> None:
    Store.open(None, tmp_path).close()  # creates and migrates
    code = ("import sys; from pathlib import Path; from agent.store import Store; "
            f"Store.open(None, Path({str(tmp_path)!r})).close(); "
            "print('alembic' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=os.getcwd())
    assert done.stdout.strip() == "False"
    with sqlite3.connect(tmp_path / "xunjian.db") as conn:  # an older schema still migrates
        conn.execute("UPDATE alembic_version SET version_num = '0006'")
        conn.execute("DROP INDEX uq_device_results_run_device")
    Store.open(None, tmp_path).close()
    with sqlite3.connect(tmp_path / "xunjian.db") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == \
            schema_head()


def test_runs_of_a_dead_agent_are_marked_aborted_and_results_kept(tmp_path) -> None:
    # A real process starts a run, commits one result, and is SIGKILLed mid-run.
    code = (
        "import os, signal, sys\n"
        "sys.path[:0] = [{root!r}, {tests!r}]\n"
        "from agent.store import Store\n"
        "from support.builders import DEVICE, make_result\n"
        "s = Store.open(None, __import__('pathlib').Path({data!r}))\n"
        "run = s.start_run('cli', 2, None)\n"
        "s.save_result(run, DEVICE, make_result())\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    ).format(root=os.getcwd(), tests=os.path.join(os.getcwd(), "tests"), data=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False)
    assert proc.returncode == -9, proc.stderr.decode()
    store = Store.open(None, tmp_path)
    assert store.run_status(1) == "running"
    assert store.mark_abandoned_runs() == [1]
    assert store.run_status(1) == "aborted"
    assert [r.state for r in store.history("web-01")] == [State.WARN]
    assert store.mark_abandoned_runs() == []
    store.close()


def test_live_runs_of_this_process_are_not_aborted(store: Store) -> None:
    run = store.start_run("cli", 1, None)
    assert store.mark_abandoned_runs() == []
    assert store.run_status(run) == "running"


def test_unwritable_data_dir_is_a_clear_error(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match=r"cannot create the data directory .*XUNJIAN_DATA_DIR"):
        Store.open(None, blocker / "data")


def test_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="schema migration failed"):
        Store.open("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2")


def test_bad_url_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="invalid store URL"):
        Store.open("nosuchdb://x")


def test_a_failed_write_keeps_earlier_results(tmp_path) -> None:
    store = Store.open(None, tmp_path)
    run = store.start_run("cli", 2, None)
    store.save_result(run, DEVICE, make_result())
    with pytest.raises(StoreError, match="saving the result of web-01 failed"):
        store.save_result(run + 100, DEVICE, make_result())  # foreign key violation
    assert store.counts()["device_results"] == 1
    store.close()


def test_save_results_stores_a_batch_in_one_transaction(store: Store) -> None:
    first = store.start_run("cli", 3, None)
    store.save_result(first, DEVICE, make_result())
    devices = [DEVICE.model_copy(update={"name": n, "location": "IDC-B"})
               for n in ("web-01", "web-02", "web-03")]
    run = store.start_run("schedule", 3, None)
    ids = store.save_results(run, [(d, make_result().model_copy(update={"device": d.name}))
                                   for d in devices])
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert [store.result(i).device for i in ids] == ["web-01", "web-02", "web-03"]
    assert store.latest_result_ids() == dict(zip(["web-01", "web-02", "web-03"], ids,
                                                 strict=True))
    # the known device was updated, the new ones inserted
    assert {m["location"] for m in store.device_meta().values()} == {"IDC-B"}
    assert store.counts()["check_results"] == 2 * 4


def test_a_batch_with_a_stored_device_stores_none_of_it(store: Store) -> None:
    run = store.start_run("cli", 2, None)
    store.save_result(run, DEVICE, make_result())
    other = DEVICE.model_copy(update={"name": "web-02"})
    with pytest.raises(DuplicateResultError, match=f"run {run} already has a result for one "
                       "of web-02, web-01; none of these 2 was stored"):
        store.save_results(run, [(other, make_result().model_copy(update={"device": "web-02"})),
                                 (DEVICE, make_result())])
    assert store.counts()["device_results"] == 1
    assert store.save_results(run, []) == []


def test_a_held_connection_commits_each_result_and_survives_a_failed_one(store: Store) -> None:
    run = store.start_run("cli", 3, None)
    other = DEVICE.model_copy(update={"name": "web-02"})
    with store.holding_connection():
        assert store.previous("web-01") is None
        store.save_result(run, DEVICE, make_result())
        # committed at once: another connection (the pool's) sees it inside the block
        assert store.counts()["device_results"] == 1
        with pytest.raises(DuplicateResultError):
            store.save_result(run, DEVICE, make_result())
        with pytest.raises(StoreError, match="saving the result of web-01 failed"):
            store.save_result(run + 100, DEVICE, make_result())  # foreign key violation
        store.save_result(run, other, make_result().model_copy(update={"device": "web-02"}))
        assert store.previous("web-02") is not None
        assert store.counts()["device_results"] == 2
        assert store.engine.pool.checkedout() == 1
    assert store.engine.pool.checkedout() == 0
    assert store.counts()["device_results"] == 2
    assert store.previous("web-01", before_run=run) is None


@pytest.mark.postgres
def test_a_held_connection_the_server_dropped_is_replaced(pg_url: str) -> None:
    store = Store.open(pg_url)
    admin = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test",
                          isolation_level="AUTOCOMMIT")
    try:
        run = store.start_run("cli", 2, None)
        with store.holding_connection():
            store.save_result(run, DEVICE, make_result())
            with admin.connect() as conn:  # as a server restart would
                assert conn.execute(text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :name"), {"name": pg_url.rsplit("/", 1)[1]}).scalar()
            # the first statement finds the connection gone: nothing was written, so the
            # result is written again on a new connection
            store.save_result(run, DEVICE.model_copy(update={"name": "web-02"}),
                              make_result().model_copy(update={"device": "web-02"}))
            assert store.previous("web-01") is not None
        assert store.counts()["device_results"] == 2
    finally:
        admin.dispose()
        store.close()


def test_json_text_is_the_json_that_json_dumps_wrote() -> None:
    for value in ({"a": 1.5, "b": [True, None, -0.0], "c": {"d": "é\x00\u2028😀"}},
                  {"big": 2**64 - 1, "neg": -(2**70), "tiny": 1e-05, "huge": 1e20},
                  {"half": "x\udcff"}):  # pydantic-core refuses it: json.dumps writes it
        text = json_text(value)
        assert text.isascii() and json.loads(text) == json.loads(json.dumps(value))
    assert json_text([math.nan, math.inf, -math.inf]) == "[NaN,Infinity,-Infinity]"


def test_facts_read_back_as_written(tmp_path) -> None:
    store = Store.open(None, tmp_path)
    result = make_result()
    assert result.facts is not None
    odd = result.facts.model_copy(update={"hostname": "wéb\U0001f600", "load1": math.nan,
                                          "memory_total_bytes": 2**64 - 1})
    run = store.start_run("cli", 1, None)
    store.save_result(run, DEVICE, result.model_copy(update={"facts": odd}))
    for facts in (store.previous("web-01").facts, store.result(1).facts):
        assert facts is not None and facts.hostname == "wéb\U0001f600"
        assert math.isnan(facts.load1 or 0) and facts.memory_total_bytes == 2**64 - 1
    store.close()


def test_compressed_text_is_zlibs_format() -> None:
    for value in ("", "x", "\x00é😀\r\n" * 1000, "".join(chr(i % 0xD7FF) for i in range(200_000))):
        assert zlib.decompress(_compress(value)).decode("utf-8") == value


def test_previous_reads_facts_holding_half_a_surrogate_pair(store: Store) -> None:
    """A mount point with bytes that are not UTF-8 (psutil decodes it with surrogateescape)
    is stored as a JSON escape that pydantic-core's parser refuses; the next run's judging
    still reads the previous facts (it failed with a ValidationError, aborting every run)."""
    result = make_result()
    assert result.facts is not None
    odd = result.facts.filesystems[0].model_copy(update={"mountpoint": "/media/caf\udce9"})
    facts = result.facts.model_copy(update={"filesystems": [odd]})
    run = store.start_run("schedule", 1, None)
    store.save_result(run, DEVICE, result.model_copy(update={"facts": facts}))
    store.finish_run(run, State.WARN)
    with store.holding_connection():  # as during Inspector.run
        previous = store.previous("web-01")
    assert previous is not None
    assert previous.facts.filesystems[0].mountpoint == "/media/caf\udce9"
