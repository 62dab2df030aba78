"""The Celery app shared by the scheduler (which only sends tasks) and the workers.

Delivery: a task is acknowledged only after it finished (``acks_late``), and a worker holds one
task per thread (prefetch 1), so a worker killed mid-inspection leaves its tasks unacknowledged
and the broker hands them to the next worker of that site. The task itself is idempotent: the
store keeps one result per run and device.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from celery import Celery

from agent.errors import ServiceError
from config.distributed import BROKER_SCHEMES, CelerySettings
from config.secrets import Redactor

TASK_INSPECT = "xunjian.inspect_device"


def broker_url(settings: CelerySettings, env: Mapping[str, str]) -> str:
    if settings.broker_url:
        return settings.broker_url
    name = settings.broker_url_env or ""
    url = env.get(name, "").strip()
    if not url:
        raise ServiceError(f"celery.broker_url_env: the environment variable {name} is not set "
                           "(it holds the broker URL, e.g. amqp://user:password@host:5672//)")
    return url


def broker_secret(url: str) -> str | None:
    """The password in a broker URL (redacted from every log line)."""
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def safe_url(url: str) -> str:
    """The broker URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def make_app(settings: CelerySettings, env: Mapping[str, str],
             redactor: Redactor | None = None) -> Celery:
    url = broker_url(settings, env)
    secret = broker_secret(url)
    if secret and redactor is not None:
        redactor.add([secret])
    if not url.startswith(BROKER_SCHEMES):
        raise ServiceError(f"celery: unsupported broker {safe_url(url)!r}: use amqp:// "
                           "(RabbitMQ) or redis://")
    app = Celery("xunjian", broker=url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        # a worker process killed mid-task (SIGKILL, OOM): the task goes back to the queue
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,  # results go to the store, not to a result backend
        task_default_queue=settings.default_site,
        task_create_missing_queues=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        # Redis has no acknowledgement on connection loss: an unacknowledged task comes back
        # after this long
        broker_transport_options={"visibility_timeout": settings.visibility_timeout_seconds},
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        enable_utc=True,
    )
    return app
