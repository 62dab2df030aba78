"""The OpenAPI schema as the service behaves: FastAPI documents the routes; the token
middleware and the error handlers it does not see are added here."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from agent.service.auth import TokenCheck


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {
        "type": "object", "properties": {"detail": {}}, "required": ["detail"]}}}}


_UNAUTHORIZED = _error("Missing or invalid bearer token (`WWW-Authenticate: Bearer`)")
_BAD_REQUEST = _error("The request cannot be carried out (a body that is not JSON, or the "
                      "agent refused it); `detail` says why")


def document_errors(app: FastAPI, tokens: TokenCheck) -> None:
    """Make the schema say what the middleware and the error handlers do: 401 on the
    protected paths (``security: []`` on the public ones, and everywhere when no token is
    configured) and 400 everywhere; a header is a value or absent, never ``null``."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for path, operations in schema.get("paths", {}).items():
                public = path in tokens.public or not tokens.enabled
                for operation in operations.values():
                    responses = operation.setdefault("responses", {})
                    if public:
                        operation["security"] = []
                    else:
                        responses["401"] = _UNAUTHORIZED
                    responses.setdefault("400", _BAD_REQUEST)
                    for parameter in operation.get("parameters", []):
                        if parameter.get("in") == "header":
                            parameter["schema"] = _not_null(parameter.get("schema", {}))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``Optional[X]`` as FastAPI writes it (anyOf X, null) → X, keeping title/description."""
    branches = [b for b in schema.get("anyOf", []) if b.get("type") != "null"]
    if len(branches) != 1:
        return schema
    return {**{k: v for k, v in schema.items() if k != "anyOf"}, **branches[0]}
