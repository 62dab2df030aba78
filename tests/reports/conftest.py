"""Fixtures for the ``xunjian report`` CLI and end-to-end tests: run the installed ``xunjian``
as a user would (a separate process, its own data directory), and where to keep artifacts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
#: overrides the artifact folder (default ``test-artifacts/`` at the repo root)
ARTIFACTS_ENV = "XUNJIAN_TEST_ARTIFACTS"
# the console script the venv installs; without it (an uninstalled checkout) the module
_SCRIPT = Path(sys.executable).with_name("xunjian")
XUNJIAN_COMMAND = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "agent"]


def _run(*args: str, data_dir: Path, env: Mapping[str, str] | None = None,
         timeout: float = 180) -> subprocess.CompletedProcess[str]:
    # the caller's XUNJIAN_* (config, data dir) must not leak into the test's process
    clean = {k: v for k, v in os.environ.items() if not k.startswith("XUNJIAN_")}
    clean.update({"XUNJIAN_DATA_DIR": str(data_dir), "COLUMNS": "200", **(env or {})})
    return subprocess.run([*XUNJIAN_COMMAND, *args], capture_output=True, text=True,
                          env=clean, timeout=timeout, check=False)


@pytest.fixture(scope="session")
def xunjian() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``xunjian(*args, data_dir=..., env=...)``: one ``xunjian`` process, output captured."""
    return _run


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """The folder for artifacts a person looks at after the run (screenshots, page images)."""
    configured = os.environ.get(ARTIFACTS_ENV)
    folder = Path(configured) if configured else REPO_ROOT / "test-artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
