"""The customer's approval of inspection packs.

An approval is of one pack's exact content (its hash) for one scope: a customer, or ``*`` for
every device. A device's pack is approved when an approval in force has the pack's current
hash and a scope that covers the device (a customer owning it, or ``*``). Scheduled runs send
nothing from a pack that is not approved; the device gets an UNKNOWN ``pack`` result that names
the pack and, when it was approved before, what changed since.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agent.errors import PackError
from agent.packs.diff import summarize
from agent.store.store import ApprovalRecord
from collectors.base import PackRef
from collectors.pack import PACK_FILE, Pack, parse_pack
from config.inventory import Device
from config.models import XunjianConfig

#: the scope of an approval that holds for every device
ALL = "*"
#: the check name of a device's result about a pack that could not run
PACK_CHECK = "pack"

Status = Literal["not-required", "approved", "unapproved"]


def approval_content(pack: Pack) -> dict[str, Any]:
    """What an approval keeps of the pack: its file and the files it references."""
    return {PACK_FILE: pack.raw, "files": dict(pack.files)}


def approved_pack(record: ApprovalRecord) -> Pack | None:
    """The pack as it was approved, rebuilt from the stored content (None if it no longer
    loads, e.g. the policy has become stricter since)."""
    try:
        return parse_pack(str(record.content.get(PACK_FILE, "")).encode(), "approved",
                          {k: str(v).encode() for k, v in record.content.get("files", {}).items()})
    except PackError:
        return None


def scopes_of(device: Device, config: XunjianConfig) -> list[str]:
    """The approval scopes that cover a device: the customers owning it, then ``*``."""
    owners = [cid for cid, customer in config.customers.items()
              if customer.owns(device.name, device.groups, device.tags)]
    return [*owners, ALL]


def scope_text(scope: str) -> str:
    return "every device" if scope == ALL else f"customer {scope}"


@dataclass(frozen=True)
class Verdict:
    pack: Pack
    status: Status
    record: ApprovalRecord | None = None
    #: why the pack is not approved, with what to do
    reason: str | None = None

    def ref(self) -> PackRef:
        """The pack as it runs, with its approval (``unapproved``: run with
        --allow-unapproved)."""
        return PackRef(
            name=self.pack.name, version=self.pack.version,
            content_hash=self.pack.content_hash, builtin=self.pack.builtin,
            approval=self.status,
            approved_by=self.record.approved_by if self.record else None,
            approved_at=self.record.approved_at if self.record else None)


class ApprovalBook:
    """The approvals in force, read once per run."""

    def __init__(self, records: Iterable[ApprovalRecord],
                 policy: Literal["custom", "all"] = "custom") -> None:
        self.records = list(records)
        self.policy = policy

    def needs_approval(self, pack: Pack) -> bool:
        return not pack.builtin or self.policy == "all"

    def verdict(self, pack: Pack, scopes: Sequence[str]) -> Verdict:
        if not self.needs_approval(pack):
            return Verdict(pack, "not-required")
        mine = [r for r in self.records if r.pack_name == pack.name and r.scope in scopes]
        current = [r for r in mine if r.content_hash == pack.content_hash]
        if current:
            return Verdict(pack, "approved", current[0])
        return Verdict(pack, "unapproved", reason=self._why(pack, scopes, mine))

    def _why(self, pack: Pack, scopes: Sequence[str], earlier: list[ApprovalRecord]) -> str:
        target = next((s for s in scopes if s != ALL), ALL)
        # --all-devices, not nothing: with customers in the config a bare approve is refused
        approve = (f"`xunjian packs approve {pack.name} --by NAME "
                   + (f"--customer {target}`" if target != ALL else "--all-devices`"))
        here = f"pack {pack.name} {pack.version} (sha256 {pack.content_hash[:12]})"
        if not earlier:
            return (f"{here} is not approved for {scope_text(target)}; after review, approve "
                    f"it with {approve}")
        last = earlier[0]
        changes = _changes(last, pack)
        # the diff against this customer's approval, not another customer's newer one
        of = f" --customer {last.scope}" if last.scope != ALL else ""
        return (f"{here} changed since {last.approved_by} approved {last.pack_version} "
                f"(sha256 {last.content_hash[:12]}) for {scope_text(last.scope)} on "
                f"{last.approved_at:%Y-%m-%d}: {changes}; review the change with "
                f"`xunjian packs diff {pack.name} --approved{of}` and approve it again with "
                f"{approve}")


def _changes(record: ApprovalRecord, pack: Pack) -> str:
    before = approved_pack(record)
    if before is None:
        return "the approved content no longer loads"
    return summarize(before, pack) or "the content changed"
