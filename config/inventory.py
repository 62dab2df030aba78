"""Resolve the inventory: apply defaults → groups → device inheritance into flat ``Device``s."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict

from config.models import (
    CheckSettings,
    DeviceConfig,
    GroupConfig,
    InheritableFields,
    ItemThresholds,
)
from config.platforms import Platform


class Device(BaseModel):
    """A device with every inherited field resolved; what collectors and checks work on."""

    model_config = ConfigDict(frozen=True)

    name: str
    address: str
    port: int
    platform: Platform
    credentials: str | None
    groups: tuple[str, ...]
    tags: tuple[str, ...]
    location: str | None
    business_system: str | None
    business_level: int | None
    owner: str | None
    jump_host: str | None
    serial: str | None
    model: str | None
    vendor: str | None
    warranty_end: date | None
    checks: dict[str, CheckSettings]
    #: custom packs this device runs besides its platform's standard pack
    packs: tuple[str, ...] = ()
    #: the site whose workers inspect it (None: ``celery.default_site``)
    site: str | None = None


_SCALARS = (
    "port", "platform", "credentials", "location", "business_system",
    "business_level", "owner", "jump_host", "site",
)


def merge_checks(layers: list[dict[str, CheckSettings]]) -> dict[str, CheckSettings]:
    """Merge check settings, later layers winning key by key (items merged per item)."""
    merged: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for check, settings in layer.items():
            target = merged.setdefault(check, {"items": {}})
            for key, value in settings.model_dump(exclude_unset=True, exclude={"items"}).items():
                target[key] = value
            items = target["items"]
            for item, thresholds in settings.items.items():
                current = items.get(item, {})
                items[item] = {**current, **thresholds.model_dump(exclude_unset=True)}
    return {
        check: CheckSettings(
            **{k: v for k, v in values.items() if k != "items"},
            items={i: ItemThresholds(**t) for i, t in values["items"].items()},
        )
        for check, values in merged.items()
    }


def resolve_device(
    device: DeviceConfig, groups: dict[str, GroupConfig], defaults: InheritableFields
) -> Device:
    """Flatten one device. Unknown group names must have been reported by validation first."""
    chain: list[InheritableFields] = [device, *(groups[g] for g in device.groups), defaults]
    values: dict[str, Any] = {}
    for field in _SCALARS:
        values[field] = next(
            (getattr(layer, field) for layer in chain if getattr(layer, field) is not None), None
        )
    tags: list[str] = []
    packs: list[str] = []
    for layer in chain:
        tags.extend(t for t in layer.tags if t not in tags)
    for layer in reversed(chain):  # defaults' packs first, the device's own last
        packs.extend(p for p in layer.packs if p not in packs)
    return Device(
        name=device.name,
        address=device.address,
        port=values["port"] or 22,
        platform=values["platform"] or "linux",
        credentials=values["credentials"],
        groups=tuple(device.groups),
        tags=tuple(tags),
        location=values["location"],
        business_system=values["business_system"],
        business_level=values["business_level"],
        owner=values["owner"],
        jump_host=values["jump_host"],
        serial=device.serial,
        model=device.model,
        vendor=device.vendor,
        warranty_end=device.warranty_end,
        checks=merge_checks([layer.checks for layer in reversed(chain)]),
        packs=tuple(packs),
        site=values["site"],
    )
