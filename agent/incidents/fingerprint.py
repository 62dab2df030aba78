"""The identity of an incident: the labels (device, check, item) and their hash.

The same hash is the Alertmanager identity, the PagerDuty ``dedup_key`` and the dedup key in
the store, so every system agrees on which incident a finding belongs to.
"""

from __future__ import annotations

import hashlib
import json
import json.encoder

#: how json.dumps(..., ensure_ascii=False) writes a string (the C function when present)
_string = json.encoder.encode_basestring


def identity_labels(device: str, check: str, item: str | None) -> dict[str, str]:
    """Identifying labels; ``item`` is left out when the check has none (Alertmanager treats
    an empty label as absent, so this keeps the two views equal)."""
    labels = {"device": device, "check": check}
    if item:
        labels["item"] = item
    return labels


def fingerprint(device: str, check: str, item: str | None) -> str:
    """sha256 hex of the identifying labels in canonical JSON (sorted keys, no spaces)."""
    # json.dumps(identity_labels(...), sort_keys=True, separators=(",", ":"),
    # ensure_ascii=False), written out: the keys sort as check, device, item, and each
    # string is escaped by the very function json.dumps uses (a third of the CPU).
    canonical = f'{{"check":{_string(check)},"device":{_string(device)}' + (
        f',"item":{_string(item)}}}' if item else "}")
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
