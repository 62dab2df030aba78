"""Which configured silence, known error and support group applies (pure)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from datetime import datetime

from config.incidents import IncidentSettings, KnownError, Silence


def _glob(pattern: str, value: str | None) -> bool:
    return fnmatch.fnmatchcase(value or "", pattern)


def active_silence(settings: IncidentSettings, device: str, groups: Iterable[str], check: str,
                   item: str | None, now: datetime) -> Silence | None:
    """The first silence in force at ``now`` that covers this fingerprint (expired ones and
    those not yet started do not)."""
    groups = set(groups)
    for s in settings.silences:
        if s.starts is not None and now < s.starts:
            continue
        if now >= s.ends:
            continue
        if s.group is not None and s.group not in groups:
            continue
        if _glob(s.device, device) and _glob(s.check, check) and _glob(s.item, item):
            return s
    return None


def known_error_for(settings: IncidentSettings, device: str, check: str, item: str | None,
                    message: str) -> KnownError | None:
    for k in settings.known_errors:
        if not (_glob(k.device, device) and _glob(k.check, check) and _glob(k.item, item)):
            continue
        if k.message is None or re.search(k.message, message):
            return k
    return None


def assignee_for(settings: IncidentSettings, device: str, groups: Iterable[str],
                 business_system: str | None) -> str | None:
    """The first route that matches the device (group, business system or name glob)."""
    groups = set(groups)
    for route in settings.routing:
        if (groups & set(route.groups)
                or (business_system is not None and business_system in route.business_systems)
                or any(_glob(p, device) for p in route.devices)):
            return route.assignee
    return settings.default_group
