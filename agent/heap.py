"""Garbage-collector settings for the processes that inspect (``inspect``, ``serve``,
``worker``)."""

from __future__ import annotations

import gc

#: generation 0 is collected after this many net allocations (CPython's default is 700)
YOUNG_THRESHOLD = 10_000


def settle() -> None:
    """Call once startup is done. What startup built (modules, pydantic schemas, the SQL
    schema, the config) lives as long as the process, so the cyclic collector stops walking it
    (``gc.freeze``); and a run allocates many short-lived objects per device (outputs, facts,
    rows), so the young generation is collected less often. Measured over a run of 300 hosts
    at 50 workers: 243 collections and 0.27 s of CPU in the collector, 17 and 0.06 s after."""
    gc.collect()  # what startup left as garbage is freed, not frozen for good
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 20, 20)
