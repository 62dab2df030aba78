"""One active scheduler: the one holding a PostgreSQL session-level advisory lock.

Every ``xunjian serve`` on the shared store tries the lock every few seconds. The holder runs
the plans; the others stand by and serve the API. The lock lives as long as the holder's
database session, so a scheduler that dies (or loses its connection) frees it, and the next
one to try takes over. The store's fire records (one per plan and time) stay the last guard
against a double run.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

#: the advisory lock key: "xunjian" as a number (any constant the deployment shares)
SCHEDULER_LOCK = int.from_bytes(b"xunjian", "big")


class AdvisoryLock:
    """A PostgreSQL session-level advisory lock on a connection of its own (never pooled:
    returning it to a pool would keep the lock in a connection nobody watches)."""

    def __init__(self, engine: Engine, key: int = SCHEDULER_LOCK) -> None:
        self._engine = create_engine(engine.url, poolclass=NullPool,
                                     isolation_level="AUTOCOMMIT")
        self.key = key
        self._conn: Connection | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def try_acquire(self) -> bool:
        if self._conn is not None:
            return True
        conn = self._engine.connect()
        try:
            got = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:key)"),
                                   {"key": self.key}))
        except SQLAlchemyError:
            conn.close()
            raise
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def check(self) -> bool:
        """Still ours? False when the connection (and with it the lock) is gone."""
        if self._conn is None:
            return False
        try:
            self._conn.scalar(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            self._drop()
            return False

    def release(self) -> None:
        if self._conn is None:
            return
        # if the session is gone, the lock went with it
        with contextlib.suppress(SQLAlchemyError):
            self._conn.scalar(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
        self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                conn.close()

    def dispose(self) -> None:
        self.release()
        self._engine.dispose()


class LeaderElection:
    """Poll the lock every ``interval`` seconds in a thread: ``on_elected`` runs when this
    process becomes the leader, ``on_deposed`` when it stops being one."""

    def __init__(self, lock: AdvisoryLock, on_elected: Callable[[], None],
                 on_deposed: Callable[[], None], interval: float = 5.0) -> None:
        self.lock = lock
        self._on_elected = on_elected
        self._on_deposed = on_deposed
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="leader-election",
                                        daemon=True)
        self._leader = False
        self._standby_logged = False

    @property
    def leader(self) -> bool:
        return self._leader

    def start(self) -> None:
        self.poll()  # decide at once, so a lone scheduler starts without waiting
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 5)
        if self._leader:
            self._leader = False
            self._on_deposed()
        self.lock.dispose()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def poll(self) -> None:
        try:
            if self._leader:
                if not self.lock.check():
                    log.error("scheduler: lost the scheduler lock (database connection "
                              "lost); plans stop here until it is won again")
                    self._leader = False
                    self._on_deposed()
            elif self.lock.try_acquire():
                log.info("scheduler: this agent is now the active scheduler")
                self._leader = True
                self._standby_logged = False
                self._on_elected()
            elif not self._standby_logged:
                log.info("scheduler: standing by; another agent holds the scheduler lock "
                         "(PostgreSQL advisory lock %d)", self.lock.key)
                self._standby_logged = True
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            log.warning("scheduler: cannot reach the store for the scheduler lock: %s; "
                        "trying again in %.0f s", detail, self.interval)
        except Exception:
            log.exception("scheduler: the leader election failed; trying again in %.0f s",
                          self.interval)
