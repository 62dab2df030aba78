"""SLA timers and escalation decisions (pure; the clock is an argument).

Response runs from opening until acknowledgement, resolution until resolution. A target is
*at risk* once ``at_risk`` of it has elapsed and *missed* when it is due. At risk → functional
escalation (the incident moves to the assignee group's ``escalate_to``); missed → hierarchical
escalation (the management contacts for the priority are told). Each happens once per target.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from agent.incidents.model import SlaTimer, TargetName
from config.incidents import IncidentSettings, ManagementContact


def timer(target: TargetName, opened_at: datetime, allowed: timedelta,
          done_at: datetime | None, at_risk: float, now: datetime) -> SlaTimer:
    due = opened_at + allowed
    if done_at is not None:
        left = (due - done_at).total_seconds()
        return SlaTimer(target=target, due=due, state="met" if left >= 0 else "missed",
                        remaining_seconds=left, done=True)
    left = (due - now).total_seconds()
    if left <= 0:
        state: Literal["ok", "at_risk", "missed"] = "missed"
    elif now - opened_at >= allowed * at_risk:
        state = "at_risk"
    else:
        state = "ok"
    return SlaTimer(target=target, due=due, state=state, remaining_seconds=left, done=False)


def timers(priority: str, opened_at: datetime, acknowledged_at: datetime | None,
           resolved_at: datetime | None, settings: IncidentSettings,
           now: datetime) -> list[SlaTimer]:
    target = settings.sla.get(priority)
    if target is None:
        return []
    # Resolving also answers the response target (nobody needs to ack a resolved incident).
    responded = acknowledged_at or resolved_at
    return [timer("response", opened_at, target.response, responded, settings.at_risk, now),
            timer("resolution", opened_at, target.resolution, resolved_at,
                  settings.at_risk, now)]


@dataclass(frozen=True)
class Escalation:
    #: ``<target>:at_risk`` or ``<target>:missed``: done once per incident
    key: str
    kind: Literal["functional", "hierarchical"]
    target: TargetName
    #: functional: the new assignee group (None: the chain ends here, nobody to move to)
    to_group: str | None = None
    #: hierarchical: who is told
    contacts: tuple[ManagementContact, ...] = ()

    @property
    def recipients(self) -> tuple[str, ...]:
        return tuple(a for c in self.contacts for a in c.email)


def escalations_due(priority: str, assignee: str | None, sla: list[SlaTimer],
                    done: set[str], settings: IncidentSettings) -> list[Escalation]:
    out: list[Escalation] = []
    for t in sla:
        if t.done or t.state == "ok":
            continue
        if f"{t.target}:at_risk" not in done:
            group = settings.support_groups.get(assignee) if assignee else None
            nxt = group.escalate_to if group else None
            out.append(Escalation(f"{t.target}:at_risk", "functional", t.target, to_group=nxt))
            assignee = nxt or assignee
        if t.state == "missed" and f"{t.target}:missed" not in done:
            contacts = tuple(c for c in settings.management if priority in c.priorities)
            out.append(Escalation(f"{t.target}:missed", "hierarchical", t.target,
                                  contacts=contacts))
    return out
