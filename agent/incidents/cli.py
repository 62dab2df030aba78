"""``xunjian incidents list/show/ack/resolve/comment`` and ``xunjian problems list``."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from agent.clikit import config_option, errors_exit, load, open_store, shown
from agent.visible import json_document

if TYPE_CHECKING:
    from agent.incidents.model import Incident, SlaTimer
    from agent.incidents.repo import IncidentRepo

T = TypeVar("T")
STATUSES = ("active", "open", "acknowledged", "resolved", "closed", "all")
STYLE = {"CRIT": "bold red", "WARN": "yellow", "UNKNOWN": "magenta"}
SLA_STYLE = {"ok": "green", "met": "green", "at_risk": "yellow", "missed": "bold red"}
out = Console(highlight=False, soft_wrap=True, emoji=False)


def _with_repo(config_file: Path | None, work: Callable[[IncidentRepo], T]) -> T:
    """Open the configured store, do ``work``, close it; errors exit 3 with a message."""
    # SQLAlchemy and the models: imported by the command run, not by ``xunjian --help``
    from agent.incidents.repo import IncidentRepo  # noqa: PLC0415

    with errors_exit():
        loaded = load(config_file)
        store = open_store(loaded)
        try:
            return work(IncidentRepo(store, loaded.config.incidents))
        finally:
            store.close()
    raise AssertionError("unreachable")  # errors_exit() exits on error


def _dump(data: Any) -> None:
    click.echo(json_document(data, indent=2))


def _age(incident: Incident) -> str:
    seconds = (incident.last_seen_at - incident.opened_at).total_seconds()
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def _sla_text(timers: list[SlaTimer]) -> str:
    parts = []
    for t in timers:
        left = t.remaining_seconds
        when = (f"{abs(left) / 60:.0f} min {'left' if left >= 0 else 'over'}" if not t.done
                else ("in time" if t.state == "met" else f"{-left / 60:.0f} min late"))
        parts.append(f"{t.target} [{SLA_STYLE[t.state]}]{t.state}[/] ({when})")
    return ", ".join(parts) or "-"


@click.group()
def incidents() -> None:
    """Incidents opened from inspection findings."""


@incidents.command("list")
@config_option
@click.option("--status", type=click.Choice(STATUSES), default="active", show_default=True,
              help="active = open or acknowledged.")
@click.option("--priority", help="Only this priority (e.g. P1).")
@click.option("--device", "-d", help="Only this device.")
@click.option("--limit", "-n", default=100, show_default=True, type=click.IntRange(1, 10000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
def incidents_list(config_file: Path | None, status: str, priority: str | None,
                   device: str | None, limit: int, as_json: bool) -> None:
    """Incidents, newest first."""
    found = _with_repo(config_file, lambda r: r.list(
        None if status == "all" else status, priority, device, limit))
    if as_json:
        _dump([i.model_dump(mode="json", exclude={"timeline"}) for i in found])
        return
    if not found:
        out.print(f"no incidents ({status})")
        return
    table = Table(title=f"Incidents ({status})", title_justify="left")
    for column in ("#", "Pri", "Sev", "Status", "Device", "Check", "Title", "SLA", "Group"):
        table.add_column(column, no_wrap=column not in ("Title", "SLA"))
    for i in found:
        marks = " [dim](flapping)[/]" if i.flapping else ""
        marks += " [dim](silenced)[/]" if i.silenced else ""
        table.add_row(str(i.id), i.priority, f"[{STYLE[i.severity]}]{i.severity}[/]",
                      i.status + marks, shown(i.device),
                      shown(i.check + (f" {i.item}" if i.item else "")), shown(i.title),
                      _sla_text([t for t in i.sla if not t.done]) if i.status in (
                          "open", "acknowledged") else "-", shown(i.assignee_group or "-"))
    out.print(table)


@incidents.command("show")
@config_option
@click.argument("incident_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
def incidents_show(config_file: Path | None, incident_id: int, as_json: bool) -> None:
    """An incident with its SLA state, workaround, problem link and timeline."""
    i = _with_repo(config_file, lambda r: r.get(incident_id))
    if as_json:
        _dump(i.model_dump(mode="json") | {"evidence_command": i.evidence_command})
        return
    out.print(f"[bold]Incident #{i.id}[/] {shown(i.title)}")
    rows = [
        ("status", i.status + (" (flapping)" if i.flapping else "")
         + (" (silenced)" if i.silenced else "")),
        ("priority", f"{i.priority} (impact {i.impact} × urgency {i.urgency})"),
        ("severity", f"[{STYLE[i.severity]}]{i.severity}[/]"),
        ("device", shown(i.device + (f" · {i.business_system}" if i.business_system else "")
                          + (f" · {i.location}" if i.location else ""))),
        ("finding", shown(i.message)),
        ("value", shown(f"{i.value or '-'} (worst {i.worst_value or '-'}; "
                         f"threshold {i.threshold or '-'})")),
        ("breaches", str(i.breach_count)),
        ("assignee", shown(i.assignee_group or "-")),
        ("opened", f"{i.opened_at:%Y-%m-%d %H:%M:%S} UTC"),
        ("last seen", f"{i.last_seen_at:%Y-%m-%d %H:%M:%S} UTC"),
        ("SLA", _sla_text(i.sla)),
        ("fingerprint", i.fingerprint),
    ]
    if i.problem_id is not None:
        rows.append(("problem", f"#{i.problem_id} (xunjian problems list)"))
    if i.known_error:
        rows.append(("known error", shown(i.known_error)))
    if i.workaround:
        rows.append(("workaround", shown(i.workaround)))
    rows.append(("evidence", shown(i.evidence_command)))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        out.print(f"  {key:<{width}}  {value}")
    out.print("\n[bold]Timeline[/]")
    for t in i.timeline:
        out.print(f"  {t.at:%Y-%m-%d %H:%M:%S}  {t.kind:<13} {shown(t.actor):<10} "
                  f"{shown(t.text)}")


def _actor(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "cli"


_BY = click.option("--by", help="Who does it (default: the login name).")


@incidents.command("ack")
@config_option
@click.argument("incident_id", type=int)
@_BY
@click.option("--comment", "-m", help="A note for the timeline.")
def incidents_ack(config_file: Path | None, incident_id: int, by: str | None,
                  comment: str | None) -> None:
    """Acknowledge an open incident (stops its response timer)."""
    i = _with_repo(config_file, lambda r: r.ack(incident_id, _actor(by), comment))
    out.print(f"incident #{i.id} acknowledged by {shown(_actor(by))}")


@incidents.command("resolve")
@config_option
@click.argument("incident_id", type=int)
@_BY
@click.option("--comment", "-m", help="A note for the timeline.")
def incidents_resolve(config_file: Path | None, incident_id: int, by: str | None,
                      comment: str | None) -> None:
    """Resolve an incident by hand (it reopens only after new consecutive breaches)."""
    i = _with_repo(config_file, lambda r: r.resolve(incident_id, _actor(by), comment))
    out.print(f"incident #{i.id} resolved by {shown(_actor(by))}")


@incidents.command("comment")
@config_option
@click.argument("incident_id", type=int)
@click.argument("text")
@_BY
def incidents_comment(config_file: Path | None, incident_id: int, text: str,
                      by: str | None) -> None:
    """Add a comment to an incident's timeline."""
    i = _with_repo(config_file, lambda r: r.comment(incident_id, _actor(by), text))
    out.print(f"comment added to incident #{i.id}")


@click.group()
def problems() -> None:
    """Problems: incidents that keep coming back."""


@problems.command("list")
@config_option
@click.option("--status", type=click.Choice(("open", "closed", "all")), default="open",
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
def problems_list(config_file: Path | None, status: str, as_json: bool) -> None:
    """Problem records, most recently updated first."""
    found = _with_repo(config_file, lambda r: r.problems(None if status == "all" else status))
    if as_json:
        _dump([p.model_dump(mode="json") for p in found])
        return
    if not found:
        out.print(f"no problems ({status})")
        return
    table = Table(title=f"Problems ({status})", title_justify="left")
    for column in ("#", "Title", "Incidents", "Known error", "Updated"):
        table.add_column(column)
    for p in found:
        table.add_row(str(p.id), shown(p.title), str(p.incident_count),
                      shown(p.known_error or "-"), f"{p.updated_at:%Y-%m-%d %H:%M}")
    out.print(table)
