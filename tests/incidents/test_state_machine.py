"""Generated sequences of inspection results (hypothesis) through the real engine and store.

Several processes' worth of engines share one SQLite file (a second engine, and restarts
that open a new Store and engine), and after every step the database must satisfy:

- never two active incidents for one fingerprint;
- an incident opens only after ``open_after`` consecutive breaching results, and its
  fingerprint never has one open while fewer breaches preceded;
- it resolves only after ``resolve_after`` consecutive recoveries (below the hysteresis
  threshold), never on an OK inside the band;
- an unreachable result changes nothing for the device's other checks.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import func, select
from support.incident_harness import Harness, Recorder, check, device, fs

from agent.incidents.fingerprint import fingerprint
from agent.incidents.model import ACTIVE
from agent.store import Store
from agent.store.schema import IncidentRow
from checks.model import State
from config.incidents import IncidentSettings

OPEN_AFTER, RESOLVE_AFTER, RECOVER_BELOW = 3, 2, 75.0
SETTINGS = IncidentSettings.model_validate({
    "open_after": OPEN_AFTER, "resolve_after": RESOLVE_AFTER,
    "checks": {"filesystem": {"recover_below": RECOVER_BELOW}},
    "problems": {"recurrences": 3, "window": "1h"}})
ITEMS = ("/var", "/data")
FS_VALUES = st.sampled_from([10.0, 60.0, 77.0, 79.9, 80.0, 85.0, 92.0])


_TEMPLATE: list[Path] = []


@pytest.fixture(scope="module", autouse=True)
def _migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One migrated database, copied for every example (migrating each costs ~0.3 s)."""
    template = tmp_path_factory.mktemp("sm-template")
    Store.open(None, template).close()
    _TEMPLATE[:] = [template]
    yield
    _TEMPLATE.clear()


def _fresh_store_dir() -> Path:
    target = Path(tempfile.mkdtemp(prefix="xj-sm-"))
    shutil.copy(_TEMPLATE[0] / "xunjian.db", target / "xunjian.db")
    return target


class IncidentMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = _fresh_store_dir()
        self.store = Store.open(None, self.dir)
        self.other_store: Store | None = None
        self.rec = Recorder()
        self.h = Harness(self.store, SETTINGS, notifiers=[self.rec])
        self.dev = device("sm-01")
        #: per fingerprint: the observations since the start ("B" breach, "R" recovered,
        #: "K" OK inside the band, "-" not seen in a reachable result)
        self.seen: dict[str, str] = {fingerprint("sm-01", "filesystem", i): "" for i in ITEMS}
        self.was_active: dict[str, bool] = dict.fromkeys(self.seen, False)

    def teardown(self) -> None:
        self.store.close()
        if self.other_store is not None:
            self.other_store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _record(self, values: dict[str, float | None]) -> None:
        for item in ITEMS:
            fp = fingerprint("sm-01", "filesystem", item)
            v = values.get(item)
            mark = "R" if v is None or v < RECOVER_BELOW else "B" if v >= 80 else "K"
            self.seen[fp] += mark

    @rule(a=st.none() | FS_VALUES, b=st.none() | FS_VALUES)
    def inspect(self, a: float | None, b: float | None) -> None:
        values = {"/var": a, "/data": b}
        checks = [fs(v, item=i) for i, v in values.items() if v is not None]
        self.h.feed(self.dev, *checks, check("zombies", State.OK))
        self._record(values)

    @rule()
    def unreachable(self) -> None:
        self.h.feed(self.dev, reachable=False)  # the filesystem fingerprints are frozen

    @rule()
    def restart(self) -> None:
        """A new process: a new Store and engine on the same database."""
        self.store.close()
        self.store = Store.open(None, self.dir)
        h = Harness(self.store, SETTINGS, notifiers=[self.rec], start=self.h.now)
        self.h = h

    @precondition(lambda self: self.other_store is None)
    @rule()
    def second_process(self) -> None:
        """Another engine on the same database takes over the inspections."""
        self.other_store = Store.open(None, self.dir)
        h = Harness(self.other_store, SETTINGS, notifiers=[self.rec], start=self.h.now)
        self.store, self.other_store = self.other_store, self.store
        self.h = h

    @rule(minutes=st.integers(1, 120))
    def time_passes(self, minutes: int) -> None:
        self.h.advance(minutes=minutes)
        self.h.engine.tick()
        self.h.engine.dispatch()

    @invariant()
    def at_most_one_active_per_fingerprint(self) -> None:
        with self.store.engine.connect() as conn:
            counts = conn.execute(select(IncidentRow.fingerprint, func.count())
                                  .where(IncidentRow.status.in_(ACTIVE))
                                  .group_by(IncidentRow.fingerprint)).all()
        assert all(n == 1 for _, n in counts), counts

    @invariant()
    def opens_and_resolves_only_by_the_rules(self) -> None:
        active = {i.fingerprint for i in self.h.repo.list(status="active")}
        for fp, history in self.seen.items():
            now = fp in active
            if now and not self.was_active[fp]:
                assert history.endswith("B" * OPEN_AFTER), history
            if self.was_active[fp] and not now:
                assert history.endswith("R" * RESOLVE_AFTER), history
            if history.endswith("K") and self.was_active[fp]:
                assert now, "an OK inside the hysteresis band must not resolve"
            self.was_active[fp] = now


TestIncidentMachine = IncidentMachine.TestCase
TestIncidentMachine.settings = settings(
    max_examples=15, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])

