"""PostgreSQL text cannot hold NUL; device output can (``df`` printing a mountpoint with a NUL,
a check message quoting it). Without this, such a result could not be stored at all on
PostgreSQL (psycopg refuses the parameter). On PostgreSQL connections every string parameter
has NUL replaced with U+FFFD, as undecodable bytes already are; JSON values are serialised
likewise. Transcripts, raw outputs and configurations are stored compressed (bytes) and keep
every byte on every backend; SQLite keeps NUL everywhere.
"""

from __future__ import annotations

from typing import Any

from psycopg.abc import Buffer
from psycopg.types.string import StrDumperUnknown

from agent.store.jsontext import json_text

REPLACEMENT = "\ufffd"


class NulFreeStrDumper(StrDumperUnknown):
    """psycopg's default string dumper, with NUL replaced instead of refused."""

    def dump(self, obj: str) -> Buffer | None:
        return super().dump(obj.replace("\x00", REPLACEMENT))


def nul_free(value: Any) -> Any:
    """``value`` with NUL replaced in every string (dict keys included), for JSON columns."""
    if isinstance(value, str):
        return value.replace("\x00", REPLACEMENT)
    if isinstance(value, dict):
        return {nul_free(k): nul_free(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [nul_free(v) for v in value]
    return value


def json_serializer(value: Any) -> str:
    # NUL in any string (dict keys included) is escaped as \u0000 in the ASCII text: only then
    # is the value walked (a string holding a backslash and "u0000" is walked for nothing)
    text = json_text(value)
    return json_text(nul_free(value)) if "\\u0000" in text else text


def use_nul_free_strings(dbapi_connection: Any, _record: Any) -> None:
    """SQLAlchemy ``connect`` listener for psycopg connections."""
    dbapi_connection.adapters.register_dumper(str, NulFreeStrDumper)
