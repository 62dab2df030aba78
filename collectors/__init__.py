"""Collectors: connect to a target, run approved commands, return typed facts plus raw output."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any


class _Deferred(types.ModuleType):
    """Stands in ``sys.modules`` for a module not run yet; the first attribute it lacks runs
    the real module (which then replaces it there) and is read from it."""

    def __getattr__(self, attr: str) -> Any:
        if sys.modules.get(self.__name__) is self:
            sys.modules.pop(self.__name__, None)  # two threads may get here at once
        return getattr(importlib.import_module(self.__name__), attr)


def _defer_import(name: str) -> None:
    """Make ``import name`` cheap until the module is used. Nothing happens if it is imported
    already or not installed (``import name`` then fails as it would have)."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None:
        return
    stub = _Deferred(name)
    stub.__spec__ = spec
    sys.modules[name] = stub


# paramiko.config imports invoke at import time, for one thing only: running the command of a
# ``Match exec`` line of an OpenSSH client config (SSHConfig.lookup), which xunjian never
# reads. invoke imports unittest.mock: 70 ms of CPU for every ``xunjian`` process (1/15 of
# its imports); deferred, it costs nothing unless that Match exec is ever evaluated.
_defer_import("invoke")
