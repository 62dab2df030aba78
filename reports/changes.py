"""What changed since the baseline: the latest inspection of each device before the period."""

from __future__ import annotations

from collections.abc import Mapping

from checks.model import State
from collectors.facts import HostFacts
from reports.i18n import Translator
from reports.model import (
    Changes,
    ConfigChange,
    FindingChange,
    HardwareChange,
    StateChange,
)
from reports.source import ConfigActivity, StoredResult

Key = tuple[str, str | None]


def _open_findings(stored: StoredResult) -> dict[Key, State]:
    return {(c.check, c.item): c.state for c in stored.result.checks
            if c.state is not State.OK and c.counts}


def hardware_changes(device: str, before: HostFacts | None,
                     after: HostFacts | None) -> list[HardwareChange]:
    if before is None or after is None:
        return []
    out: list[HardwareChange] = []
    old_hw, new_hw = before.hardware, after.hardware
    for part in ("serial", "model"):
        was = getattr(old_hw, part) if old_hw else None
        now = getattr(new_hw, part) if new_hw else None
        if was and now and was != now:
            out.append(HardwareChange(device=device, part=part, before=was, after=now))
    old_mods = {m.name: m.serial for m in before.modules or []}
    new_mods = {m.name: m.serial for m in after.modules or []}
    if before.modules is not None and after.modules is not None:
        for name in sorted(old_mods.keys() | new_mods.keys()):
            was, now = old_mods.get(name), new_mods.get(name)
            if name in old_mods and name in new_mods and was == now:
                continue
            out.append(HardwareChange(device=device, part=f"module {name}", before=was,
                                      after=now))
    return out


def changes(
    t: Translator, current: Mapping[str, StoredResult], baseline: Mapping[str, StoredResult],
    configs: list[ConfigActivity],
) -> Changes:
    config_changes = [ConfigChange(device=c.device, versions=c.versions, lines_added=c.added,
                                   lines_removed=c.removed, last_changed_at=c.last)
                      for c in configs]
    if not baseline:
        return Changes(config_changes=config_changes)
    new: list[FindingChange] = []
    cleared: list[FindingChange] = []
    states: list[StateChange] = []
    hardware: list[HardwareChange] = []
    for name in sorted(current):
        now, before = current[name], baseline.get(name)
        if before is None:
            continue
        if now.result.state is not before.result.state:
            states.append(StateChange(device=name, before=before.result.state,
                                      after=now.result.state))
        now_open, before_open = _open_findings(now), _open_findings(before)
        new.extend(FindingChange(device=name, check_title=t.check_title(check), item=item,
                                 state=state)
                   for (check, item), state in now_open.items() if (check, item) not in before_open)
        if now.result.reachable:
            cleared.extend(FindingChange(device=name, check_title=t.check_title(check),
                                         item=item, state=state)
                           for (check, item), state in before_open.items()
                           if (check, item) not in now_open)
        hardware.extend(hardware_changes(name, before.result.facts, now.result.facts))
    rank = lambda c: (-c.state.rank, c.device)  # noqa: E731
    return Changes(baseline_at=max(b.result.started_at for b in baseline.values()),
                   new_findings=sorted(new, key=rank), cleared_findings=sorted(cleared, key=rank),
                   state_changes=states, config_changes=config_changes,
                   hardware_changes=hardware)
