"""agent.heap: what startup built is frozen out of the collector's walks, and the young
generation is collected less often (checked in a fresh interpreter: GC state is global)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_settle_freezes_startup_objects_and_raises_the_young_threshold() -> None:
    code = (
        "import gc, json; import agent.cli; from agent import heap; "
        "before = gc.get_freeze_count(); heap.settle(); "
        "print(json.dumps([before, gc.get_freeze_count(), gc.get_threshold()]))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    before, after, threshold = json.loads(done.stdout)
    assert before == 0 and after > 10_000  # the modules and classes imported so far
    assert threshold == [10_000, 20, 20]
