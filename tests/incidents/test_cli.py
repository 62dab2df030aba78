"""``xunjian incidents`` / ``xunjian problems`` through click's CliRunner on a real store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result
from support.incident_harness import Harness, device, fs

from agent.cli import main
from agent.store import Store
from config.incidents import IncidentSettings


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Harness]:
    incidents = {"open_after": 1, "resolve_after": 1,
                 "problems": {"recurrences": 2, "window": "1d"},
                 "support_groups": {"DBA": {"email": ["dba@example.com"]}},
                 "default_group": "DBA",
                 "known_errors": [{"name": "KE-1", "check": "filesystem", "cause": "日志未轮转",
                                   "workaround": "logrotate -f /etc/logrotate.conf"}]}
    config = tmp_path / "xunjian.yaml"
    config.write_text(yaml.safe_dump({"store": {"data_dir": str(tmp_path / "data")},
                                      "incidents": incidents}, allow_unicode=True))
    store = Store.open(None, tmp_path / "data")
    h = Harness(store, IncidentSettings.model_validate(incidents))
    h.feed(device("db-01"), fs(95))                 # P1, CRIT
    h.feed(device("web-01", level=3), fs(85, item="/"))  # P4, WARN
    store.close()
    return config, h


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args[:2], "--config", str(config), *args[2:]])


def test_list_filters_and_json(setup: tuple[Path, Harness]) -> None:
    config, _ = setup
    table = run(config, "incidents", "list")
    assert table.exit_code == 0, table.output
    assert "db-01" in table.output and "web-01" in table.output and "P1" in table.output
    data = json.loads(run(config, "incidents", "list", "--json").output)
    assert {(i["device"], i["priority"], i["status"]) for i in data} == {
        ("db-01", "P1", "open"), ("web-01", "P4", "open")}
    assert data[0]["sla"][0]["target"] == "response"
    only = json.loads(run(config, "incidents", "list", "--priority", "P1", "--json").output)
    assert [i["device"] for i in only] == ["db-01"]
    by_dev = json.loads(run(config, "incidents", "list", "-d", "web-01", "--json").output)
    assert [i["device"] for i in by_dev] == ["web-01"]
    none = run(config, "incidents", "list", "--status", "resolved")
    assert none.exit_code == 0 and "no incidents (resolved)" in none.output


def test_ack_comment_resolve_and_show(setup: tuple[Path, Harness]) -> None:
    config, _ = setup
    [db] = json.loads(run(config, "incidents", "list", "-d", "db-01", "--json").output)
    ident = str(db["id"])
    assert run(config, "incidents", "ack", ident, "--by", "张工", "-m", "处理中").exit_code == 0
    assert run(config, "incidents", "comment", ident, "扩容 /var", "--by", "张工").exit_code == 0
    shown = run(config, "incidents", "show", ident)
    assert shown.exit_code == 0, shown.output
    for text in ("acknowledged by 张工: 处理中", "扩容 /var", "P1 (impact 1 × urgency 1)",
                 "workaround", "logrotate -f /etc/logrotate.conf",
                 "xunjian evidence db-01 filesystem /var", "response missed", "DBA"):
        assert text in shown.output, text  # (acked months after the test clock opened it)
    data = json.loads(run(config, "incidents", "show", ident, "--json").output)
    assert data["status"] == "acknowledged" and data["known_error"] == "KE-1"
    assert [t["kind"] for t in data["timeline"]][:2] == ["opened", "known_error"]
    assert data["evidence_command"] == "xunjian evidence db-01 filesystem /var"
    resolved = run(config, "incidents", "resolve", ident, "--by", "张工")
    assert resolved.exit_code == 0 and "resolved" in resolved.output
    listed = json.loads(run(config, "incidents", "list", "--status", "all", "--json").output)
    assert {i["status"] for i in listed} == {"resolved", "open"}


def test_errors_exit_3_with_a_message(setup: tuple[Path, Harness]) -> None:
    config, _ = setup
    missing = run(config, "incidents", "show", "4242")
    assert missing.exit_code == 3 and "no incident #4242" in missing.output
    [db] = json.loads(run(config, "incidents", "list", "-d", "db-01", "--json").output)
    run(config, "incidents", "resolve", str(db["id"]))
    again = run(config, "incidents", "ack", str(db["id"]))
    assert again.exit_code == 3 and "only an open incident can be acknowledged" in again.output
    empty = run(config, "incidents", "comment", str(db["id"]), " ")
    assert empty.exit_code == 3 and "needs some text" in empty.output
    bad = run(config, "incidents", "list", "--status", "sleeping")
    assert bad.exit_code == 2 and "sleeping" in bad.output


def test_problems_list(setup: tuple[Path, Harness], tmp_path: Path) -> None:
    config, h = setup
    store = Store.open(None, tmp_path / "data")
    h.store = store
    h.engine = h.new_engine()
    h.run_id = store.start_run("test", 1, None)
    db = device("db-01")
    h.feed(db, fs(10))
    h.feed(db, fs(95))  # the same finding again within a day: a problem
    store.close()
    data = json.loads(run(config, "problems", "list", "--json").output)
    [problem] = data
    assert problem["key"].startswith("fp:") and problem["incident_count"] == 2
    assert problem["known_error"] == "KE-1" and problem["device"] == "db-01"
    table = run(config, "problems", "list")
    assert table.exit_code == 0 and "recurring" in table.output
