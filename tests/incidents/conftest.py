"""Fixtures of the incident tests (``store`` and ``pg_url`` come from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.store import Store


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """For tests whose subject does not depend on the database (the engine's logic)."""
    opened = Store.open(None, tmp_path / "data")
    yield opened
    opened.close()
