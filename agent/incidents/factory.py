"""Build the incident engine from the configuration (CLI ``inspect`` and the agent service)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from agent.errors import XunjianError
from agent.incidents.engine import IncidentEngine
from agent.notify.event import Notifier

if TYPE_CHECKING:
    from agent.store import Store
    from config.loader import LoadedConfig

log = logging.getLogger(__name__)


def build_engine(store: Store, loaded: LoadedConfig,
                 env: Mapping[str, str] | None = None) -> IncidentEngine:
    """The engine with the configured channels. When a channel cannot be built (e.g. its
    secret's variable is unset) the engine still keeps incidents, and its notifications stay
    queued for a later delivery instead of being sent or dropped."""
    config = loaded.config
    notifiers: list[Notifier] = []
    deliver = True
    try:
        if config.notifications.channels():
            # httpx, jinja2, smtplib: 70 ms of CPU at startup, only for configured channels
            from agent.notify.factory import build_notifiers  # noqa: PLC0415

            notifiers = build_notifiers(config.notifications, config.mail,
                                        os.environ if env is None else env,
                                        base_dir=loaded.base_dir)
    except XunjianError as exc:
        deliver = False
        log.warning("notifications are not sent this time (they stay queued): %s", exc)
    return IncidentEngine(store, config.incidents, notifiers, retry=config.notifications.retry,
                          deliver=deliver)


def deliver_pending(engine: IncidentEngine) -> int:
    """Send what is due; a failure is logged (retried by the next run or the agent)."""
    try:
        return engine.dispatch()
    except XunjianError as exc:
        log.warning("could not deliver incident notifications (retried later): %s", exc)
        return 0
