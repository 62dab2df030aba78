"""The identity of an incident: the labels (device, check, item) and their hash.

The same hash is the Alertmanager identity, the PagerDuty ``dedup_key`` and the dedup key in
the store, so every system agrees on which incident a finding belongs to.
"""

from __future__ import annotations

import hashlib
import json


def identity_labels(device: str, check: str, item: str | None) -> dict[str, str]:
    """Identifying labels; ``item`` is left out when the check has none (Alertmanager treats
    an empty label as absent, so this keeps the two views equal)."""
    labels = {"device": device, "check": check}
    if item:
        labels["item"] = item
    return labels


def fingerprint(device: str, check: str, item: str | None) -> str:
    """sha256 hex of the identifying labels in canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(identity_labels(device, check, item), sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
