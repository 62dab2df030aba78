"""Incident endpoints of the HTTP API: list, show, acknowledge, resolve, comment; problems."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel, Field

from agent.errors import IncidentError
from agent.incidents.model import Incident, Problem
from agent.incidents.repo import IncidentRepo
from agent.service.app import Service
from agent.service.safe_io import RowId, Text

StatusFilter = Literal["open", "acknowledged", "resolved", "closed", "active"]


class Action(BaseModel):
    """Who acts (recorded in the timeline) and an optional comment."""

    by: Text = Field(min_length=1, max_length=128)
    comment: Text | None = Field(default=None, max_length=10000)


class Comment(BaseModel):
    by: Text = Field(min_length=1, max_length=128)
    text: Text = Field(min_length=1, max_length=10000)


def _answer(change: Callable[[], Incident]) -> Incident:
    """An incident operation; IncidentError becomes 404 (no such incident) or 409 (the
    transition is not allowed in its current state)."""
    try:
        return change()
    except IncidentError as exc:
        missing = str(exc).startswith("no incident")
        raise HTTPException(404 if missing else 409, str(exc)) from None


def incident_routes(repo: IncidentRepo) -> Callable[[FastAPI, Service], None]:
    """A route installer for :attr:`Service.extra_routes`."""

    def install(app: FastAPI, _service: Service) -> None:
        @app.get("/incidents", response_model=list[Incident], tags=["incidents"])
        def list_incidents(
            status: StatusFilter | None = None,
            priority: Annotated[str | None, Query(max_length=16)] = None,
            device: Annotated[str | None, Query(max_length=128)] = None,
            limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        ) -> list[Incident]:
            """Incidents, newest first (``status=active``: open or acknowledged)."""
            return repo.list(status=status, priority=priority, device=device, limit=limit)

        @app.get("/incidents/{incident_id}", response_model=Incident, tags=["incidents"],
                 responses={404: {}})
        def show_incident(incident_id: RowId) -> Incident:
            """One incident with its timeline, SLA timers, workaround and evidence link."""
            return _answer(lambda: repo.get(incident_id))

        @app.post("/incidents/{incident_id}/ack", response_model=Incident, tags=["incidents"],
                  responses={404: {}, 409: {}})
        def ack_incident(incident_id: RowId, action: Action) -> Incident:
            """Acknowledge: the response target is met; notifications say who took it."""
            return _answer(lambda: repo.ack(incident_id, action.by, action.comment))

        @app.post("/incidents/{incident_id}/resolve", response_model=Incident,
                  tags=["incidents"], responses={404: {}, 409: {}})
        def resolve_incident(incident_id: RowId, action: Action) -> Incident:
            """Resolve by hand (recovery resolves automatically)."""
            return _answer(lambda: repo.resolve(incident_id, action.by, action.comment))

        @app.post("/incidents/{incident_id}/comment", response_model=Incident,
                  tags=["incidents"], responses={404: {}, 409: {}})
        def comment_incident(incident_id: RowId, comment: Comment) -> Incident:
            """Add a comment to the timeline."""
            return _answer(lambda: repo.comment(incident_id, comment.by, comment.text))

        @app.get("/problems", response_model=list[Problem], tags=["incidents"])
        def list_problems(status: Literal["open", "closed"] | None = None,
                          limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[Problem]:
            """Problem records: recurring incidents grouped, with known errors."""
            return repo.problems(status=status, limit=limit)

    return install
