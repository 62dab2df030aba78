"""Shared fixtures.

``ssh_fleet`` starts real OpenSSH servers on loopback (see ``tests/support/sshd.py``); tests
that use it are marked ``@pytest.mark.sshd``.  ``password_user`` creates the local password
user and is for tests marked ``@pytest.mark.root``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from support.sshd import (
    CANARY_PASSWORD,
    PASSWORD_USER,
    STANDARD_SPECIAL,
    SshdFleet,
    ensure_password_user,
    sshd_unavailable_reason,
)

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
