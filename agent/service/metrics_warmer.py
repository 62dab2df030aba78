"""Keeps the ``/metrics`` cache warm: formats newly stored results in the background.

A scrape formats every device whose latest result changed since the previous scrape; after a
run of 1,000 devices that is ~1 s of CPU in the scrape itself. The warmer watches the store's
highest result id (one index lookup every half second) and, when it moves, brings the
collector's cache up to date, so results are formatted while the run is still storing them and
the scrape after the run only joins cached text. It works whoever stored the results (this
agent, the CLI, Celery workers). A failure (store down) is logged once and retried; scrapes
then report the store as their section's failure, as before.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from agent.service.metrics import XunjianCollector

log = logging.getLogger(__name__)

#: how often the store is checked for new results (seconds): one indexed max() each time
DEFAULT_INTERVAL = 0.5


class CacheWarmer:
    def __init__(self, collector: XunjianCollector, marker: Callable[[], object], *,
                 interval: float = DEFAULT_INTERVAL) -> None:
        """``marker`` returns something that changes when results are stored
        (:meth:`agent.store.Store.last_result_id`)."""
        self.collector = collector
        self.marker = marker
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: devices formatted by the warmer so far (for tests and logs)
        self.formatted = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="metrics-cache-warmer",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        seen: object = object()  # nothing seen yet: warm at start
        failing = False
        while True:
            try:
                mark = self.marker()
                if mark != seen:
                    self.formatted += self.collector.refresh()
                    seen = mark
                if failing:
                    log.info("metrics cache warmer: the store answers again")
                failing = False
            except Exception as exc:  # store down: the scrape reports it; keep trying
                if not failing:
                    log.warning("metrics cache warmer: %s; retrying every %.0f s", exc,
                                self.interval)
                failing = True
            if self._stop.wait(self.interval):
                return
