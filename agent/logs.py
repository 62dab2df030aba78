"""Logging set-up shared by the CLI and the agent service: human-readable or JSON lines, and
always through the redacting filter, so no secret reaches a log whatever the format."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Literal

from agent.visible import json_document, one_line
from config.secrets import RedactingFilter, Redactor

LogFormat = Literal["text", "json"]


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message (+ exc, and ``extra`` fields)."""

    _STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            # exc_text was set (redacted) by RedactingFilter; never re-render it unredacted
            entry["exc"] = record.exc_text or self.formatException(record.exc_info)
        entry.update({k: v for k, v in vars(record).items()
                      if k not in self._STANDARD and not k.startswith("_")})
        return json_document(entry, default=str)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message``; control characters and newlines in the message (device
    data, inventory fields) are made visible, so they can neither forge a record nor drive the
    terminal. A traceback, appended after the message, keeps its lines."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        return one_line(super().formatMessage(record))


def setup_logging(level: int, redactor: Redactor, fmt: LogFormat = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RedactingFilter(redactor))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("paramiko").setLevel(
        logging.DEBUG if level <= logging.DEBUG else logging.CRITICAL)
    # one line per scrape is noise at INFO; shown with -vv
    logging.getLogger("uvicorn.access").setLevel(
        logging.INFO if level <= logging.DEBUG else logging.WARNING)
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))
    # httpx logs every request URL at INFO; a webhook URL may carry a token in its path
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
