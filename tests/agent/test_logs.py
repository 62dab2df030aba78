"""Log formats: JSON lines carry the same redaction as text lines."""

from __future__ import annotations

import json
import logging

import pytest

from agent.logs import JsonFormatter, setup_logging
from config.secrets import Redactor

SECRET = "s3cr3t-canary-value"


@pytest.fixture(autouse=True)
def _restore_root_logger():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_are_parseable_and_redacted(capsys: pytest.CaptureFixture[str]):
    setup_logging(logging.INFO, Redactor([SECRET]), "json")
    log = logging.getLogger("xunjian.test")
    log.info("connecting with %s", SECRET, extra={"device": "web-01"})
    try:
        raise ValueError(f"bad password {SECRET}")
    except ValueError:
        log.exception("it failed")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines[0]["message"] == "connecting with ********"
    assert lines[0]["level"] == "info" and lines[0]["logger"] == "xunjian.test"
    assert lines[0]["device"] == "web-01" and lines[0]["ts"].endswith("+00:00")
    assert "ValueError: bad password ********" in lines[1]["exc"]
    assert SECRET not in json.dumps(lines)


def test_text_format_is_redacted_too(capsys: pytest.CaptureFixture[str]):
    setup_logging(logging.INFO, Redactor([SECRET]), "text")
    logging.getLogger("xunjian.test").warning("token %s", SECRET)
    err = capsys.readouterr().err
    assert "token ********" in err and SECRET not in err


def test_json_formatter_keeps_unicode():
    record = logging.makeLogRecord({"msg": "巡检 完成", "levelname": "INFO", "name": "x"})
    assert json.loads(JsonFormatter().format(record))["message"] == "巡检 完成"
