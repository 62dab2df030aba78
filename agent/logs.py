"""Logging set-up shared by the CLI and the agent service: human-readable or JSON lines, and
always through the redacting filter, so no secret reaches a log whatever the format."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal

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
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_logging(level: int, redactor: Redactor, fmt: LogFormat = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
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
