"""Python plugins for inspection packs: parsers and checks that YAML cannot express.

A plugin is a callable in any installed Python package, registered under an entry point group:

- ``xunjian.parsers`` — :data:`ParserPlugin` ``(output, options) -> rows``: the raw output of
  an item and the ``options`` of its ``parser: {type: plugin, name: ..., options: {...}}``;
  returns a list of rows (each a dict of field name → value).
- ``xunjian.checks`` — :data:`CheckPlugin` ``(rows, options) -> measurements``: the item's
  parsed rows and the check's ``options``; returns :class:`checks.builtin.Measurement` objects.
  A measurement whose ``state`` is None is judged against the check's ``warn``/``crit``; one
  with a state is final.

A package registers its plugins in its ``pyproject.toml``::

    [project.entry-points."xunjian.parsers"]
    haproxy_stat = "acme_xunjian.haproxy:parse_stat"

    [project.entry-points."xunjian.checks"]
    cert_chain = "acme_xunjian.certs:check_chain"

and is installed into the same environment as xunjian (``pip install acme-xunjian``). A pack
then names the entry point (``haproxy_stat``), never a module path: what may run is what the
operator installed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from importlib.metadata import entry_points
from typing import Any, cast

from agent.errors import PackError
from checks.builtin import Measurement

PARSER_GROUP = "xunjian.parsers"
CHECK_GROUP = "xunjian.checks"

ParserPlugin = Callable[[str, Mapping[str, Any]], list[dict[str, Any]]]
CheckPlugin = Callable[[list[dict[str, Any]], Mapping[str, Any]], list[Measurement]]

_KINDS = {PARSER_GROUP: "parser", CHECK_GROUP: "check"}


def parser_plugin(name: str) -> ParserPlugin:
    """The parser registered as ``name`` in ``xunjian.parsers``; PackError if there is none,
    it cannot be imported or it is not callable."""
    return cast(ParserPlugin, _load(PARSER_GROUP, name))


def check_plugin(name: str) -> CheckPlugin:
    """The check registered as ``name`` in ``xunjian.checks`` (errors as for parsers)."""
    return cast(CheckPlugin, _load(CHECK_GROUP, name))


def installed(group: str) -> list[str]:
    """Names registered in an entry point group, sorted (for messages and ``packs`` listings)."""
    return sorted({ep.name for ep in entry_points(group=group)})


def clear_cache() -> None:
    """Forget loaded plugins (tests install distributions on the fly)."""
    _load.cache_clear()


@cache  # failures are not cached: a plugin installed later is found on the next lookup
def _load(group: str, name: str) -> Callable[..., Any]:
    kind = _KINDS[group]
    found = entry_points(group=group).select(name=name)
    targets = sorted({ep.value for ep in found})
    if not targets:
        names = ", ".join(installed(group)) or "none"
        raise PackError(f"no {kind} plugin named {name} (entry point group {group}; installed: "
                        f"{names}); install the package that provides it or fix the name")
    if len(targets) > 1:
        raise PackError(f"{kind} plugin {name} is registered more than once in {group} "
                        f"({', '.join(targets)}); uninstall all but one of those packages")
    entry = next(iter(found))
    try:
        target = entry.load()
    except Exception as exc:  # importing runs arbitrary code: any error means "cannot load"
        raise PackError(f"{kind} plugin {name} ({entry.value}) could not be loaded: "
                        f"{type(exc).__name__}: {exc}") from exc
    if not callable(target):
        raise PackError(f"{kind} plugin {name} ({entry.value}) is not callable but a "
                        f"{type(target).__name__}; the entry point must name a function")
    return cast(Callable[..., Any], target)
