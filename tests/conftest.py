"""Shared fixtures.

``ssh_fleet`` starts real OpenSSH servers on loopback (see ``tests/support/sshd.py``); tests
that use it are marked ``@pytest.mark.sshd``.  ``password_user`` creates the local password
user and is for tests marked ``@pytest.mark.root``.  ``store`` gives every test its own SQLite
file and (marked postgres) its own PostgreSQL database on the machine's server, dropped
afterwards (searched for the canary secrets first).

The canary ledger (support.canary_audit) is registered here: it searches every test's captured
output and orders the secrets audit (tests/hardening/test_secrets_audit.py) last.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from support.canaries import SUITE_CANARIES
from support.canary_audit import CanaryLedger, CanaryScanner
from support.sshd import (
    CANARY_PASSWORD,
    PASSWORD_USER,
    STANDARD_SPECIAL,
    SshdFleet,
    ensure_password_user,
    sshd_unavailable_reason,
)

from agent.store import Store


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(CanaryLedger(CanaryScanner(SUITE_CANARIES)),
                                  CanaryLedger.PLUGIN_NAME)


#: Regular hosts in the session fleet (127.0.1.1 ... 127.0.1.20); the three special hosts
#: (hang, drop, garbage) are at support.sshd.HANG_ADDRESS, DROP_ADDRESS and GARBAGE_ADDRESS.
SSH_FLEET_HOSTS = 20


@pytest.fixture(scope="session")
def ssh_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdFleet]:
    """20 regular hosts plus the hang/drop/garbage special hosts, for the whole session."""
    reason = sshd_unavailable_reason()
    if reason:
        pytest.skip(f"no test sshd: {reason}")
    fleet = SshdFleet(tmp_path_factory.mktemp("sshd"), SSH_FLEET_HOSTS, special=STANDARD_SPECIAL)
    with fleet:
        yield fleet


@pytest.fixture(scope="session")
def password_user() -> tuple[str, str]:
    """``(user, password)`` of a local user sshd accepts password authentication for."""
    if os.geteuid() != 0:
        pytest.skip("creating the password-authentication test user needs root")
    ensure_password_user(PASSWORD_USER, CANARY_PASSWORD)
    return PASSWORD_USER, CANARY_PASSWORD


PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            name = f"xj_test_{secrets.token_hex(6)}"
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at 127.0.0.1:5432: {exc.orig}")
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        yield url
    finally:
        # the database is dropped below: the secrets audit sees it only through the ledger
        ledger = request.config.pluginmanager.get_plugin(CanaryLedger.PLUGIN_NAME)
        try:
            ledger.record_database(url, f"{request.node.nodeid}: PostgreSQL {name}")
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:
    if request.param == "sqlite":
        opened = Store.open(None, tmp_path / "data")
    else:
        opened = Store.open(request.getfixturevalue("pg_url"))
    yield opened
    opened.close()
