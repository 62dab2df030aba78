"""Pure decision logic for one fingerprint: when an incident opens, resolves or flaps.

Like Nagios' SOFT/HARD states, a breach must hold for ``open_after`` consecutive results
before an incident opens, and it resolves only after ``resolve_after`` consecutive recoveries.
Recovery may need more than "OK" (hysteresis, as Zabbix' recovery expression): a value that
breached at warn 80 may have to drop below 75. Flapping is Nagios' weighted percent state
change over the last ``window`` results: it starts above ``high`` and stops below ``low``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from itertools import pairwise

from checks.model import State

#: one character per state in the stored history
STATE_CHAR = {State.OK: "O", State.WARN: "W", State.CRIT: "C", State.UNKNOWN: "U"}


class Action(StrEnum):
    NONE = "none"        # nothing to do (pending breach, or recovering)
    OPEN = "open"        # open a new incident
    UPDATE = "update"    # the open incident is still breaching
    RESOLVE = "resolve"  # the open incident recovered


@dataclass(frozen=True)
class Observation:
    #: the result's state; a waived finding is observed as OK (it is accepted)
    state: State
    value: float | str | None = None
    warn: float | None = None

    @property
    def breaching(self) -> bool:
        return self.state is not State.OK


@dataclass(frozen=True)
class Rule:
    open_after: int = 3
    resolve_after: int = 2
    recover_below: float | None = None
    recover_margin: float | None = None
    flapping: bool = True
    window: int = 21
    high: float = 30.0
    low: float = 25.0


@dataclass(frozen=True)
class Tracker:
    """What must survive between inspections (stored per fingerprint)."""

    breaches: int = 0
    recoveries: int = 0
    #: the last ``window`` states, oldest first (see STATE_CHAR)
    history: str = ""
    flapping: bool = False


@dataclass(frozen=True)
class Decision:
    tracker: Tracker
    action: Action
    #: the flapping mark changed with this observation
    flapping_changed: bool = False


def recovered(obs: Observation, rule: Rule) -> bool:
    """OK, and (hysteresis) below the recovery threshold when the value is numeric."""
    if obs.breaching:
        return False
    if not isinstance(obs.value, int | float):
        return True
    if rule.recover_below is not None:
        return obs.value < rule.recover_below
    if rule.recover_margin is not None and obs.warn is not None:
        return obs.value < obs.warn - rule.recover_margin
    return True


def percent_state_change(history: str, window: int) -> float:
    """Nagios-style: each of the ``window − 1`` transitions weighs 0.8 (oldest) … 1.2
    (newest); the percentage is the weight of the transitions that changed state. Slots not
    yet filled count as unchanged, so a new check does not start out flapping."""
    slots = window - 1
    weights = [0.8 + 0.4 * i / (slots - 1) for i in range(slots)]
    recent = history[-window:]
    changes = [a != b for a, b in pairwise(recent)]
    offset = slots - len(changes)
    changed = sum(weights[offset + i] for i, c in enumerate(changes) if c)
    return round(100.0 * changed / sum(weights), 2)


def decide(tracker: Tracker, obs: Observation, rule: Rule, incident_open: bool) -> Decision:
    history = (tracker.history + STATE_CHAR[obs.state])[-rule.window:]
    flapping = False
    if rule.flapping:
        pct = percent_state_change(history, rule.window)
        flapping = pct >= rule.low if tracker.flapping else pct > rule.high
    changed = flapping != tracker.flapping
    base = replace(tracker, history=history, flapping=flapping)
    if obs.breaching:
        nxt = replace(base, breaches=tracker.breaches + 1, recoveries=0)
        if incident_open:
            return Decision(nxt, Action.UPDATE, changed)
        action = Action.OPEN if nxt.breaches >= rule.open_after else Action.NONE
        return Decision(nxt, action, changed)
    if incident_open and recovered(obs, rule):
        nxt = replace(base, breaches=0, recoveries=tracker.recoveries + 1)
        if nxt.recoveries >= rule.resolve_after:
            return Decision(replace(nxt, recoveries=0), Action.RESOLVE, changed)
        return Decision(nxt, Action.NONE, changed)
    # OK but still inside the hysteresis band (the incident stays), or nothing open.
    return Decision(replace(base, breaches=0, recoveries=0), Action.NONE, changed)
