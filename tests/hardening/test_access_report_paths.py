"""Report files cannot escape the output directory, whatever the customer id, and a symlink
planted where a report will be written is replaced, never followed.

Through ``reports.generate.generate`` (the path ``xunjian report`` and report plans take) on a
real SQLite store filled with a month of history; tests/reports/test_deliver.py checks
``write_outputs`` itself name by name.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.report_history import CONFIG, PERIOD, populate, write_config

from agent.errors import ConfigError, ReportError
from agent.store import Store
from config.loader import load_config
from reports.generate import ReportJob, generate
from reports.period import parse_period

NOW = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(None, tmp_path / "data")
    yield opened
    opened.close()


def _files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def _job(out: Path, customer: str) -> ReportJob:
    return ReportJob(period=parse_period(PERIOD, "UTC"), languages=["en"],
                     formats=["html", "json"], out_dir=out, customer=customer)


PATH_LIKE = ["../../escape", "/tmp/escape", "a/../../../escape", "..\\..\\escape"]


@pytest.mark.parametrize("customer", PATH_LIKE)
def test_a_path_like_customer_id_is_refused_by_the_config(tmp_path: Path, customer: str) -> None:
    acme = CONFIG["customers"]["acme"]  # type: ignore[index]
    with pytest.raises(ConfigError, match=r"customers.*should match pattern"):
        load_config(write_config(tmp_path, customers={customer: acme}))


@pytest.mark.parametrize("customer", PATH_LIKE)
def test_a_path_like_customer_asked_for_writes_nothing(tmp_path: Path, store: Store,
                                                       customer: str) -> None:
    """``xunjian report --customer X`` and a plan's ``customer`` go through here."""
    loaded = load_config(write_config(tmp_path))
    populate(store, loaded, days=3)
    before = _files_under(tmp_path)
    with pytest.raises(ReportError, match="customer"):
        generate(store, loaded, _job(tmp_path / "out", customer), NOW)
    assert _files_under(tmp_path) - before <= _store_files(tmp_path)
    assert not Path("/tmp/escape").exists()


@pytest.mark.parametrize("customer", ["..", "...", ".hidden"])
def test_dot_customer_ids_stay_inside(tmp_path: Path, store: Store, customer: str) -> None:
    acme = CONFIG["customers"]["acme"]  # type: ignore[index]
    loaded = load_config(write_config(tmp_path, customers={customer: acme}))
    populate(store, loaded, days=3)
    out = tmp_path / "deep" / "out"
    before = _files_under(tmp_path)
    made = generate(store, loaded, _job(out, customer), NOW)
    assert len(made.files) == 2
    for path in made.files:
        assert path.parent == out and not path.name.startswith(".")
    assert _files_under(tmp_path) - before <= set(made.files) | _store_files(tmp_path)


def _store_files(root: Path) -> set[Path]:
    return {p for p in (root / "data").rglob("*") if p.is_file()}


def test_a_planted_symlink_is_replaced_not_followed(tmp_path: Path, store: Store) -> None:
    loaded = load_config(write_config(tmp_path))
    populate(store, loaded, days=3)
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim.conf"
    victim.write_text("keep me\n")
    # whoever can write into the output directory guesses the next report's names
    for extension in ("html", "json"):
        (out / f"acme-{PERIOD}-v1-en.{extension}").symlink_to(victim)
    made = generate(store, loaded, _job(out, "acme"), NOW)
    assert sorted(p.name for p in made.files) == [f"acme-{PERIOD}-v1-en.html",
                                                  f"acme-{PERIOD}-v1-en.json"]
    assert all(p.is_file() and not p.is_symlink() for p in made.files)
    assert victim.read_text() == "keep me\n"
