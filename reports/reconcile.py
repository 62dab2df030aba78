"""Serial numbers and models as collected, against the asset register (the inventory)."""

from __future__ import annotations

from typing import Literal

from config.inventory import Device
from reports.i18n import Translator
from reports.model import InventoryRow
from reports.source import StoredResult

Status = Literal["matched", "replaced", "missing", "unregistered", "unverified"]


def _same(a: str | None, b: str | None) -> bool:
    return (a or "").strip().casefold() == (b or "").strip().casefold()


def reconcile(t: Translator, device: Device, latest: StoredResult | None) -> InventoryRow:
    result = latest.result if latest else None
    hardware = result.facts.hardware if result and result.facts else None
    serial = hardware.serial if hardware else None
    model = hardware.model if hardware else None
    row = dict(device=device.name, address=device.address, platform=device.platform,
               vendor=device.vendor or (hardware.vendor if hardware else None),
               location=device.location, business_system=device.business_system,
               business_level=device.business_level, registered_model=device.model,
               collected_model=model, registered_serial=device.serial, collected_serial=serial,
               warranty_end=device.warranty_end)
    status, note = _verdict(t, device, latest, serial, model)
    return InventoryRow(**row, status=status, note=note)


def _verdict(t: Translator, device: Device, latest: StoredResult | None, serial: str | None,
             model: str | None) -> tuple[Status, str | None]:
    if latest is None or not latest.result.reachable:
        return "missing", (t("reconcile.unreachable", error=latest.result.error or "—")
                           if latest else t("reconcile.not_inspected"))
    if not serial:
        return "unverified", t("reconcile.no_serial")
    if not device.serial:
        return "unregistered", t("reconcile.unregistered", serial=serial)
    if not _same(device.serial, serial):
        return "replaced", t("reconcile.serial_differs", registered=device.serial,
                             collected=serial)
    if device.model and model and not _same(device.model, model):
        return "replaced", t("reconcile.model_differs", registered=device.model,
                             collected=model)
    return "matched", None
