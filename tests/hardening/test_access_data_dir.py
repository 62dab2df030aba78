"""The data directory the store creates (SQLite, transcripts, configs, default report folder,
trust-on-first-use known_hosts) is the owner's alone, whatever the umask: other local users
cannot read customers' data. An existing directory keeps the mode its operator gave it."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.store import Store


@pytest.fixture
def loose_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_a_new_data_directory_is_private(tmp_path: Path, loose_umask: None) -> None:
    data = tmp_path / "new" / "data"
    Store.open(None, data).close()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert (data / "xunjian.db").is_file()


def test_an_existing_data_directory_keeps_its_mode(tmp_path: Path, loose_umask: None) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o750)
    data.chmod(0o750)  # as systemd's StateDirectoryMode=0750 makes it
    Store.open(None, data).close()
    assert stat.S_IMODE(data.stat().st_mode) == 0o750
