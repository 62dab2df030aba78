"""Scale-out settings: inspections executed by Celery workers (``xunjian worker``), one queue
per site, with PostgreSQL as the shared store (``docs/scale-out.md``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: a site's queue name (also a Celery/AMQP queue name): letters, digits, ``.``, ``_``, ``-``
SiteName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
DEFAULT_SITE = "default"
BROKER_SCHEMES = ("amqp://", "amqps://", "pyamqp://", "redis://", "rediss://")


class CelerySettings(BaseModel):
    """Present: ``xunjian serve`` dispatches every inspection to the workers of each device's
    site (``site:`` on a device, group or ``defaults``) instead of running it itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: the broker, e.g. ``amqp://xunjian@mq.example:5672//`` (RabbitMQ) or
    #: ``redis://127.0.0.1:6379/0``; a password belongs in ``broker_url_env`` instead
    broker_url: str | None = None
    #: an environment variable holding the broker URL (with its password)
    broker_url_env: str | None = None
    #: the queue of devices that name no site
    default_site: SiteName = DEFAULT_SITE
    #: a run whose results are not all in after this long is closed as ``aborted`` (its
    #: missing devices are named in the log); the workers' later results are still kept
    run_timeout_seconds: float = Field(default=3600.0, gt=0)
    #: Redis broker only: a task not acknowledged within this time is handed to another
    #: worker; keep it above the longest inspection of one device
    visibility_timeout_seconds: float = Field(default=7200.0, gt=0)

    @model_validator(mode="after")
    def _one_broker(self) -> CelerySettings:
        if bool(self.broker_url) == bool(self.broker_url_env):
            raise ValueError("give broker_url or broker_url_env (exactly one)")
        if self.broker_url and not self.broker_url.startswith(BROKER_SCHEMES):
            raise ValueError("broker_url: use amqp://… (RabbitMQ) or redis://…")
        return self
