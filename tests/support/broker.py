"""Message brokers for the scale-out tests: the machine's RabbitMQ (127.0.0.1:5672) and Redis
(127.0.0.1:6379), each test in a space of its own.

RabbitMQ: :class:`RabbitVhost` creates a virtual host and a user with a canary password
(``rabbitmqctl``, root), so queues never collide between tests or runs and the password can be
searched for in the logs; both are deleted afterwards. Redis: :func:`redis_db` picks an empty
database number and flushes it afterwards.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import socket
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Self

RABBITMQCTL = Path("/usr/sbin/rabbitmqctl")
#: the canary broker password: it must never appear in a log, the store or an API answer
CANARY_BROKER_PASSWORD = "Xj-canary-broker-9d41"


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def rabbitmq_unavailable_reason() -> str | None:
    if shutil.which(str(RABBITMQCTL)) is None:
        return "rabbitmqctl not installed"
    if not port_open(5672):
        return "RabbitMQ not listening on 127.0.0.1:5672"
    return None


def _ctl(*args: str) -> None:
    done = subprocess.run([str(RABBITMQCTL), *args], capture_output=True, text=True,
                          timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args[:2])} failed: {done.stderr.strip()}")


class RabbitVhost:
    """A vhost and a user (password :data:`CANARY_BROKER_PASSWORD`) for one test."""

    def __init__(self) -> None:
        token = secrets.token_hex(4)
        self.vhost = f"xj-test-{token}"
        self.user = f"xj-{token}"
        self.password = CANARY_BROKER_PASSWORD

    @property
    def url(self) -> str:
        return f"amqp://{self.user}:{self.password}@127.0.0.1:5672/{self.vhost}"

    def __enter__(self) -> Self:
        _ctl("add_vhost", self.vhost)
        _ctl("add_user", self.user, self.password)
        _ctl("set_permissions", "-p", self.vhost, self.user, ".*", ".*", ".*")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for args in (("delete_vhost", self.vhost), ("delete_user", self.user)):
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                _ctl(*args)
