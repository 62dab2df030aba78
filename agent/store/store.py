"""Open the store (migrating it to the current schema) and read/write inspection results.

Each device result is committed in its own transaction, so a run that dies midway keeps every
result committed before it; the run itself is then marked ``aborted`` at the next start.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import re
import socket
import threading
import zlib
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import platformdirs
from pydantic import ValidationError
from sqlalchemy import (
    Connection,
    Engine,
    Executable,
    Text,
    bindparam,
    case,
    cast,
    create_engine,
    event,
    func,
    insert,
    make_url,
    select,
    text,
)
from sqlalchemy import inspect as inspect_db
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from agent.errors import DuplicateResultError, StoreError
from agent.results import DeviceResult
from agent.store.jsontext import json_text
from agent.store.schema import (
    CheckRow,
    ConfigVersion,
    DeviceResultRow,
    DeviceRow,
    PackApproval,
    PlanFire,
    RawOutputRow,
    ReportRow,
    Run,
)
from checks.builtin import Previous
from checks.model import CheckResult, State
from collectors.base import PackRef, RawOutput
from collectors.facts import HostFacts
from collectors.network.configs import ConfigSnapshot, diff
from config.inventory import Device

DATA_DIR_ENV = "XUNJIAN_DATA_DIR"
#: a fire claimed less than this long ago may not have its run row yet
_CLAIM_GRACE = timedelta(minutes=5)


def default_data_dir() -> Path:
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env) if env else Path(platformdirs.user_data_dir("xunjian"))


try:
    # ISA-L writes the same zlib format (read back by zlib.decompress) at a third of zlib's
    # CPU for level 1, and a little smaller: 0.41 -> 0.15 ms per Linux result (18 outputs and
    # the transcript). zlib where it is not installed (no wheel for the platform).
    from isal.isal_zlib import compress as _deflate
except ImportError:  # pragma: no cover (isal is installed wherever it has a wheel)
    from zlib import compress as _deflate


def _compress(text: str) -> bytes:
    # Level 1: command output compresses ~5x at a fraction of level 6's CPU (profiled).
    return _deflate(text.encode("utf-8"), 1)


def _decompress(blob: bytes | None) -> str | None:
    return None if blob is None else zlib.decompress(blob).decode("utf-8")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


_REVISION = re.compile(r"""^revision\s*=\s*["']([^"']+)["']""", re.MULTILINE)
_DOWN_REVISION = re.compile(r"""^down_revision\s*=\s*["']([^"']+)["']""", re.MULTILINE)


def schema_head() -> str | None:
    """The newest migration's revision, read from the version files: importing alembic costs
    0.3 s of CPU on every start, and the schema is nearly always current. ``None`` when the
    files do not name exactly one head (alembic then decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (resources.files("agent") / "store" / "migrations" / "versions").iterdir():
        if path.name.endswith(".py"):
            source = path.read_text(encoding="utf-8")
            if found := _REVISION.search(source):
                revisions.add(found[1])
            if found := _DOWN_REVISION.search(source):
                parents.add(found[1])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _current_revision(conn: Connection) -> str | None:
    if not inspect_db(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _alembic_config() -> Any:
    from alembic.config import Config  # noqa: PLC0415 (only when migrating)

    cfg = Config()
    cfg.set_main_option("script_location",
                        str(resources.files("agent") / "store" / "migrations"))
    return cfg


_KEPT = "results stored earlier are kept"


def _advice(exc: Exception, url: str) -> str:
    """What to do about a store failure the operator can fix: a full disk, a database server
    that is down or refuses connections."""
    text = str(exc).lower()
    if (getattr(exc, "errno", None) == errno.ENOSPC or "disk is full" in text
            or "no space left" in text):
        return f"; free space where the store keeps its data, then run again ({_KEPT})"
    if isinstance(exc, OperationalError) and not url.startswith("sqlite"):
        return ("; check that the database server is running and accepts connections for "
                f"store.url, then run again ({_KEPT})")
    return ""


@contextlib.contextmanager
def _storing(what: str, url: str) -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise StoreError(f"result store {url}: {what} failed: {detail}"
                         f"{_advice(exc, url)}") from exc
    except OSError as exc:
        raise StoreError(f"result store {url}: {what} failed: {exc.strerror or exc}"
                         f"{_advice(exc, url)}") from exc


def _aware(value: datetime) -> datetime:
    # SQLite returns naive datetimes; everything we write is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _engine_options(url: str) -> dict[str, Any]:
    """JSON columns written by pydantic-core (jsontext.py); PostgreSQL via psycopg: JSON
    values without NUL, which it cannot hold (pgtext.py)."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql+psycopg":
        from agent.store.pgtext import json_serializer  # noqa: PLC0415 (optional dependency)

        return {"json_serializer": json_serializer}
    if parsed.get_backend_name() in ("sqlite", "postgresql"):
        return {"json_serializer": json_text}
    return {}


_T = TypeVar("_T")


class _Held:
    """The connection a thread keeps between results (:meth:`Store.holding_connection`)."""

    conn: Connection | None = None

    def release(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                conn.close()


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=True)
        self._session = sessionmaker(engine, expire_on_commit=False)
        self._local = threading.local()
        self._bulk: tuple[_BulkInsert, _BulkInsert] | None = None

    @classmethod
    def open(cls, url: str | None = None, data_dir: Path | None = None) -> Store:
        """Open (creating and migrating as needed) the store at ``url``; default SQLite in the
        data directory."""
        if url is None:
            directory = (data_dir or default_data_dir()).expanduser()
            try:
                # owner only: it holds customers' transcripts, configs and reports
                directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            except OSError as exc:
                raise StoreError(f"cannot create the data directory {directory}: "
                                 f"{exc.strerror or exc}; set store.data_dir or "
                                 f"{DATA_DIR_ENV}") from exc
            url = f"sqlite:///{directory / 'xunjian.db'}"
        try:
            engine = create_engine(url, pool_pre_ping=True, **_engine_options(url))
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise StoreError(f"invalid store URL {url!r}: {exc}") from exc
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        elif engine.dialect.driver == "psycopg":
            from agent.store.pgtext import use_nul_free_strings  # noqa: PLC0415 (optional dep)

            event.listen(engine, "connect", use_nul_free_strings)
        store = cls(engine)
        store.migrate()
        return store

    def migrate(self) -> None:
        with _storing("schema migration", self.url), self.engine.begin() as conn:
            head = schema_head()
            if head is not None and _current_revision(conn) == head:
                return
            from alembic import command  # noqa: PLC0415 (only when migrating)

            cfg = _alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def close(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def holding_connection(self) -> Iterator[None]:
        """While the block runs, this thread's :meth:`save_result`, :meth:`save_results` and
        :meth:`previous` share one connection, taken from the pool at the first of them and
        given back at the end: a checkout per call (with the pool's ping) cost ~0.1 ms of CPU
        per result. Each call is still its own transaction, committed before it returns."""
        if getattr(self._local, "held", None) is not None:
            yield  # an outer block holds one already
            return
        held = self._local.held = _Held()
        try:
            yield
        finally:
            self._local.held = None
            held.release()

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in its own transaction, committed at the end of the block; this
        thread's held connection if it has one (:meth:`holding_connection`), else one from the
        pool. For what runs between the results stored on a held connection (the incident
        engine): SQLite keeps its page cache per connection, and a write through another one
        makes it read the pages again (~30 reads per result)."""
        held: _Held | None = getattr(self._local, "held", None)
        if held is None:
            with self.engine.begin() as conn:
                yield conn
            return
        if held.conn is None:
            held.conn = self.engine.connect()
        # the connection has no transaction open between calls: this block is its own
        try:
            with held.conn.begin():
                yield held.conn
        except BaseException:
            held.release()  # whatever failed, the next call starts on a clean connection
            raise

    def _transaction(self, work: Callable[[Connection], _T]) -> _T:
        """``work`` in one transaction, committed when it returns; on this thread's held
        connection if it has one, else on one from the pool."""
        held: _Held | None = getattr(self._local, "held", None)
        if held is None:
            with self.engine.begin() as conn:
                return work(conn)
        for attempt in (1, 2):
            if held.conn is None:
                held.conn = self.engine.connect()  # the pool pings it
            done = False
            try:
                with held.conn.begin():
                    value = work(held.conn)
                    done = True
            except DBAPIError as exc:
                held.release()  # the next call takes a new one from the pool
                if not exc.connection_invalidated or done or attempt == 2:
                    raise
                # The server dropped the held connection between two calls (it restarted):
                # nothing of this transaction was committed. Once more on a new connection,
                # as the pool's ping at checkout would have done.
                continue
            except BaseException:
                held.release()  # whatever failed, the next call starts on a clean connection
                raise
            return value
        raise AssertionError("unreachable")

    # -- runs -----------------------------------------------------------------------------

    def start_run(self, trigger: str, device_count: int, config_source: str | None,
                  plan: str | None = None, status: str = "running") -> int:
        """A new run; ``status`` is ``dispatched`` when Celery workers inspect its devices."""
        with _storing("starting a run", self.url), self._session.begin() as s:
            run = Run(started_at=datetime.now(UTC), status=status, trigger=trigger,
                      device_count=device_count, agent_host=socket.gethostname(),
                      agent_pid=os.getpid(), config_source=config_source, plan=plan)
            s.add(run)
            s.flush()
            return run.id

    def finish_run(self, run_id: int, state: State, status: str = "completed") -> None:
        with _storing("finishing a run", self.url), self._session.begin() as s:
            run = s.get_one(Run, run_id)
            run.finished_at, run.status, run.state = datetime.now(UTC), status, state.value

    def mark_abandoned_runs(self) -> list[int]:
        """Runs still 'running' whose agent process on this host is gone become 'aborted'."""
        host = socket.gethostname()
        aborted = []
        with _storing("checking for interrupted runs", self.url), self._session.begin() as s:
            for run in s.scalars(select(Run).where(Run.status == "running")):
                if run.agent_host == host and not _pid_alive(run.agent_pid):
                    run.status, run.finished_at = "aborted", datetime.now(UTC)
                    aborted.append(run.id)
        return aborted

    def run_status(self, run_id: int) -> str:
        with self._session() as s:
            return s.get_one(Run, run_id).status

    def run_status_or_none(self, run_id: int) -> str | None:
        with _storing("reading a run", self.url), self._session() as s:
            run = s.get(Run, run_id)
            return None if run is None else run.status

    # -- runs inspected by Celery workers -------------------------------------------------

    def dispatched_runs(self) -> list[DispatchedRun]:
        """Runs whose devices are with the workers, with what has been stored so far."""
        query = (select(Run.id, Run.plan, Run.started_at, Run.device_count,
                        func.count(DeviceResultRow.id))
                 .outerjoin(DeviceResultRow, DeviceResultRow.run_id == Run.id)
                 .where(Run.status == "dispatched").group_by(Run.id).order_by(Run.id))
        with _storing("reading dispatched runs", self.url), self._session() as s:
            return [DispatchedRun(run_id, plan, _aware(started), count, stored)
                    for run_id, plan, started, count, stored in s.execute(query).all()]

    def has_result(self, run_id: int, device: str) -> bool:
        with _storing("reading a run", self.url), self._session() as s:
            return s.scalar(select(DeviceResultRow.id).where(
                DeviceResultRow.run_id == run_id, DeviceResultRow.device == device)) is not None

    def close_dispatched_run(self, run_id: int, status: str) -> tuple[State, list[str]] | None:
        """Close a dispatched run as ``status`` with the worst state of its results; its plan
        fire (if any) gets the same status. Returns (state, devices stored), or None when the
        run was no longer dispatched (another scheduler closed it)."""
        with _storing("closing a run", self.url), self._session.begin() as s:
            run = s.get_one(Run, run_id, with_for_update=True)
            if run.status != "dispatched":
                return None
            rows = s.execute(select(DeviceResultRow.device, DeviceResultRow.state)
                             .where(DeviceResultRow.run_id == run_id)).all()
            states = [State(r.state) for r in rows]
            if len(rows) < run.device_count:
                states.append(State.UNKNOWN)  # devices not inspected: nothing can be said
            state = State.worst(states)
            run.status, run.state, run.finished_at = status, state.value, datetime.now(UTC)
            for fire in s.scalars(select(PlanFire).where(PlanFire.run_id == run_id,
                                                         PlanFire.status == "running")):
                fire.status = status
            return state, [r.device for r in rows]

    def open_dispatched_run(self, plan: str) -> int | None:
        """The plan's run still with the workers, if any."""
        with _storing("reading dispatched runs", self.url), self._session() as s:
            return s.scalar(select(Run.id).where(Run.plan == plan, Run.status == "dispatched")
                            .order_by(Run.id.desc()).limit(1))

    def run_info(self, run_id: int) -> RunInfo | None:
        """A run and a summary of each device result stored so far (for ``GET /runs/{id}``)."""
        with _storing("reading a run", self.url), self._session() as s:
            run = s.get(Run, run_id)
            if run is None:
                return None
            rows = s.execute(
                select(DeviceResultRow.id, DeviceResultRow.device, DeviceResultRow.state,
                       DeviceResultRow.reachable, DeviceResultRow.error,
                       DeviceResultRow.started_at, DeviceResultRow.finished_at)
                .where(DeviceResultRow.run_id == run_id).order_by(DeviceResultRow.id)).all()
            return RunInfo(
                id=run.id, status=run.status, trigger=run.trigger, plan=run.plan,
                state=run.state, device_count=run.device_count,
                started_at=_aware(run.started_at),
                finished_at=_aware(run.finished_at) if run.finished_at else None,
                results=[RunDeviceSummary(
                    result_id=r.id, device=r.device, state=r.state, reachable=r.reachable,
                    error=r.error, started_at=_aware(r.started_at),
                    finished_at=_aware(r.finished_at)) for r in rows])

    # -- scheduled plans ------------------------------------------------------------------

    def claim_fire(self, plan: str, scheduled_for: datetime) -> int | None:
        """Record that ``plan``'s run for ``scheduled_for`` starts now. None when that time was
        already claimed (by this agent before a restart, or by another agent): do not run."""
        try:
            with self._session.begin() as s:
                fire = PlanFire(plan=plan, scheduled_for=scheduled_for,
                                recorded_at=datetime.now(UTC), status="running")
                s.add(fire)
                s.flush()
                return fire.id
        except IntegrityError:
            return None
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise StoreError(f"result store {self.url}: claiming a scheduled run failed: "
                             f"{detail}") from exc

    def record_missed(self, plan: str, scheduled_for: datetime, note: str) -> bool:
        """Record a fire time that will not run; False if that time is already recorded."""
        try:
            with self._session.begin() as s:
                s.add(PlanFire(plan=plan, scheduled_for=scheduled_for,
                               recorded_at=datetime.now(UTC), status="missed", note=note))
            return True
        except IntegrityError:
            return False

    def update_fire(self, fire_id: int, status: str, run_id: int | None,
                    note: str | None = None) -> None:
        with _storing("recording a scheduled run", self.url), self._session.begin() as s:
            fire = s.get_one(PlanFire, fire_id)
            fire.status, fire.run_id, fire.note = status, run_id, note

    def settle_interrupted_fires(self) -> list[tuple[str, datetime]]:
        """Fires left 'running' whose run is no longer running (the agent was killed) become
        'aborted'; returned so the caller can log them."""
        settled = []
        with _storing("checking interrupted scheduled runs", self.url), \
                self._session.begin() as s:
            fires = s.scalars(select(PlanFire).where(PlanFire.status == "running")).all()
            for fire in fires:
                run = s.get(Run, fire.run_id) if fire.run_id else None
                if run is not None and run.status in ("running", "dispatched"):
                    continue
                if run is None and _aware(fire.recorded_at) > datetime.now(UTC) - _CLAIM_GRACE:
                    continue  # claimed a moment ago; its run is being created
                fire.status = "aborted"
                fire.note = "the agent stopped during this run; not repeated"
                settled.append((fire.plan, _aware(fire.scheduled_for)))
        return settled

    def last_fire(self, plan: str) -> datetime | None:
        """The latest scheduled time recorded for ``plan`` (run, missed or aborted)."""
        with _storing("reading schedule state", self.url), self._session() as s:
            value = s.scalar(select(func.max(PlanFire.scheduled_for))
                             .where(PlanFire.plan == plan))
            return _aware(value) if value else None

    def plan_fire_stats(self) -> dict[str, PlanFireStats]:
        """Per plan: runs started, fires missed, last started scheduled time."""
        missed = PlanFire.status == "missed"
        query = select(
            PlanFire.plan, func.sum(case((missed, 0), else_=1)),
            func.sum(case((missed, 1), else_=0)),
            func.max(case((missed, None), else_=PlanFire.scheduled_for)),
        ).group_by(PlanFire.plan)
        with _storing("reading schedule state", self.url), self._session() as s:
            rows = s.execute(query).all()
        # SQLite returns max() over a CASE as text, PostgreSQL as a timestamp
        return {plan: PlanFireStats(int(runs), int(misses), _as_datetime(last))
                for plan, runs, misses, last in rows}

    # -- results --------------------------------------------------------------------------

    def save_result(self, run_id: int, device: Device, result: DeviceResult) -> int:
        """Commit one device's result (checks and raw outputs in one executemany each)."""
        return self.save_results(run_id, [(device, result)])[0]

    def save_results(self, run_id: int,
                     items: Sequence[tuple[Device, DeviceResult]]) -> list[int]:
        """Commit several devices' results of one run in one transaction (all or none); the
        ids in the order given. SQLAlchemy Core on one connection, one executemany per table
        whatever the number of devices: the ORM's unit of work cost 1.9 ms of CPU per Linux
        host on SQLite, this 1.1 ms; a 1,000-device run stored at once is ~20x faster than
        result by result (bulk imports, benchmarks)."""
        if not items:
            return []
        names = [result.device for _, result in items]
        what = (f"saving the result of {names[0]}" if len(items) == 1
                else f"saving {len(items)} results of run {run_id}")
        rows = [_result_values(run_id, result) for _, result in items]
        now = datetime.now(UTC)
        devices = list({device.name: _device_values(device, now)
                        for device, _ in items}.values())

        def write(conn: Connection) -> list[int]:
            try:
                # one result: its id without RETURNING's result set (SQLite's lastrowid)
                if len(rows) == 1:
                    key = conn.execute(_INSERT_RESULT, rows[0]).inserted_primary_key
                    ids: list[int] = [key[0]] if key else []
                else:
                    ids = list(conn.execute(_INSERT_RESULTS, rows).scalars())
            except IntegrityError as exc:
                if "uq_device_results_run_device" in str(exc.orig) or _is_run_device_dup(exc):
                    raise DuplicateResultError(_duplicate_message(run_id, names)) from exc
                raise
            pairs = list(zip(ids, items, strict=True))
            insert_checks, insert_raw = self._bulk_inserts()
            if checks := [_check_values(rid, c) for rid, (_, result) in pairs
                          for c in result.checks]:
                insert_checks.execute(conn, checks)
            if raw := [_raw_values(rid, r) for rid, (_, result) in pairs for r in result.raw]:
                insert_raw.execute(conn, raw)
            if configs := [(rid, result, result.config) for rid, (_, result) in pairs
                           if result.config is not None]:
                with Session(bind=conn) as s:
                    for rid, result, config in configs:
                        self._save_config(s, result.device, rid, result.finished_at, config)
                    s.flush()
            conn.execute(_upsert_devices(conn.dialect.name), devices)
            return ids

        with _storing(what, self.url):
            return self._transaction(write)

    def _bulk_inserts(self) -> tuple[_BulkInsert, _BulkInsert]:
        """Inserting check results and raw outputs, compiled for this store's dialect."""
        if self._bulk is None:
            dialect = self.engine.dialect
            self._bulk = (_BulkInsert.compile(CheckRow.__tablename__, _CHECK_KEYS, dialect),
                          _BulkInsert.compile(RawOutputRow.__tablename__, _RAW_KEYS, dialect))
        return self._bulk

    def _save_config(self, s: Session, device: str, result_id: int, finished_at: datetime,
                     config: ConfigSnapshot) -> None:
        """Keep a new config version only when it differs from the device's latest one."""
        latest = s.scalars(select(ConfigVersion).where(ConfigVersion.device == device)
                           .order_by(ConfigVersion.collected_at.desc(), ConfigVersion.id.desc())
                           .limit(1)).first()
        if latest is not None and latest.sha256 == config.sha256:
            return
        change = None
        if latest is not None:
            before = f"{_aware(latest.collected_at):%Y-%m-%d %H:%M} UTC"
            change = diff(_decompress(latest.text) or "", config.text,
                          f"{device} version {latest.id} ({before})",
                          f"{device} now ({finished_at:%Y-%m-%d %H:%M} UTC)")
        s.add(ConfigVersion(
            device=device, result_id=result_id, collected_at=finished_at,
            sha256=config.sha256, lines=config.lines, masked=config.masked,
            text=_compress(config.text), previous_id=latest.id if latest else None,
            diff=_compress(change.text) if change else None,
            added=change.added if change else config.lines, removed=change.removed if change else 0,
        ))

    def config_versions(self, device: str, limit: int = 50) -> list[StoredConfig]:
        """The device's config history, newest first (text and diff included)."""
        with _storing("reading config history", self.url), self._session() as s:
            rows = s.scalars(select(ConfigVersion).where(ConfigVersion.device == device)
                             .order_by(ConfigVersion.collected_at.desc(),
                                       ConfigVersion.id.desc()).limit(limit)).all()
            return [_to_config(r) for r in rows]

    def config_version(self, version_id: int) -> StoredConfig | None:
        with _storing("reading config history", self.url), self._session() as s:
            row = s.get(ConfigVersion, version_id)
            return _to_config(row) if row else None

    def previous(self, device: str, before_run: int | None = None) -> Previous | None:
        """Facts of the device's latest reachable inspection (before ``before_run``)."""
        # Two columns on a plain connection, not the ORM row with its transcript blob
        # (0.29 -> 0.22 ms of CPU per device and run); a statement built once, with bound
        # parameters; the facts as JSON text, validated by pydantic-core straight from it
        # (half the CPU of json.loads and validating the dict).
        params: dict[str, Any] = {"device": device}
        query = _PREVIOUS
        if before_run is not None:
            query, params["run_id"] = _PREVIOUS_BEFORE_RUN, before_run
        with _storing("reading history", self.url):
            row = self._transaction(lambda conn: conn.execute(query, params).first())
        if row is None or row.facts in (None, "null"):  # JSON null: no facts
            return None
        try:
            facts = HostFacts.model_validate_json(row.facts)
        except ValidationError:
            # half a surrogate pair (a mount point psutil decoded with surrogateescape) is
            # stored as a JSON escape that pydantic-core's parser refuses; json.loads takes it
            facts = HostFacts.model_validate(json.loads(row.facts))
        return Previous(facts, _aware(row.finished_at))

    def history(self, device: str, limit: int = 20) -> list[DeviceResult]:
        query = (select(DeviceResultRow).where(DeviceResultRow.device == device)
                 .options(selectinload(DeviceResultRow.checks))
                 .order_by(DeviceResultRow.started_at.desc(), DeviceResultRow.id.desc())
                 .limit(limit))
        with _storing("reading history", self.url), self._session() as s:
            return [_to_result(row, s) for row in s.scalars(query)]

    def result(self, result_id: int, *, with_raw: bool = False) -> DeviceResult | None:
        with _storing("reading a result", self.url), self._session() as s:
            row = s.get(DeviceResultRow, result_id)
            return None if row is None else _to_result(row, s, with_raw=with_raw)

    def latest_result(self, device: str, *, with_raw: bool = False) -> DeviceResult | None:
        query = (select(DeviceResultRow.id).where(DeviceResultRow.device == device)
                 .order_by(DeviceResultRow.started_at.desc(), DeviceResultRow.id.desc())
                 .limit(1))
        with _storing("reading history", self.url), self._session() as s:
            result_id = s.scalars(query).first()
        return None if result_id is None else self.result(result_id, with_raw=with_raw)

    def latest_results(self) -> list[DeviceResult]:
        """Every device's latest result with its checks (no raw outputs, no transcript), by
        device name. Two queries whatever the fleet size or the length of the history."""
        with _storing("reading the latest results", self.url), self._session() as s:
            return list(_load_results(s, _latest_ids()).values())

    def latest_result_ids(self) -> dict[str, int]:
        """The id of every device's latest result (one query): what ``/metrics`` compares
        with its cache to load only the results that changed since the last scrape."""
        with _storing("reading the latest results", self.url), self._session() as s:
            rows = s.execute(select(DeviceRow.name, _latest_id())).all()
        return {name: result_id for name, result_id in rows if result_id is not None}

    def last_result_id(self) -> int | None:
        """The highest result id (one index lookup): it moves whenever a result is stored,
        which is how the ``/metrics`` cache warmer notices new results cheaply."""
        with _storing("reading the latest results", self.url), self._session() as s:
            return s.scalar(select(func.max(DeviceResultRow.id)))

    def results_by_id(self, ids: Collection[int]) -> dict[int, DeviceResult]:
        """Results by id, checks included (no raw outputs, no transcript)."""
        found: dict[int, DeviceResult] = {}
        ordered = sorted(ids)
        with _storing("reading results", self.url), self._session() as s:
            for start in range(0, len(ordered), 500):  # bounded IN lists
                found |= _load_results(s, ordered[start:start + 500])
        return found

    def run_counts(self) -> dict[tuple[str, str], int]:
        """Number of runs per (trigger, status), over the whole history."""
        with _storing("counting runs", self.url), self._session() as s:
            rows = s.execute(select(Run.trigger, Run.status, func.count())
                             .group_by(Run.trigger, Run.status)).all()
        return {(trigger, status): count for trigger, status, count in rows}

    def device_meta(self) -> dict[str, dict[str, Any]]:
        """The inventory metadata stored with each device's latest result (business system,
        location, business level, serial, model, groups, tags ...), plus its platform."""
        with _storing("reading devices", self.url), self._session() as s:
            rows = s.execute(select(DeviceRow.name, DeviceRow.platform, DeviceRow.meta)).all()
        return {name: {**(meta or {}), "platform": platform} for name, platform, meta in rows}

    @contextlib.contextmanager
    def reading(self, what: str) -> Iterator[Session]:
        """A session for read queries of other packages (reports); database errors become
        StoreError naming ``what``."""
        with _storing(what, self.url), self._session() as s:
            yield s

    # -- reports ----------------------------------------------------------------------------

    def claim_report_version(self, scope: str, period: str, languages: str, overall: str,
                             generated_at: datetime) -> tuple[int, int]:
        """Reserve the next version of the report of ``scope`` and ``period``; returns
        ``(report_id, version)``. Two generators at once get different versions."""
        for _ in range(5):
            try:
                with _storing("recording the report", self.url), self._session() as s, s.begin():
                    latest = s.scalar(select(func.max(ReportRow.version)).where(
                        ReportRow.scope == scope, ReportRow.period == period)) or 0
                    row = ReportRow(scope=scope, period=period, version=latest + 1,
                                    generated_at=generated_at, languages=languages,
                                    overall=overall, files=[])
                    s.add(row)
                    s.flush()
                    return row.id, row.version
            except StoreError as exc:
                if not isinstance(exc.__cause__, IntegrityError):
                    raise
        raise StoreError(f"result store {self.url}: could not reserve a report version for "
                         f"{scope} {period} (too many concurrent generators); try again")

    def report_files(self, report_id: int, files: list[dict[str, Any]]) -> None:
        with _storing("recording the report files", self.url), self._session() as s, s.begin():
            row = s.get(ReportRow, report_id)
            if row is not None:
                row.files = files

    def discard_report(self, report_id: int) -> None:
        """Forget a reserved version whose files could not be made."""
        with _storing("discarding the report", self.url), self._session() as s, s.begin():
            row = s.get(ReportRow, report_id)
            if row is not None:
                s.delete(row)

    def reports(self, limit: int = 50) -> list[dict[str, Any]]:
        with _storing("reading reports", self.url), self._session() as s:
            rows = s.scalars(select(ReportRow).order_by(ReportRow.id.desc()).limit(limit))
            return [{"id": r.id, "scope": r.scope, "period": r.period, "version": r.version,
                     "generated_at": _aware(r.generated_at), "languages": r.languages,
                     "overall": r.overall, "files": r.files} for r in rows]

    # -- pack approvals -----------------------------------------------------------------------

    def approve_pack(self, *, pack_name: str, pack_version: str, content_hash: str, scope: str,
                     approved_by: str, content: dict[str, Any], note: str | None = None,
                     approved_at: datetime | None = None) -> ApprovalRecord:
        """Record an approval of exactly ``content_hash`` for ``scope``."""
        row = PackApproval(pack_name=pack_name, pack_version=pack_version,
                           content_hash=content_hash, scope=scope, approved_by=approved_by,
                           approved_at=approved_at or datetime.now(UTC), note=note,
                           content=content)
        with _storing(f"recording the approval of pack {pack_name}", self.url), \
                self._session() as s, s.begin():
            s.add(row)
            s.flush()
            return _to_approval(row)

    def pack_approvals(self, pack_name: str | None = None) -> list[ApprovalRecord]:
        """Approvals in force (not revoked), newest first."""
        query = select(PackApproval).where(PackApproval.revoked_at.is_(None))
        if pack_name is not None:
            query = query.where(PackApproval.pack_name == pack_name)
        with _storing("reading pack approvals", self.url), self._session() as s:
            rows = s.scalars(query.order_by(PackApproval.approved_at.desc(),
                                            PackApproval.id.desc()))
            return [_to_approval(r) for r in rows]

    def revoke_pack_approvals(self, pack_name: str, scope: str) -> int:
        """Withdraw every approval of ``pack_name`` for ``scope``; returns how many."""
        with _storing(f"revoking approvals of pack {pack_name}", self.url), \
                self._session() as s, s.begin():
            rows = s.scalars(select(PackApproval).where(
                PackApproval.pack_name == pack_name, PackApproval.scope == scope,
                PackApproval.revoked_at.is_(None))).all()
            for row in rows:
                row.revoked_at = datetime.now(UTC)
            return len(rows)

    def counts(self) -> dict[str, int]:
        """Row counts per table (for tests and `xunjian store info`)."""
        with self._session() as s:
            return {t.__tablename__: s.scalar(select(func.count()).select_from(t)) or 0
                    for t in (Run, DeviceRow, DeviceResultRow, CheckRow, RawOutputRow)}


@dataclass(frozen=True)
class ApprovalRecord:
    id: int
    pack_name: str
    pack_version: str
    content_hash: str
    #: a customer id, or ``*`` for every device
    scope: str
    approved_by: str
    approved_at: datetime
    note: str | None
    #: the approved files: {"pack.yaml": text, "files": {path: text}}
    content: dict[str, Any]


def _to_approval(row: PackApproval) -> ApprovalRecord:
    return ApprovalRecord(id=row.id, pack_name=row.pack_name, pack_version=row.pack_version,
                          content_hash=row.content_hash, scope=row.scope,
                          approved_by=row.approved_by, approved_at=_aware(row.approved_at),
                          note=row.note, content=dict(row.content))


@dataclass(frozen=True)
class RunDeviceSummary:
    result_id: int
    device: str
    state: str
    reachable: bool
    error: str | None
    started_at: datetime
    finished_at: datetime


_TABLES = DeviceResultRow.metadata.tables
_INSERT_RESULT = insert(_TABLES[DeviceResultRow.__tablename__])
_INSERT_RESULTS = _INSERT_RESULT.returning(
    _TABLES[DeviceResultRow.__tablename__].c.id, sort_by_parameter_order=True)


@dataclass(frozen=True)
class _BulkInsert:
    """An INSERT of ``keys`` into ``table`` compiled once for a dialect and executed with
    plain tuples (or dicts, for drivers with named parameters) run through the columns' bind
    processors, as SQLAlchemy would: its per-row work (a dict of every parameter, then the
    processors) cost ~4 µs a row, 30 rows per result (checks and raw outputs)."""

    sql: str
    keys: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    named: bool

    @classmethod
    def compile(cls, table: str, keys: Sequence[str], dialect: Any) -> _BulkInsert:
        columns = _TABLES[table].c
        compiled = insert(_TABLES[table]).compile(dialect=dialect, column_keys=list(keys))
        order = tuple(compiled.positiontup or ()) if compiled.positional else tuple(keys)
        if set(compiled.binds) != set(keys) or sorted(order) != sorted(keys):
            raise AssertionError(f"{table}: bind names {sorted(compiled.binds)} are not {keys}")
        return cls(compiled.string, order,
                   tuple(columns[k].type.dialect_impl(dialect).bind_processor(dialect)
                         for k in order), not compiled.positional)

    def execute(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        pairs = list(zip(self.keys, self.processors, strict=True))
        if self.named:
            conn.exec_driver_sql(self.sql, [{k: row[k] if p is None else p(row[k])
                                             for k, p in pairs} for row in rows])
        else:
            conn.exec_driver_sql(self.sql, [tuple(row[k] if p is None else p(row[k])
                                                  for k, p in pairs) for row in rows])


_CHECK_KEYS = ("result_id", "check", "item", "title", "state", "value_num", "value_text", "unit",
               "warn", "crit", "message", "evidence", "waived", "waiver_reason",
               "waiver_expires")
_RAW_KEYS = ("result_id", "item", "command", "exit_code", "duration_seconds", "truncated",
             "output")


_PREVIOUS = (select(cast(DeviceResultRow.facts, Text).label("facts"),
                    DeviceResultRow.finished_at)
             .where(DeviceResultRow.device == bindparam("device"),
                    DeviceResultRow.reachable.is_(True), DeviceResultRow.facts.is_not(None))
             .order_by(DeviceResultRow.started_at.desc()).limit(1))
_PREVIOUS_BEFORE_RUN = _PREVIOUS.where(DeviceResultRow.run_id != bindparam("run_id"))


@functools.cache
def _upsert_devices(dialect: str) -> Executable:
    """The devices' inventory rows, inserted or replaced (both supported stores have
    ``INSERT … ON CONFLICT``); executed with one parameter set per device. Built once per
    dialect: building it (``excluded`` makes a column proxy per column) and its cache key
    cost 0.3 ms of CPU per stored result."""
    table = _TABLES[DeviceRow.__tablename__]
    if dialect == "postgresql":
        # the PostgreSQL dialect and its drivers' modules: 27 ms of CPU to import
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert  # noqa: PLC0415
    statement = postgresql_insert(table) if dialect == "postgresql" else sqlite_insert(table)
    return statement.on_conflict_do_update(
        index_elements=["name"],
        set_={name: statement.excluded[name]
              for name in ("address", "platform", "meta", "updated_at")})


def _is_run_device_dup(exc: IntegrityError) -> bool:
    # SQLite names the columns, not the index
    text = str(exc.orig)
    return "device_results.run_id, device_results.device" in text


@dataclass(frozen=True)
class DispatchedRun:
    run_id: int
    plan: str | None
    started_at: datetime
    device_count: int
    stored: int


@dataclass(frozen=True)
class RunInfo:
    id: int
    status: str
    trigger: str
    plan: str | None
    state: str | None
    device_count: int
    started_at: datetime
    finished_at: datetime | None
    results: list[RunDeviceSummary]


@dataclass(frozen=True)
class PlanFireStats:
    runs: int = 0
    missed: int = 0
    last_run: datetime | None = None


@dataclass(frozen=True)
class StoredConfig:
    id: int
    device: str
    result_id: int
    collected_at: datetime
    sha256: str
    lines: int
    masked: bool
    text: str
    previous_id: int | None
    diff: str | None
    added: int
    removed: int


def _to_config(row: ConfigVersion) -> StoredConfig:
    return StoredConfig(
        id=row.id, device=row.device, result_id=row.result_id,
        collected_at=_aware(row.collected_at), sha256=row.sha256, lines=row.lines,
        masked=row.masked, text=_decompress(row.text) or "", previous_id=row.previous_id,
        diff=_decompress(row.diff), added=row.added, removed=row.removed)


def _as_datetime(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    return _aware(datetime.fromisoformat(value) if isinstance(value, str) else value)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _result_values(run_id: int, result: DeviceResult) -> dict[str, Any]:
    return {
        "run_id": run_id, "device": result.device, "address": result.address,
        "platform": result.platform, "state": result.state.value,
        "reachable": result.reachable, "error": result.error,
        "started_at": result.started_at, "finished_at": result.finished_at,
        "pack_name": result.pack.name if result.pack else None,
        "pack_version": result.pack.version if result.pack else None,
        "pack_hash": result.pack.content_hash if result.pack else None,
        "packs": [p.model_dump(mode="json") for p in result.packs] or None,
        "facts": result.facts.model_dump(mode="json") if result.facts else None,
        "item_errors": result.item_errors,
        "transcript": _compress(result.transcript) if result.transcript else None,
    }


def _raw_values(result_id: int, r: RawOutput) -> dict[str, Any]:
    return {"result_id": result_id, "item": r.item, "command": r.command, "exit_code": r.exit_code,
            "duration_seconds": r.duration_seconds, "truncated": r.truncated,
            "output": _compress(r.output)}


def _device_values(device: Device, now: datetime) -> dict[str, Any]:
    """The devices row: the inventory as last inspected."""
    meta = device.model_dump(mode="json", exclude={"name", "address", "platform", "checks"})
    return {"name": device.name, "address": device.address, "platform": device.platform,
            "meta": meta, "updated_at": now}


def _duplicate_message(run_id: int, names: Sequence[str]) -> str:
    if len(names) == 1:
        return (f"run {run_id} already has a result for {names[0]}; this one (a retried "
                "task) was not stored")
    return (f"run {run_id} already has a result for one of {', '.join(names[:5])}"
            f"{' ...' if len(names) > 5 else ''}; none of these {len(names)} was stored")


def _check_values(result_id: int, c: CheckResult) -> dict[str, Any]:
    numeric = isinstance(c.value, int | float)
    return {
        "result_id": result_id, "check": c.check, "item": c.item, "title": c.title,
        "state": c.state.value,
        "value_num": float(c.value) if numeric and c.value is not None else None,
        "value_text": None if numeric or c.value is None else str(c.value),
        "unit": c.unit, "warn": c.warn, "crit": c.crit, "message": c.message,
        "evidence": {"items": c.evidence}, "waived": c.waived,
        "waiver_reason": c.waiver_reason, "waiver_expires": c.waiver_expires,
    }


def _to_check(row: CheckRow) -> CheckResult:
    value: float | str | None = row.value_num if row.value_num is not None else row.value_text
    return CheckResult(
        check=row.check, item=row.item, title=row.title, state=State(row.state), value=value,
        unit=row.unit,
        warn=row.warn, crit=row.crit, message=row.message,
        evidence=list(row.evidence.get("items", [])), waived=row.waived,
        waiver_reason=row.waiver_reason, waiver_expires=row.waiver_expires,
    )


def _latest_id() -> Any:
    # a correlated LIMIT 1 on the (device, started_at) index: one index seek per device,
    # so reading the latest results does not slow down as the history grows
    return (select(DeviceResultRow.id).where(DeviceResultRow.device == DeviceRow.name)
            .order_by(DeviceResultRow.started_at.desc(), DeviceResultRow.id.desc())
            .limit(1).correlate(DeviceRow).scalar_subquery())


def _latest_ids() -> Any:
    return select(_latest_id()).select_from(DeviceRow)


_RESULT_COLUMNS = (
    DeviceResultRow.id, DeviceResultRow.device, DeviceResultRow.address,
    DeviceResultRow.platform, DeviceResultRow.state, DeviceResultRow.reachable,
    DeviceResultRow.error, DeviceResultRow.started_at, DeviceResultRow.finished_at,
    DeviceResultRow.pack_name, DeviceResultRow.pack_version, DeviceResultRow.pack_hash,
    DeviceResultRow.packs, DeviceResultRow.facts, DeviceResultRow.item_errors)
_CHECK_COLUMNS = (
    CheckRow.result_id, CheckRow.check, CheckRow.item, CheckRow.title, CheckRow.state,
    CheckRow.value_num,
    CheckRow.value_text, CheckRow.unit, CheckRow.warn, CheckRow.crit, CheckRow.message,
    CheckRow.evidence, CheckRow.waived, CheckRow.waiver_reason, CheckRow.waiver_expires)


def _load_results(s: Session, ids: Any) -> dict[int, DeviceResult]:
    """Results whose id is in ``ids`` (a list or a subquery), in two queries. Columns, not
    ORM objects: building 15,000 check rows as ORM instances took most of a scrape. Checks
    are validated from plain dicts: pydantic-core does that in ~1 µs, three times faster than
    ``model_construct``'s Python loop (profiled at 1,000 devices, ~20,000 checks)."""
    rows = s.execute(select(*_RESULT_COLUMNS).where(DeviceResultRow.id.in_(ids))
                     .order_by(DeviceResultRow.device)).all()
    checks: dict[int, list[CheckResult]] = {}
    validate = CheckResult.model_validate
    for c in s.execute(select(*_CHECK_COLUMNS).where(CheckRow.result_id.in_(ids))
                       .order_by(CheckRow.id)):
        checks.setdefault(c.result_id, []).append(validate({
            "check": c.check, "item": c.item, "title": c.title, "state": c.state,
            "value": c.value_num if c.value_num is not None else c.value_text,
            "unit": c.unit, "warn": c.warn, "crit": c.crit, "message": c.message,
            "evidence": (c.evidence or {}).get("items", []), "waived": c.waived,
            "waiver_reason": c.waiver_reason, "waiver_expires": c.waiver_expires}))
    return {r.id: DeviceResult(
        device=r.device, address=r.address, platform=r.platform, state=State(r.state),
        reachable=r.reachable, error=r.error, started_at=_aware(r.started_at),
        finished_at=_aware(r.finished_at),
        pack=(PackRef(name=r.pack_name, version=r.pack_version or "",
                      content_hash=r.pack_hash or "") if r.pack_name else None),
        packs=[PackRef.model_validate(p) for p in r.packs or []],
        facts=HostFacts.model_validate(r.facts) if r.facts else None,
        checks=checks.get(r.id, []), item_errors=r.item_errors) for r in rows}


def _to_result(row: DeviceResultRow, _s: Session, *, with_raw: bool = False) -> DeviceResult:
    pack = (PackRef(name=row.pack_name, version=row.pack_version or "",
                    content_hash=row.pack_hash or "") if row.pack_name else None)
    result = DeviceResult(
        device=row.device, address=row.address, platform=row.platform,
        state=State(row.state), reachable=row.reachable, error=row.error,
        started_at=_aware(row.started_at), finished_at=_aware(row.finished_at), pack=pack,
        packs=[PackRef.model_validate(p) for p in row.packs or []],
        facts=HostFacts.model_validate(row.facts) if row.facts else None,
        checks=[_to_check(c) for c in row.checks], item_errors=row.item_errors,
        transcript=_decompress(row.transcript),
    )
    if with_raw:
        result.raw = [RawOutput(item=r.item, command=r.command,
                                output=_decompress(r.output) or "", exit_code=r.exit_code,
                                duration_seconds=r.duration_seconds, truncated=r.truncated)
                      for r in row.raw_outputs]
    return result
