"""deploy/ and docs/metrics.md checked by the real tools (promtool, systemd-analyze), and
against the metric names the collector actually renders, so none of them can drift."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from support.metrics_data import populated_exposition
from support.prometheus import PROMTOOL_PATH

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROMETHEUS_DIR = DEPLOY / "prometheus"
SCRAPE_CONFIGS = sorted(PROMETHEUS_DIR.glob("scrape-*.yml"))
RULES = PROMETHEUS_DIR / "xunjian-alerts.yml"
RULE_TESTS = PROMETHEUS_DIR / "xunjian-alerts.test.yml"
DASHBOARD = DEPLOY / "grafana" / "xunjian-dashboard.json"
UNIT = DEPLOY / "systemd" / "xunjian.service"
METRICS_DOC = ROOT / "docs" / "metrics.md"
NAME = re.compile(r"\bxunjian_[a-z0-9_]*[a-z0-9]")


def promtool(*args: str, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess[str]:
    if not PROMTOOL_PATH.exists():
        pytest.skip(f"{PROMTOOL_PATH} is missing (apt-get install -y prometheus)")
    return subprocess.run([str(PROMTOOL_PATH), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every family name the collector declares when rendering a populated store."""
    exposition = populated_exposition(tmp_path_factory.mktemp("metrics"))
    return {line.split()[2] for line in exposition.splitlines()
            if line.startswith("# TYPE ")}


def test_there_are_three_scrape_configs():
    assert [p.name for p in SCRAPE_CONFIGS] == [
        "scrape-probe.yml", "scrape-sd.yml", "scrape-static.yml"]


@pytest.mark.parametrize("config", SCRAPE_CONFIGS, ids=lambda p: p.name)
def test_promtool_checks_the_scrape_config(config: Path, tmp_path: Path):
    # the shipped file as is (the token file exists only on a real Prometheus host)
    syntax = promtool("check", "config", "--syntax-only", config.name)
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr
    # the full check, rules included, with the token file pointed at one that exists
    token = tmp_path / "xunjian-token"
    token.write_text("not-a-real-token\n")
    full = tmp_path / config.name
    full.write_text(config.read_text().replace("/etc/prometheus/xunjian-token", str(token)))
    shutil.copy(RULES, tmp_path / RULES.name)
    checked = promtool("check", "config", full.name, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 14 rules found" in checked.stdout


def test_probe_configs_relabel_like_blackbox_exporter():
    for config in (PROMETHEUS_DIR / "scrape-probe.yml", PROMETHEUS_DIR / "scrape-sd.yml"):
        job = yaml.safe_load(config.read_text())["scrape_configs"][0]
        assert job["metrics_path"] == "/probe"
        assert job["authorization"]["credentials_file"]
        relabel = job["relabel_configs"]
        assert {"source_labels": ["__address__"], "target_label": "__param_target"} in relabel
        assert relabel[-1]["target_label"] == "__address__"
    sd = yaml.safe_load((PROMETHEUS_DIR / "scrape-sd.yml").read_text())["scrape_configs"][0]
    assert sd["http_sd_configs"][0]["url"].endswith("/sd")
    assert sd["http_sd_configs"][0]["authorization"]["credentials_file"]


def test_promtool_checks_and_tests_the_alert_rules():
    checked = promtool("check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", RULE_TESTS.name)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_has_a_rule_test():
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"]
              for r in g["rules"]}
    tested = {t["alertname"] for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]
              for t in case["alert_rule_test"]}
    assert alerts == tested


def test_systemd_unit_verifies(tmp_path: Path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    text = UNIT.read_text()
    exec_start = re.search(r"^ExecStart=(\S+) serve --config /etc/xunjian/xunjian.yaml$", text,
                           re.MULTILINE)
    assert exec_start and exec_start.group(1) == "/opt/xunjian/.venv/bin/xunjian"
    timeout = int(re.search(r"^TimeoutStopSec=(\d+)$", text, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert timeout > 60  # above server.shutdown_grace_seconds' default
    for setting in ("EnvironmentFile=", "Restart=on-failure", "StateDirectory=xunjian",
                    "Environment=XUNJIAN_DATA_DIR=/var/lib/xunjian", "NoNewPrivileges=yes",
                    "ProtectSystem=strict", "ProtectHome=yes"):
        assert setting in text
    # verify the unit as shipped, with ExecStart pointing at this checkout's entry point
    # (systemd-analyze checks that the program exists)
    entry = ROOT / ".venv" / "bin" / "xunjian"
    if not entry.exists():
        pytest.skip(f"{entry} is missing (make test installs it)")
    unit = tmp_path / "xunjian.service"
    unit.write_text(text.replace(exec_start.group(1), str(entry)))
    verified = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                              timeout=60, check=False)
    assert (verified.returncode, verified.stdout, verified.stderr) == (0, "", "")


def test_dashboard_is_valid_grafana_json():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 30
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        grid = panel["gridPos"]
        assert set(grid) == {"x", "y", "w", "h"} and grid["x"] + grid["w"] <= 24
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"] and all(t["expr"] and t["refId"] for t in panel["targets"])
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "device"} <= variables


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["query"]["query"] for v in dashboard["templating"]["list"]
              if isinstance(v.get("query"), dict)]
    return exprs


def _rule_exprs() -> list[str]:
    return [r["expr"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def test_rules_and_dashboard_use_only_rendered_metrics(rendered: set[str]):
    used_by_rules = {n for e in _rule_exprs() for n in NAME.findall(e)}
    used_by_dashboard = {n for e in _dashboard_exprs() for n in NAME.findall(e)}
    assert used_by_rules and used_by_dashboard
    assert used_by_rules - rendered == set()
    assert used_by_dashboard - rendered == set()


def test_metrics_doc_lists_exactly_the_rendered_metrics(rendered: set[str]):
    documented = set(re.findall(r"^\| `(xunjian_[a-z0-9_]+)`", METRICS_DOC.read_text(),
                                re.MULTILINE))
    probe_only = {"xunjian_probe_success", "xunjian_probe_duration_seconds"}
    assert documented - probe_only == rendered
    assert probe_only <= documented


def test_worker_unit_verifies_as_an_instance_per_site(tmp_path: Path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    template = DEPLOY / "systemd" / "xunjian-worker@.service"
    text = template.read_text()
    assert re.search(r"^ExecStart=/opt/xunjian/.venv/bin/xunjian worker --config "
                     r"/etc/xunjian/xunjian.yaml --queue %i$", text, re.MULTILINE)
    for setting in ("EnvironmentFile=", "Restart=on-failure", "KillSignal=SIGTERM",
                    "NoNewPrivileges=yes", "ProtectSystem=strict", "User=xunjian"):
        assert setting in text
    entry = ROOT / ".venv" / "bin" / "xunjian"
    if not entry.exists():
        pytest.skip(f"{entry} is missing (make test installs it)")
    unit = tmp_path / "xunjian-worker@site-a.service"
    unit.write_text(text.replace("/opt/xunjian/.venv/bin/xunjian", str(entry)))
    verified = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                              timeout=60, check=False)
    assert (verified.returncode, verified.stdout, verified.stderr) == (0, "", "")
