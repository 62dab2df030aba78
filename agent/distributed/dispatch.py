"""Send a run's devices to their sites' queues (one task per device)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

from celery import Celery
from kombu.exceptions import OperationalError

from agent.distributed.celery_app import TASK_INSPECT
from agent.errors import ServiceError
from config.inventory import Device

log = logging.getLogger(__name__)


def task_id(run_id: int, device: str) -> str:
    """Stable per run and device, so a task is recognisable wherever it is retried."""
    return f"xunjian-run-{run_id}-{device}"


class CeleryDispatcher:
    def __init__(self, app: Celery, default_site: str) -> None:
        self.app = app
        self.default_site = default_site

    def site_of(self, device: Device) -> str:
        return device.site or self.default_site

    def dispatch(self, run_id: int, devices: Sequence[Device], plan: str | None) -> None:
        """Queue every device of ``run_id``. Raises ServiceError when the broker cannot be
        reached (the caller closes the run as failed)."""
        try:
            with self.app.producer_or_acquire() as producer:
                for device in devices:
                    self.app.send_task(
                        TASK_INSPECT, args=[run_id, device.name, plan],
                        queue=self.site_of(device), task_id=task_id(run_id, device.name),
                        producer=producer, retry=True,
                        retry_policy={"max_retries": 3, "interval_start": 0.5,
                                      "interval_step": 1.0, "interval_max": 3.0})
        except (OperationalError, OSError) as exc:
            raise ServiceError(f"cannot queue the inspection tasks of run {run_id}: the "
                               f"broker is unreachable ({exc}); check celery.broker_url and "
                               "that RabbitMQ/Redis is running") from exc
        sites = Counter(self.site_of(d) for d in devices)
        log.info("run %d: %d device(s) queued (%s)", run_id, len(devices),
                 ", ".join(f"{site}: {n}" for site, n in sorted(sites.items())))
